"""Turning placed tiles into pixels: mosaic geometry, painting, streaming and format writers."""
