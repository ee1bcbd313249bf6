import pytest

from undertow import heap


class FakeMalloc:
    def __init__(self, ok: int = 1) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.ok = ok

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return self.ok

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad, 0))
        return 1


def test_thresholds_are_set_inside_and_settled_after(monkeypatch):
    fake = FakeMalloc()
    monkeypatch.setattr(heap, "_glibc", lambda: fake)
    with heap.heap_kept(trim=100 * heap.MIB, mmap=8 * heap.MIB) as took:
        assert took
        assert fake.calls == [
            ("mallopt", heap.M_TRIM_THRESHOLD, 100 * heap.MIB),
            ("mallopt", heap.M_MMAP_THRESHOLD, 8 * heap.MIB),
        ]
    assert fake.calls[2:] == [
        ("mallopt", heap.M_MMAP_THRESHOLD, heap.SETTLED_MMAP),
        ("mallopt", heap.M_TRIM_THRESHOLD, heap.SETTLED_TRIM),
        ("malloc_trim", 0, 0),
    ]


def test_thresholds_are_settled_after_an_error(monkeypatch):
    fake = FakeMalloc()
    monkeypatch.setattr(heap, "_glibc", lambda: fake)
    with pytest.raises(RuntimeError), heap.heap_kept():
        raise RuntimeError("boom")
    assert fake.calls[-1] == ("malloc_trim", 0, 0)


def test_a_refused_setting_is_reported(monkeypatch):
    monkeypatch.setattr(heap, "_glibc", lambda: FakeMalloc(ok=0))
    with heap.heap_kept() as took:
        assert not took


def test_without_glibc_nothing_is_done(monkeypatch):
    monkeypatch.setattr(heap, "_glibc", lambda: None)
    with heap.heap_kept() as took:
        assert not took


def test_the_real_c_library_accepts_the_settings():
    # The machines this runs on use glibc; elsewhere the block is a no-op.
    with heap.heap_kept() as took:
        blocks = [bytearray(4 * heap.MIB) for _ in range(8)]
        del blocks
    assert took == (heap._glibc() is not None)
