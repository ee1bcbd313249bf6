"""Near-duplicate text search: copy edits are found, unrelated text is not, the index is
deterministic, incremental, saved without pickle, and right on the simulator's truth."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from undertow.network import lsh_segment
from undertow.network.lsh_segment import LshSegment
from undertow.network.minhash import EMPTY, MinHasher, clean_text
from undertow.network.neardup import (
    META_FILE,
    PAIR_DTYPE,
    IndexFormatError,
    IndexParams,
    NearDuplicateIndex,
)
from undertow.simulate import simulate_world

BASE = "Weekly market reported the northern bulletin and the harbour schedule."
EDITS = {
    "emoji": "🔴 " + BASE,
    "emoji_end": BASE + " 📢",
    "hashtag": BASE + "\n\n#KhilafahNews #Amaq",
    "upper": BASE.upper(),
    "lower": BASE.lower(),
    "spaces": BASE.replace(" ", "  ", 1) + "\n",
    "truncated_80": "Weekly market reported the northern bulletin and the…",
    "truncated_70": "Weekly market reported the northern bulletin and…",
    "homoglyph": BASE.replace("a", "а").replace("e", "е").replace("o", "о"),  # Cyrillic
    "several": "⭐ WEEKLY  MARKET REPORTED THE NORTHERN BULLETIN AND THE… #Nashir",
}
UNRELATED = [
    "Northern harbour reported the weekly market and the bulletin schedule.",
    "Weekly bulletin scheduled the northern market and the harbour report.",
    "Daily market noted the southern bulletin and the harbour schedule today.",
    "The harbour schedule and the northern bulletin reported a weekly market.",
    "Regional station described the quiet river and the village library.",
]


def pairs_of(index: NearDuplicateIndex, texts: list[str], **options: Any) -> set[tuple[int, int]]:
    sigs = index.signatures(texts)
    found = index.add_and_pair(np.arange(len(texts)), sigs, **options)
    return {(int(new), int(old)) for new, old in zip(found["new"], found["old"], strict=True)}


@pytest.mark.parametrize(("shingle", "unit"), [(3, "word"), (5, "char")])
def test_copy_edits_are_found(shingle: int, unit: Literal["word", "char"]) -> None:
    index = NearDuplicateIndex(shingle=shingle, unit=unit)
    texts = [BASE, *EDITS.values()]
    found = pairs_of(index, texts)
    for row, name in enumerate(EDITS, start=1):
        assert (row, 0) in found, name
    cleaned = {clean_text(text) for name, text in EDITS.items() if "truncated" not in name}
    assert cleaned == {clean_text(BASE)} | {clean_text(EDITS["several"])}


def test_unrelated_texts_of_the_same_vocabulary_are_not_paired() -> None:
    index = NearDuplicateIndex()
    assert pairs_of(index, [BASE, *UNRELATED]) == set()
    # A plainly different post is not even a candidate to verify.
    other = "Central council announced the early festival and the western square."
    assert [ids.tolist() for ids in index.query(index.signatures([other]))] == [[]]


def test_pairs_carry_estimates_and_each_pair_comes_once() -> None:
    index = NearDuplicateIndex()
    texts = [BASE, EDITS["emoji"], EDITS["truncated_70"], UNRELATED[-1]]
    found = index.add_and_pair(np.array([10, 11, 12, 13]), index.signatures(texts))
    assert found.dtype == PAIR_DTYPE
    by_pair = {(int(p["new"]), int(p["old"])): p for p in found}
    assert set(by_pair) == {(11, 10), (12, 10), (12, 11)}
    assert by_pair[(11, 10)]["jaccard"] == 1.0
    truncated = by_pair[(12, 10)]
    assert 0.4 < truncated["jaccard"] < 0.9 and truncated["containment"] >= 0.85
    # The same texts again pair with the indexed ones, not with themselves.
    again = index.add_and_pair(np.array([20]), index.signatures([BASE]))
    assert set(again["old"].tolist()) == {10, 11, 12}
    assert index.query(index.signatures([BASE]), min_similarity=0.9)[0].tolist() == [10, 11, 20]


def test_a_clique_of_copies_pairs_each_message_with_its_earliest_partners_only() -> None:
    # 50 copies of one text would make 1,225 pairs; each copy keeps the `max_partners`
    # earliest, across the indexed messages and its own batch alike.
    index = NearDuplicateIndex(max_partners=8)
    first = index.add_and_pair(np.arange(30), index.signatures([BASE] * 30))
    later = index.add_and_pair(np.arange(30, 50), index.signatures([BASE] * 20))
    partners: dict[int, list[int]] = {}
    for pair in np.concatenate([first, later]):
        partners.setdefault(int(pair["new"]), []).append(int(pair["old"]))
    assert sorted(partners) == list(range(1, 50))
    for new, old in partners.items():
        assert old == list(range(min(new, 8))), new
        assert 0 in old
    assert NearDuplicateIndex().max_partners == 32


def test_short_and_empty_texts_get_no_signature() -> None:
    hasher = MinHasher()
    short = ["", "ok", "🔴🔴🔴", "#KhilafahNews #Amaq #Nashir", "https://example.org/a/long/path",
             "Amaq: weekly market", "   \n\t  "]  # fmt: skip
    sigs = hasher.signatures(short)
    assert not sigs.has_signature.any()
    assert (sigs.values == EMPTY).all() and (sigs.sizes == 0).all()
    index = NearDuplicateIndex()
    assert len(index.add_and_pair(np.arange(len(short)), sigs)) == 0
    assert len(index) == 0
    assert all(len(ids) == 0 for ids in index.query(sigs))


def test_signatures_are_fixed_across_processes() -> None:
    texts = [BASE, *EDITS.values(), *UNRELATED]
    digest = _digest(MinHasher().signatures(texts).values)
    code = (
        "import hashlib, sys; from undertow.network.minhash import MinHasher; "
        f"v = MinHasher().signatures({texts!r}).values; "
        "sys.stdout.write(hashlib.sha256(v.tobytes()).hexdigest())"
    )
    for hash_seed in ("1", "2"):  # Python's own str hash changes; ours must not
        env = {"PYTHONHASHSEED": hash_seed, "PATH": ""}
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True)  # fmt: skip
        assert run.stdout == digest
    # Pinned: a change here changes every stored signature (bump HASHING_VERSION).
    assert _digest(MinHasher().signatures([BASE]).values)[:16] == "158bced5e721384c"


def _digest(values: np.ndarray[Any, Any]) -> str:
    return hashlib.sha256(values.tobytes()).hexdigest()


def test_batch_composition_does_not_change_signatures() -> None:
    hasher = MinHasher()
    texts = [BASE, *UNRELATED, *EDITS.values()]
    together = hasher.signatures(texts)
    for row, text in enumerate(texts):
        alone = hasher.signatures([text])
        assert (alone.values[0] == together.values[row]).all()
        assert alone.sizes[0] == together.sizes[row]


def test_hostile_input_does_not_raise() -> None:
    hostile = [
        "word " * 1_000_000 + "🔴" * 1000,
        "\x00" * 100 + BASE + "\x00",
        "🔴📢⚡" * 5000,
        "",
        "\ud800 lone surrogate in the weekly market bulletin text",
        "\u202e\u200b" * 50 + BASE,
        "x" * 100_000,
        "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\no\np",
    ]
    for unit in ("word", "char"):
        index = NearDuplicateIndex(shingle=3 if unit == "word" else 5, unit=unit)
        sigs = index.signatures([*hostile, BASE])
        assert sigs.values.shape == (len(hostile) + 1, 64)
        found = index.add_and_pair(np.arange(len(hostile) + 1), sigs)
        assert (len(hostile), 1) in {
            (int(a), int(b)) for a, b in zip(found["new"], found["old"], strict=True)
        }
    assert MinHasher().signatures([None]).sizes[0] == 0  # type: ignore[list-item]


def test_incremental_adds_give_the_same_pairs_as_one_batch(world: dict[str, Any]) -> None:
    texts = world["texts"][:2000]
    one = NearDuplicateIndex()
    whole = one.add_and_pair(np.arange(len(texts)), one.signatures(texts))
    several = NearDuplicateIndex()
    sigs, ids, parts = several.signatures(texts), np.arange(len(texts)), []
    for lo, hi in [(0, 1), (1, 300), (300, 333), (333, 1200), (1200, 1201), (1201, 2000)]:
        parts.append(several.add_and_pair(ids[lo:hi], sigs.take(slice(lo, hi))))
    incremental = np.concatenate(parts)
    incremental = incremental[np.lexsort((incremental["old"], incremental["new"]))]
    assert len(whole) > 100
    assert (whole == incremental).all()


def test_a_reserved_index_gives_the_same_pairs_without_growing(world: dict[str, Any]) -> None:
    """A bulk load sizes the index once (decision 64): same pairs, and no array regrown
    while the load stays within what was reserved."""
    texts = world["texts"][:2000]
    ids = np.arange(len(texts))
    plain, reserved = NearDuplicateIndex(), NearDuplicateIndex()
    first = reserved.add_and_pair(ids[:100], reserved.signatures(texts[:100]))
    assert (first == plain.add_and_pair(ids[:100], plain.signatures(texts[:100]))).all()
    reserved.reserve(len(texts) - 100)
    table = reserved._table
    sizes = (len(reserved._all.ids), len(table._keys), len(table._row))
    sigs = plain.signatures(texts)
    for lo in range(100, len(texts), 450):
        hi = min(lo + 450, len(texts))
        expected = plain.add_and_pair(ids[lo:hi], sigs.take(slice(lo, hi)))
        assert (reserved.add_and_pair(ids[lo:hi], sigs.take(slice(lo, hi))) == expected).all()
    assert sizes == (len(reserved._all.ids), len(table._keys), len(table._row))


def test_save_and_load_give_the_same_pairs(tmp_path: Path, world: dict[str, Any]) -> None:
    texts = world["texts"][:1500]
    ids = np.arange(len(texts))
    reference = NearDuplicateIndex()
    sigs = reference.signatures(texts)
    reference.add_and_pair(ids[:1000], sigs.take(slice(0, 1000)))
    expected = reference.add_and_pair(ids[1000:], sigs.take(slice(1000, None)))

    index = NearDuplicateIndex()
    index.add_and_pair(ids[:900], sigs.take(slice(0, 900)))
    index.add_and_pair(ids[900:1000], sigs.take(slice(900, 1000)))
    index.save(tmp_path / "idx")
    assert not list((tmp_path / "idx").glob("*.pkl"))
    loaded = NearDuplicateIndex.load(tmp_path / "idx", expect=IndexParams())
    assert len(loaded) == len(index) == int(sigs.has_signature[:1000].sum())
    got = loaded.add_and_pair(ids[1000:], sigs.take(slice(1000, None)))
    assert (got == expected).all()
    # Saving again after an add appends to the same files: what was saved stays as it was.
    folder = tmp_path / "idx"
    before = {path.name: path.read_bytes() for path in folder.glob("*.bin")}
    loaded = NearDuplicateIndex.load(folder)
    loaded.add(ids[1000:1010], sigs.take(slice(1000, 1010)))
    count = len(loaded)
    loaded.save(folder)
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["count"] == count
    names = {path.name for path in folder.iterdir()} - {META_FILE}
    assert names == set(before) == {f"{meta['generation']}.{field}.bin" for field in
                                     ("ids", "values", "sizes", "keys")}  # fmt: skip
    for name, old in before.items():
        new = (folder / name).read_bytes()
        assert len(new) > len(old) and new.startswith(old)
    assert len(NearDuplicateIndex.load(folder)) == count


def test_an_index_saved_after_every_batch_pairs_the_same(
    tmp_path: Path, world: dict[str, Any]
) -> None:
    """Saved after every batch (each save appending to the last), the index pairs exactly as
    one never saved, loads the same, and saved elsewhere is copied whole."""
    texts = world["texts"][:2000]
    ids = np.arange(len(texts))
    plain, saved = NearDuplicateIndex(), NearDuplicateIndex()
    sigs = plain.signatures(texts)
    for lo in range(0, 1800, 50):
        part = sigs.take(slice(lo, lo + 50))
        expected = plain.add_and_pair(ids[lo : lo + 50], part)
        assert (saved.add_and_pair(ids[lo : lo + 50], part) == expected).all()
        saved.save(tmp_path / "idx")
    assert len(list((tmp_path / "idx").iterdir())) == 5  # four arrays and the description
    rest = sigs.take(slice(1800, None))
    expected = plain.add_and_pair(ids[1800:], rest)
    assert len(expected)
    loaded = NearDuplicateIndex.load(tmp_path / "idx", expect=IndexParams())
    loaded.save(tmp_path / "copy")  # band keys read back from the first folder's files
    copy = NearDuplicateIndex.load(tmp_path / "copy")
    for index in (loaded, copy, saved):
        assert (index.add_and_pair(ids[1800:], rest) == expected).all()


def test_rows_an_interrupted_save_left_are_ignored_then_cut(tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    index = NearDuplicateIndex()
    texts = [BASE, *UNRELATED]
    index.add(np.arange(3), index.signatures(texts[:3]))
    index.save(folder)
    sizes = {path.name: path.stat().st_size for path in folder.glob("*.bin")}
    for path in folder.glob("*.bin"):  # a save that wrote its rows but not its description
        with path.open("ab") as out:
            out.write(b"\xff" * 1000)
    loaded = NearDuplicateIndex.load(folder)
    assert len(loaded) == 3
    assert (loaded.query(index.signatures([BASE]))[0] == [0]).all()
    loaded.add(np.arange(3, 5), index.signatures(texts[3:5]))
    loaded.save(folder)
    grown = {path.name: path.stat().st_size for path in folder.glob("*.bin")}
    assert all(grown[name] == size // 3 * 5 for name, size in sizes.items())
    assert len(NearDuplicateIndex.load(folder)) == 5


def test_mismatched_or_damaged_indexes_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    index = NearDuplicateIndex()
    index.add(np.arange(3), index.signatures([BASE, *UNRELATED[:2]]))
    index.save(folder)
    meta = json.loads((folder / META_FILE).read_text())

    with pytest.raises(IndexFormatError, match=r"idx.*other parameters \(bands, rows\)"):
        NearDuplicateIndex.load(folder, expect=IndexParams(bands=16, rows=4))
    with pytest.raises(IndexFormatError, match="no near-duplicate index"):
        NearDuplicateIndex.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="this index takes"):
        index.add(np.arange(1), MinHasher(shingle=4).signatures([BASE]))
    with pytest.raises(IndexFormatError, match="not empty"):
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "notes.txt").write_text("mine")
        index.save(tmp_path / "other")

    def tampered(change: dict[str, Any], message: str) -> None:
        (folder / META_FILE).write_text(json.dumps({**meta, **change}))
        with pytest.raises(IndexFormatError, match=message) as error:
            NearDuplicateIndex.load(folder)
        assert str(folder) in str(error.value)

    tampered({"version": 99}, "format version 99")
    tampered({"params": {**meta["params"], "bands": 16}}, "damaged or was altered")
    tampered({"params": {**meta["params"], "rows": 40}}, "invalid parameters")
    tampered({"params": {**meta["params"], "evil": 1}}, "exactly the parameters")
    tampered({"family": "minhash-v0:word3"}, "rebuild the index")
    tampered({"count": 4}, "expected at least .* for 4 messages")
    tampered({"count": 10**15}, "damaged or was altered")
    tampered({"count": -1}, "bad message count")
    tampered({"count": True}, "bad message count")
    tampered({"generation": "../../etc/passwd"}, "bad generation")
    tampered({"generation": "gen-0000000000000000"}, "missing")
    tampered({"arrays": {**meta["arrays"], "keys": ["<u4", 21]}}, "damaged or was altered")
    (folder / META_FILE).write_text(json.dumps(meta))
    NearDuplicateIndex.load(folder)  # intact again

    for field in ("ids", "values", "sizes", "keys"):
        path = folder / f"{meta['generation']}.{field}.bin"
        good = path.read_bytes()
        path.write_bytes(good[:-1])
        with pytest.raises(IndexFormatError, match=f"{field}.bin is .* damaged or was altered"):
            NearDuplicateIndex.load(folder)
        path.write_bytes(good)
    NearDuplicateIndex.load(folder)


def test_an_index_of_the_older_format_is_refused_and_replaced(tmp_path: Path) -> None:
    """Version 1 kept band keys in sorted runs (`seg-*` files): it is refused, and a new index
    saved over it (what the network stage does after rebuilding) removes its files."""
    folder = tmp_path / "idx"
    folder.mkdir()
    (folder / META_FILE).write_text(json.dumps({"format": "undertow.neardup", "version": 1}))
    for field in ("ids", "values", "sizes", "keys", "rows"):
        np.save(folder / f"seg-0123456789abcdef.{field}.npy", np.zeros(3))
    with pytest.raises(IndexFormatError, match=r"format version 1.*rebuild"):
        NearDuplicateIndex.load(folder)
    index = NearDuplicateIndex()
    index.add(np.arange(3), index.signatures([BASE, *UNRELATED[:2]]))
    index.save(folder)
    assert not list(folder.glob("seg-*"))
    assert len(NearDuplicateIndex.load(folder)) == 3


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A simulated world's regular messages in time order, with what each reproduces."""
    out = tmp_path_factory.mktemp("world")
    simulate_world(out, seed=1, scale=1)
    labels = {}
    for line in (out / "truth_messages.jsonl").read_text().splitlines():
        row = json.loads(line)
        labels[(row["channel_id"], row["message_id"])] = row
    messages = []
    for path in sorted((out / "exports").glob("*/result.json")):
        chat = json.loads(path.read_text())
        for message in chat["messages"]:
            if message.get("type") != "message":
                continue
            text = message.get("text", "")
            if isinstance(text, list):
                text = "".join(p if isinstance(p, str) else p["text"] for p in text)
            label = labels[(f"telegram:{chat['id']}", message["id"])]
            origin = label["origin"]
            own = (label["channel_id"], label["message_id"])
            root = (origin["channel_id"], origin["message_id"]) if origin else own
            messages.append((int(message["date_unixtime"]), text, root, own, label["method"]))
    messages.sort(key=lambda m: m[0])
    return {
        "texts": [m[1] for m in messages],
        "root": [m[2] for m in messages],
        "own": [m[3] for m in messages],
        "method": [m[4] for m in messages],
    }


