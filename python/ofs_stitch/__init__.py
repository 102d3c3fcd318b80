"""ofs-stitch: fast, accurate stitching of microscope tile scans."""

from __future__ import annotations

__version__ = "0.1.0"
