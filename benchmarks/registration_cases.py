"""The three registration workloads the benchmarks time, with their reference methods.

(a) one 640x480 tile pair: ``register_pair`` with a stage guess against the OpenFlexure method;
(b) every neighbour pair of a grid of tiles from a thread pool: spectra computed once per region
    and reused (``register_spectra``), and for comparison ``register_pair`` per pair;
(c) ``solve_positions`` on a large grid against ``scipy.sparse.linalg.lsqr``.

Each ``run_*`` function measures and returns figures; asserting them is the caller's business
(``bench_registration.py`` under pytest, ``compare_registration.py`` as a table). The data come
from ``ofs_stitch.testing``, configured here with the benchmarks' sizes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ofs_stitch import solve_positions

# Short mode keeps a benchmark run to seconds on a shared 2-core machine; OFS_BENCH_FULL=1 runs
from ofs_stitch.core import registration
from ofs_stitch.core.overlap import OverlapRegions, overlap_regions
from ofs_stitch.testing.grids import TileGrid, neighbour_shifts, tile_grid
from ofs_stitch.testing.pairs import neighbour_pairs

# the sizes the issue names.
FULL = os.environ.get("OFS_BENCH_FULL") == "1"
TILE_SHAPE = (480, 640)
OVERLAP = 0.3
SEARCH_RADIUS = 30.0
STAGE_ERROR = 10.0  # px per axis, uniform: the stage guess's error
PAIR_NOISE = 0.02  # camera noise, as a fraction of full scale

T = TypeVar("T")


def best_time(function: Callable[[], T], rounds: int) -> tuple[float, T]:
    """The fastest of ``rounds`` calls (s), the least disturbed by other jobs, and a result."""
    best, result = np.inf, None
    for _ in range(rounds):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return float(best), result  # type: ignore[return-value]


# --- (a) one tile pair ---------------------------------------------------------------------------


def openflexure_shift(a: np.ndarray, b: np.ndarray, sigma: float = 10.0) -> tuple[float, float]:
    """openflexure-stitching 0.3.1's displacement, re-implemented in numpy (REFERENCE section 5).

    Whole images, mean-subtracted, float64 rfft2 padded to 2x, high-pass 1 - exp(-2 pi^2 sigma^2
    |f|^2), irfft2, the 45 px corners (zero-shift leakage) set to the mean as upstream does, then
    the centroid of everything within 2 % of the range below the maximum. Returned in our
    convention: b[y, x] ~ a[y + d_row, x + d_col].
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a - a.mean()
    b = b - b.mean()
    shape = (2 * a.shape[0], 2 * a.shape[1])
    radius2 = np.fft.fftfreq(shape[0])[:, None] ** 2 + np.fft.rfftfreq(shape[1])[None, :] ** 2
    high_pass = 1.0 - np.exp(-2.0 * np.pi**2 * sigma**2 * radius2)
    corr = np.fft.irfft2(
        np.fft.rfft2(a, s=shape) * np.conj(np.fft.rfft2(b, s=shape)) * high_pass, s=shape
    )
    mask = 45
    mean = corr.mean()
    corr[:mask, :mask] = corr[-mask:, :mask] = corr[:mask, -mask:] = corr[-mask:, -mask:] = mean
    threshold = corr.max() - 0.02 * (corr.max() - corr.min())
    weight = np.clip(corr - threshold, 0.0, None)
    rows = np.fft.fftfreq(shape[0], 1.0 / shape[0])[:, None]  # signed shifts 0, 1, ..., -1
    cols = np.fft.fftfreq(shape[1], 1.0 / shape[1])[None, :]
    total = weight.sum()
    return float((weight * rows).sum() / total), float((weight * cols).sum() / total)


@dataclass(frozen=True)
class SinglePairFigures:
    pairs_measured: int
    ours_seconds: float  # register_pair with a stage guess and search radius
    whole_image_seconds: float  # register_pair without a guess: whole images, 2x padded
    openflexure_seconds: float
    ours_rms_error: float  # px, RMS distance from the true shift over pairs_measured pairs
    whole_image_rms_error: float
    openflexure_rms_error: float

    @property
    def speed_ratio(self) -> float:
        return self.openflexure_seconds / self.ours_seconds


