"""The scene: a canvas of real texture that never repeats, seen through band-limited optics."""

from __future__ import annotations

import re
import sys
import time

import numpy as np
import pytest

pytest.importorskip("skimage")

from ofs_stitch.errors import InputError  # noqa: E402
from ofs_stitch.testing import scene  # noqa: E402
from ofs_stitch.testing.scene import make_canvas, sample_spline  # noqa: E402

# ---------------------------------------------------------------------------------------------
# The canvas


def test_canvas_is_deterministic_in_range_and_grey_is_luma_of_rgb() -> None:
    grey = make_canvas((600, 900), seed=3)
    again = make_canvas((600, 900), seed=3)
    rgb = make_canvas((600, 900), seed=3, rgb=True)
    other = make_canvas((600, 900), seed=4)
    assert grey.shape == (600, 900) and grey.dtype == np.float32
    assert rgb.shape == (600, 900, 3) and rgb.dtype == np.float32
    assert np.array_equal(grey, again)
    assert 0.0 <= grey.min() and grey.max() <= 1.0
    luma = rgb @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
    assert np.abs(luma - grey).max() < 1e-5
    assert np.abs(grey - other).mean() > 0.1  # another seed, another scene
    assert grey.std() > 0.15  # real texture, not a flat field


def test_canvas_for_a_15x15_scan_covers_it_and_never_repeats_content() -> None:
    shape = (5300, 7000)  # 15x15 tiles of 640x480 at 30 % overlap
    start = time.perf_counter()
    pixels = make_canvas(shape, seed=11)
    elapsed = time.perf_counter() - start
    canvas = scene.texture_canvas(shape, 11)
    area = sum(p.height * p.width for p in canvas.patches)
    print(f"5300x7000 grey canvas: {elapsed:.2f} s, {len(canvas.patches)} patches")
    assert pixels.shape == shape
    assert area == shape[0] * shape[1]  # patches tile the canvas exactly
    assert len(canvas.patches) > 200
    assert canvas.reused_content() == 0
    # Many bundled photographs are used; every patch has texture; touching patches differ.
    assert len({p.sheet.source for p in canvas.patches}) >= 12
    patch_stds = [
        pixels[p.row : p.row + p.height : 4, p.col : p.col + p.width : 4].std()
        for p in canvas.patches
    ]
    assert min(patch_stds) >= 0.05 - 1e-4
    side_by_side = [(p, q) for p, q in zip(canvas.patches, canvas.patches[1:]) if p.row == q.row]
    assert len(side_by_side) > 150
    assert sum(p.sheet.source == q.sheet.source for p, q in side_by_side) == 0


def test_reused_content_counts_patches_cut_from_overlapping_areas_of_one_sheet() -> None:
    sheet = scene.SheetKey("brick", 0, 3)
    other = scene.SheetKey("brick", 0, 4)
    patches = [
        scene.Patch(0, 0, 10, 20, sheet, sheet_row=0, sheet_col=0),
        scene.Patch(0, 20, 10, 20, sheet, sheet_row=0, sheet_col=19),  # overlaps the first
        scene.Patch(10, 0, 10, 20, sheet, sheet_row=10, sheet_col=0),  # touches, no overlap
        scene.Patch(10, 20, 10, 20, other, sheet_row=0, sheet_col=0),  # another orientation
    ]
    assert scene.TextureCanvas((20, 40), 0, patches).reused_content() == 1


def test_missing_scikit_image_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'ofs-stitch[test]'")):
        scene._require_skimage_data()


# ---------------------------------------------------------------------------------------------
# The optics


def test_sampling_kernel_is_band_limited_and_flat_in_the_pass_band() -> None:
    step, margin = 1 / 32, scene.SAMPLING_MARGIN
    x = np.arange(-margin, margin + step, step)
    kernel = scene.lowpass_kernel(x)
    omega = np.linspace(0, 3 * np.pi, 1201)
    response = np.array([np.sum(kernel * np.cos(w * x)) * step for w in omega])
    assert np.abs(response[omega <= 0.75 * np.pi] - 1).max() < 1e-6
    assert np.abs(response[omega >= np.pi]).max() < 5e-7  # nothing at or above Nyquist
    # Unit gain whatever the sub-pixel offset: a flat scene stays flat.
    taps = np.arange(-scene.SAMPLING_MARGIN, scene.SAMPLING_MARGIN + 1)
    sums = [scene.lowpass_kernel(taps + t).sum() for t in np.linspace(0, 1, 17)]
    assert np.ptp(sums) < 1e-7 and abs(sums[0] - 1) < 1e-7


def test_fft_sampler_equals_the_direct_separable_sum() -> None:
    rng = np.random.default_rng(5)
    pad = scene.SAMPLING_MARGIN
    out_shape = (20, 30)
    rows, cols = out_shape[0] + 2 * pad, out_shape[1] + 2 * pad
    region = rng.random((rows, cols)).astype(np.float32)
    frac = (0.3125, 0.871)
    sampled = scene.sample_subpixel(region, frac, pad)

    # f(pad + frac + i) = sum_j region[j] L(pad + frac + i - j), separably.
    def weights(n_out: int, n_in: int, t: float) -> np.ndarray:
        i = np.arange(n_out)[:, None]
        j = np.arange(n_in)[None, :]
        return scene.lowpass_kernel(pad + t + i - j)

    direct = weights(out_shape[0], rows, frac[0]) @ region.astype(float)
    direct = direct @ weights(out_shape[1], cols, frac[1]).T
    assert sampled.shape == out_shape
    assert np.abs(sampled - direct).max() < 2e-5


# ---------------------------------------------------------------------------------------------
# The cubic spline


def test_spline_samples_one_image_and_refuses_tiles_off_the_canvas() -> None:
    pixels = make_canvas((200, 240), seed=1)
    a = sample_spline(pixels, (40.25, 50.5), (64, 80))
    b = sample_spline(pixels, (40.25 + 7, 50.5 - 5), (64, 80))
    assert a.dtype == np.float32 and a.shape == (64, 80)
    assert np.abs(b[:-7, 5:] - a[7:, :-5]).max() < 1e-6  # b[y, x] == a[y + 7, x - 5]
    whole = sample_spline(pixels, (40.0, 50.0), (64, 80))
    assert np.abs(whole - pixels[40:104, 50:130]).max() < 1e-6  # a whole-pixel origin: a crop
    with pytest.raises(InputError, match="does not fit"):
        sample_spline(pixels, (10.0, 50.0), (64, 80))  # closer than the margin to the edge
