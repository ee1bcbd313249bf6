"""Hash banks: every format round-trips; bad files name the line and store nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from undertow.exchange.banks import (
    BankEntry,
    BankError,
    add_entries,
    create_bank,
    iter_entries,
    list_banks,
    read_entries,
    write_entries,
)
from undertow.store import Store

PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_tx_format_reads_threatexchange_lines(tmp_path: Path) -> None:
    path = tmp_path / "bank.txt"
    path.write_text(f"# comment\npdq {PDQ.upper()}\n\nvideo_md5 {MD5}\nsha256 {SHA}\n")
    assert list(read_entries(path, "tx")) == [
        BankEntry("pdq", PDQ), BankEntry("md5", MD5), BankEntry("sha256", SHA),
    ]  # fmt: skip


@pytest.mark.parametrize("fmt", ["tx", "plain", "csv"])
def test_each_format_round_trips_through_a_bank(tmp_path: Path, store: Store, fmt: str) -> None:
    entries = [
        BankEntry("pdq", PDQ, "terrorist_content", "poster"),
        BankEntry("pdq", "0" * 63 + "1"),
    ]
    if fmt != "plain":
        entries += [BankEntry("md5", MD5), BankEntry("sha256", SHA, None, "note, with comma")]
    out = io.StringIO()
    write_entries(entries, fmt, out)
    path = tmp_path / f"bank.{fmt}"
    path.write_text(out.getvalue())
    create_bank(store, "partner", source="test", category="terrorist_content", licence="CC0")
    new, old = add_entries(store, "partner", read_entries(path, fmt, hash_type="pdq"))
    assert (new, old) == (len(entries), 0)
    assert add_entries(store, "partner", read_entries(path, fmt, hash_type="pdq")) == (
        0,
        len(entries),
    )
    stored = list(iter_entries(store, "partner"))
    if fmt == "csv":
        assert stored == entries
    else:
        assert [(e.hash_type, e.value) for e in stored] == [(e.hash_type, e.value) for e in entries]
    again = io.StringIO()
    write_entries(stored, fmt, again)
    assert again.getvalue() == out.getvalue() or fmt != "csv"
    (bank,) = list_banks(store)
    assert bank["entries"] == len(entries) and bank["licence"] == "CC0"


@pytest.mark.parametrize(
    ("content", "fmt", "problem"),
    [
        (f"pdq {PDQ}\npdq xyz\n", "tx", ":2: not a pdq hash"),
        (f"pdq {PDQ}\nwhirlpool {MD5}\n", "tx", ":2: unsupported signal type"),
        (f"{PDQ}\n{PDQ[:-1]}\n", "plain", ":2: not a pdq hash"),
        ("type,hash\npdq," + PDQ + "\nsha1,abc\n", "csv", ":3: unknown hash type"),
        ("kind,value\npdq,x\n", "csv", "needs a header"),
        ("pdq " + "a" * 10_000 + "\n", "tx", ":1: not a pdq hash"),
    ],
)
def test_bad_lines_are_named_and_nothing_is_stored(
    tmp_path: Path, store: Store, content: str, fmt: str, problem: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content)
    create_bank(store, "b")
    with pytest.raises(BankError, match=problem):
        add_entries(store, "b", read_entries(path, fmt, hash_type="pdq"))
    assert list(iter_entries(store, "b")) == []


def test_non_utf8_and_missing_banks(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "binary.txt"
    path.write_bytes(b"pdq \xff\xfe\n")
    create_bank(store, "b")
    with pytest.raises(BankError, match="not UTF-8"):
        add_entries(store, "b", read_entries(path, "tx"))
    with pytest.raises(BankError, match="no bank named 'nope'"):
        add_entries(store, "nope", [])
    with pytest.raises(BankError, match="exists already"):
        create_bank(store, "b")
    with pytest.raises(BankError, match="needs the hash type"):
        list(read_entries(path, "plain"))


def test_a_large_import_is_streamed(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "big.txt"
    path.write_text("".join(f"pdq {i:064x}\n" for i in range(30_000)))
    create_bank(store, "big")
    assert add_entries(store, "big", read_entries(path, "tx")) == (30_000, 0)


def test_vpdq_entries_round_trip_in_the_threatexchange_json_form(
    tmp_path: Path, store: Store
) -> None:
    frames = [f"{PDQ},{90 - i},{i * 1.5:g}" for i in range(3)]
    path = tmp_path / "videos.txt"
    path.write_text("vpdq " + '["' + '", "'.join(frames) + '"]\n')
    (entry,) = read_entries(path, "tx")
    assert entry == BankEntry("vpdq", " ".join(frames))
    out = io.StringIO()
    write_entries([entry], "tx", out)
    assert out.getvalue().startswith('vpdq ["') and PDQ in out.getvalue()
    again = tmp_path / "again.txt"
    again.write_text(out.getvalue())
    assert list(read_entries(again, "tx")) == [entry]
    create_bank(store, "videos")
    assert add_entries(store, "videos", [entry]) == (1, 0)
    bad = tmp_path / "bad.txt"
    bad.write_text(f"vpdq {PDQ},200,0\n")
    with pytest.raises(BankError, match=":1: bad vpdq frame"):
        list(read_entries(bad, "tx"))
