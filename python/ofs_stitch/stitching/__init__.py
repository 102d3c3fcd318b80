"""The ``ofs-stitch FOLDER`` family: one module per stage, wired by ``pipeline``."""
