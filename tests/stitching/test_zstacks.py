"""Scans with z-stacks: --zstack fuse|largest|sharpest|index:K."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips

from ofs_stitch.errors import InputError
from ofs_stitch.io.exif import exif_block
from ofs_stitch.stitching.inputs import InputOptions, load_scan
from ofs_stitch.stitching.options import OptionError, build_parser, options_from_args
from ofs_stitch.testing.files import v3_comment, write_tile

pytest.importorskip("skimage")
from ofs_stitch.testing import focus_stacks as fs  # noqa: E402


def write_scan(folder: Path) -> None:
    """One plain tile at stage (0, 0), and a 3-image z-stack at (1000, 0)."""
    stack = fs.focus_stack("immunohistochemistry", slices=3, size=96, noise=0.002, seed=2)
    frames = fs.to_uint8(stack.frames)
    write_tile(
        folder / "a.jpg", frames[1], exif=exif_block(v3_comment(0, 0, 0), "2024:01:01 10:00:00")
    )
    for k in range(3):
        write_tile(
            folder / f"b_z{k}.jpg",
            frames[k],
            exif=exif_block(v3_comment(1000, 0.3, 100 * k), f"2024:01:01 10:00:0{k + 1}"),
            jpeg_quality=95,
        )


def test_without_z_stacks_nothing_changes(tmp_path: Path) -> None:
    write_tile(
        tmp_path / "a.jpg", np.zeros((32, 32, 3), np.uint8), exif=exif_block(v3_comment(0, 0, 0))
    )
    write_tile(
        tmp_path / "b.jpg", np.zeros((32, 32, 3), np.uint8), exif=exif_block(v3_comment(900, 0, 0))
    )
    scan = load_scan(tmp_path, InputOptions(zstack="fuse"))
    assert [t.name for t in scan.tiles] == ["a.jpg", "b.jpg"] and scan.zstack_note is None
    assert not (tmp_path / ".ofs_stitch_zstacks").exists()


def test_fuse_makes_one_cached_tile_per_stack(tmp_path: Path) -> None:
    write_scan(tmp_path)
    scan = load_scan(tmp_path, InputOptions(zstack="fuse"))
    assert len(scan.tiles) == 2
    fused = scan.tiles[1].path
    assert fused.parent == tmp_path / ".ofs_stitch_zstacks" and fused.name.startswith(
        "b_z1_zfused_"
    )
    assert scan.tiles[1].stage_xyz == (1000.0, 0.3, 100.0)  # the middle image's place
    assert pyvips.Image.new_from_file(str(fused)).width == 96
    assert "z-stacks at 1 positions (3 images each): fused" in (scan.zstack_note or "")
    assert {p.name for p, _ in scan.skipped} == {"b_z0.jpg", "b_z1.jpg", "b_z2.jpg"}
    stamp = fused.stat().st_mtime_ns
    again = load_scan(tmp_path, InputOptions(zstack="fuse"))
    assert again.tiles[1].path == fused and fused.stat().st_mtime_ns == stamp  # reused


@pytest.mark.parametrize(
    "choice, kept", [("index:0", "b_z0.jpg"), ("index:-1", "b_z2.jpg"), ("sharpest", "b_z1.jpg")]
)
def test_choosing_one_image_of_each_stack(tmp_path: Path, choice: str, kept: str) -> None:
    write_scan(tmp_path)
    scan = load_scan(tmp_path, InputOptions(zstack=choice))
    assert [t.name for t in scan.tiles] == ["a.jpg", kept]
    assert f"--zstack {choice}" in (scan.zstack_note or "")


def test_the_command_defaults_to_fuse_and_checks_the_choice(tmp_path: Path) -> None:
    parser = build_parser()
    assert options_from_args(parser.parse_args([str(tmp_path)])).inputs.zstack == "fuse"
    with pytest.raises(OptionError, match="--zstack: choose fuse, largest"):
        parser.parse_args([str(tmp_path), "--zstack", "middle"])
    write_scan(tmp_path)
    with pytest.raises(InputError, match="has only 3 images"):
        load_scan(tmp_path, InputOptions(zstack="index:5"))


def test_an_unwritable_cache_folder_is_one_clear_error(tmp_path: Path) -> None:
    from ofs_stitch.errors import OutputError

    write_scan(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder would go")
    with pytest.raises(OutputError, match="cannot keep fused z-stack tiles"):
        load_scan(tmp_path, InputOptions(zstack="fuse", zstack_cache=blocker / "cache"))
