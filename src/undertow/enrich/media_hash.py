"""Hashes of media files: exact (SHA-256, MD5) for everything, PDQ for images.

PDQ is computed by the reference implementation packaged on PyPI (`pdqhash`), with images
converted the way python-threatexchange converts them, so hashes agree with what industry
hash banks hold.  Decoding is bounded: decompression bombs, truncated and corrupt files give
a recorded error, never an exception.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pdqhash
from PIL import Image, UnidentifiedImageError

MIN_PDQ_QUALITY = 50
"""Below this quality a PDQ hash is not a usable signal (the PDQ standard's own rule)."""
MAX_PIXELS = 64_000_000
"""Images larger than this many pixels are refused as possible decompression bombs."""
MAX_BYTES = 256 * 1024 * 1024
"""Media files larger than this are only hashed exactly."""

_IMAGE_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "MPO"})


@dataclass(frozen=True, slots=True)
class MediaHashes:
    """Every hash of one media file; `pdq` is None when it is not an image or quality is low."""

    sha256: str
    md5: str
    size: int
    kind: str
    pdq: str | None = None
    pdq_quality: int | None = None
    error: str | None = None
    pdq_dihedral: tuple[str, ...] | None = None
    """PDQ of the 7 rotations and flips (90, 180, 270, flip y, flip x, the two diagonals)."""
    vpdq: tuple[tuple[str, int, float], ...] | None = None
    """Video: one (PDQ hex, quality, timestamp in seconds) per sampled frame."""

    def as_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "md5": self.md5,
            "size": self.size,
            "kind": self.kind,
            "pdq": self.pdq,
            "pdq_quality": self.pdq_quality,
            "pdq_dihedral": None if self.pdq_dihedral is None else list(self.pdq_dihedral),
            "vpdq": None
            if self.vpdq is None
            else [{"pdq": h, "quality": q, "timestamp": t} for h, q, t in self.vpdq],
            "error": self.error,
        }


def pdq_hex(bits: np.ndarray[Any, Any]) -> str:
    """The 64-hex-digit form of a 256-bit PDQ vector (first bit most significant)."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def image_array(image: Image.Image) -> np.ndarray[Any, Any]:
    """Pixels as an H x W x 3 array, converted as python-threatexchange converts them."""
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=2)
    return array


def pdq_dihedral(image: Image.Image) -> tuple[list[str], int]:
    """PDQ hashes of the image's 8 rotations and flips (the original first) and its quality.

    The first equals `pdq_of_image`; the variants come from the same transform (about 6 %
    more work than the plain hash).
    """
    vectors, quality = pdqhash.compute_dihedral(image_array(image))
    return [pdq_hex(v) for v in vectors], int(quality)


def pdq_of_image(image: Image.Image) -> tuple[str, int]:
    """(PDQ hex, quality 0-100) of a decoded image."""
    bits, quality = pdqhash.compute(image_array(image))
    return pdq_hex(bits), int(quality)


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode image bytes with a pixel limit; raises ValueError with the reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ValueError(
                    f"image of {width}x{height} pixels exceeds the {max_pixels} pixel limit"
                )
            image.load()
            return image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"refused as a decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ValueError("not an image format Pillow can read") from exc
    except (OSError, SyntaxError, EOFError) as exc:  # truncated or corrupt data
        raise ValueError(f"corrupt or truncated image: {exc}") from exc


def sniff_kind(data: bytes) -> str:
    """ "image", "video" or "other" from the first bytes of a file."""
    head = data[:16]
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM")) or (
        head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    ):
        return "image"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image"
    if head[4:8] == b"ftyp" or head.startswith((b"\x1aE\xdf\xa3", b"RIFF")) or head[:3] == b"FLV":
        return "video"
    return "other"


def hash_bytes(
    data: bytes,
    *,
    max_pixels: int = MAX_PIXELS,
    min_quality: int = MIN_PDQ_QUALITY,
    dihedral: bool = False,
) -> MediaHashes:
    """All hashes of one file's bytes; decoding problems are recorded in `error`.

    `dihedral` adds the 7 rotated and flipped PDQ hashes (about 6 % more work).
    """
    sha = hashlib.sha256(data).hexdigest()
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    kind = sniff_kind(data)
    if kind != "image":
        return MediaHashes(sha, md5, len(data), kind)
    try:
        image = decode_image(data, max_pixels=max_pixels)
        if image.format == "GIF" and getattr(image, "n_frames", 1) > 1:
            kind = "animation"  # hashed as a picture (first frame) and, with vpdq, as a video
        if image.format not in _IMAGE_FORMATS:
            return MediaHashes(
                sha, md5, len(data), kind, error=f"unsupported image format {image.format}"
            )
        if dihedral:
            variants, quality = pdq_dihedral(image)
        else:
            plain, quality = pdq_of_image(image)
            variants = [plain]
    except ValueError as exc:
        return MediaHashes(sha, md5, len(data), kind, error=str(exc))
    if quality < min_quality:
        return MediaHashes(sha, md5, len(data), kind, pdq_quality=quality)
    return MediaHashes(
        sha,
        md5,
        len(data),
        kind,
        pdq=variants[0],
        pdq_quality=quality,
        pdq_dihedral=tuple(variants[1:]) if dihedral else None,
    )


def vpdq_available() -> bool:
    """Whether the `vpdq` package (built against FFmpeg) is installed."""
    try:
        import vpdq  # noqa: F401
    except ImportError:
        return False
    return True


def vpdq_of_file(
    path: Path, *, seconds_per_hash: float = 1.0
) -> tuple[tuple[str, int, float], ...]:
    """vPDQ frame hashes of a video (or animation) file; ValueError if it cannot be decoded."""
    import vpdq

    try:
        features = vpdq.computeHash(str(path), seconds_per_hash=seconds_per_hash)
    except Exception as exc:  # the binding raises plain exceptions for undecodable input
        raise ValueError(f"cannot decode video: {exc}") from exc
    if not features:
        raise ValueError("no decodable video frames")
    return tuple((f.hex, int(f.quality), float(f.timestamp)) for f in features)


def hash_file(
    path: Path,
    *,
    max_pixels: int = MAX_PIXELS,
    min_quality: int = MIN_PDQ_QUALITY,
    dihedral: bool = False,
) -> MediaHashes:
    """Hash a file; files over `MAX_BYTES` get exact hashes only; videos and animations get
    vPDQ where the `vpdq` package is installed."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                sha.update(chunk)
                md5.update(chunk)
        return MediaHashes(
            sha.hexdigest(), md5.hexdigest(), size, "other", error="too large to decode"
        )
    hashes = hash_bytes(
        path.read_bytes(), max_pixels=max_pixels, min_quality=min_quality, dihedral=dihedral
    )
    if hashes.kind in ("video", "animation") and vpdq_available():
        try:
            frames = vpdq_of_file(path)
        except ValueError as exc:
            return replace(hashes, error=hashes.error or str(exc))
        return replace(hashes, vpdq=frames)
    return hashes


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes of equal length."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
