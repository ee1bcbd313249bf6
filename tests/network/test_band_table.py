"""The band table behind near-duplicate lookups: what it returns equals a plain dictionary's
answer, oldest rows first and capped, across the growth of its capacity."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from undertow.network.band_table import BandTable


def test_lookups_match_a_dictionary_across_growth() -> None:
    rng = np.random.default_rng(3)
    table, reference = BandTable(max_rows=4), defaultdict(list)
    row = 0
    for size in (10, 5000, 70_000, 3):  # 70,000 distinct keys force the table to grow
        keys = rng.integers(0, 40_000, size).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        keys[: size // 3] = 0  # the empty slot's mark is a key like any other
        rows = np.arange(row, row + size, dtype=np.uint32)
        order = np.argsort(keys, kind="stable")
        table.add(keys[order], rows[order])
        for key, value in zip(keys.tolist(), rows.tolist(), strict=True):
            reference[key].append(value)
        row += size
    probe = np.unique(np.concatenate([rng.choice(list(reference), 500).astype(np.uint64),
                                      np.array([0, 7, 11], dtype=np.uint64)]))  # fmt: skip
    which, rows = table.lookup(probe)
    got: dict[int, list[int]] = defaultdict(list)
    for index, value in zip(which.tolist(), rows.tolist(), strict=True):
        got[int(probe[index])].append(value)
    expected = {int(k): reference[int(k)][:4] for k in probe if int(k) in reference}
    assert got == expected
