import gc

from undertow.gcpause import collector_paused


def test_collector_is_paused_inside_and_enabled_again_after():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collector_comes_back_after_an_error():
    try:
        with collector_paused():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_cycles_made_while_paused_are_collected_after_enough_work():
    class Node:
        def __init__(self) -> None:
            self.me = self

    import weakref

    with collector_paused(every=10) as progress:
        cycle = weakref.ref(Node())
        progress(5)
        assert cycle() is not None  # not collected yet: the collector is paused
        progress(5)
        assert cycle() is None  # ten units done: a full collection ran
        assert not gc.isenabled()
