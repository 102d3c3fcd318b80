"""The numerics shared by every family: registration, matches, solving, transforms.

Lowest layer: imports nothing of the package but ``errors`` and the compiled ``_core``.
"""
