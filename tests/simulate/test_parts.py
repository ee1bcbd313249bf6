"""Unit checks of the simulator's building blocks: text rendering, edits, titles, images."""

from __future__ import annotations

import io
import random

from PIL import Image

from undertow.simulate.clock import WORLD_START, export_date, iso_z, photo_stamp
from undertow.simulate.images import ImagePool, propaganda_image_id
from undertow.simulate.text import (
    MIRROR_HASHTAGS,
    copy_edit,
    flat_text,
    hashtag_parts,
    homoglyph,
    lookalike_handles,
    lookalike_titles,
    outlet_post,
    plain,
    render,
)


def test_plain_text_renders_as_string() -> None:
    assert render([plain("a "), plain("b")]) == ("a b", [{"type": "plain", "text": "a b"}])
    assert render([]) == ("", [])


def test_entities_render_as_mixed_array() -> None:
    text, entities = render(
        [plain("x "), *hashtag_parts(["#Amaq"]), ("text_link", "l", "https://e")]
    )
    assert text == [
        "x ",
        {"type": "hashtag", "text": "#Amaq"},
        {"type": "text_link", "text": "l", "href": "https://e"},
    ]
    assert entities[0] == {"type": "plain", "text": "x "}
    assert entities[1:] == text[1:]


def test_copy_edit_changes_text_but_keeps_markers_recognisable() -> None:
    rng = random.Random(5)
    changed = 0
    for _ in range(50):
        parts = outlet_post(rng)
        edited = copy_edit(parts, rng, MIRROR_HASHTAGS)
        changed += flat_text(edited) != flat_text(parts)
        assert any(kind == "hashtag" for kind, _, _ in edited)
    assert changed >= 45


def test_copy_edit_without_hashtags_never_adds_propaganda_tags() -> None:
    rng = random.Random(6)
    parts = [plain("A quiet market reported the weekly bulletin and the river update today.")]
    for _ in range(50):
        edited = copy_edit(parts, rng, ())
        assert all(kind == "plain" for kind, _, _ in edited)


def test_lookalike_titles_and_handles_are_distinct() -> None:
    titles = lookalike_titles("Nashir", 6, random.Random(1))
    assert titles[0] == "Nashir" and len(set(titles)) == 6
    assert homoglyph("Nashir") != "Nashir" and len(homoglyph("Nashir")) == 6
    handles = lookalike_handles("nashir_12", 6)
    assert len(set(handles)) == 6 and all(h.isascii() for h in handles)


def test_dates() -> None:
    assert export_date(WORLD_START) == "2019-06-01T00:00:00"
    assert iso_z(WORLD_START + 3_661) == "2019-06-01T01:01:01Z"
    assert photo_stamp(WORLD_START) == "01-06-2019_00-00-00"


def test_images_are_deterministic_and_variants_differ() -> None:
    image_id = propaganda_image_id(3)
    first, second = ImagePool(9), ImagePool(9)
    assert first.base(image_id) == second.base(image_id)
    assert first.base(image_id) != ImagePool(10).base(image_id)
    variant = first.variant(image_id, 2)
    assert variant.data != first.base(image_id).data
    assert variant.width < 320
    with Image.open(io.BytesIO(variant.data)) as decoded:
        assert decoded.size == (variant.width, variant.height)
