"""ofs-stitch: fast, accurate stitching of microscope tile scans.

The public API: ``register_pair`` measures where one image sits relative to another;
``solve_positions`` places any number of tiles from such measurements. The command line tool
``ofs-stitch FOLDER`` stitches a whole scan.
"""

from __future__ import annotations

from .errors import ImageReadError, InputError, OutputError, StitchError
from .placement import Placement, solve_positions
from .registration import Registration, register_pair

__version__ = "0.1.0"

__all__ = [
    "ImageReadError",
    "InputError",
    "OutputError",
    "Placement",
    "Registration",
    "StitchError",
    "__version__",
    "register_pair",
    "solve_positions",
]