def test_copy_pairs_of_the_simulator_are_found(world: dict[str, Any]) -> None:
    texts, root, own, method = world["texts"], world["root"], world["own"], world["method"]
    index = NearDuplicateIndex()
    sigs = index.signatures(texts)
    ids = np.arange(len(texts))
    found = np.concatenate(
        [index.add_and_pair(ids[lo : lo + 500], sigs.take(slice(lo, lo + 500)))
         for lo in range(0, len(texts), 500)]
    )  # fmt: skip
    pairs = {frozenset((int(a), int(b))) for a, b in zip(found["new"], found["old"], strict=True)}
    row_of = {key: row for row, key in enumerate(own)}
    has = sigs.has_signature
    truth = {
        frozenset((row, row_of[root[row]]))
        for row in range(len(texts))
        if method[row] == "copy" and root[row] in row_of and has[row] and has[row_of[root[row]]]
    }
    assert len(truth) > 500
    recall = len(truth & pairs) / len(truth)
    # Forwards carry the original text: pairs among copies and forwards of one original
    # are true; anything else is a false pair.
    precision = sum(root[a] == root[b] for a, b in map(tuple, pairs)) / len(pairs)
    assert recall >= 0.95, recall
    assert precision >= 0.95, precision


def test_directory_search_matches_a_plain_binary_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(7)

    def segment(n: int, offset: int) -> LshSegment:
        keys = rng.integers(0, 1 << 12, (n, 5)).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        keys[: n // 4, 0] = keys[0, 0]  # a crowded bucket, as boilerplate makes
        values = rng.integers(0, 1 << 32, (n, 16), dtype=np.uint32)
        return LshSegment.build(np.arange(n) + offset, values, np.ones(n, np.uint32), keys)

    a = segment(3000, 0)
    chance = rng.integers(0, 1 << 63, 2000, dtype=np.uint64)
    probe = np.sort(np.concatenate([rng.choice(a.keys, 2000), chance]))
    plain_lo, plain_count = a.find(probe)
    monkeypatch.setattr(lsh_segment, "_DIRECT_BELOW", 16)  # every search through the directory
    a = LshSegment(a.ids, a.values, a.sizes, a.keys, a.rows)
    lo, count = a.find(probe)
    assert (count == plain_count).all() and (lo == plain_lo).all()
    assert plain_count.sum() > 2000  # the crowded bucket counted whole
