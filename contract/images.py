"""One pixel limit for every image the hotline accepts (web form, MMS, fax) or shows (desk).

A 100 KB PNG can claim 30 000 x 30 000 pixels and cost gigabytes once decoded
(for a thumbnail, for the desk's browser). Only the header is read here, never
the pixels, so checking is cheap; the limits are the fax channel's page limits.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

MAX_IMAGE_WIDTH = 5000
MAX_IMAGE_HEIGHT = 15000


def oversized_image(data: bytes) -> str | None:
    """Why the image is refused (its claimed size), or None. A header Pillow cannot read
    claims no size and is left to the type check that already passed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # reads the header only
                width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "图片像素过大"
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    return oversized_size(width, height)


def oversized_size(width: int, height: int) -> str | None:
    """Why an image (or a fax page) of this size in pixels is refused, or None: the one
    limit every channel and the desk apply, whichever way they learnt the size."""
    if width > MAX_IMAGE_WIDTH or height > MAX_IMAGE_HEIGHT or width < 1 or height < 1:
        return f"图片为 {width}×{height} 像素，超过 {MAX_IMAGE_WIDTH}×{MAX_IMAGE_HEIGHT} 的限制"
    return None
