"""Train the model shipped with Undertow (src/undertow/models/default.utm) on synthetic text.

The training data is the simulator's placeholder text (docs/simulator.md), labelled by its
ground truth: outlet, distributor and mirrored posts are positive; mirror filler, news and
research channels that quote the brand names, and benign channels are negative.  No real text
is involved, so the model may be redistributed.  The same Undertow version gives the same
weights.

    python scripts/train_default_model.py [--out src/undertow/models/default.utm]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from undertow.enrich.classifier_training import train
from undertow.enrich.text_features import FeatureParams
from undertow.simulate import simulate_world

SEED = 11
SCALE = 4
OUT = Path(__file__).resolve().parents[1] / "src" / "undertow" / "models" / "default.utm"


def world_messages(world: Path) -> tuple[list[str], list[bool], list[str], list[str]]:
    """(text, propaganda, group, channel role) of every message with text, each distinct
    (text, label) once; the group is the channel a post originally came from."""
    truth = json.loads((world / "truth.json").read_text("utf-8"))
    roles = {channel["channel_id"]: channel["role"] for channel in truth["channels"]}
    labels = {}
    with (world / "truth_messages.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            origin = record["origin"] or record
            labels[record["channel_id"], record["message_id"]] = (
                record["propaganda"],
                origin["channel_id"],
            )
    texts, flags, groups, subsets = [], [], [], []
    seen = set()
    for export in sorted((world / "exports").glob("*/result.json")):
        chat = json.loads(export.read_text("utf-8"))
        channel_id = f"telegram:{chat['id']}"
        for message in chat["messages"]:
            text = "".join(part["text"] for part in message.get("text_entities", []))
            if message["type"] != "message" or not text.strip():
                continue
            propaganda, origin = labels[channel_id, message["id"]]
            if (text, propaganda) in seen:
                continue
            seen.add((text, propaganda))
            texts.append(text)
            flags.append(propaganda)
            groups.append(origin)
            subsets.append(roles[channel_id])
    return texts, flags, groups, subsets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="undertow-default-model-") as folder:
        world = Path(folder) / "world"
        simulate_world(world, seed=SEED, scale=SCALE)
        texts, labels, groups, subsets = world_messages(world)
    model = train(
        texts,
        labels,
        groups=groups,
        subsets=subsets,
        params=FeatureParams(bits=18),
        source={
            "description": f"synthetic placeholder text from undertow.simulate (seed {SEED}, "
            f"scale {SCALE}), labelled by its ground truth; no real text",
            "generator": "scripts/train_default_model.py",
        },
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    meta = model.metadata
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    print(json.dumps({k: meta[k] for k in ("training_data", "threshold", "metrics")}, indent=2))


if __name__ == "__main__":
    main()
