"""The continuous scene every generator photographs, known exactly at any real position.

Truth: the image ``f(y, x) = sum_k canvas[k] L(y - k_row) L(x - k_col)`` of a large canvas of
real image content through a band-limited kernel L. A photograph of f at position R holds
``f(R + (i, j))`` (``sample_subpixel``), so two photographs at R and R + d satisfy
``b[y, x] == a[y + d_row, x + d_col]`` to float32 rounding. ``testing.camera`` takes the
photographs; scans, pairs and every generator to come are made of them.

**The canvas** is a random brick-wall of rectangular patches cut from the photographs that ship
inside the scikit-image wheel (nothing is downloaded). Each photograph is enlarged 1-1.6x
(seeded) and used in its 8 flip/rot90 orientations; every orientation of every enlarged
photograph is a "sheet", and no two patches taken from one sheet overlap. A flipped or rotated
copy of a picture does not correlate with the original under a shift, so no two places on the
canvas look alike to a registration method, and no two tiles see the same content. Touching
patches come from different photographs, and the band cuts are independent, so seams do not line
up into a periodic lattice. When no sheet has room for a patch (big canvases: a 15x15 scan of
640x480 tiles, 38 Mpx, takes about 30 of its 360 patches there) a new round of sheets is opened,
each 1.3x larger than the last, so content met again differs by at least 30 % in scale, which no
translation can match. Sheets are kept as uint8 (1 band for grey photographs, 3 for colour) and
converted to float32 in [0, 1] only for the region a caller asks for, so a canvas of any size
costs little memory: the 1x150 strip of reference section 5 (68 000 px wide) is as cheap as a
5x5 scan.

**The optics.** L is a Kaiser-windowed sinc: a low-pass with cutoff 0.9 pi (half gain at 0.9 x
Nyquist, flat to 5e-8 below 0.75 x Nyquist, below 1e-7 at and above Nyquist; 97 taps). This buys
two properties at once:

* **Consistency.** L has a finite support (+-48 px), so a tile cut from the canvas with a 48 px
  margin holds exactly the values of the whole-canvas image: every tile samples one and the same
  scene, and ``b[y, x] == a[y + d_row, x + d_col]`` holds to float32 rounding for any d.
* **Band limit.** f has no content at or above Nyquist (to 1e-7), so sampling it is alias-free
  and any two tiles are exact band-limited (Fourier) shifts of each other, as with a real
  microscope, whose objective limits the bandwidth. We tried a cubic spline first: it is
  consistent too, but f then carries aliased content whose phase does not follow the shift,
  and whitened phase correlation on noise-free pairs was biased by 0.06-0.15 px, which is the
  size of the errors the benchmarks measure. A Fourier shift of each cut region (scikit-image's
  way) is band-limited but not consistent: the wrap-around of the cut rings into the tile and
  overlapping tiles disagree.

The convolution is done with scipy.fft on the cut region (circular convolution equals the
linear one on the trimmed interior because the kernel support fits in the margin): a 576x736
float32 region costs about 4 ms per channel. An optional Gaussian blur (defocus) is folded into
the same transfer function; the margin grows by 6 sigma so that consistency still holds.

**The cubic spline** (``sample_spline``) is kept for the registration benchmarks' tile pairs
and grids (``testing.pairs.tile_pair``, ``testing.grids.tile_grid``), whose recorded figures
were measured on it; new generators sample through ``sample_subpixel``.

scikit-image is an optional dependency (``pip install 'ofs-stitch[test]'``); it is imported only
when a canvas is first built, and scipy only when a region is sampled.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

# ---------------------------------------------------------------------------------------------
# The canvas

# Photographs bundled inside the scikit-image wheel (never fetched over the network). Synthetic
# drawings (checkerboard, logo, phantom, colorwheel), binary masks (horse) and stamp-sized images
# (microaneurysms, lfw_subset) are left out: they are not microscope-like content. Of the stereo
# pair only the left image is used: the right one is nearly the same scene.
SOURCE_NAMES: tuple[str, ...] = (
    "astronaut",
    "brick",
    "camera",
    "cell",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "retina",
    "rocket",
    "stereo_motorcycle",
    "text",
)

# ITU-R 709 luma, the weights skimage.color.rgb2gray uses.
_LUMA = np.array([0.2125, 0.7154, 0.0721])


def luma(rgb: np.ndarray, out: np.ndarray | None = None, dtype: type = np.float32) -> np.ndarray:
    """The luma of (..., 3) pixels as ``dtype``, into ``out`` when given.

    Why not ``rgb @ weights``: numpy hands that product to BLAS, and OpenBLAS sums it in an
    order that depends on the CPU (its AVX-512 kernels differ from its AVX2 ones in the last
    bit), so the same seed gave other pixels on another machine. A multiply and two adds,
    one rounding each, give the same values everywhere.
    """
    weights: np.ndarray = _LUMA.astype(dtype)
    out = np.multiply(rgb[..., 0], weights[0], out=out, dtype=dtype)
    out += rgb[..., 1] * weights[1]
    out += rgb[..., 2] * weights[2]
    return out


# Patch sizes: several patches fall inside every 640x480 tile, so each tile sees a unique
# arrangement of seams and pictures even where one picture is a periodic texture (brick).
_PATCH_HEIGHT = (200, 440)
_PATCH_WIDTH = (200, 520)
_SCALE_RANGE = (1.0, 1.6)
_ROUND_SCALE_STEP = 1.3
# Patches flatter than this (sky, the black surround of the retina, empty deep field) are not
# used: a blank area is a scan option (``blank_fraction``), not something the canvas does by chance.
_MIN_PATCH_STD = 0.05
_RANDOM_PICKS = 20


def _require_skimage_data():  # type: ignore[no-untyped-def]
    try:
        import skimage.data
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "ofs_stitch.testing needs scikit-image for its built-in images: "
            "pip install 'ofs-stitch[test]'"
        ) from error
    return skimage.data


@functools.cache
def _load_source(name: str) -> np.ndarray:
    """One bundled photograph as uint8 (h, w, 1) or (h, w, 3); read once per process."""
    data = _require_skimage_data()
    image = getattr(data, name)()
    if name == "stereo_motorcycle":
        image = image[0]
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise RuntimeError(f"scikit-image's {name!r} is {image.dtype}, expected uint8")
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    return np.ascontiguousarray(image[:, :, :3])


def _rescale(image: np.ndarray, scale: float) -> np.ndarray:
    """Enlarge a uint8 (h, w, c) image by ``scale`` with libvips' Lanczos-3 (fast, no aliasing)."""
    import pyvips

    vips_image = pyvips.Image.new_from_array(image)
    resized = vips_image.resize(scale, kernel="lanczos3")
    out = np.asarray(resized.numpy(), dtype=np.uint8)
    if out.ndim == 2:
        out = out[:, :, np.newaxis]
    return np.ascontiguousarray(out)


