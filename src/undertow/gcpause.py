"""Pausing Python's cyclic garbage collector while a batch makes many small objects.

Each batch of the text stage makes hundreds of thousands of short-lived objects (items, rule
hits, signals, explanations).  The collector runs after every 700 new containers and, now and
then, walks every object alive, the analyser's caches included: a third of the stage's time
on the simulator's data.  These objects form no reference cycles, so reference counting frees
them anyway; the collector runs again as usual once the batch is done.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector inside the block (if it was enabled)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
