"""The ``ofs`` command: one verb per family; ``ofs stitch`` is ``ofs-stitch``; light to start."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from e2e_support import read_ofm_positions

import ofs_stitch
from ofs_stitch.cli import command, ofs


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert ofs.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ofs.SUBCOMMANDS:
        assert f"\n  {name}" in out


def test_no_command_prints_the_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert ofs.main([]) == 2
    assert capsys.readouterr().out.startswith("usage: ofs")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert ofs.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"ofs {ofs_stitch.__version__}"


def test_an_unknown_command_is_one_line_naming_the_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert ofs.main(["stich", "scan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "ofs: unknown command 'stich'; choose one of: "
        + ", ".join(ofs.SUBCOMMANDS)
        + " (see ofs --help)"
    ]


def test_stitch_errors_name_the_command_as_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ofs.main(["stitch", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ofs stitch: ") and "missing" in err[0]
    with pytest.raises(SystemExit) as exited:
        ofs.main(["stitch", "--no_such_option"])
    assert exited.value.code == 2
    assert "see ofs stitch --help" in capsys.readouterr().err


@pytest.fixture(scope="module")
def scan_named_drift(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("skimage")
    from ofs_stitch.testing.scans import make_scan

    # A folder named like a future subcommand: ofs-stitch never takes subcommands.
    folder = tmp_path_factory.mktemp("scans") / "drift"
    make_scan(folder, rows=2, cols=2, tile_shape=(240, 320), seed=5)
    return folder


def test_ofs_stitch_and_ofs_stitch_command_place_tiles_alike(
    scan_named_drift: Path, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--stitching_mode", "preview_stitch", "-q"]
    assert command.main([str(scan_named_drift), "-o", str(a), *common]) == 0
    assert ofs.main(["stitch", str(scan_named_drift), "-o", str(b), *common]) == 0
    positions_a, positions_b = read_ofm_positions(a), read_ofm_positions(b)
    assert len(positions_a) == 4 and positions_a == positions_b


def test_a_folder_called_like_a_subcommand_is_stitched_by_ofs_stitch(
    scan_named_drift: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(scan_named_drift.parent)
    out = tmp_path / "out"
    assert command.main(["drift", "-o", str(out), "--stitching_mode", "preview_stitch", "-q"]) == 0
    assert len(read_ofm_positions(out)) == 4


@pytest.mark.parametrize("argv", [["--version"], ["--help"], []])
def test_answers_without_loading_numpy(argv: list[str]) -> None:
    code = f"""
        import sys
        from ofs_stitch.cli import ofs
        try:
            ofs.main({argv!r})
        except SystemExit:
            pass
        print("numpy" in sys.modules)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "ofs"
    if not script.exists() and shutil.which("ofs") is None:
        pytest.skip("the ofs script is not installed next to this interpreter")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, f"ofs {ofs_stitch.__version__}")


@pytest.mark.parametrize("verb", ["drift", "stack", "fuse"])
def test_every_family_refuses_an_unknown_option_in_one_line(
    verb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as leaving:
        ofs.main([verb, "some-input", "--no_such_option"])
    assert leaving.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    assert error.startswith(f"ofs {verb}: ") and "--no_such_option" in error
    assert error.rstrip().endswith(f"see ofs {verb} --help")
