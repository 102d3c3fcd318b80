"""The README's code blocks run as written.

The first block (the setup script's two commands) is what CI itself runs; every later ``bash``
block runs line by line, then every ``python`` block, in one fresh folder and with this
environment's commands first on PATH, as a user with the environment activated would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def code_blocks() -> list[tuple[str, str]]:
    return [(m[1], m[2]) for m in FENCE.finditer(README.read_text(encoding="utf-8"))]


def test_the_readme_starts_with_the_setup_commands() -> None:
    language, setup = code_blocks()[0]
    assert language == "bash"
    assert "bash scripts/setup.sh example" in setup and "bash scripts/setup.sh test" in setup


@pytest.fixture(scope="module")
def worked_examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    pytest.importorskip("skimage")  # the built-in example is cut from its images
    folder = tmp_path_factory.mktemp("readme")
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    outputs: dict[str, str] = {}
    for index, (language, code) in enumerate(code_blocks()[1:], start=1):
        if language == "bash":
            command = ["bash", "-euo", "pipefail", "-c", code]
        elif language == "python":
            command = [sys.executable, "-c", code]
        else:
            continue
        done = subprocess.run(
            command, cwd=folder, env=environment, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"README block {index} ({language}) failed:\n{done.stderr}"
        outputs[f"{language}-{index}"] = done.stdout
    return outputs


def test_every_block_runs(worked_examples: dict[str, str]) -> None:
    assert any(key.startswith("bash") for key in worked_examples)
    assert any(key.startswith("python") for key in worked_examples)


def test_the_align_example_prints_what_it_promises(worked_examples: dict[str, str]) -> None:
    output = "".join(out for key, out in worked_examples.items() if key.startswith("python"))
    worst = {
        m[0]: float(m[1]) for m in re.findall(r"(affine|rigid): worst tile off by ([\d.]+)", output)
    }
    assert worst["affine"] < 0.1 and worst["rigid"] > 2.0, output


def test_the_python_example_prints_the_shift_it_promises(worked_examples: dict[str, str]) -> None:
    python_output = "".join(out for key, out in worked_examples.items() if key.startswith("python"))
    numbers = r"\(\s*(-?[\d.]+),\s*(-?[\d.]+)\)"
    shifts = [(float(a), float(b)) for a, b in re.findall(numbers, python_output)]
    assert any(abs(r - 30) < 0.05 and abs(c - 448) < 0.05 for r, c in shifts), python_output
