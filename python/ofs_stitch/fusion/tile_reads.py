"""Reading the part of a tile a chunk needs, in the mosaic's format, lazily.

An uncompressed TIFF's rows are read straight from the file (`raw_tiff`: one pread, no
copies); any other TIFF is opened for random access and only the region asked for is decoded
(libvips reads just the strips or tiles that hold it). Other formats (JPEG, PNG) cannot be
decoded in part, so such a tile is decoded whole the first time a chunk asks for it and kept in
a bounded per-process cache: on a Dask worker each tile is decoded at most once while its chunks run
(the graph orders a tile's chunks together), and the cache never holds more than its budget.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyvips

from ..errors import decode_error
from ..io.decode import open_image, read_pixels
from ..io.header import ImageFacts
from ..io.pixel_format import PixelFormat, pixels_in_format
from .raw_tiff import raw_layout, read_raw_rows

# Bytes of whole decoded tiles one process keeps (about 40 RGB tiles of 2 MP, or 64 16-bit
# grey megapixel tiles). OFS_FUSION_CACHE_MB overrides it (workers read it at start).
DEFAULT_CACHE_BYTES = 128 << 20
_NUMPY_TYPES = {
    "uchar": np.uint8,
    "char": np.int8,
    "ushort": np.uint16,
    "short": np.int16,
    "uint": np.uint32,
    "int": np.int32,
    "float": np.float32,
    "double": np.float64,
}


def _cache_budget() -> int:
    text = os.environ.get("OFS_FUSION_CACHE_MB")
    if text is None:
        return DEFAULT_CACHE_BYTES
    try:
        return max(0, int(float(text) * (1 << 20)))
    except ValueError:
        return DEFAULT_CACHE_BYTES


class DecodedTiles:
    """Whole decoded tiles, least recently used dropped first, within a byte budget; safe to
    use from several threads (a threaded Dask scheduler)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.held = 0
        self.decodes = 0  # how many tiles were decoded (a tile decoded twice counts twice)
        self._tiles: OrderedDict[tuple[str, float], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._decoding: dict[tuple[str, float], threading.Lock] = {}

    def get(self, key: tuple[str, float]) -> np.ndarray | None:
        with self._lock:
            pixels = self._tiles.get(key)
            if pixels is not None:
                self._tiles.move_to_end(key)
            return pixels

    def keep(self, key: tuple[str, float], pixels: np.ndarray) -> None:
        with self._lock:
            self.decodes += 1
            if pixels.nbytes > self.budget or key in self._tiles:
                return
            self._tiles[key] = pixels
            self.held += pixels.nbytes
            while self.held > self.budget:
                _, dropped = self._tiles.popitem(last=False)
                self.held -= dropped.nbytes

    def get_or_decode(self, key: tuple[str, float], decode: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached tile, or ``decode()`` it: at most one thread decodes a given tile while
        others that want it wait for its result."""
        pixels = self.get(key)
        if pixels is not None:
            return pixels
        with self._lock:
            lock = self._decoding.setdefault(key, threading.Lock())
        with lock:
            pixels = self.get(key)
            if pixels is None:
                pixels = decode()
                self.keep(key, pixels)
        with self._lock:
            self._decoding.pop(key, None)
        return pixels

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()
            self.held = 0


# One cache per process: every chunk task a worker runs shares it.
DECODED = DecodedTiles(_cache_budget())


def is_tiff(header: ImageFacts) -> bool:
    return str(header.loader).startswith("tiffload")


def read_own_region(header: ImageFacts, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
    """Tile rows [row0, row1) and columns [col0, col1) in the file's own samples and bands
    (as `io.decode.read_pixels` gives them). Raises ImageReadError naming the file when it
    cannot be decoded."""
    path = Path(header.path)
    if is_tiff(header):
        try:
            raw = raw_layout(str(path), path.stat().st_mtime)
            if raw is not None and row1 <= raw.rows and col1 <= raw.cols:
                # Whole rows (one read), the columns a view of them: the painters take strides.
                pixels = read_raw_rows(path, raw, row0, row1)[:, col0:col1]
                return pixels if raw.bands > 1 else pixels[:, :, 0]
        except OSError as error:
            raise decode_error(path, error) from None
        try:
            image = open_image(path, loader=header.loader, access="random")
            # A region fetch decodes on this thread: no libvips pipeline and thread pool to
            # start for every read (about 1 ms each, as much as a 256^2 region's decoding).
            buffer = pyvips.Region.new(image).fetch(col0, row0, col1 - col0, row1 - row0)
        except pyvips.Error as error:
            raise decode_error(path, error) from None
        dtype = np.dtype(_NUMPY_TYPES[str(image.format)])
        pixels = np.frombuffer(buffer, dtype).reshape(row1 - row0, col1 - col0, image.bands)
        return pixels if image.bands > 1 else pixels[:, :, 0]
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError as error:
        raise decode_error(path, error) from None
    whole = DECODED.get_or_decode(key, lambda: read_pixels(path, loader=header.loader))
    return whole[row0:row1, col0:col1]


def read_region(
    header: ImageFacts, fmt: PixelFormat, row0: int, row1: int, col0: int, col1: int
) -> np.ndarray:
    """Tile rows [row0, row1) and columns [col0, col1) as (rows, cols, fmt.bands) of
    fmt.dtype (`io.pixel_format`: the same conversion a whole tile gets)."""
    pixels = read_own_region(header, row0, row1, col0, col1)
    return pixels_in_format(pixels, header.interpretation, fmt)
