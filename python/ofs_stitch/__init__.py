"""ofs-stitch: fast, accurate stitching of microscope tile scans.

The public API: ``stitch(folder, **options)`` does the whole job of ``ofs-stitch FOLDER``;
``register_pair`` measures where one image sits relative to another; ``solve_positions`` places
any number of tiles from such measurements; ``Transform``, ``TransformTable`` and ``fit`` hold
and estimate the maps between images; ``Matcher``, ``Placement`` and ``Renderer`` match points
between tiles, place the tiles (rigid or affine) and render them (``ofs_stitch.align``);
``LiveStitcher`` stitches a scan while it is acquired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__
from .errors import ImageReadError, InputError, OutputError, StitchError

if TYPE_CHECKING:
    from .align.matcher import Matcher, Refined
    from .align.placement import Placement, Solution
    from .align.renderer import Renderer
    from .core.matches import Registration
    from .core.registration import register_pair
    from .core.solve import SolvedPositions, solve_positions
    from .core.transform import Transform, TransformTable, fit
    from .stitching.api import Stitched, stitch
    from .stitching.live.stitcher import LiveStitcher

__all__ = [
    "ImageReadError",
    "InputError",
    "LiveStitcher",
    "Matcher",
    "OutputError",
    "Placement",
    "Refined",
    "Renderer",
    "Solution",
    "SolvedPositions",
    "Registration",
    "StitchError",
    "Stitched",
    "Transform",
    "TransformTable",
    "__version__",
    "fit",
    "register_pair",
    "solve_positions",
    "stitch",
]

# The numerical API loads numpy and the compiled core when first used, not on
# `import ofs_stitch`: the command settles numpy's threading before numpy loads (command.py).
_LAZY = {
    "Matcher": "align.matcher",
    "Refined": "align.matcher",
    "Placement": "align.placement",
    "Solution": "align.placement",
    "Renderer": "align.renderer",
    "SolvedPositions": "core.solve",
    "solve_positions": "core.solve",
    "Registration": "core.matches",
    "register_pair": "core.registration",
    "LiveStitcher": "stitching.live.stitcher",
    "Stitched": "stitching.api",
    "stitch": "stitching.api",
    "Transform": "core.transform",
    "TransformTable": "core.transform",
    "fit": "core.transform",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
