"""Pausing Python's cyclic garbage collector while a stage makes many small objects.

Each batch of the text stage makes hundreds of thousands of short-lived objects (items, rule
hits, signals, explanations).  The collector runs after every 700 new containers and, now and
then, walks every object alive, the analyser's caches included: measured on the simulator's
data, a fifth of the text detectors' time even when paused per batch, since every batch's
survivors were then walked as soon as the collector came back.  These objects form no
reference cycles, so reference counting frees them anyway.  So a stage pauses the collector
for its whole run and reports its progress; after every `every` units of work a full
collection runs, so that whatever cycles some library makes are still freed, at a cost of
a few milliseconds per hundred thousand messages.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused(every: int = 200_000) -> Iterator[Callable[[int], None]]:
    """Disable the cyclic garbage collector inside the block (if it was enabled).

    The block gets a function to call with the amount of work it has just done (messages,
    say); once `every` units have been done since the last full collection, it runs one.
    """
    if not gc.isenabled():
        yield lambda done: None
        return
    pending = 0

    def progress(done: int) -> None:
        nonlocal pending
        pending += done
        if pending >= every:
            pending = 0
            gc.collect()

    gc.disable()
    try:
        yield progress
    finally:
        gc.enable()
