"""Files in and out: discovery, headers, decoding, EXIF, atomic writes, caches and tables."""