def tile_pair_cases(
    count: int, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(a, b, true shift, stage guess) for horizontal and vertical 30 % overlaps, 2 % noise."""
    return neighbour_pairs(
        count,
        tile_shape=TILE_SHAPE,
        overlap=OVERLAP,
        stage_error=STAGE_ERROR,
        noise_fraction=PAIR_NOISE,
        seed=seed,
    )


def run_single_pair(accuracy_pairs: int, rounds: int) -> SinglePairFigures:
    """Time the first pair with each method (best of ``rounds``); errors over all pairs."""
    cases = tile_pair_cases(accuracy_pairs)

    def ours(a: np.ndarray, b: np.ndarray, guess: np.ndarray) -> tuple[float, float]:
        return registration.register_pair(
            a, b, expected_shift=tuple(guess), search_radius=SEARCH_RADIUS
        ).shift

    def whole(a: np.ndarray, b: np.ndarray, guess: np.ndarray) -> tuple[float, float]:
        return registration.register_pair(a, b).shift

    def theirs(a: np.ndarray, b: np.ndarray, guess: np.ndarray) -> tuple[float, float]:
        return openflexure_shift(a, b)

    a, b, _, guess = cases[0]
    times = {}
    errors = {}
    for name, method in (("ours", ours), ("whole", whole), ("openflexure", theirs)):
        times[name], _ = best_time(lambda method=method: method(a, b, guess), rounds)
        distances = [np.hypot(*(np.array(method(a_, b_, g_)) - t_)) for a_, b_, t_, g_ in cases]
        errors[name] = float(np.sqrt(np.mean(np.square(distances))))
    return SinglePairFigures(
        pairs_measured=len(cases),
        ours_seconds=times["ours"],
        whole_image_seconds=times["whole"],
        openflexure_seconds=times["openflexure"],
        ours_rms_error=errors["ours"],
        whole_image_rms_error=errors["whole"],
        openflexure_rms_error=errors["openflexure"],
    )


# --- (b) a grid of pairs with spectra reused -----------------------------------------------------


@dataclass(frozen=True)
class GridFigures:
    threads: int
    pairs: int
    spectra: int
    spectra_seconds: float
    pairs_seconds: float
    max_error: float  # px, largest distance of a measured shift from the truth
    errors: np.ndarray  # (pairs,) px

    @property
    def seconds(self) -> float:
        return self.spectra_seconds + self.pairs_seconds

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds


@dataclass(frozen=True)
class _Direction:
    """One neighbour direction: the fixed regions of its two tiles and their FFT size."""

    regions: OverlapRegions
    padded: tuple[int, int]
    settings: registration.CorrelationSettings


def _direction(nominal: tuple[int, int]) -> _Direction:
    # Regions around the *nominal* overlap, widened by the search radius, are the same for every
    # pair of that direction: each tile side's spectrum is computed once and reused.
    margin = int(np.ceil(SEARCH_RADIUS))
    regions = overlap_regions(TILE_SHAPE, TILE_SHAPE, nominal, margin)
    assert regions is not None
    # The stage guess may sit up to ~2 * STAGE_ERROR from nominal, and we search SEARCH_RADIUS
    # around it.
    reach = int(np.ceil(2 * STAGE_ERROR + SEARCH_RADIUS)) + 1
    padded = registration.padded_shape(regions.shape, (reach, reach))
    settings = registration.effective(registration.CorrelationSettings(), regions.shape)
    return _Direction(regions, padded, settings)


def make_grid(size: int) -> TileGrid:
    return tile_grid(
        (size, size),
        tile_shape=TILE_SHAPE,
        overlap=OVERLAP,
        stage_error=STAGE_ERROR,
        noise_fraction=PAIR_NOISE,
        seed=3,
    )


def run_grid(grid: TileGrid, threads: int) -> GridFigures:
    """Measure every neighbour pair of ``grid`` with ``threads`` worker threads."""
    rows, cols = grid.grid_shape
    across = _direction((0, round(grid.pitch[1])))
    down = _direction((round(grid.pitch[0]), 0))
    jobs: list[tuple[str, int, _Direction, tuple[slice, slice]]] = []
    for tile in range(len(grid.tiles)):
        r, c = divmod(tile, cols)
        if c + 1 < cols:
            jobs.append(("right", tile, across, across.regions.region_a))
        if c > 0:
            jobs.append(("left", tile, across, across.regions.region_b))
        if r + 1 < rows:
            jobs.append(("bottom", tile, down, down.regions.region_a))
        if r > 0:
            jobs.append(("top", tile, down, down.regions.region_b))

    def spectrum(job: tuple[str, int, _Direction, tuple[slice, slice]]) -> Any:
        _, tile, direction, window = job
        return registration.compute_spectrum(
            grid.tiles[tile][window], direction.padded, direction.settings
        )

    pairs = [(i, j, across if j == i + 1 else down) for i, j in grid.neighbour_pairs()]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        start = time.perf_counter()
        spectra = dict(zip(((side, tile) for side, tile, _, _ in jobs), pool.map(spectrum, jobs)))
        spectra_seconds = time.perf_counter() - start

        def measure(pair: tuple[int, int, _Direction]) -> tuple[float, float]:
            i, j, direction = pair
            first, second = ("right", "left") if direction is across else ("bottom", "top")
            regions = direction.regions
            guess = grid.stage_positions[j] - grid.stage_positions[i]
            expected = (guess[0] - regions.region_to_tile[0], guess[1] - regions.region_to_tile[1])
            measured = registration.register_spectra(
                spectra[(first, i)],
                spectra[(second, j)],
                grid.tiles[i][regions.region_a],
                grid.tiles[j][regions.region_b],
                expected_shift=expected,
                search_radius=SEARCH_RADIUS,
            )
            return (
                measured.shift[0] + regions.region_to_tile[0],
                measured.shift[1] + regions.region_to_tile[1],
            )

        start = time.perf_counter()
        shifts = np.array(list(pool.map(measure, pairs)))
        pairs_seconds = time.perf_counter() - start

    i, j = np.array([(p[0], p[1]) for p in pairs]).T
    truth = grid.true_positions[j] - grid.true_positions[i]
    errors = np.hypot(*(shifts - truth).T)
    return GridFigures(
        threads=threads,
        pairs=len(pairs),
        spectra=len(jobs),
        spectra_seconds=spectra_seconds,
        pairs_seconds=pairs_seconds,
        max_error=float(errors.max()),
        errors=errors,
    )


def run_grid_pairwise(grid: TileGrid, threads: int) -> GridFigures:
    """Every neighbour pair through ``register_pair`` with the stage guess (search, then a
    refinement on regions cut to face each other at the match): no spectrum is shared."""
    pairs = grid.neighbour_pairs()

    def measure(pair: tuple[int, int]) -> tuple[float, float]:
        i, j = pair
        guess = grid.stage_positions[j] - grid.stage_positions[i]
        return registration.register_pair(
            grid.tiles[i],
            grid.tiles[j],
            expected_shift=(guess[0], guess[1]),
            search_radius=SEARCH_RADIUS,
        ).shift

    with ThreadPoolExecutor(max_workers=threads) as pool:
        start = time.perf_counter()
        shifts = np.array(list(pool.map(measure, pairs)))
        seconds = time.perf_counter() - start
    i, j = np.array(pairs).T
    errors = np.hypot(*(shifts - (grid.true_positions[j] - grid.true_positions[i])).T)
    return GridFigures(
        threads=threads,
        pairs=len(pairs),
        spectra=0,
        spectra_seconds=0.0,
        pairs_seconds=seconds,
        max_error=float(errors.max()),
        errors=errors,
    )


# --- (c) the solve -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SolveFigures:
    tiles: int
    pairs: int
    ours_seconds: float
    lsqr_seconds: float
    max_difference: float  # px, ours vs LSQR
    rms_error: float  # px, ours vs the truth (mean offset removed)

    @property
    def speed_ratio(self) -> float:
        return self.lsqr_seconds / self.ours_seconds


def grid_system(size: int, noise: float = 0.1, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """True positions of a size x size raster and its neighbour pairs (i, j, d_row, d_col, w)."""
    return neighbour_shifts(size, tile_shape=TILE_SHAPE, overlap=OVERLAP, noise=noise, seed=seed)


def lsqr_solve(n_tiles: int, pairs: np.ndarray) -> np.ndarray:
    """Minimum-norm weighted least squares (mean position zero) by LSQR, per coordinate."""
    from scipy import sparse
    from scipy.sparse.linalg import lsqr

    i, j = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    root_w = np.sqrt(pairs[:, 4])
    m = len(pairs)
    matrix = sparse.csr_matrix(
        (np.concatenate([-root_w, root_w]), (np.tile(np.arange(m), 2), np.concatenate([i, j]))),
        shape=(m, n_tiles),
    )
    return np.column_stack(
        [
            lsqr(
                matrix,
                root_w * pairs[:, 2 + axis],
                atol=1e-15,
                btol=1e-15,
                conlim=0,
                iter_lim=200_000,
            )[0]
            for axis in range(2)
        ]
    )


def run_solve(size: int, rounds: int) -> SolveFigures:
    truth, pairs = grid_system(size)
    n = size * size
    ours_seconds, placement = best_time(lambda: solve_positions(n, pairs), rounds)
    lsqr_seconds, reference = best_time(lambda: lsqr_solve(n, pairs), 1)
    error = placement.positions - truth
    error -= error.mean(axis=0)
    return SolveFigures(
        tiles=n,
        pairs=len(pairs),
        ours_seconds=ours_seconds,
        lsqr_seconds=lsqr_seconds,
        max_difference=float(np.abs(placement.positions - reference).max()),
        rms_error=float(np.sqrt((error**2).sum(axis=1).mean())),
    )
