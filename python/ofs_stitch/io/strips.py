"""Decoding tiles for rendering: top to bottom, in strips, each tile once.

libvips keeps every open image's decoder state and line cache until the pipeline that uses it
ends, so one pipeline over a thousand tiles holds a thousand of them. Here each tile is decoded
through its own `pyvips.Region` (no pipeline, no sink), strip by strip as the mosaic advances,
and dropped as soon as its last row is used: memory follows the tiles in use, not the scan.
A region must be used by one thread only, so every tile is pinned to one worker thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import platform
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyvips

from ..errors import decode_error
from .decode import open_image, shrink_on_load
from .header import ImageFacts
from .pixel_format import PixelFormat, to_pixel_format

if TYPE_CHECKING:
    from typing_extensions import Self


def open_in_format(
    tile: ImageFacts, fmt: PixelFormat, shape: tuple[int, int] | None = None
) -> pyvips.Image:
    """A lazily decoded image in the mosaic's format, resized to ``shape`` (h, w) if given.

    Top-to-bottom access only. Truncated files raise an error when the missing part is reached
    (libvips would otherwise fill it with grey). Downsizing uses JPEG shrink-on-load (DCT
    scaling) where it can, chosen from the tile's header, and area averaging (libvips resize:
    box shrink, then lanczos3 for the fractional rest) for the remainder.
    """
    if shape is not None and (tile.height, tile.width) == tuple(shape):
        shape = None  # full size: nothing to resize
    shrink = 1 if shape is None else shrink_on_load(tile, shape)
    image = open_image(tile.path, shrink=shrink, loader=tile.loader)
    try:
        image = to_pixel_format(image, fmt)
        return image if shape is None else _fit(image, shape)
    except pyvips.Error as error:
        raise decode_error(tile.path, error) from None


def shrink_pixels(pixels: np.ndarray, shape: tuple[int, int]) -> pyvips.Image:
    """Decoded tile pixels in the mosaic's format, resized to ``shape`` (h, w) by area
    averaging."""
    return _fit(pyvips.Image.new_from_array(pixels), shape)


def _fit(image: pyvips.Image, shape: tuple[int, int]) -> pyvips.Image:
    image = image.resize(shape[1] / image.width, vscale=shape[0] / image.height)
    # resize rounds the output size; pin it to exactly what the layout expects.
    if (image.height, image.width) != tuple(shape):
        image = image.embed(0, 0, shape[1], shape[0], extend="copy")
    return image


class HeapTrimmer:
    """Hands freed memory back to the system every ``interval`` bytes of decoded strips
    (glibc only).

    Strip buffers are freed on other threads than the ones that allocated them, and glibc
    keeps such memory in its per-thread pools: resident memory then creeps far above what is
    in use (measured: 723 MB instead of 541 MB for a 150-tile strip). ``malloc_trim`` gives it
    back; doing so every few bands costs little. Where nothing was decoded (tiles held in
    memory) there is nothing new to give back, and trimming would only make the next bands
    fault their pages in again: 0.1 CPU-s on an 8x8 scan of 2 MP tiles. What earlier stages
    left behind (registration's strips and spectra) goes back once, with `trim`.
    """

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.pending = 0
        self._trim: Callable[[int], int] | None = None
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                self._trim = ctypes.CDLL("libc.so.6").malloc_trim
            except (OSError, AttributeError):
                self._trim = None

    def add(self, nbytes: int) -> None:
        self.pending += nbytes
        if self.pending > 0 and self.pending >= self.interval:
            self.trim()

    def trim(self) -> None:
        if self._trim is not None:
            self._trim(0)
        self.pending = 0


@contextlib.contextmanager
def operation_cache_disabled() -> Iterator[None]:
    """Turn libvips' operation cache off for the duration (and restore its size after).

    The cache keeps the last hundred operations alive, tile loaders included, and with them
    their decoders and line caches long after a tile is done (measured: 135 MB on 64 tiles).
    Rendering never repeats an operation, so it has nothing to gain from the cache.
    """
    previous = pyvips.cache_get_max()
    pyvips.cache_set_max(0)
    try:
        yield
    finally:
        pyvips.cache_set_max(previous)


@dataclass(frozen=True)
class StripRequest:
    """Rows [row0, row1) and columns [col0, col1) of one tile, in tile pixels."""

    tile: int
    row0: int
    row1: int
    col0: int
    col1: int


class _Worker(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True, name="ofs-stitch-tiles")
        self.jobs: queue.SimpleQueue[tuple[Callable[[], object], Future] | None] = (
            queue.SimpleQueue()
        )

    def run(self) -> None:
        while (job := self.jobs.get()) is not None:
            work, future = job
            try:
                future.set_result(work())
            except BaseException as error:  # noqa: BLE001 - re-raised by Future.result()
                future.set_exception(error)


class StripReader:
    """Reads strips of tiles in top-to-bottom order, each tile decoded once.

    ``opener(tile)`` returns the tile's lazily decoded image (see `open_in_format`); ``in_memory``,
    when given, returns a tile's pixels already decoded and in the mosaic's format (see
    `pixel_format.pixels_in_format`), or None; they are then used as they are.
    Use as a context manager; requests for one tile must move down the tile.
    """

    def __init__(
        self,
        opener: Callable[[int], pyvips.Image],
        paths: Sequence[Path],
        fmt: PixelFormat,
        *,
        workers: int = 2,
        in_memory: Callable[[int], np.ndarray | None] | None = None,
    ) -> None:
        self._opener = opener
        self._paths = paths
        self._fmt = fmt
        self._in_memory = in_memory
        self._workers = [_Worker() for _ in range(max(1, workers))]
        self._regions: dict[int, tuple[pyvips.Image, pyvips.Region]] = {}
        self._arrays: dict[int, np.ndarray] = {}
        self.decoded_bytes = 0  # strips decoded from files so far (not those from memory)

    def __enter__(self) -> Self:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for worker in self._workers:
            worker.jobs.put(None)
        for worker in self._workers:
            worker.join()
        self._regions.clear()
        self._arrays.clear()

    def _memory_pixels(self, tile: int) -> np.ndarray | None:
        if self._in_memory is None:
            return None
        if tile not in self._arrays:
            pixels = self._in_memory(tile)
            if pixels is None:
                return None
            self._arrays[tile] = pixels
        return self._arrays[tile]

    def _fetch(self, request: StripRequest) -> np.ndarray:
        # Runs on the tile's own worker thread.
        held = self._regions.get(request.tile)
        try:
            if held is None:
                image = self._opener(request.tile)
                held = (image, pyvips.Region.new(image))
                self._regions[request.tile] = held
            rows, cols = request.row1 - request.row0, request.col1 - request.col0
            buffer = held[1].fetch(request.col0, request.row0, cols, rows)
        except pyvips.Error as error:
            raise decode_error(self._paths[request.tile], error) from None
        return np.frombuffer(buffer, self._fmt.dtype).reshape(rows, cols, self._fmt.bands)

    def submit(self, requests: Sequence[StripRequest]) -> list[tuple[StripRequest, object]]:
        """Start decoding the requested strips; pass the result to `collect`."""
        pending: list[tuple[StripRequest, object]] = []
        for request in requests:
            pixels = self._memory_pixels(request.tile)
            if pixels is not None:
                pending.append(
                    (request, pixels[request.row0 : request.row1, request.col0 : request.col1])
                )
                continue
            future: Future = Future()
            worker = self._workers[request.tile % len(self._workers)]
            worker.jobs.put((functools.partial(self._fetch, request), future))
            pending.append((request, future))
        return pending

    def collect(
        self,
        pending: list[tuple[StripRequest, object]],
    ) -> dict[int, tuple[StripRequest, np.ndarray]]:
        """Wait for submitted strips: tile -> (request, (rows, cols, bands) array)."""
        strips: dict[int, tuple[StripRequest, np.ndarray]] = {}
        for request, result in pending:
            if isinstance(result, Future):
                pixels = result.result()
                self.decoded_bytes += pixels.nbytes
            else:
                pixels = result
            strips[request.tile] = (request, pixels)
        return strips

    def read(self, requests: Sequence[StripRequest]) -> list[np.ndarray]:
        """The requested strips as (rows, cols, bands) arrays, decoded in parallel."""
        strips = self.collect(self.submit(requests))
        return [strips[r.tile][1] for r in requests]

    def release(self, tile: int) -> None:
        """Forget a tile whose last rows have been read (frees its decoder and cache)."""
        self._arrays.pop(tile, None)
        # The region is dropped on its own worker thread, behind that tile's pending fetches.
        self._workers[tile % len(self._workers)].jobs.put(
            (functools.partial(self._forget_region, tile), Future())
        )

    def _forget_region(self, tile: int) -> None:
        self._regions.pop(tile, None)
