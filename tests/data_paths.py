"""Where the real data sets live: ../shared/data beside the checkout (tests that use them skip
when it is absent)."""

from __future__ import annotations

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
