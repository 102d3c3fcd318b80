"""Turning placed tiles into pixels: mosaic geometry, painting windows (nearest, feather), band
streaming, the output plan, format writers and previews."""
