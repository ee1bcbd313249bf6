"""Carriages from each kind of evidence (`network.linking`), on small hand-made timelines."""

from __future__ import annotations

import random

import pytest

from undertow.network import linking
from undertow.network.linking import MAX_EQUIVALENTS, MEDIA_MAX_LAG, Carriage, Post, link_posts

HOUR = 3_600


def test_identical_text_links_to_the_latest_earlier_post_of_each_other_channel() -> None:
    posts = [
        Post(1, "outlet", 1_000, "statement"),
        Post(2, "outlet", 2_000, "statement"),  # the outlet repeats itself
        Post(3, "mirror", 2_600, "statement"),
        Post(4, "mirror", 2_700, "other text"),
    ]
    links = link_posts(posts)
    assert links == {("mirror", "outlet"): [Carriage(3, 2, 600, "copy")]}


def test_near_duplicates_link_different_texts_both_ways_but_only_backwards_in_time() -> None:
    posts = [Post(10, "a", 100, "original"), Post(11, "b", 160, "original with emoji")]
    assert link_posts(posts, [(11, 10)]) == {("b", "a"): [Carriage(11, 10, 60, "copy")]}
    assert link_posts(posts, [(10, 11)]) == {("b", "a"): [Carriage(11, 10, 60, "copy")]}
    # Pairs naming posts that are not given are ignored.
    assert link_posts(posts, [(11, 99), (98, 10)]) == {}


def test_a_picture_links_posts_within_days_unless_their_texts_disagree() -> None:
    posts = [
        Post(1, "pool", 0, None, ("sha-x",)),
        Post(2, "reposter", HOUR, None, ("sha-x",)),
        Post(3, "late", MEDIA_MAX_LAG + HOUR, None, ("sha-x",)),  # too long after the pool
        Post(4, "captioned", 2 * HOUR, "a caption", ("sha-x",)),  # the pool's post has no text
        Post(5, "similar", 3 * HOUR, None, ("sha-y",)),
    ]
    links = link_posts(posts, media_pairs=[("sha-y", "sha-x")])
    assert links[("reposter", "pool")] == [Carriage(2, 1, HOUR, "media")]
    assert links[("captioned", "pool")] == [Carriage(4, 1, 2 * HOUR, "media")]
    assert links[("similar", "captioned")] == [Carriage(5, 4, HOUR, "media")]
    assert ("late", "pool") not in links and ("late", "reposter") in links
    # Two different texts never link through a shared picture.
    texts = [Post(1, "a", 0, "one text", ("sha",)), Post(2, "b", 60, "another", ("sha",))]
    assert link_posts(texts) == {}


def test_a_forward_names_its_method_and_alone_still_names_its_source() -> None:
    posts = [
        Post(1, "outlet", 0, "statement"),
        Post(2, "fan", 30, "statement", forward_channels=("outlet",), is_forward=True),
        Post(3, "fan", 40, "unseen", forward_channels=("outlet",), is_forward=True),
        Post(4, "fan", 50, "self", forward_channels=("fan",), is_forward=True),
    ]
    assert link_posts(posts) == {
        ("fan", "outlet"): [Carriage(2, 1, 30, "forward"), Carriage(3, None, None, "forward")]
    }


def test_posts_in_the_same_second_count_as_before_one_another() -> None:
    posts = [Post(1, "a", 500, "same words"), Post(2, "b", 500, "same words")]
    links = link_posts(posts)
    assert links == {
        ("a", "b"): [Carriage(1, 2, 0, "copy")],
        ("b", "a"): [Carriage(2, 1, 0, "copy")],
    }


def test_boilerplate_keeps_the_original_and_the_nearest_copies_only() -> None:
    posts = [Post(i, f"channel-{i}", 60 * i, "join us") for i in range(300)]
    links = link_posts(posts)
    sources = {source for (mirror, source) in links if mirror == "channel-299"}
    half = MAX_EQUIVALENTS // 2
    expected = {f"channel-{i}" for i in [*range(half), *range(299 - half, 299)]}
    assert sources == expected
    assert sum(len(c) for c in links.values()) <= 300 * MAX_EQUIVALENTS


def test_no_posts_and_no_evidence_give_no_links() -> None:
    assert link_posts([]) == {}
    assert link_posts([Post(1, "a", 0), Post(2, "b", 1)], [(1, 2)], [("x", "y")]) == {
        ("b", "a"): [Carriage(2, 1, 1, "copy")]
    }


def test_min_posts_drops_channel_pairs_linked_by_fewer_posts() -> None:
    """A mirror carrying three posts is kept; a channel sharing two of them by chance is not,
    whichever kind of evidence linked them."""
    posts = [Post(k, "outlet", 100 * k, f"statement {k}") for k in range(1, 4)]
    posts += [Post(10 + k, "mirror", 100 * k + 5, f"statement {k}") for k in range(1, 4)]
    posts += [
        Post(21, "bystander", 500, "statement 1"),
        Post(22, "bystander", 510, None, forward_channels=("outlet",), is_forward=True),
    ]
    every = link_posts(posts)
    assert len(every[("mirror", "outlet")]) == 3 and len(every[("bystander", "outlet")]) == 2
    kept = link_posts(posts, min_posts=3)
    assert kept == {("mirror", "outlet"): every[("mirror", "outlet")]}


def _random_world(seed: int, scale: int = 1) -> tuple[list[Post], list[tuple[int, int]]]:
    """Posts of 12 channels sharing texts, pictures and forwards at random, with near pairs."""
    rng = random.Random(seed)
    posts = [
        Post(
            scale * k + 7,
            f"channel-{rng.randrange(12)}",
            rng.randrange(0, 40 * HOUR, 600),
            rng.choice([None, *[f"text {t}" for t in range(15)]]),
            tuple(rng.sample(["sha-a", "sha-b", "sha-c", "sha-d"], rng.randrange(2))),
            (f"channel-{rng.randrange(14)}",) if rng.random() < 0.1 else (),
            rng.random() < 0.15,
        )
        for k in range(400)
    ]
    near = [(rng.choice(posts).id, rng.choice(posts).id) for _ in range(300)]
    return posts, near


def test_blocks_of_mirror_channels_give_the_same_links_as_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Carriages are weighed a block of mirror channels at a time; how the channels are cut
    into blocks changes nothing, not even the order of the links."""
    for seed in range(5):
        posts, near = _random_world(seed)
        similar = [("sha-a", "sha-b")]
        whole = link_posts(posts, near, similar, min_posts=2)
        assert whole
        monkeypatch.setattr(linking, "_BLOCK", 7)
        assert list(link_posts(posts, near, similar, min_posts=2).items()) == list(whole.items())
        monkeypatch.undo()


def test_ids_spread_thinly_are_found_as_well_as_consecutive_ones() -> None:
    """Positions come from a direct map for nearly consecutive ids and from a binary search
    otherwise: both give the same carriages."""
    dense, dense_near = _random_world(1)
    spread, spread_near = _random_world(1, scale=1_000_003)
    to_spread = {a.id: b.id for a, b in zip(dense, spread, strict=True)}
    expected = {
        key: [
            Carriage(
                to_spread[c.mirror_post],
                None if c.source_post is None else to_spread[c.source_post],
                c.lag,
                c.method,
            )
            for c in carriages
        ]
        for key, carriages in link_posts(dense, dense_near).items()
    }
    assert link_posts(spread, spread_near) == expected
