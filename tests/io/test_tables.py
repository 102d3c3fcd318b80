"""Transform tables on disk: exact CSV and JSON round trips, the stated convention, atomic
writes, and errors that name the file and the line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ofs_stitch import ImageReadError, InputError, OutputError
from ofs_stitch.core.transform import KINDS, STATUSES, Transform, TransformTable
from ofs_stitch.io.tables import (
    CSV_COLUMNS,
    read_table_csv,
    read_table_json,
    write_table_csv,
    write_table_json,
)

FORMATS = {
    "csv": (write_table_csv, read_table_csv),
    "json": (write_table_json, read_table_json),
}


def random_table(kind: str, count: int, seed: int = 0) -> TransformTable:
    """Awkward numbers (tiny, huge, many digits, -0.0), awkward ids, every status."""
    rng = np.random.default_rng(seed)
    transforms = []
    for _ in range(count):
        shift = rng.normal(0, 1, 2) * 10.0 ** rng.integers(-12, 12, 2)
        angle, scale = rng.uniform(-180, 180), rng.uniform(0.1, 10)
        if kind == "translation":
            transforms.append(Transform.translation(*shift))
        elif kind == "rigid":
            transforms.append(Transform.rigid(angle, shift))
        elif kind == "similarity":
            transforms.append(Transform.similarity(angle, scale, shift))
        else:
            transforms.append(Transform.affine(np.column_stack([rng.normal(0, 3, (2, 2)), shift])))
    if transforms:
        matrix = np.eye(3)
        matrix[0, 2] = -0.0
        transforms[0] = Transform(matrix, kind)
    quality = rng.random(count)
    quality[::3] = math.nan
    names = ['tile "1", left.jpg', "ümlaut ✓", "#not a comment", " padded ", "a|b"]
    ids = [names[k] if k < len(names) else f"img_{k:04d}" for k in range(count)]
    status = [STATUSES[k % len(STATUSES)] for k in range(count)]
    return TransformTable.from_transforms(ids, transforms, quality, status, kind)


@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("count", [0, 1, 17])
def test_a_table_comes_back_exactly(tmp_path: Path, form: str, kind: str, count: int) -> None:
    write, read = FORMATS[form]
    table = random_table(kind, count, seed=count)
    path = tmp_path / f"transforms.{form}"
    write(path, table)
    back = read(path)
    assert back == table
    # Bit for bit, -0.0 included: repr floats.
    assert back.matrices.tobytes() == table.matrices.tobytes()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left


def test_the_csv_states_its_format_kind_and_convention(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_table_csv(path, TransformTable.from_transforms(["a"], [Transform.translation(1.5, -2.0)]))
    lines = path.read_text().splitlines()
    comments = [line for line in lines if line.startswith("#")]
    assert comments[:3] == [
        "# format: ofs-stitch transforms",
        "# version: 1",
        "# kind: translation",
    ]
    text = " ".join(line[2:] for line in comments)
    assert "b[p] ~ a[M @ p]" in text and "(d_row, d_col) = position_b - position_a" in text
    assert "(row, col)" in text
    assert lines[len(comments)] == ",".join(CSV_COLUMNS)
    assert lines[len(comments) + 1] == "a,ok,nan,1.0,0.0,1.5,0.0,1.0,-2.0"


def test_the_json_is_strict_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    table = random_table("rigid", 4)
    write_table_json(path, table)
    text = path.read_text()

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    document = json.loads(text, parse_constant=refuse)
    assert document["format"] == "ofs-stitch transforms" and document["kind"] == "rigid"
    assert "b[p] ~ a[M @ p]" in document["convention"]
    assert document["transforms"][0]["quality"] is None  # NaN: not measured
    assert document["transforms"][1]["matrix"] == table.matrices[1].tolist()
    matrix_lines = [line for line in text.splitlines() if line.lstrip().startswith('"matrix"')]
    assert len(matrix_lines) == 4  # each matrix on one line


@pytest.mark.parametrize("form", FORMATS)
def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path: Path, form: str) -> None:
    write, read = FORMATS[form]
    path = tmp_path / f"t.{form}"
    old = random_table("affine", 3)
    write(path, old)
    with pytest.raises(OutputError, match="missing"):
        write(tmp_path / "missing" / f"t.{form}", old)
    assert read(path) == old


@pytest.mark.parametrize("form", FORMATS)
def test_a_missing_file_is_a_read_error_naming_it(tmp_path: Path, form: str) -> None:
    _, read = FORMATS[form]
    with pytest.raises(ImageReadError, match=f"t.{form}"):
        read(tmp_path / f"t.{form}")


# -- CSV errors name the file and the line ---------------------------------------------------


def good_csv(tmp_path: Path) -> Path:
    path = tmp_path / "t.csv"
    table = TransformTable.from_transforms(
        ["a", "b", "c"],
        [Transform.translation(0, 0), Transform.translation(1, 2), Transform.translation(3, 4)],
        quality=[0.5, 0.6, 0.7],
    )
    write_table_csv(path, table)
    return path


def edit_line(path: Path, number: int, new: str | None) -> None:
    lines = path.read_text().splitlines()
    if new is None:
        del lines[number - 1]
    else:
        lines[number - 1] = new
    path.write_text("\n".join(lines) + "\n")


def data_line(path: Path, row: int) -> int:
    """The 1-based line number of data row ``row``."""
    lines = path.read_text().splitlines()
    return next(k for k, line in enumerate(lines, 1) if line.startswith("id,")) + 1 + row


@pytest.mark.parametrize(
    "row_text, message",
    [
        ("b,ok,0.6,1.0,0.0,one,0.0,1.0,2.0", "m02 is 'one'; give a finite number"),
        ("b,ok,0.6,1.0,0.0,inf,0.0,1.0,2.0", "m02 is 'inf'"),
        ("b,ok,0.6,1.0,0.0,nan,0.0,1.0,2.0", "m02 is 'nan'"),
        ("b,ok,zero,1.0,0.0,1.0,0.0,1.0,2.0", "quality is 'zero'; give a finite number or nan"),
        ("b,ok,0.6,1.0,0.0,1.0", "6 fields; each row needs 9"),
        ("b,great,0.6,1.0,0.0,1.0,0.0,1.0,2.0", "status 'great' is not one of ok, flagged"),
        ("b,ok,0.6,1.0,0.1,1.0,0.0,1.0,2.0", "not a translation"),
        ("a,ok,0.6,1.0,0.0,1.0,0.0,1.0,2.0", "earlier row"),
        ('"b,ok,0.6,1.0,0.0,1.0,0.0,1.0,2.0', "quoting"),
    ],
)
def test_a_bad_csv_row_is_named_by_file_and_line(
    tmp_path: Path, row_text: str, message: str
) -> None:
    path = good_csv(tmp_path)
    line = data_line(path, 1)
    edit_line(path, line, row_text)
    with pytest.raises(InputError) as error:
        read_table_csv(path)
    assert str(error.value).startswith(f"{path} line {line}: ")
    assert message in str(error.value)


@pytest.mark.parametrize(
    "line, new, message",
    [
        (1, "# format: something else", "not an ofs-stitch transform table"),
        (2, "# version: 7", "version 7"),
        (3, "# kind: projective", "kind 'projective'"),
        (3, None, "'# kind:' line"),
    ],
)
def test_a_bad_csv_preamble_is_named(
    tmp_path: Path, line: int, new: str | None, message: str
) -> None:
    path = good_csv(tmp_path)
    edit_line(path, line, new)
    with pytest.raises(InputError, match=message) as error:
        read_table_csv(path)
    assert str(path) in str(error.value)


def test_a_bad_csv_header_row_is_named_by_line(tmp_path: Path) -> None:
    path = good_csv(tmp_path)
    header = data_line(path, 0) - 1
    edit_line(path, header, "id,quality,status,m00,m01,m02,m10,m11,m12")
    with pytest.raises(InputError, match=f"line {header}: the header row .* must be id,status,"):
        read_table_csv(path)
    path.write_text("# format: ofs-stitch transforms\n# version: 1\n# kind: rigid\n")
    with pytest.raises(InputError, match="no header row"):
        read_table_csv(path)


def test_blank_lines_between_csv_rows_are_skipped(tmp_path: Path) -> None:
    path = good_csv(tmp_path)
    table = read_table_csv(path)
    edit_line(
        path, data_line(path, 1), "\n" + path.read_text().splitlines()[data_line(path, 1) - 1]
    )
    assert read_table_csv(path) == table


# -- JSON errors name the file and the line or entry -----------------------------------------


def good_json(tmp_path: Path) -> tuple[Path, dict]:
    path = tmp_path / "t.json"
    write_table_json(path, random_table("similarity", 3))
    return path, json.loads(path.read_text())


def test_broken_json_is_named_by_file_and_line(tmp_path: Path) -> None:
    path, _ = good_json(tmp_path)
    lines = path.read_text().splitlines()
    number = next(k for k, line in enumerate(lines) if '"id"' in line)
    lines[number] = lines[number].replace('"id"', "id", 1)
    path.write_text("\n".join(lines))
    with pytest.raises(InputError, match=f"^{path} line {number + 1}: not valid JSON"):
        read_table_json(path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(format="other"), "not an ofs-stitch transform table"),
        (lambda d: d.update(version=2), "version 2"),
        (lambda d: d.update(kind="rigid"), r"transforms\[1\]: .*not a rigid"),
        (lambda d: d.pop("transforms"), '"transforms" must be a list'),
        (
            lambda d: d["transforms"][2].pop("quality"),
            r"transforms\[2\] must be an object with exactly",
        ),
        (
            lambda d: d["transforms"][1].update(quality="high"),
            r"transforms\[1\]: quality is 'high'",
        ),
        (lambda d: d["transforms"][1].update(quality=True), r"transforms\[1\]: quality is True"),
        (
            lambda d: d["transforms"][0].update(matrix=[[1, 0, 0], [0, 1, 0]]),
            r"transforms\[0\]: matrix must be 3 rows",
        ),
        (
            lambda d: d["transforms"][0]["matrix"][2].__setitem__(0, 0.5),
            r"transforms\[0\]: the matrix has last row",
        ),
        (
            lambda d: d["transforms"][0]["matrix"][0].__setitem__(0, None),
            r"transforms\[0\]: matrix is None",
        ),
        (
            lambda d: d["transforms"][1].update(id=7),
            r"transforms\[1\]: id and status must be strings",
        ),
        (
            lambda d: d["transforms"][2].update(id=d["transforms"][0]["id"]),
            r"transforms\[2\]: .*earlier row",
        ),
        (lambda d: d["transforms"][2].update(status="fine"), r"transforms\[2\]: status 'fine'"),
    ],
)
def test_bad_json_content_is_named_by_file_and_entry(tmp_path: Path, edit, message: str) -> None:
    path, document = good_json(tmp_path)
    edit(document)
    path.write_text(json.dumps(document))
    with pytest.raises(InputError, match=message) as error:
        read_table_json(path)
    assert str(error.value).startswith(str(path))


def test_a_json_file_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="holds no JSON object"):
        read_table_json(path)
