"""The run directory shared by training, export, conversion and evaluation.

config.json        the KosmosConfig
tokenizer.model    the SentencePiece model (copied in when given)
model.safetensors  inference weights (no pickle)
deepspeed/         training state for resume (written by the trainer)
data_state.json    data-stream positions for resume (written by the trainer)
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import torch

from .architecture.kosmos import Kosmos
from .config import KosmosConfig

CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.model"
WEIGHTS_FILE = "model.safetensors"
DEEPSPEED_DIR = "deepspeed"
DATA_STATE_FILE = "data_state.json"


def save_pretrained(model: Kosmos, run_dir: str | Path, tokenizer_model: str | Path | None = None) -> None:
    """Write config.json, model.safetensors and (when given) tokenizer.model, each atomically."""
    from safetensors.torch import save_file

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (WEIGHTS_FILE + ".tmp")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(run_dir / WEIGHTS_FILE)
    tmp = run_dir / (CONFIG_FILE + ".tmp")
    model.config.save(tmp)
    tmp.replace(run_dir / CONFIG_FILE)
    if (
        tokenizer_model is not None
        and Path(tokenizer_model).resolve() != (run_dir / TOKENIZER_FILE).resolve()
    ):
        shutil.copyfile(tokenizer_model, run_dir / (TOKENIZER_FILE + ".tmp"))
        (run_dir / (TOKENIZER_FILE + ".tmp")).replace(run_dir / TOKENIZER_FILE)


def from_pretrained(run_dir: str | Path, device: str | torch.device = "cpu") -> Kosmos:
    """Build the model from config.json and load model.safetensors (no CLIP download: weights are in it)."""
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    config = KosmosConfig.load(run_dir / CONFIG_FILE)
    if config.vision is not None:
        config.vision = dataclasses.replace(config.vision, pretrained=None)
    with torch.device("meta"):
        model = Kosmos(config)
    model = model.to_empty(device=device)
    missing, unexpected = model.load_state_dict(
        load_file(str(run_dir / WEIGHTS_FILE), device=str(device)), strict=False
    )
    if missing or unexpected:
        raise ValueError(f"weights do not fit the config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    if model.vision is not None:
        model.vision.freeze()
    return model
