"""Live stitching: the mosaic grows while the scan is acquired (`LiveStitcher`, and
``ofs-stitch FOLDER --watch`` built on it).

One module per stage: `arrival` (a new image -> a tile with its position and pixels), `recent`
(decoded tiles kept for their neighbours' pairs), `layout` (new pairs measured into the cache,
placement updated with a warm-started solve), `canvas` (the preview, repainted where it
changed), `stitcher` (the worker thread and the outputs), `completeness` (is a file completely
written?) and `watch` (the folder watcher). The final outputs are the batch pipeline's.
"""
