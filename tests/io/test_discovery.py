from __future__ import annotations

from pathlib import Path

import pytest

from ofs_stitch.errors import InputError
from ofs_stitch.io.discovery import discover_images, earlier_outputs, natural_sort_key


def touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_bytes(b"x")


def test_finds_top_level_images_of_every_extension_in_natural_order(tmp_path: Path) -> None:
    touch(tmp_path, "p10.png", "p2.JPG", "p1.jpeg", "a.tif", "b.TIFF", "c.bmp", "d.gif")
    touch(tmp_path, "notes.txt", "scan.json", "image.jpg.bak")
    (tmp_path / "sub").mkdir()
    touch(tmp_path / "sub", "deep.jpg")
    (tmp_path / "folder.jpg").mkdir()  # a directory with an image-like name is not an image

    found = discover_images(tmp_path)

    assert [p.name for p in found.images] == [
        "a.tif",
        "b.TIFF",
        "c.bmp",
        "d.gif",
        "p1.jpeg",
        "p2.JPG",
        "p10.png",
    ]
    assert found.skipped == []  # non-image files are ignored, not reported
    assert found.folder == tmp_path


def test_skips_earlier_outputs_by_upstream_rule_and_says_why(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "img_1.jpg",
        "img_2.jpg",
        "scan_STITCHED.jpg",
        "preview.jpg",
        "img_t1_Fused.png",
        "Stage_map.png",
        "comparison.png",
        "stitching_inputs.png",
        "stitching_log.txt",
    )

    found = discover_images(tmp_path)

    # Upstream's rule, case included: "scan_STITCHED.jpg" and "Stage_map.png" are tiles to it.
    assert [p.name for p in found.images] == [
        "img_1.jpg",
        "img_2.jpg",
        "scan_STITCHED.jpg",
        "Stage_map.png",
    ]
    reasons = {p.name: why for p, why in found.skipped}
    assert set(reasons) == {
        "preview.jpg",
        "img_t1_Fused.png",
        "comparison.png",
        "stitching_inputs.png",
    }
    assert "'Fused'" in reasons["img_t1_Fused.png"]
    assert "'preview'" in reasons["preview.jpg"]
    assert "'stitching'" in reasons["stitching_inputs.png"]
    assert all(why.endswith("looks like an earlier output") for why in reasons.values())


def test_earlier_outputs_alone_are_what_discovery_skips(tmp_path: Path) -> None:
    touch(tmp_path, "img_1.jpg", "stitched_10.jpg", "stitched_9.png", "preview.jpg")
    touch(tmp_path, "Fused.txt", "stage_notes.json")  # not images: never reported
    (tmp_path / "preview_dir.jpg").mkdir()  # not a file

    assert earlier_outputs(tmp_path) == discover_images(tmp_path, minimum=0).skipped
    assert [p.name for p, _ in earlier_outputs(tmp_path)] == [
        "preview.jpg",
        "stitched_9.png",
        "stitched_10.jpg",
    ]
    assert earlier_outputs(tmp_path / "gone") == []
    # From a listing the caller made (the live session's final scan): the same answer.
    listing = [p.name for p in tmp_path.iterdir()]
    assert earlier_outputs(tmp_path, listing) == earlier_outputs(tmp_path)
    assert earlier_outputs(tmp_path, ["img_1.jpg"]) == []


@pytest.mark.parametrize(
    ("name", "skipped"),
    [
        ("Stage1.jpg", False),
        ("stage1.jpg", True),
        ("fused.png", False),
        ("Fused.png", True),
        ("Preview.jpg", False),
        ("scan_stitched.jpg", True),
        ("Comparison.png", False),
    ],
)
def test_output_markers_match_case_sensitively_as_upstream(
    tmp_path: Path, name: str, skipped: bool
) -> None:
    touch(tmp_path, "a_1.jpg", "a_2.jpg", name)
    found = discover_images(tmp_path)
    assert (name in {p.name for p, _ in found.skipped}) is skipped


def test_missing_folder_is_an_input_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_scan"
    with pytest.raises(InputError, match="no_such_scan.*does not exist"):
        discover_images(missing)


def test_a_file_instead_of_a_folder_is_an_input_error(tmp_path: Path) -> None:
    touch(tmp_path, "one.jpg")
    with pytest.raises(InputError, match="one.jpg is not a folder"):
        discover_images(tmp_path / "one.jpg")


def test_fewer_than_two_images_names_the_folder_and_the_skipped_ones(tmp_path: Path) -> None:
    touch(tmp_path, "only.jpg", "stage_1.jpg", "stage_2.jpg")
    with pytest.raises(InputError) as caught:
        discover_images(tmp_path)
    message = str(caught.value)
    assert str(tmp_path) in message
    assert "found 1 image" in message
    assert "2 more skipped" in message and "rename them" in message
    assert "\n" not in message


def test_natural_sort_orders_numbers_by_value() -> None:
    names = ["p10.jpg", "p2.jpg", "P1.jpg", "p1_10.jpg", "p1_9.jpg"]
    assert sorted(names, key=natural_sort_key) == [
        "P1.jpg",
        "p1_9.jpg",
        "p1_10.jpg",
        "p2.jpg",
        "p10.jpg",
    ]
