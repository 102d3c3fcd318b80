"""Small drifting series shared by the drift tests (generated once per session)."""

from __future__ import annotations

import pytest

from ofs_stitch.testing.drift_series import DriftSeries, drifting_series


@pytest.fixture(scope="session")
def retina_series() -> DriftSeries:
    pytest.importorskip("skimage")
    return drifting_series(12, (192, 192), content="retina", photons=1000, seed=3)


@pytest.fixture(scope="session")
def hubble_series() -> DriftSeries:
    pytest.importorskip("skimage")
    return drifting_series(12, (256, 256), content="hubble", photons=1000, seed=4)
