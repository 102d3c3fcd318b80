"""JSON files that people can read and that are quick to write: one record per line.

``json.dumps(indent=...)`` puts every number of every record on a line of its own, and indenting
makes Python use its pure-Python encoder, about three times slower than the compiled one: 12-20 ms
for the positions.json of a 15x15 scan, and the correlation cache is rewritten while pairs are
measured. Here each record (a tile, a pair) is one line, encoded by the compiled encoder, and
only the containers that hold records are spread over lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# A container holding more than this many containers is spread over lines even when they are
# flat (the cache's {file name: {size, mtime}} map).
MAX_CONTAINERS_ON_ONE_LINE = 16

_CONTAINERS = (dict, list, tuple)  # what json writes as objects and arrays


class EncodedRecords(list):  # type: ignore[type-arg]
    """A list of records already encoded (each `record_text` of a record), written one per
    line as they are: a file rewritten again and again (the correlation cache) encodes each
    record once instead of on every write."""


def record_text(record: Any, *, allow_nan: bool = True) -> str:
    """``record`` (an object or array of numbers, strings and flat containers) as `dumps`
    writes it on its line, for `EncodedRecords`."""
    return json.JSONEncoder(allow_nan=allow_nan).encode(record)


def dumps(value: Any, *, allow_nan: bool = True) -> str:
    """``value`` as JSON text; ``json.loads`` gives back what it gives for ``json.dumps(value)``.

    The top-level container, and any container nested three or more levels deep (a list of
    records that hold lists or objects) or holding many containers, has one entry per line,
    indented by one space per level; everything else is written on one line.
    ``allow_nan``: as for ``json.dumps`` (False raises ValueError on NaN and infinities).
    Object keys must be strings.
    """
    encode = json.JSONEncoder(allow_nan=allow_nan).encode
    parts: list[str] = []
    _emit(value, "", parts, encode, top=True)
    return "".join(parts)


def _emit(
    value: Any, indent: str, parts: list[str], encode: Callable[[Any], str], top: bool = False
) -> None:
    if isinstance(value, EncodedRecords) and value:
        inner = indent + " "
        parts.append("[\n" + inner + (",\n" + inner).join(value) + "\n" + indent + "]")
        return
    if not isinstance(value, _CONTAINERS) or not value or (not top and not _spread(value)):
        parts.append(encode(value))
        return
    is_dict = isinstance(value, dict)
    inner = indent + " "
    parts.append("{\n" if is_dict else "[\n")
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for k, (key, child) in enumerate(items):
        if k:
            parts.append(",\n")
        parts.append(inner)
        if is_dict:
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
            parts.append(encode(key) + ": ")
        _emit(child, inner, parts, encode)
    parts.append("\n" + indent + ("}" if is_dict else "]"))


def _entries(container: Any) -> Any:
    return container.values() if isinstance(container, dict) else container


def _spread(container: Any) -> bool:
    """Whether a non-empty container nested in the document gets one entry per line."""
    # Plain loops: this runs for every record, and helper calls per entry cost as much as
    # encoding the record.
    containers = 0
    for child in _entries(container):
        if isinstance(child, _CONTAINERS):
            if isinstance(child, EncodedRecords) and child:
                return True  # records, laid out as the containers they hold would be
            containers += 1
            for grandchild in _entries(child):
                if isinstance(grandchild, _CONTAINERS):
                    return True  # containers three levels deep: records holding containers
    return containers > MAX_CONTAINERS_ON_ONE_LINE
