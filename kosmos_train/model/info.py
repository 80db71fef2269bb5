"""`kosmos_train info --config NAME|FILE`: parameter counts (built on the meta device) and the config."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import torch

from .config import KosmosConfig, load_config


def count_parameters(config: KosmosConfig) -> dict[str, int]:
    """Total, language model, vision, connector and trainable counts; allocates no weights."""
    from .architecture.kosmos import Kosmos

    with torch.device("meta"):
        model = Kosmos(config)

    def count(module: torch.nn.Module | None, trainable_only: bool = False) -> int:
        if module is None:
            return 0
        return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)

    return {
        "total": count(model),
        "language_model": count(model.decoder),
        "vision": count(model.vision),
        "connector": count(model.connector),
        "trainable": count(model, trainable_only=True),
        "vision_trainable": count(model.vision, trainable_only=True),
    }


def info(name_or_path: str) -> dict:
    config = load_config(name_or_path)
    return {"parameters": count_parameters(config), "config": config.to_dict()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kosmos_train info", description=__doc__)
    parser.add_argument("--config", default="kosmos1", help="preset name (kosmos1, tiny) or a JSON/YAML file")
    args = parser.parse_args(argv)
    print(json.dumps(info(args.config), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
