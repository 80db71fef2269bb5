"""Checkpoints in the run directory, exact resume, and `export` to model.safetensors.

    RUN/deepspeed/<tag>/...              DeepSpeed's ZeRO checkpoint (model, optimizer partitions)
    RUN/deepspeed/<tag>/data_state.json  every rank's stream positions at that step
    RUN/deepspeed/latest                 DeepSpeed's pointer to the newest complete tag
    RUN/data_state.json                  a copy of the newest data state (what the run dir layout names)

The data state is written after DeepSpeed's files, so a tag with a data_state.json is complete.
Randomness needs no state: each step reseeds torch from (seed, step, rank).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from kosmos_train.model.run_dir import DATA_STATE_FILE, DEEPSPEED_DIR, TOKENIZER_FILE

STEP_TAG = "step{:08d}"


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    tmp.replace(path)


def save(engine: Any, run_dir: Path, step: int, data_states: list[dict], keep: int, rank: int) -> str:
    """Save a checkpoint after `step` optimizer steps; `data_states` has one entry per rank."""
    tag = STEP_TAG.format(step)
    ckpt = run_dir / DEEPSPEED_DIR
    engine.save_checkpoint(str(ckpt), tag=tag, client_state={"step": step})
    import torch.distributed as dist

    if rank == 0:
        state = {"step": step, "tag": tag, "world_size": len(data_states), "ranks": data_states}
        write_json_atomic(ckpt / tag / DATA_STATE_FILE, state)
        write_json_atomic(run_dir / DATA_STATE_FILE, state)
        # Only tags up to this one: a newer tag left by an earlier run in the folder must not make
        # the checkpoint just written look old and be deleted (tags are zero-padded step numbers).
        complete = sorted(
            p for p in ckpt.iterdir() if p.is_dir() and (p / DATA_STATE_FILE).exists() and p.name <= tag
        )
        for old in complete[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    dist.barrier()
    return tag


def latest_tag(run_dir: Path) -> str | None:
    """The newest complete checkpoint tag, or None."""
    ckpt = run_dir / DEEPSPEED_DIR
    latest = ckpt / "latest"
    if latest.is_file():
        tag = latest.read_text().strip()
        if (ckpt / tag / DATA_STATE_FILE).exists():
            return tag
    complete = (
        sorted(p.name for p in ckpt.glob("step*") if (p / DATA_STATE_FILE).exists()) if ckpt.is_dir() else []
    )
    return complete[-1] if complete else None


def load(engine: Any, run_dir: Path, tag: str, world_size: int) -> tuple[int, dict]:
    """Load `tag` into the engine; returns (step, data state of all ranks)."""
    ckpt = run_dir / DEEPSPEED_DIR
    state = json.loads((ckpt / tag / DATA_STATE_FILE).read_text())
    if state["world_size"] != world_size:
        raise ValueError(
            f"checkpoint {tag} was written by {state['world_size']} ranks, this run has {world_size}; "
            "exact resume needs the same world size"
        )
    with weights_only_loads():  # resuming a crafted run directory must not execute code either
        path, client = engine.load_checkpoint(str(ckpt), tag=tag)
    if path is None:
        raise ValueError(f"DeepSpeed could not load checkpoint {ckpt / tag}")
    return int(client["step"]), state


def _deepspeed_safe_globals() -> list[Any]:
    """The few non-tensor types DeepSpeed pickles into its checkpoint files (allow-listed by name)."""
    import importlib

    found = []
    for module, name in [
        ("deepspeed.runtime.zero.config", "ZeroStageEnum"),
        ("deepspeed.runtime.fp16.loss_scaler", "LossScaler"),
        ("deepspeed.runtime.fp16.loss_scaler", "DynamicLossScaler"),
        ("deepspeed.utils.tensor_fragment", "fragment_address"),
        ("deepspeed.runtime.config", "DeepSpeedConfig"),
    ]:
        with contextlib.suppress(ImportError, AttributeError):
            found.append(getattr(importlib.import_module(module), name))
    return found


@contextlib.contextmanager
def weights_only_loads() -> Iterator[None]:
    """Every torch.load inside (DeepSpeed's own included, which pass weights_only=False) loads with
    weights_only=True: a crafted run directory cannot execute code; unknown types are refused."""
    previous = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        with torch.serialization.safe_globals(_deepspeed_safe_globals()):
            yield
    finally:
        if previous is None:
            os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = previous


def consolidated_state_dict(run_dir: Path, tag: str | None = None) -> dict[str, torch.Tensor]:
    """fp32 model weights from the ZeRO checkpoint (partitions merged, frozen weights included)."""
    from kosmos_train.train.distributed import prepare_accelerator

    prepare_accelerator()
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    tag = tag or latest_tag(run_dir)
    if tag is None:
        raise FileNotFoundError(f"no complete checkpoint under {run_dir / DEEPSPEED_DIR}")
    with weights_only_loads():
        state = get_fp32_state_dict_from_zero_checkpoint(str(run_dir / DEEPSPEED_DIR), tag=tag)
    # DeepSpeed records frozen-parameter fragments only for ZeRO >= 2; under ZeRO 0/1 the frozen
    # weights (most of CLIP) are only in the rank-0 module state, whole and unpartitioned.
    module_file = run_dir / DEEPSPEED_DIR / tag / "mp_rank_00_model_states.pt"
    if module_file.exists():
        with weights_only_loads():
            module = torch.load(module_file, map_location="cpu", weights_only=True).get("module") or {}
        for key, value in module.items():
            state.setdefault(key, value.float() if value.is_floating_point() else value)
    prefix = "model."
    return {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in state.items()}


def export(run_dir: str | Path, tag: str | None = None) -> Path:
    """Write RUN/model.safetensors (+ config.json, tokenizer.model) from a ZeRO checkpoint."""
    from kosmos_train.model.architecture.kosmos import Kosmos
    from kosmos_train.model.config import KosmosConfig
    from kosmos_train.model.run_dir import CONFIG_FILE, WEIGHTS_FILE, save_pretrained

    run_dir = Path(run_dir)
    config = KosmosConfig.load(run_dir / CONFIG_FILE)
    if config.vision is not None:
        import dataclasses

        config.vision = dataclasses.replace(config.vision, pretrained=None)
    model = Kosmos(config)
    missing, unexpected = model.load_state_dict(consolidated_state_dict(run_dir, tag), strict=False)
    if missing or unexpected:
        raise ValueError(
            f"checkpoint does not fit config.json: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    tokenizer = run_dir / TOKENIZER_FILE
    save_pretrained(model, run_dir, tokenizer if tokenizer.exists() else None)
    return run_dir / WEIGHTS_FILE
