"""The OME-Zarr: valid NGFF 0.4 and 0.5 metadata (the specification's own JSON schemas),
readable by zarr and the ome-zarr reader at the right physical scale, restartable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
pytest.importorskip("dask")
jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

from ofs_stitch.errors import InputError  # noqa: E402
from ofs_stitch.fusion import fuse_to_zarr, layout_from_positions  # noqa: E402
from ofs_stitch.fusion.ome_zarr import (  # noqa: E402
    PARTIAL_SUFFIX,
    ZarrTarget,
    level_shapes,
    write_chunk,
)
from ofs_stitch.testing.fusion_scans import FusionScan  # noqa: E402

SCHEMAS = Path(__file__).parent / "ngff_schemas"


def group_attributes(path: Path, version: str) -> dict:
    if version == "0.4":
        return json.loads((path / ".zattrs").read_text())
    return json.loads((path / "zarr.json").read_text())["attributes"]


def validator(version: str) -> jsonschema.protocols.Validator:
    resources = []
    for file in (SCHEMAS / version).iterdir():
        schema = json.loads(file.read_text())
        resource = referencing.Resource.from_contents(
            schema, default_specification=referencing.jsonschema.DRAFT202012
        )
        resources.append((schema["$id"], resource))
    registry = referencing.Registry().with_resources(resources)
    strict = json.loads((SCHEMAS / version / "strict_image.schema").read_text())
    return jsonschema.Draft202012Validator(strict, registry=registry)


@pytest.fixture(scope="module")
def layout(whole_pixel_scan: FusionScan):  # type: ignore[no-untyped-def]
    return layout_from_positions(
        whole_pixel_scan.paths, whole_pixel_scan.positions, pixel_size_um=0.35
    )


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_metadata_is_valid_ngff_at_the_physical_scale(tmp_path: Path, layout, version: str) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "mosaic.ome.zarr"
    result = fuse_to_zarr(layout, out, chunk=64, ngff_version=version, threads=2)
    assert result.path == out and out.is_dir()
    assert not out.with_name(out.name + PARTIAL_SUFFIX).exists()
    attrs = group_attributes(out, version)
    errors = sorted(validator(version).iter_errors(attrs), key=str)
    assert errors == []
    multiscales = attrs["multiscales"] if version == "0.4" else attrs["ome"]["multiscales"]
    (multiscale,) = multiscales
    assert [a["name"] for a in multiscale["axes"]] == ["y", "x"]
    assert {a.get("unit") for a in multiscale["axes"]} == {"micrometer"}
    levels = level_shapes(layout.height, layout.width, 64)
    assert len(multiscale["datasets"]) == len(levels) >= 3
    group = zarr.open_group(str(out), mode="r")
    for k, dataset in enumerate(multiscale["datasets"]):
        scale, translation = dataset["coordinateTransformations"]
        assert scale["scale"] == pytest.approx([0.35 * 2**k] * 2)
        assert translation["translation"] == pytest.approx([0.35 * (2**k - 1) / 2] * 2)
        assert group[dataset["path"]].shape == levels[k]
    # Level 1 is the 2 x 2 means of level 0.
    full = group["0"][:].astype(float)
    half = group["1"][:]
    h, w = (full.shape[0] // 2) * 2, (full.shape[1] // 2) * 2
    means = full[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    assert np.abs(half[: h // 2, : w // 2] - means).max() <= 0.5


def test_rgb_gets_channel_metadata(tmp_path: Path) -> None:
    from ofs_stitch.testing.mosaics import cut_scene, grid_positions, smooth_canvas

    canvas = smooth_canvas((200, 200), 3, np.uint8, 2)
    cut = cut_scene(tmp_path / "tiles", canvas, grid_positions(2, 2, (80, 80), 2, 1), (96, 96))
    rgb = layout_from_positions(cut.layout.paths, cut.layout.positions)
    out = tmp_path / "rgb.ome.zarr"
    fuse_to_zarr(rgb, out, chunk=64, threads=1)
    attrs = group_attributes(out, "0.4")
    assert list(validator("0.4").iter_errors(attrs)) == []
    axes = attrs["multiscales"][0]["axes"]
    assert [a["name"] for a in axes] == ["c", "y", "x"] and "unit" not in axes[1]
    assert [c["color"] for c in attrs["omero"]["channels"]] == ["FF0000", "00FF00", "0000FF"]
    pixels = np.moveaxis(zarr.open_group(str(out), mode="r")["0"][:], 0, 2)
    covered = pixels.any(axis=2)  # jittered tiles leave corners of the canvas uncovered (0)
    assert covered.mean() > 0.95
    assert np.array_equal(pixels[covered], cut.truth[: rgb.height, : rgb.width][covered])


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_the_ome_zarr_reader_opens_it(tmp_path: Path, layout, version: str) -> None:  # type: ignore[no-untyped-def]
    """ome-zarr-py's reader (what napari's plugin uses) finds the image, its pyramid and its
    scale, in both NGFF versions."""
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    out = tmp_path / "mosaic.ome.zarr"
    fuse_to_zarr(layout, out, chunk=64, threads=2, ngff_version=version)
    (image,) = [node for node in Reader(parse_url(str(out)))() if node.specs]
    assert len(image.data) >= 3
    assert image.data[0].shape == (layout.height, layout.width)
    transforms = image.metadata["coordinateTransformations"]
    assert transforms[1][0]["scale"] == pytest.approx([0.7, 0.7])
    assert np.array_equal(np.asarray(image.data[0]), zarr.open_group(str(out), mode="r")["0"][:])


def test_a_rerun_writes_only_the_missing_chunks(tmp_path: Path, layout) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "mosaic.ome.zarr"
    first = fuse_to_zarr(layout, out, chunk=64, threads=2)
    complete = zarr.open_group(str(out), mode="r")["0"][:]
    again = fuse_to_zarr(layout, out, chunk=64, threads=2)
    assert again.up_to_date and again.chunks_written == 0
    # An interrupted run: the output still under its staging name, some chunks missing.
    staging = out.with_name(out.name + PARTIAL_SUFFIX)
    out.rename(staging)
    removed = [staging / "0" / "1" / "1", staging / "0" / "2" / "0", staging / "1" / "0" / "0"]
    for chunk in removed:
        chunk.unlink()
    resumed = fuse_to_zarr(layout, out, chunk=64, threads=2)
    # The two full-size chunks, the level-1 chunks made from them (one was removed too) and
    # the levels above those.
    assert 0 < resumed.chunks_written < first.chunks_written
    assert resumed.chunks_present + resumed.chunks_written == first.chunks_written
    assert np.array_equal(zarr.open_group(str(out), mode="r")["0"][:], complete)
    # Other inputs (another blend) start afresh.
    shutil.rmtree(out)
    out.with_name(out.name + PARTIAL_SUFFIX).mkdir()
    fresh = fuse_to_zarr(layout, out, chunk=64, threads=2, blend="feather")
    assert fresh.chunks_present == 0 and fresh.chunks_written == first.chunks_written


@pytest.mark.parametrize(("version", "bands"), [("0.4", 1), ("0.4", 3), ("0.5", 1), ("0.5", 3)])
def test_the_chunks_written_are_found_by_listing(tmp_path: Path, version: str, bands: int) -> None:
    levels = level_shapes(300, 200, 64)
    target = ZarrTarget(tmp_path / "m", tmp_path / "f", version, levels, 64, bands, "|u1")
    assert target.written_chunks() == frozenset()
    chunks = {(0, 0, 0), (0, 4, 3), (1, 2, 1), (2, 0, 0)}
    for level, i, j in chunks:
        write_chunk(target, level, i, j, np.ones((64, 64, bands), np.uint8))
    # A write in progress (its temporary name) is not a chunk.
    partial = target.chunk_file(0, 1, 1)
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.with_name(f".{partial.name}.x.partial").write_bytes(b"")
    assert target.written_chunks() == chunks
    assert all(target.chunk_file(*chunk).is_file() for chunk in chunks)


def test_a_block_with_one_chunk_lost_is_rebuilt_at_every_level(tmp_path: Path, layout) -> None:  # type: ignore[no-untyped-def]
    """A task paints a block of 2 x 2 chunks and halves them in memory: after losing one
    chunk, the re-run paints it, reads its 3 neighbours back to halve, and every level
    comes out as before, with one chunk rewritten per level."""
    out = tmp_path / "mosaic.ome.zarr"
    first = fuse_to_zarr(layout, out, chunk=64, threads=2)
    group = zarr.open_group(str(out), mode="r")
    complete = [group[str(level)][:] for level in range(len(first.levels))]
    staging = out.with_name(out.name + PARTIAL_SUFFIX)
    out.rename(staging)
    (staging / "0" / "1" / "0").unlink()
    resumed = fuse_to_zarr(layout, out, chunk=64, threads=2)
    assert resumed.chunks_written == len(first.levels) > 2
    assert resumed.chunks_present + resumed.chunks_written == first.chunks_written
    group = zarr.open_group(str(out), mode="r")
    for level, pixels in enumerate(complete):
        assert np.array_equal(group[str(level)][:], pixels)


def test_bad_choices_are_one_line_errors(tmp_path: Path, layout) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="0.4 or 0.5"):
        fuse_to_zarr(layout, tmp_path / "a.ome.zarr", ngff_version="0.3")
    with pytest.raises(InputError, match="chunk"):
        fuse_to_zarr(layout, tmp_path / "a.ome.zarr", chunk=50)
    assert not (tmp_path / "a.ome.zarr").exists()


def test_a_jpeg_tile_is_decoded_once_however_many_chunks_use_it(tmp_path: Path) -> None:
    from ofs_stitch.fusion.tile_reads import DECODED
    from ofs_stitch.testing.mosaics import cut_scene, grid_positions, smooth_canvas

    canvas = smooth_canvas((300, 300), 3, np.uint8, 4)
    cut = cut_scene(
        tmp_path / "tiles", canvas, grid_positions(2, 2, (120, 120), 3, 2), (150, 150), ".jpg"
    )
    layout = layout_from_positions(cut.layout.paths, cut.layout.positions)
    DECODED.clear()
    decodes_before = DECODED.decodes
    result = fuse_to_zarr(layout, tmp_path / "jpeg.ome.zarr", chunk=64, threads=2, blend="feather")
    # Every tile reaches into several 64 px chunks, and each was decoded once.
    assert result.chunks_written > 2 * len(layout)
    assert DECODED.decodes - decodes_before == len(layout)
