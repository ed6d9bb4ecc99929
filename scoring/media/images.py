"""One in-memory decode of an uploaded still image (a selfie, an ID photo) for `POST /score/image`.

- Formats: JPEG, PNG and WebP, told by their content, never by the file name; an animated file is
  read at its first frame.
- The size is read from the header before any pixel is decoded, so a decompression bomb (a small
  file declaring a huge picture) is refused with `resolution_too_large` at no cost.
- EXIF orientation is applied, as photo viewers do: phones store portrait photos rotated.
- Pixels are kept unless the longer side exceeds `frame_max_side`; then the picture is downscaled
  (area averaging) to the size a video frame is analysed at, so the frame classifier sees faces
  at the scale it sees them in videos.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from scoring.errors import Code, ServiceError
from scoring.media.video import DecodeLimits, analysis_size

FORMATS = ("JPEG", "PNG", "WEBP")


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray  # H x W x 3 uint8, oriented upright, at most frame_max_side on its longer side
    format: str
    source_width: int
    source_height: int

    @property
    def bgr(self) -> np.ndarray:
        return np.ascontiguousarray(self.rgb[:, :, ::-1])

    def summary(self) -> dict:
        height, width = self.rgb.shape[:2]
        return {
            "format": self.format.lower(),
            "width": self.source_width,
            "height": self.source_height,
            "analysed_width": width,
            "analysed_height": height,
        }


def decode_image(data: bytes, limits: DecodeLimits) -> DecodedImage:
    """The upright RGB picture in `data`; ServiceError for an empty, unreadable, unsupported or oversized one."""
    if not data:
        raise ServiceError(Code.EMPTY_UPLOAD, "the uploaded image is empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_header(image, limits)
            upright = ImageOps.exif_transpose(image)
            rgb = np.asarray(upright.convert("RGB"))
            source = image.format, image.width, image.height
    except ServiceError:
        raise
    except Image.DecompressionBombError:  # Pillow's own guard, for pictures far beyond ours
        raise ServiceError(Code.RESOLUTION_TOO_LARGE, f"the image exceeds the limit of {limits.max_source_side} px per side") from None
    except UnidentifiedImageError:
        raise ServiceError(Code.NOT_AN_IMAGE, "not an image this service reads (JPEG, PNG or WebP)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ServiceError(Code.NOT_AN_IMAGE, f"the image cannot be decoded (corrupt or truncated?): {exc}") from None
    target = analysis_size(rgb.shape[1], rgb.shape[0], limits.frame_max_side)
    if target is not None:
        rgb = cv2.resize(rgb, target, interpolation=cv2.INTER_AREA)
    return DecodedImage(np.ascontiguousarray(rgb), *source)


def _check_header(image: Image.Image, limits: DecodeLimits) -> None:
    if image.format not in FORMATS:
        raise ServiceError(Code.NOT_AN_IMAGE, f"{image.format} images are not accepted; send JPEG, PNG or WebP")
    limits.check_resolution(image.width, image.height)
