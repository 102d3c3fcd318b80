"""``ofs_stitch.stitch(folder, **options)``: the command's job and options as one Python call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from e2e_support import read_ofm_positions

import ofs_stitch
from ofs_stitch.cli import command
from ofs_stitch.io.positions_file import read_tile_configuration
from ofs_stitch.stitching import api, pipeline
from ofs_stitch.stitching.options import build_parser, options_from_args


@pytest.fixture(scope="module")
def scan_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("skimage")
    from ofs_stitch.testing.scans import make_scan

    folder = tmp_path_factory.mktemp("api") / "scan"
    make_scan(folder, rows=2, cols=2, tile_shape=(240, 320), seed=8)
    return folder


def test_stitch_returns_the_positions_and_files_the_command_writes(
    scan_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = ofs_stitch.stitch(
        scan_folder, output_dir=tmp_path / "api", stitching_mode="preview_stitch"
    )
    assert capsys.readouterr().out == ""  # quiet unless asked
    assert isinstance(result, ofs_stitch.Stitched)
    assert result.output_dir == tmp_path / "api"
    assert all(path.exists() for path in result.written)
    assert {p.name for p in result.written} >= {"OFMTileConfiguration.txt", "preview.jpg"}
    assert (
        command.main(
            [
                str(scan_folder),
                "-o",
                str(tmp_path / "cli"),
                "--stitching_mode",
                "preview_stitch",
                "-q",
            ]
        )
        == 0
    )
    from_command = read_ofm_positions(tmp_path / "cli")
    from_api = read_ofm_positions(tmp_path / "api")
    assert from_api == from_command
    assert result.positions is not None and result.positions.shape == (4, 2)
    # OFMTileConfiguration.txt is mean-zero; the result's positions start at (0, 0).
    centred = result.positions - result.positions.mean(axis=0)
    for name, (row, col) in from_command.items():
        k = result.names.index(name)
        np.testing.assert_allclose(centred[k], (row, col), atol=1e-3)
    assert result.position_of(result.names[1]) == tuple(result.positions[1])


def test_ofm_tile_configuration_written_elsewhere_names_tiles_that_resolve_from_it(
    scan_folder: Path, tmp_path: Path
) -> None:
    # Fiji reads the file with its folder as the image directory; ofs-stitch --positions
    # reads it back from any folder.
    out = tmp_path / "results" / "run 1"
    result = ofs_stitch.stitch(scan_folder, output_dir=out, stitching_mode="preview_stitch")
    entries = read_tile_configuration(out / "OFMTileConfiguration.txt")
    assert len(entries) == 4
    for entry in entries:
        assert (out / entry.name).resolve() == (scan_folder / Path(entry.name).name).resolve()
    again = ofs_stitch.stitch(
        scan_folder,
        output_dir=tmp_path / "again",
        positions=out / "OFMTileConfiguration.txt",
        stitching_mode="preview_stitch",
    )
    assert again.names == result.names
    assert again.positions is not None and result.positions is not None
    np.testing.assert_allclose(again.positions, result.positions, atol=0.1)


@pytest.mark.parametrize("layout", ["subifd", "pages"])
def test_tiff_layout_chooses_where_the_reduced_levels_go(
    scan_folder: Path, tmp_path: Path, layout: str
) -> None:
    tifffile = pytest.importorskip("tifffile")
    result = ofs_stitch.stitch(
        scan_folder, output_dir=tmp_path, stitch_tiff=True, tiff_layout=layout, quiet=True
    )
    tiff = tmp_path / "scan_stitched.ome.tiff"
    assert tiff in result.written
    with tifffile.TiffFile(tiff) as handle:
        first = handle.pages[0]
        assert first.imagewidth > 256  # so there is a reduced level at all
        assert handle.is_ome
        if layout == "subifd":
            assert len(handle.pages) == 1 and len(first.subifds or ()) >= 1
        else:
            assert len(handle.pages) >= 2 and not first.subifds


def test_an_unknown_tiff_layout_is_refused_in_one_line(
    scan_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        command.main([str(scan_folder), "-o", str(tmp_path), "--tiff_layout", "strips"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--tiff_layout" in err and "'strips'" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_options_take_the_command_line_names(scan_folder: Path, tmp_path: Path) -> None:
    result = ofs_stitch.stitch(
        scan_folder, output_dir=tmp_path, stitch_tiff=True, pad=False, quiet=True
    )
    assert (tmp_path / "scan_stitched.ome.tiff") in result.written
    argv = api._as_argv(build_parser(), {"pad": False, "positions": "T.txt", "grid": None})
    assert argv == ["--no-pad", "--positions", "T.txt"]
    argv = api._as_argv(build_parser(), {"positions_file": "T.txt", "use_cached_settings": True})
    assert argv == ["--positions", "T.txt", "--use_cached_settings"]


def test_only_correlating_places_nothing(scan_folder: Path, tmp_path: Path) -> None:
    result = ofs_stitch.stitch(scan_folder, output_dir=tmp_path, stitching_mode="only_correlate")
    assert result.positions is None
    with pytest.raises(ofs_stitch.InputError, match="places no tiles|placed no tiles"):
        result.position_of(result.names[0])


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"resize": 3}, ["--resize", "at most 1", "see ofs-stitch --help"]),
        ({"stitching_mode": "everything"}, ["--stitching_mode", "everything"]),
        ({"bogus": 1}, ["no option 'bogus'", "stitching_mode"]),
        ({"version": True}, ["no option 'version'"]),
    ],
)
def test_a_bad_option_raises_an_input_error_naming_it(
    scan_folder: Path, tmp_path: Path, options: dict[str, object], words: list[str]
) -> None:
    with pytest.raises(ofs_stitch.InputError) as raised:
        ofs_stitch.stitch(scan_folder, output_dir=tmp_path, **options)
    for text in words:
        assert text in str(raised.value)
    assert not any(tmp_path.iterdir())


def test_a_missing_folder_raises_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(ofs_stitch.InputError, match="does not exist"):
        ofs_stitch.stitch(tmp_path / "nowhere")


def test_a_run_failing_after_the_map_was_sent_stops_the_helper_before_removing_drafts(
    scan_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The map goes to the plot helper before the candidate search, to be drawn while the pairs
    are found. When the run then fails, the helper is stopped while its draft is still there
    to be removed: a helper stopped only afterwards could write the draft after its removal."""
    events: list[str] = []

    class DrawingHelper:
        draft: Path | None = None

        def inputs(self, positions: object, shape: object, names: object, path: Path) -> None:
            events.append("map sent")
            self.draft = Path(path)
            self.draft.write_bytes(b"the map, drawn")

        def abort(self) -> None:
            assert self.draft is not None
            events.append(f"helper stopped, draft {'there' if self.draft.exists() else 'gone'}")

    def no_candidates(*args: object) -> None:
        events.append("candidate search")
        raise ofs_stitch.InputError("far_away.jpeg overlaps no other tile")

    monkeypatch.setattr(pipeline, "_candidate_pairs", no_candidates)
    options = options_from_args(
        build_parser().parse_args([str(scan_folder), "-o", str(tmp_path), "--quiet"])
    )
    with pytest.raises(ofs_stitch.InputError, match="far_away"):
        pipeline.stitch(scan_folder, options, plot_helper=DrawingHelper())  # type: ignore[arg-type]
    assert events[:3] == ["map sent", "candidate search", "helper stopped, draft there"]
    assert not [p.name for p in tmp_path.iterdir() if p.suffix == ".png"]
