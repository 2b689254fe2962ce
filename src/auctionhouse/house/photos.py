"""Checking and re-encoding an item's photos with Pillow (a well-kept library: image decoders
are not ours to write).

An upload is accepted only as JPEG, PNG or WebP of at most ``MAX_BYTES`` and ``MAX_PIXELS``
(the size is read from the header before any pixel is decoded, so a decompression bomb, a small
file that expands to gigabytes, is refused without decoding it). The pixels are then decoded,
turned upright (EXIF orientation) and re-encoded into a fresh image, so nothing of the upload's
metadata survives (EXIF with its GPS position, XMP, comments, ICC profiles) and no malformed
chunk reaches a browser. A thumbnail of at most ``THUMB_SIDE`` pixels a side goes with it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auctionhouse.errors import InvalidPhoto, PhotoTooLarge

if TYPE_CHECKING:
    from PIL import Image

MAX_BYTES = 5 * 1024 * 1024
"""An uploaded photo's size at most (5 MiB)."""
MAX_PIXELS = 40_000_000
"""Width x height at most (a 8000 x 5000 photo); more is refused as a decompression bomb."""
THUMB_SIDE = 400
FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


@dataclass(frozen=True, slots=True)
class Photo:
    """A checked, re-encoded photo: its bytes, their extension, size and thumbnail."""

    data: bytes
    ext: str
    width: int
    height: int
    thumbnail: bytes


def prepare(upload: bytes) -> Photo:
    """Check and re-encode an uploaded photo. Raises ``PhotoTooLarge`` (more than
    ``MAX_BYTES`` bytes or ``MAX_PIXELS`` pixels) or ``InvalidPhoto`` (not a JPEG, PNG or WebP
    image, or one that cannot be decoded)."""
    if not isinstance(upload, bytes | bytearray | memoryview):
        raise InvalidPhoto("a photo is the bytes of a JPEG, PNG or WebP image")
    if len(upload) > MAX_BYTES:
        raise PhotoTooLarge(f"a photo has at most {MAX_BYTES // (1024 * 1024)} MB", limit=MAX_BYTES)
    if not upload:
        raise InvalidPhoto("the photo is empty")
    # Pillow loads here, not at import: a house that never sees a photo starts faster.
    from PIL import Image, ImageOps, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(upload), formats=list(FORMATS)) as image:
                fmt = str(image.format)
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise PhotoTooLarge(
                        f"the photo is {width} x {height} pixels: at most"
                        f" {MAX_PIXELS // 1_000_000} million pixels",
                        limit=MAX_PIXELS,
                    )
                image.seek(0)  # an animation: its first frame
                upright = ImageOps.exif_transpose(image)
                pixels = _plain(upright if upright is not None else image, fmt)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PhotoTooLarge(
                f"the photo has too many pixels (at most {MAX_PIXELS:,})", limit=MAX_PIXELS
            ) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
            raise InvalidPhoto(
                f"not a JPEG, PNG or WebP image that can be read ({type(exc).__name__})"
            ) from None
    ext = FORMATS[fmt]
    data = _encode(pixels, fmt)
    thumb = pixels.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return Photo(data, ext, pixels.width, pixels.height, _encode(thumb, "WEBP", quality=80))


def thumbnail_of(data: bytes) -> bytes:
    """The thumbnail (WebP, at most ``THUMB_SIDE`` pixels a side) of a photo this house
    re-encoded (a replica makes its own from bytes it fetched and verified by digest).
    Raises ``InvalidPhoto`` or ``PhotoTooLarge`` as ``prepare``."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise PhotoTooLarge("the photo has too many pixels", limit=MAX_PIXELS)
                thumb = _plain(image, str(image.format))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PhotoTooLarge("the photo has too many pixels", limit=MAX_PIXELS) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
            raise InvalidPhoto(f"not a photo that can be read ({type(exc).__name__})") from None
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return _encode(thumb, "WEBP", quality=80)


def _plain(image: Image.Image, fmt: str) -> Image.Image:
    """The decoded pixels in a fresh image (no ``info``: no metadata), in a mode ``fmt`` can
    save (JPEG: RGB or grey; PNG and WebP keep transparency)."""
    from PIL import Image

    keep_alpha = fmt != "JPEG" and (
        image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    )
    if fmt == "JPEG" and image.mode == "L":
        mode = "L"
    else:
        mode = "RGBA" if keep_alpha else "RGB"
    converted = image.convert(mode)
    return Image.frombytes(mode, converted.size, converted.tobytes())


def _encode(image: Image.Image, fmt: str, quality: int = 90) -> bytes:
    out = io.BytesIO()
    if fmt == "PNG":
        image.save(out, "PNG", optimize=False)
    else:
        image.save(out, fmt, quality=quality)
    return out.getvalue()
