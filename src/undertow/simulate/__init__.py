"""Synthetic Telegram ecosystem simulator: writes Telegram Desktop exports plus ground truth.

See docs/simulator.md for what a world contains and the truth file schema.
"""

from __future__ import annotations

from undertow.simulate.simulator import SimulationSummary, estimate_messages, simulate_world

__all__ = ["SimulationSummary", "estimate_messages", "simulate_world"]
