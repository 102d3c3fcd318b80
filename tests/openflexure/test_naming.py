"""Output names as openflexure-stitch gives them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ofs_stitch.openflexure.naming import output_prefix, stitched_name


@pytest.mark.parametrize(
    ("folder", "prefix"),
    [
        ("/home/name/files/scans/my_pretty_scan/", "my_pretty_scan"),
        ("/home/name/files/scans/my_scan/images", "my_scan"),
        ("/home/name/files/scans/another_scan/use/images", "another_scan"),
        ("/images/use/images/use/use/use/images/use/images/", "scan"),
        ("/data/Images", "Images"),  # upstream compares case-sensitively
    ],
)
def test_prefix_follows_upstreams_rule(folder: str, prefix: str) -> None:
    assert output_prefix(folder) == prefix


def test_relative_folders_are_named_after_the_absolute_path(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "slide_7" / "images").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "slide_7")
    assert output_prefix("images") == "slide_7"
    assert output_prefix(".") == "slide_7"


def test_the_full_size_files_are_named_after_the_prefix() -> None:
    assert stitched_name("my_scan", ".ome.tiff") == "my_scan_stitched.ome.tiff"
