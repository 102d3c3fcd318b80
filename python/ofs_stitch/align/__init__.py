"""Match, place, render: the library API for scripted alignment.

Three steps, as spectralign users know them, on the package's compiled core. Points are (x, y)
pixels.

- `Matcher(a, b)`: ``refine(p_a, p_b, size)`` moves a rough pair of matching points onto the
  exact match by correlating windows around them (`matcher`).
- `Placement`: ``add_match(t, t2, p, p2)`` for any tile keys, then ``rigid()`` or ``affine()``
  places every tile in one model space (sparse robust least squares; `placement`).
- `Renderer(affine=..., tile_size=...)`: ``render(t, image)`` paints each tile into a growing
  canvas (`renderer`); ``write(paths, tiles)`` sends the same maps to the mosaic writers
  (JPEG, OME-TIFF, DZI; `mosaic.write_mosaic`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .matcher import Matcher, Refined
    from .mosaic import MosaicWritten, write_mosaic
    from .placement import Placement, Solution
    from .renderer import Renderer

__all__ = [
    "Matcher",
    "MosaicWritten",
    "Placement",
    "Refined",
    "Renderer",
    "Solution",
    "write_mosaic",
]

# Loaded when first used, like the package root's names: importing ofs_stitch.align loads
# neither numpy nor the compiled core.
_LAZY = {
    "Matcher": "matcher",
    "Refined": "matcher",
    "Placement": "placement",
    "Solution": "placement",
    "Renderer": "renderer",
    "MosaicWritten": "mosaic",
    "write_mosaic": "mosaic",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
