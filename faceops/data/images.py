"""Reading photos: one loader for the pipeline, capture and prediction, with errors that name the file."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from faceops.core.errors import ImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")  # checked by content, whatever the name says
MAX_PIXELS = 50_000_000  # a decompression bomb stops here instead of filling memory


def is_image_name(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _to_rgb(image: Image.Image) -> np.ndarray:
    """RGB uint8. 16-bit and 32-bit greyscale (PNG modes I;16, I) are scaled to 8 bits, not clipped to white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(np.round(values / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode bytes to an RGB uint8 array, honouring EXIF rotation (phone photos)."""
    if not data:
        raise ImageError(name, "empty file", "empty")
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(
                    name,
                    f"image is {image.width}x{image.height} pixels, more than the {MAX_PIXELS:,} allowed",
                    "too_large",
                )
            image = ImageOps.exif_transpose(image)
            return _to_rgb(image)
    except UnidentifiedImageError:
        raise ImageError(name, "not a JPEG, PNG, WebP or BMP image", "not_image") from None
    except Image.DecompressionBombError:
        raise ImageError(name, "image is too large (decompression bomb protection)", "too_large") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(name, f"corrupt or truncated image ({exc})") from None


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a photo as RGB uint8 (height, width, 3)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(str(path), f"cannot read ({exc.strerror})", "unreadable") from None
    return decode_image(data, str(path))


def encode_png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()
