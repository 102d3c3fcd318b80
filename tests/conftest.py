"""Tests live in folders that mirror the package's subpackages; the shared helpers beside this file
(end-to-end support, the shared data's location) are importable from every folder. Test data
with known truth comes from ofs_stitch.testing."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
