"""Synthetic data with exactly known truth, for tests, benchmarks and the built-in example.

One module per kind of data; each module's docstring says what truth it knows.

* ``scene``: the continuous scene every generator photographs (a canvas of real texture seen
  through band-limited optics), known exactly at any real position.
* ``camera``: photographs of the scene at known positions, with defocus, vignetting, noise and
  quantisation; every generator of texture data goes through it.
* ``scans``: tile scans on disk as an OpenFlexure microscope writes them (EXIF metadata, a noisy
  stage, snake order), and strips; truth: the true and reported positions.
* ``grids``: tiles in memory at exact positions, raster grids with a stage guess, and tables of
  neighbour shifts for the solver.
* ``pairs``: image pairs with an exactly known shift.
* ``mosaics``: tile files cut from a known image, whose truth is the mosaic (for the renderer).
* ``affine_grids``: tile grids whose tiles each turn, scale and shear a little; truth: every
  tile's affine map into the scene (for the align API and ``--transform affine``).
* ``replay``: a scan written into a folder one tile at a time, as a microscope writes it;
  truth: when each file became complete (live stitching's latency).
* ``files``: the one tile writer, OpenFlexure UserComment layouts, small images carrying them.
* ``example``: the README's example, ``python -m ofs_stitch.testing.example``.

Generators still to come take the same shape beside these: a time series with a known drift
(``series``), a focus stack blurred from a known depth surface (``stacks``), each photographing
the scene through ``camera``.

Needs scikit-image (the ``test`` extra). Importing a module loads no image and no heavy library.
Nothing outside this subpackage imports it: the package never depends on its test data.
"""
