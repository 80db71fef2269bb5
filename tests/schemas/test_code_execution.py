"""Run directories and shards never execute code: checkpoints load with weights_only, no pickle members."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from schemas.kinds import Kind
from schemas.reader import ShardReadError, iter_corpus
from tests.schemas.conftest import read_tar, write_tar


class _Payload:
    """Unpickling this creates `marker`: the proof that a loader ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _crafted_run(tmp_path: Path, marker: Path) -> Path:
    run = tmp_path / "run"
    tag = run / "deepspeed" / "step00000001"
    tag.mkdir(parents=True)
    (tag / "data_state.json").write_text(json.dumps({"step": 1, "world_size": 1, "ranks": [{}]}))
    (run / "deepspeed" / "latest").write_text("step00000001")
    evil = {"module": {}, "buffer_names": [], "param_shapes": [], "evil": _Payload(marker)}
    for name in ("mp_rank_00_model_states.pt", "zero_pp_rank_0_mp_rank_00_model_states.pt"):
        torch.save(evil, tag / name)
    torch.save(
        {"optimizer_state_dict": {"evil": _Payload(marker)}},
        tag / "zero_pp_rank_0_mp_rank_00_optim_states.pt",
    )
    return run


def test_export_of_a_crafted_run_directory_runs_no_code(tmp_path: Path) -> None:
    from kosmos_train.train.checkpoint import consolidated_state_dict, weights_only_loads

    marker = tmp_path / "pwned"
    run = _crafted_run(tmp_path, marker)
    with pytest.raises(pickle.UnpicklingError):
        consolidated_state_dict(run)
    assert not marker.exists()
    with weights_only_loads(), pytest.raises(pickle.UnpicklingError):  # even a caller passing False
        torch.load(run / "deepspeed" / "step00000001" / "mp_rank_00_model_states.pt", weights_only=False)
    assert not marker.exists()
    torch.save({"w": torch.ones(2)}, tmp_path / "plain.pt")
    with weights_only_loads():
        assert torch.load(tmp_path / "plain.pt", weights_only=False)["w"].sum() == 2  # tensors still load


@pytest.mark.parametrize("suffix", ["pyd", "pickle", "pth"])
def test_pickle_members_in_shards_are_never_unpickled(corpus_copy, tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "pwned"
    root = corpus_copy(Kind.TEXT)
    members = read_tar(root / "shard-000000.tar")
    first = members[0][0].split(".")[0]
    write_tar(root / "shard-000000.tar", [*members, (f"{first}.{suffix}", pickle.dumps(_Payload(marker)))])
    with pytest.raises(ShardReadError):
        list(iter_corpus(str(root)))
    assert not marker.exists()
