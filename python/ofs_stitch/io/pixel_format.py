"""What a mosaic holds, and the one normaliser that brings decoded pixels to it.

A mosaic is grey or RGB, 8- or 16-bit, whatever its tiles are: 16 bits if any tile has 16,
RGB if any tile is colour. Each kind of tile (bands, samples, colour interpretation) becomes
that by one `_Conversion`: CMYK to sRGB, alpha dropped, bands cut or repeated, 8-bit samples
scaled to 16 bits. `to_pixel_format` applies it to lazily decoded libvips images (tiles read
from files), `pixels_in_format` to numpy arrays (tiles held in memory), so tiles rendered from
either come out the same.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyvips

from ..errors import InputError
from .header import ImageFacts

# libvips formats a mosaic can hold, and the numpy type of each.
_DTYPES = {"uchar": np.dtype(np.uint8), "ushort": np.dtype(np.uint16)}
# libvips' name of each numpy sample type.
_VIPS_FORMATS = {
    np.dtype(np.uint8): "uchar",
    np.dtype(np.int8): "char",
    np.dtype(np.uint16): "ushort",
    np.dtype(np.int16): "short",
    np.dtype(np.uint32): "uint",
    np.dtype(np.int32): "int",
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
}


@dataclass(frozen=True)
class PixelFormat:
    """What the mosaic holds: 1 (grey) or 3 (RGB) colour bands of uint8 or uint16."""

    bands: int
    dtype: np.dtype

    @property
    def vips_format(self) -> str:
        return "uchar" if self.dtype == np.uint8 else "ushort"

    @property
    def max_value(self) -> int:
        return int(np.iinfo(self.dtype).max)


def pixel_format_of(images: Iterable[ImageFacts]) -> PixelFormat:
    """The smallest mosaic format that holds every image without loss, from their headers.

    An image with 3 or more bands is colour: RGB, RGBA and CMYK(A) all have 3 or more, grey and
    grey + alpha fewer. Raises InputError naming an image whose samples a mosaic cannot hold.
    """
    bands, depth16 = 1, False
    for image in images:
        if image.pixel_format not in _DTYPES:
            raise InputError(
                f"{image.path}: {image.pixel_format} samples are not supported; convert the "
                "tiles to 8- or 16-bit unsigned images"
            )
        if image.bands >= 3:
            bands = 3
        depth16 |= image.pixel_format == "ushort"
    return PixelFormat(bands, np.dtype(np.uint16 if depth16 else np.uint8))


@dataclass(frozen=True)
class _Conversion:
    """What the normaliser does to one kind of image, in this order."""

    to_srgb: bool  # CMYK converted to sRGB (by libvips, with the image's colour profile)
    keep: int  # the first `keep` bands kept: alpha dropped, colour cut to the mosaic's bands
    to_16bit: bool  # 8-bit samples multiplied by 257: full scale stays full scale
    copies: int  # each kept band repeated this many times (a grey image in an RGB mosaic)


@functools.lru_cache(maxsize=64)
def _conversion(
    bands: int, sample_format: str, interpretation: str, fmt: PixelFormat
) -> _Conversion:
    """How images of this kind become ``fmt``: decided from the kind alone, never from pixel
    values, so a one-pixel image of the kind answers for all of them. libvips itself says
    which band is alpha and what CMYK becomes, exactly as for the decoded tiles."""
    sample = pyvips.Image.black(1, 1, bands=bands).cast(sample_format)
    sample = sample.copy(interpretation=interpretation)
    to_srgb = sample.interpretation == "cmyk"
    if to_srgb:
        sample = sample.colourspace("srgb")
    colour_bands = sample.bands - (1 if sample.hasalpha() else 0)
    # Fewer than 3 bands is grey (grey + a band that is not alpha too): its first band counts.
    keep = fmt.bands if colour_bands >= 3 else 1
    to_16bit = sample.format == "uchar" and fmt.dtype == np.uint16
    return _Conversion(to_srgb, keep, to_16bit, fmt.bands // keep)


def to_pixel_format(image: pyvips.Image, fmt: PixelFormat) -> pyvips.Image:
    """``image`` (lazily decoded) in the mosaic's bands and depth; itself when it already is.

    CMYK is converted to sRGB, alpha dropped (libvips tells alpha from the bands and their
    interpretation), colour cut to the mosaic's bands; grey keeps its first band, repeated to
    fill an RGB mosaic; 8-bit samples in a 16-bit mosaic are multiplied by 257.
    """
    conversion = _conversion(image.bands, str(image.format), str(image.interpretation), fmt)
    if conversion.to_srgb:
        image = image.colourspace("srgb")
    if image.bands > conversion.keep:
        image = image.extract_band(0, n=conversion.keep)
    if conversion.to_16bit:
        image = (image.cast("ushort") * 257).cast("ushort")
    if conversion.copies > 1:
        image = image.bandjoin([image] * (conversion.copies - 1))
    return image


def pixels_in_format(pixels: np.ndarray, interpretation: str, fmt: PixelFormat) -> np.ndarray:
    """Decoded pixels held in memory, converted as `to_pixel_format` converts images:
    (rows, cols, fmt.bands) of fmt.dtype, sharing memory with ``pixels`` where it can.

    ``interpretation``: the image's colour interpretation from its header (libvips' name), which
    says what the bands are (4 bands are RGBA or CMYK). The same steps run in numpy here: a
    libvips pipeline would copy every tile, even to drop an alpha band (5 ms a 2 MP tile).
    """
    array = pixels if pixels.ndim == 3 else pixels[:, :, None]
    kind = (array.shape[2], _VIPS_FORMATS[array.dtype], interpretation)
    conversion = _conversion(*kind, fmt)
    if conversion.to_srgb:
        converted = pyvips.Image.new_from_array(array, interpretation=interpretation)
        array = converted.colourspace("srgb").numpy()
        array = array if array.ndim == 3 else array[:, :, None]
    if array.shape[2] > conversion.keep:
        array = array[:, :, : conversion.keep]
    if conversion.to_16bit:
        array = array.astype(np.uint16) * 257
    if conversion.copies > 1:
        array = np.repeat(array, conversion.copies, axis=2)
    return array
