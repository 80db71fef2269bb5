"""DeepSpeed training of KOSMOS-1: config and recipe, optimizer and schedule, loop, checkpoints, export.

config.py       TrainConfig, presets `kosmos1` (the paper's recipe) and `tiny` (CPU)
optim.py        AdamW groups (no decay on norms/biases) and the warm-up/linear-decay schedule
forward.py      the training loss with an identical graph on every rank
distributed.py  process group for a single process, torchrun or the deepspeed launcher
loop.py         `train()`: setup / step / metrics / save; token-budget mixture, token-weighted loss, resume
checkpoint.py   save/load with data_state.json, `export` to model.safetensors
plan.py         `kosmos_train plan`: memory per rank and roofline MFU before a run
(`train_tiny()` and the captioning helpers are in kosmos_train.inference)
"""

from kosmos_train.train.config import TrainConfig, load_train_config

__all__ = ["TrainConfig", "load_train_config"]
