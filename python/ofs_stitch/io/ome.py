"""OME-XML for a single-plane pyramidal OME-TIFF (the image-description of the first IFD).

QuPath, Fiji (Bio-Formats) and tifffile take the pixel type, channel layout and physical pixel
size from here; reduced-resolution levels are SubIFDs of the first IFD (OME-TIFF 6
convention), so the XML describes the full-resolution plane only.
"""

from __future__ import annotations

import html

import numpy as np

OME_NAMESPACE = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
_PIXEL_TYPES = {np.dtype(np.uint8): "uint8", np.dtype(np.uint16): "uint16"}


def ome_xml(
    *,
    width: int,
    height: int,
    samples: int,
    dtype: np.dtype,
    pixel_size_um: float | None,
    name: str,
    creator: str,
) -> str:
    """OME-XML for one interleaved plane: RGB (``samples`` 3, one 3-sample channel, as
    Bio-Formats expects for brightfield) or grey (``samples`` 1)."""
    pixel_type = _PIXEL_TYPES[np.dtype(dtype)]
    physical = ""
    if pixel_size_um is not None:
        size = f"{pixel_size_um:.10g}"
        physical = (
            f' PhysicalSizeX="{size}" PhysicalSizeXUnit="µm"'
            f' PhysicalSizeY="{size}" PhysicalSizeYUnit="µm"'
        )
    interleaved = "true" if samples > 1 else "false"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<OME xmlns="{OME_NAMESPACE}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{OME_NAMESPACE} {OME_NAMESPACE}/ome.xsd" '
        f"Creator={_quoted(creator)}>"
        f'<Image ID="Image:0" Name={_quoted(name)}>'
        f'<Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="{pixel_type}"'
        f' SizeX="{width}" SizeY="{height}" SizeC="{samples}" SizeZ="1" SizeT="1"'
        f' Interleaved="{interleaved}" SignificantBits="{8 * np.dtype(dtype).itemsize}"'
        f"{physical}>"
        f'<Channel ID="Channel:0:0" SamplesPerPixel="{samples}"><LightPath/></Channel>'
        '<TiffData IFD="0" PlaneCount="1"/>'
        "</Pixels></Image></OME>"
    )


def _quoted(value: str) -> str:
    """An XML attribute value in double quotes. html.escape's entities are valid XML, and
    html imports in a millisecond where xml.sax.saxutils pulls in urllib (20 ms a run)."""
    return f'"{html.escape(value, quote=True)}"'
