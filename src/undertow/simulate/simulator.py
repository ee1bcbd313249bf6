"""Entry point of the simulator: validates arguments, prepares the output folder, writes a world.

A world is `scale` independent units, each one propaganda network plus its benign and
hard-negative surroundings, written one chat at a time so memory stays bounded.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from undertow.simulate.benign import build_benign_world
from undertow.simulate.context import SimulationContext
from undertow.simulate.images import ImagePool
from undertow.simulate.network import build_propaganda_network
from undertow.simulate.truth import GENERATED_BY
from undertow.simulate.variant import variant_named

MARKER_NAME = ".undertow-simulation"
EXPORTS_NAME = "exports"
TRUTH_NAME = "truth.json"
TRUTH_MESSAGES_NAME = "truth_messages.jsonl"
_OWN_ENTRIES = frozenset({MARKER_NAME, EXPORTS_NAME, TRUTH_NAME, TRUTH_MESSAGES_NAME})
# Mean over seeds of messages written per unit, measured; the world's size is random around it.
MESSAGES_PER_UNIT = 5_000


@dataclass(frozen=True, slots=True)
class SimulationSummary:
    """What a finished simulation wrote and where."""

    out_dir: Path
    exports_dir: Path
    truth_path: Path
    truth_messages_path: Path
    seed: int
    scale: int
    channels: int
    messages: int
    photos: int
    bytes_written: int


def estimate_messages(scale: int) -> int:
    """Expected number of messages `simulate_world` writes at `scale` (for progress bars)."""
    if scale < 1:
        raise ValueError(f"scale must be at least 1, got {scale}")
    return MESSAGES_PER_UNIT * scale


def simulate_world(
    out_dir: Path,
    *,
    seed: int = 1,
    scale: int = 1,
    progress: Callable[[int], None] | None = None,
    variant: str = "default",
) -> SimulationSummary:
    """Write a synthetic world of Telegram Desktop exports plus its ground truth to `out_dir`.

    The same `seed`, `scale` and `variant` always give byte-identical files. `progress`, if
    given, is called with the number of messages written since its previous call. `out_dir`
    must be missing, empty, or hold an earlier simulation (which is replaced). `variant` picks
    the titles, mirror lags and copy edits the world is drawn from ("default" or "alt").
    """
    world_variant = variant_named(variant)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if scale < 1:
        raise ValueError(f"scale must be at least 1, got {scale}")
    out_dir = Path(out_dir)
    _prepare_out_dir(out_dir)
    exports_dir = out_dir / EXPORTS_NAME
    exports_dir.mkdir()
    truth_path = out_dir / TRUTH_NAME
    truth_messages_path = out_dir / TRUTH_MESSAGES_NAME
    with truth_messages_path.open("wb") as truth_messages:
        ctx = SimulationContext(
            seed=seed,
            scale=scale,
            exports_dir=exports_dir,
            truth_messages=truth_messages,
            images=ImagePool(seed),
            progress=progress,
            variant=world_variant,
        )
        for unit in range(scale):
            build_propaganda_network(ctx, unit)
            build_benign_world(ctx, unit)
    counters = ctx.counters
    truth = ctx.truth
    counts = {
        "channels": counters.channels,
        "messages": counters.messages,
        "photos": counters.photos,
        "propaganda_channels": sum(1 for channel in truth.channels if channel.get("propaganda")),
        "networks": len(truth.networks),
        "mirrors": len(truth.mirrors),
        "lineages": len(truth.lineages),
        "rebrands": len(truth.rebrands),
        "migrations": len(truth.migrations),
    }
    truth.write(truth_path, seed=seed, scale=scale, counts=counts)
    return SimulationSummary(
        out_dir=out_dir,
        exports_dir=exports_dir,
        truth_path=truth_path,
        truth_messages_path=truth_messages_path,
        seed=seed,
        scale=scale,
        channels=counters.channels,
        messages=counters.messages,
        photos=counters.photos,
        bytes_written=counters.bytes + truth_path.stat().st_size,
    )


def _prepare_out_dir(out_dir: Path) -> None:
    """Create `out_dir`, or clear an earlier simulation from it; refuse anything else."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"output path {out_dir} exists and is not a directory")
    if out_dir.exists():
        entries = {entry.name for entry in out_dir.iterdir()}
        if entries and (MARKER_NAME not in entries or not entries <= _OWN_ENTRIES):
            raise ValueError(
                f"output directory {out_dir} is not empty and does not hold a previous "
                "simulation; choose an empty or new directory"
            )
        for name in sorted(entries):
            path = out_dir / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    # Written first, so even an interrupted run is recognised and replaced next time.
    (out_dir / MARKER_NAME).write_text(GENERATED_BY + "\n", encoding="utf-8")
