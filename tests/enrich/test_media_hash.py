"""Media hashes agree with the PDQ references, and bad media never crash hashing."""

from __future__ import annotations

import csv
import hashlib
import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from undertow.enrich.media_hash import (
    MIN_PDQ_QUALITY,
    hamming,
    hash_bytes,
    hash_file,
    pdq_dihedral,
)

from conftest import shared_dataset


def reference_rows(impl_prefix: str) -> list[dict[str, str]]:
    folder = shared_dataset("pdq-reference")
    with (folder / "expected.tsv").open(encoding="utf-8") as handle:
        return [
            r for r in csv.DictReader(handle, delimiter="\t") if r["impl"].startswith(impl_prefix)
        ]


def test_python_threatexchange_rows_match_exactly() -> None:
    folder = shared_dataset("pdq-reference")
    rows = reference_rows("pytx(")
    assert len(rows) == 3
    for row in rows:
        hashes = hash_file(folder / row["filename"], min_quality=0)
        assert hashes.pdq == row["pdq_hex"], row["filename"]
        assert hashes.pdq_quality == int(row["quality"]), row["filename"]


def test_good_quality_images_are_within_10_bits_of_the_cpp_reference() -> None:
    folder = shared_dataset("pdq-reference")
    rows = reference_rows("cpp-reference")
    checked = 0
    for row in rows:
        hashes = hash_file(folder / row["filename"], min_quality=0)
        if (hashes.pdq_quality or 0) >= 80:
            assert hashes.pdq is not None
            assert hamming(hashes.pdq, row["pdq_hex"]) <= 10, row["filename"]
            checked += 1
    assert checked >= 20


def test_dihedral_hashes_find_rotated_and_flipped_copies() -> None:
    folder = shared_dataset("pdq-reference") / "dih"
    original = Image.open(folder / "bridge-1-original.jpg")
    variants, _quality = pdq_dihedral(original)
    for name in (
        "bridge-2-rotate-90.jpg",
        "bridge-3-rotate-180.jpg",
        "bridge-5-flipx.jpg",
        "bridge-6-flipy.jpg",
    ):
        rotated = hash_file(folder / name).pdq
        assert rotated is not None
        assert min(hamming(rotated, v) for v in variants) <= 31, name


def picture(seed: int = 1, size: int = 256) -> bytes:
    image = Image.new("RGB", (size, size), (seed * 40 % 255, 90, 160))
    draw = ImageDraw.Draw(image)
    for i in range(12):
        draw.ellipse(
            (i * 17 % size, i * 29 % size, i * 17 % size + 60, i * 29 % size + 40),
            fill=(i * 20, 255 - i * 15, seed * 30 % 255),
        )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def test_exact_and_perceptual_hashes_of_an_image() -> None:
    data = picture()
    hashes = hash_bytes(data)
    assert hashes.sha256 == hashlib.sha256(data).hexdigest()
    assert hashes.md5 == hashlib.md5(data).hexdigest()
    assert hashes.kind == "image" and hashes.error is None
    assert hashes.pdq is not None and len(hashes.pdq) == 64
    reencoded = io.BytesIO()
    Image.open(io.BytesIO(data)).resize((200, 200)).save(reencoded, "JPEG", quality=60)
    other = hash_bytes(reencoded.getvalue())
    assert other.sha256 != hashes.sha256
    assert other.pdq is not None and hamming(other.pdq, hashes.pdq) <= 31


def test_flat_images_keep_exact_hashes_but_get_no_pdq() -> None:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (120, 120, 120)).save(out, "PNG")
    hashes = hash_bytes(out.getvalue())
    assert hashes.pdq is None
    assert hashes.pdq_quality is not None and hashes.pdq_quality < MIN_PDQ_QUALITY
    assert hashes.sha256 and hashes.md5


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims enormous dimensions (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (picture()[:600], "corrupt or truncated"),
        (b"\xff\xd8\xff" + b"\x00" * 100, "image"),
        (png_claiming(100_000, 100_000), "decompression bomb"),
        (png_claiming(9_000, 9_000), "pixel limit"),
    ],
)
def test_bad_images_give_a_recorded_error(data: bytes, problem: str) -> None:
    hashes = hash_bytes(data, max_pixels=50_000_000)
    assert hashes.pdq is None
    assert hashes.error is not None and problem in hashes.error
    assert hashes.sha256 == hashlib.sha256(data).hexdigest()


def test_non_images_get_exact_hashes_only(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    assert hash_file(video).kind == "video"
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    hashes = hash_file(empty)
    assert (hashes.kind, hashes.size, hashes.pdq) == ("other", 0, None)


def animated_gif(path: Path, frames: int = 25) -> Path:
    images = []
    for i in range(frames):
        image = Image.linear_gradient("L").resize((128, 128)).convert("RGB")
        ImageDraw.Draw(image).ellipse((i * 3, 20, i * 3 + 40, 80), fill="red")
        images.append(image)
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


def test_videos_and_animations_get_vpdq_frame_hashes(tmp_path: Path) -> None:
    pytest.importorskip(
        "vpdq",
        reason="vpdq needs FFmpeg's development packages; scripts/setup.sh installs them as root",
    )
    hashes = hash_file(animated_gif(tmp_path / "clip.gif"))
    assert hashes.kind == "animation"
    assert hashes.vpdq is not None and len(hashes.vpdq) >= 2
    first_hash, quality, timestamp = hashes.vpdq[0]
    assert len(first_hash) == 64 and 0 <= quality <= 100 and timestamp == 0.0
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13\x37" * 500)
    result = hash_file(broken)
    assert result.kind == "video" and result.vpdq is None and result.error