@dataclass(frozen=True)
class SheetKey:
    """One orientation of one rescaled photograph: the unit inside which patches never overlap."""

    source: str
    round: int
    orientation: int  # 0-3: rot90 k times; 4-7: the same, then flipped left-right


def _oriented(sheet: np.ndarray, orientation: int) -> np.ndarray:
    view = np.rot90(sheet, orientation % 4, axes=(0, 1))
    return view[:, ::-1] if orientation >= 4 else view


def _oriented_shape(shape: tuple[int, ...], orientation: int) -> tuple[int, int]:
    return (shape[1], shape[0]) if orientation % 2 else (shape[0], shape[1])


class _SheetStore:
    """The enlarged photographs of one seed, made on first use and kept (uint8, tens of MB)."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED, 1]))
        self.base_scale = {name: float(rng.uniform(*_SCALE_RANGE)) for name in SOURCE_NAMES}
        self._sheets: dict[tuple[str, int], np.ndarray] = {}

    def scale(self, source: str, round_: int) -> float:
        return self.base_scale[source] * _ROUND_SCALE_STEP**round_

    def shape(self, source: str, round_: int) -> tuple[int, int]:
        height, width = _load_source(source).shape[:2]
        s = self.scale(source, round_)
        # libvips rounds the output size this way for resize().
        return (int(round(height * s)), int(round(width * s)))

    def sheet(self, key: SheetKey) -> np.ndarray:
        """The oriented uint8 view of a sheet."""
        base_key = (key.source, key.round)
        if base_key not in self._sheets:
            self._sheets[base_key] = _rescale(
                _load_source(key.source), self.scale(key.source, key.round)
            )
        return _oriented(self._sheets[base_key], key.orientation)


@functools.lru_cache(maxsize=2)
def _sheet_store(seed: int) -> _SheetStore:
    return _SheetStore(seed)


@dataclass(frozen=True)
class Patch:
    """A rectangle of the canvas, and where in which sheet its pixels come from."""

    row: int
    col: int
    height: int
    width: int
    sheet: SheetKey
    sheet_row: int
    sheet_col: int


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _split(length: int, low: int, high: int, rng: np.random.Generator) -> list[int]:
    """Random cut of ``length`` into pieces of ``low..high`` (needs high >= 2 * low)."""
    pieces: list[int] = []
    remaining = length
    while remaining > 0:
        if remaining <= high:
            pieces.append(remaining)
            break
        piece = int(rng.integers(low, high + 1))
        if remaining - piece < low:  # keep the last piece no shorter than low
            piece = remaining - low
        pieces.append(piece)
        remaining -= piece
    return pieces


def _patch_std(view: np.ndarray) -> float:
    sub = view[::4, ::4].astype(np.float32)
    grey = sub[:, :, 0] if sub.shape[2] == 1 else luma(sub)
    return float(grey.std() / 255.0)


def _build_layout(shape: tuple[int, int], seed: int) -> list[Patch]:
    """Cover ``shape`` with patches: bands of random height, each cut into random widths.

    The band cuts are independent, so seams do not line up into a periodic lattice.
    """
    store = _sheet_store(seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED, 2]))
    used: dict[SheetKey, list[tuple[int, int, int, int]]] = {}
    rejected_flat: set[tuple[SheetKey, int, int]] = set()
    rounds_open = 1
    patches: list[Patch] = []

    def candidates(height: int, width: int) -> list[SheetKey]:
        keys = []
        for round_ in range(rounds_open):
            for source in SOURCE_NAMES:
                base = store.shape(source, round_)
                for orientation in range(8):
                    sheet_h, sheet_w = _oriented_shape(base, orientation)
                    if sheet_h >= height and sheet_w >= width:
                        keys.append(SheetKey(source, round_, orientation))
        return keys

    def positions(key: SheetKey, height: int, width: int) -> list[tuple[int, int]]:
        # Corners next to patches already cut from this sheet, and against its edges, pack it
        # tightly (a 15x15 scan fits in the first round); a few random spots add variety.
        sheet_h, sheet_w = _oriented_shape(store.shape(key.source, key.round), key.orientation)
        last_row, last_col = sheet_h - height, sheet_w - width
        spots = [(0, 0), (last_row, 0), (0, last_col), (last_row, last_col)]
        for r, c, h, w in used.get(key, ()):
            spots += [(r + h, c), (r, c + w), (r + h, 0), (0, c + w), (last_row, c + w)]
            spots += [(r + h, last_col), (r - height, c), (r, c - width)]
        spots += [
            (int(rng.integers(sheet_h - height + 1)), int(rng.integers(sheet_w - width + 1)))
            for _ in range(3)
        ]
        order = rng.permutation(len(spots))
        return [
            spots[i] for i in order if 0 <= spots[i][0] <= last_row and 0 <= spots[i][1] <= last_col
        ]

    def place(height: int, width: int, avoid: set[str]) -> tuple[SheetKey, int, int] | None:
        keys = [key for key in candidates(height, width) if key.source not in avoid]
        # Random sheets first (cheap while the pool is roomy), then every sheet before giving up.
        random_picks: list[int] = (
            rng.integers(len(keys), size=_RANDOM_PICKS).tolist() if keys else []
        )
        for index in [*random_picks, *rng.permutation(len(keys))]:
            key = keys[index]
            for r, c in positions(key, height, width):
                rect = (r, c, height, width)
                if (key, r, c) in rejected_flat or any(
                    _overlaps(rect, other) for other in used.get(key, ())
                ):
                    continue
                view = store.sheet(key)[r : r + height, c : c + width]
                if _patch_std(view) < _MIN_PATCH_STD:
                    rejected_flat.add((key, r, c))
                    continue
                return key, r, c
        return None

    row = 0
    previous_band: list[Patch] = []
    for band_height in _split(shape[0], *_PATCH_HEIGHT, rng):
        col = 0
        band: list[Patch] = []
        for patch_width in _split(shape[1], *_PATCH_WIDTH, rng):
            # Touching patches come from different photographs, for variety at every scale.
            avoid = {p.sheet.source for p in band[-1:]} | {
                p.sheet.source
                for p in previous_band
                if p.col < col + patch_width and col < p.col + p.width
            }
            placed = place(band_height, patch_width, avoid)
            while placed is None:
                rounds_open += 1
                if rounds_open > 12:  # 1.3**12 = 23x: a patch size no photograph can host
                    raise InputError(
                        f"synthetic canvas {shape} needs a patch of {band_height}x{patch_width} "
                        "that no bundled photograph can provide; use a smaller scan"
                    )
                placed = place(band_height, patch_width, avoid)
            key, r, c = placed
            used.setdefault(key, []).append((r, c, band_height, patch_width))
            band.append(Patch(row, col, band_height, patch_width, key, r, c))
            col += patch_width
        patches += band
        previous_band = band
        row += band_height
    return patches


@dataclass
class TextureCanvas:
    """A deterministic canvas of ``shape`` (rows, cols) for ``seed``; pixels rendered on demand.

    Use :func:`texture_canvas` to get one: it caches the layout per (shape, seed).
    """

    shape: tuple[int, int]
    seed: int
    patches: list[Patch]
    _rects: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rects = np.array(
            [(p.row, p.col, p.row + p.height, p.col + p.width) for p in self.patches],
            dtype=np.int64,
        ).reshape(-1, 4)

    def render(
        self,
        row: int,
        col: int,
        height: int,
        width: int,
        *,
        rgb: bool = False,
        channels_first: bool = False,
    ) -> np.ndarray:
        """Canvas pixels [row, row+height) x [col, col+width) as float32 in [0, 1].

        Grey is the luma of the colour canvas. ``rgb=True`` gives (height, width, 3), or
        (3, height, width) with ``channels_first`` (what per-plane FFTs want).
        """
        if row < 0 or col < 0 or row + height > self.shape[0] or col + width > self.shape[1]:
            raise InputError(
                f"region ({row}, {col}) + ({height}, {width}) lies outside the synthetic "
                f"canvas of {self.shape}; make the canvas larger"
            )
        if not rgb:
            shape: tuple[int, ...] = (height, width)
        else:
            shape = (3, height, width) if channels_first else (height, width, 3)
        out = np.empty(shape, dtype=np.float32)
        rects = self._rects
        hits = np.flatnonzero(
            (rects[:, 0] < row + height)
            & (rects[:, 2] > row)
            & (rects[:, 1] < col + width)
            & (rects[:, 3] > col)
        )
        store = _sheet_store(self.seed)
        for index in hits:
            patch = self.patches[index]
            r0, c0 = max(row, patch.row), max(col, patch.col)
            r1 = min(row + height, patch.row + patch.height)
            c1 = min(col + width, patch.col + patch.width)
            sr, sc = patch.sheet_row + r0 - patch.row, patch.sheet_col + c0 - patch.col
            view = store.sheet(patch.sheet)[sr : sr + r1 - r0, sc : sc + c1 - c0]
            if rgb and channels_first:
                # A 1-band sheet broadcasts to grey RGB.
                out[:, r0 - row : r1 - row, c0 - col : c1 - col] = np.moveaxis(view, 2, 0)
            elif rgb:
                out[r0 - row : r1 - row, c0 - col : c1 - col] = view
            elif view.shape[2] == 1:
                out[r0 - row : r1 - row, c0 - col : c1 - col] = view[:, :, 0]
            else:
                luma(view, out=out[r0 - row : r1 - row, c0 - col : c1 - col])
        out *= np.float32(1.0 / 255.0)
        return out

    def reused_content(self) -> int:
        """Pairs of patches cut from overlapping areas of one sheet: content the canvas shows
        twice. The layout never does this; the tests hold it to that on large canvases."""
        by_sheet: dict[SheetKey, list[Patch]] = {}
        for patch in self.patches:
            by_sheet.setdefault(patch.sheet, []).append(patch)
        reused = 0
        for patches in by_sheet.values():
            for p, q in itertools.combinations(patches, 2):
                rows = p.sheet_row < q.sheet_row + q.height and q.sheet_row < p.sheet_row + p.height
                cols = p.sheet_col < q.sheet_col + q.width and q.sheet_col < p.sheet_col + p.width
                reused += rows and cols
        return reused


@functools.lru_cache(maxsize=8)
def texture_canvas(shape: tuple[int, int], seed: int = 0) -> TextureCanvas:
    """The canvas layout for (shape, seed), built once (a few ms) and cached."""
    shape = (int(shape[0]), int(shape[1]))
    if shape[0] < 1 or shape[1] < 1:
        raise InputError(f"synthetic canvas shape {shape} must be positive")
    return TextureCanvas(shape, int(seed), _build_layout(shape, int(seed)))


def make_canvas(shape: tuple[int, int], *, seed: int = 0, rgb: bool = False) -> np.ndarray:
    """The whole synthetic canvas as float32 in [0, 1]: (rows, cols) grey or (rows, cols, 3).

    Deterministic for (shape, seed). The layout is cached; the pixels are rendered on each call
    (about 0.5 s grey, 1.3 s RGB for 5300x7000) because a 37 Mpx RGB float array is 450 MB.
    """
    canvas = texture_canvas((int(shape[0]), int(shape[1])), int(seed))
    return canvas.render(0, 0, canvas.shape[0], canvas.shape[1], rgb=rgb)


# ---------------------------------------------------------------------------------------------
# The optics


# Kernel half-width, cutoff and Kaiser beta (beta = 0.1102 (A - 8.7) for A = 140 dB stop band).
SAMPLING_MARGIN = 48
CUTOFF = 0.9 * np.pi
_KAISER_BETA = 0.1102 * (140.0 - 8.7)


def lowpass_kernel(x: np.ndarray) -> np.ndarray:
    """The continuous interpolation kernel L(x) (zero for |x| > SAMPLING_MARGIN)."""
    x = np.asarray(x, dtype=np.float64)
    inside = np.clip(1.0 - (x / SAMPLING_MARGIN) ** 2, 0.0, None)
    window = np.i0(_KAISER_BETA * np.sqrt(inside)) / np.i0(_KAISER_BETA)
    window[np.abs(x) > SAMPLING_MARGIN] = 0.0
    return (CUTOFF / np.pi) * np.sinc(CUTOFF * x / np.pi) * window


# Blur beyond this is not a microscope tile any more; the bound keeps the canvas margin fixed.
MAX_BLUR_SIGMA = 8.0


def blur_margin(blur_sigma: float) -> int:
    """Extra margin a Gaussian blur of ``blur_sigma`` px needs to keep tiles consistent (1e-7)."""
    return int(np.ceil(6.0 * blur_sigma)) if blur_sigma > 0 else 0


def _axis_transfer(length: int, frac: float, real: bool, blur_sigma: float) -> np.ndarray:
    """DFT of the sampled kernel k[n] = L(n + frac), n in [-margin, margin], wrapped to length."""
    from scipy import fft

    taps = np.arange(-SAMPLING_MARGIN, SAMPLING_MARGIN + 1)
    kernel = np.zeros(length)
    kernel[taps % length] = lowpass_kernel(taps + frac)
    transfer = fft.rfft(kernel) if real else fft.fft(kernel)
    if blur_sigma > 0:
        omega = 2 * np.pi * (fft.rfftfreq(length) if real else fft.fftfreq(length))
        transfer = transfer * np.exp(-0.5 * (blur_sigma * omega) ** 2)
    return transfer.astype(np.complex64)


def sample_subpixel(
    region: np.ndarray,
    frac: tuple[float, float],
    pad: int,
    *,
    blur_sigma: float = 0.0,
) -> np.ndarray:
    """Sample a cut region of the canvas at a sub-pixel offset, band-limited.

    ``region`` is (rows, cols) or channels-first (channels, rows, cols) float32 and holds canvas
    pixels [R0 - pad, R0 + n + pad) along each axis. The result, (n_rows, n_cols) or
    (channels, n_rows, n_cols), holds f(R0 + frac + i), optionally blurred by a Gaussian of
    ``blur_sigma`` px, with 0 <= frac < 1. ``pad`` must be at least
    ``SAMPLING_MARGIN + blur_margin(blur_sigma)``.
    """
    from scipy import fft

    if pad < SAMPLING_MARGIN + blur_margin(blur_sigma):
        raise ValueError(
            f"sample_subpixel needs pad >= {SAMPLING_MARGIN + blur_margin(blur_sigma)}, got {pad}"
        )
    rows, cols = region.shape[-2], region.shape[-1]
    # Zero-padding to fast FFT lengths is harmless: the kernel never reaches the padding from a
    # pixel that is kept.
    fft_shape = (fft.next_fast_len(rows, real=False), fft.next_fast_len(cols, real=True))
    spectrum = fft.rfft2(region.astype(np.float32, copy=False), s=fft_shape, workers=1)
    spectrum *= _axis_transfer(fft_shape[0], frac[0], False, blur_sigma)[:, np.newaxis]
    spectrum *= _axis_transfer(fft_shape[1], frac[1], True, blur_sigma)[np.newaxis, :]
    sampled = fft.irfft2(spectrum, s=fft_shape, workers=1)
    return np.ascontiguousarray(sampled[..., pad : rows - pad, pad : cols - pad], dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# The cubic spline

# The cubic-spline prefilter's influence falls below 1e-9 after 16 px: cut regions with a margin.
SPLINE_MARGIN = 24


def sample_spline(
    pixels: np.ndarray, origin: tuple[float, float], shape: tuple[int, int]
) -> np.ndarray:
    """The cubic-spline interpolant of ``pixels`` sampled at ``origin + (i, j)`` (float32).

    Every tile samples the same continuous image, so two tiles at origins o1, o2 satisfy
    ``tile2[y, x] == tile1[y + d_row, x + d_col]`` with d = o2 - o1 (to 1e-9 of the prefilter).
    The tile and its ``SPLINE_MARGIN`` must lie inside ``pixels``.
    """
    from scipy import ndimage

    base = (int(np.floor(origin[0])), int(np.floor(origin[1])))
    m = SPLINE_MARGIN
    if (
        base[0] < m
        or base[1] < m
        or base[0] + shape[0] + m > pixels.shape[0]
        or base[1] + shape[1] + m > pixels.shape[1]
    ):
        raise InputError(f"tile at {origin} of {shape} does not fit in the canvas {pixels.shape}")
    region = pixels[base[0] - m : base[0] + shape[0] + m, base[1] - m : base[1] + shape[1] + m]
    # ndimage.shift(x, s)[p] = x[p - s]: sampling at p + frac needs s = -frac.
    moved = ndimage.shift(
        region, (base[0] - origin[0], base[1] - origin[1]), order=3, mode="mirror"
    )
    return np.ascontiguousarray(moved[m : m + shape[0], m : m + shape[1]], dtype=np.float32)
