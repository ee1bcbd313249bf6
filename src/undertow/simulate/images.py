"""Deterministic synthetic photos: a capped pool of base images and cached re-encoded variants.

Base images are busy (gradient, coloured shapes, texture) so that perceptual hashes are well
defined; a re-encoded variant shows the same picture with different bytes, as a copy mirror's
re-upload would.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

BASE_SIZE = 320
BASE_QUALITY = 88
# Separate pools keep benign pictures from ever matching propaganda ones by hash.
PROPAGANDA_POOL_SIZE = 200
BENIGN_POOL_SIZE = 100
STYLE_COUNT = 8


@dataclass(frozen=True, slots=True)
class Photo:
    """Encoded JPEG bytes with the pixel size the export records."""

    data: bytes
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ReencodeStyle:
    """How one copy mirror re-uploads pictures: scale, JPEG quality and an edge crop."""

    scale: float
    quality: int
    crop: int


def propaganda_image_id(index: int) -> str:
    return f"img-p{index % PROPAGANDA_POOL_SIZE:03d}"


def benign_image_id(index: int) -> str:
    return f"img-b{index % BENIGN_POOL_SIZE:03d}"


class ImagePool:
    """Generates base images on first use and keeps their bytes; the cache is capped by the
    pool sizes and style count, so memory does not grow with the world's scale."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._base: dict[str, Photo] = {}
        self._variants: dict[tuple[str, int], Photo] = {}
        style_rng = random.Random(f"undertow-sim:{seed}:styles")
        self.styles = tuple(
            ReencodeStyle(
                scale=round(style_rng.uniform(0.80, 0.95), 3),
                quality=style_rng.randint(60, 85),
                # At most a one-pixel trim: re-uploads resize and recompress; wider crops move
                # a picture beyond what PDQ at the industry threshold is meant to catch.
                crop=style_rng.choice((0, 0, 0, 1)),
            )
            for _ in range(STYLE_COUNT)
        )

    def base(self, image_id: str) -> Photo:
        photo = self._base.get(image_id)
        if photo is None:
            photo = _draw_base(random.Random(f"undertow-sim:{self._seed}:{image_id}"))
            self._base[image_id] = photo
        return photo

    def variant(self, image_id: str, style_index: int) -> Photo:
        key = (image_id, style_index % STYLE_COUNT)
        photo = self._variants.get(key)
        if photo is None:
            photo = _reencode(self.base(image_id), self.styles[key[1]])
            self._variants[key] = photo
        return photo

    def photo(self, image_id: str, style_index: int | None) -> Photo:
        """The exact base bytes when `style_index` is None, else that style's variant."""
        return self.base(image_id) if style_index is None else self.variant(image_id, style_index)


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _draw_base(rng: random.Random) -> Photo:
    size = BASE_SIZE
    gradient = Image.linear_gradient("L").rotate(rng.choice((0, 90, 180, 270))).resize((size, size))
    image = Image.composite(
        Image.new("RGB", (size, size), _colour(rng)),
        Image.new("RGB", (size, size), _colour(rng)),
        gradient,
    )
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(8, 16)):
        x, y = rng.randrange(size), rng.randrange(size)
        half_w, half_h = rng.randint(10, 80), rng.randint(10, 80)
        box = (x - half_w, y - half_h, x + half_w, y + half_h)
        shape = rng.randrange(3)
        if shape == 0:
            draw.ellipse(box, fill=_colour(rng))
        elif shape == 1:
            draw.rectangle(box, fill=_colour(rng))
        else:
            corners = [(rng.randrange(size), rng.randrange(size)) for _ in range(3)]
            draw.polygon(corners, fill=_colour(rng))
    # Texture from our own RNG (not Pillow's effect_noise, which is not seedable).
    texture = Image.frombytes("L", (40, 40), rng.randbytes(1600))
    texture = texture.resize((size, size), Image.Resampling.BICUBIC)
    image = Image.blend(image, Image.merge("RGB", (texture, texture, texture)), 0.18)
    return _encode(image, BASE_QUALITY)


def _reencode(photo: Photo, style: ReencodeStyle) -> Photo:
    with Image.open(io.BytesIO(photo.data)) as source:
        image = source.convert("RGB")
    if style.crop:
        c = style.crop
        image = image.crop((c, c, image.width - c, image.height - c))
    target = (round(image.width * style.scale), round(image.height * style.scale))
    image = image.resize(target, Image.Resampling.BILINEAR)
    return _encode(image, style.quality)


def _encode(image: Image.Image, quality: int) -> Photo:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Photo(buffer.getvalue(), image.width, image.height)
