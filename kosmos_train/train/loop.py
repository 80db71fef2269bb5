"""The training loop: streams mixed by token budget, DeepSpeed ZeRO, checkpoints and exact resume.

One optimizer step = for each stream (fixed order: text, image_text, interleaved, instruction)
`micro_batches(world)` micro-batches on every rank. Each stream's loss is its mean NLL over its loss
tokens on all ranks, so the step's gradient is the sum of the streams' gradients (KOSMOS-1-era
fairseq behaviour): micro-batch i of stream s backpropagates NLL_i x world / N_s, where N_s is the
stream's loss-token count over all ranks (all-reduced before any backward), and DeepSpeed's
data-parallel averaging divides the world factor back out.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kosmos_train.data.corpus import INSTRUCTION, DataError, SourceSpec, stable_hash
from kosmos_train.data.stream import Batch, StreamLoader
from kosmos_train.model.config import KosmosConfig
from kosmos_train.model.run_dir import CONFIG_FILE, TOKENIZER_FILE
from kosmos_train.tokenizer import Tokenizer, train_tokenizer
from kosmos_train.train import checkpoint
from kosmos_train.train.config import TrainConfig
from kosmos_train.train.distributed import DistInfo, init_distributed, teardown
from kosmos_train.train.metrics import RunLog, image_flops, peak_flops, token_flops
from kosmos_train.train.optim import lr_at, make_optimizer

log = logging.getLogger(__name__)
TRAIN_CONFIG_FILE = "train_config.json"
BATCH_KEYS = ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps")


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per step run in this call


def deepspeed_config(cfg: TrainConfig, micro_batches: int, bf16: bool, override: str | Path | None) -> dict:
    """The DeepSpeed config: ZeRO stage, clipping and precision from the training config.

    An explicit file overrides any key it sets (deep-merged), except the batch-size keys, which the
    token-budget mixture decides (one DeepSpeed "sample" per micro-batch, accumulated over a step).
    """
    ds: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": 1,
        "gradient_accumulation_steps": micro_batches,
        "gradient_clipping": cfg.grad_clip,
        "zero_optimization": {"stage": cfg.zero_stage, "contiguous_gradients": True, "overlap_comm": False},
        "bf16": {"enabled": bf16},
        "steps_per_print": 10**12,
        "wall_clock_breakdown": False,
    }
    if override is not None:
        extra = json.loads(Path(override).read_text())
        for key in BATCH_KEYS:
            if key in extra:
                log.warning("--deepspeed %s: ignoring %s (the token budgets set the batch)", override, key)
                extra.pop(key)
        ds = _merge(ds, extra)
    return ds


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def prepare_tokenizer(
    run_dir: Path, sources: list[SourceSpec], tokenizer: str | Path | None, vocab_size: int, dist: DistInfo
) -> Tokenizer:
    """RUN/tokenizer.model: kept when resuming, copied from `tokenizer`, or trained on the corpora."""
    import torch.distributed as tdist

    target = run_dir / TOKENIZER_FILE
    if dist.rank == 0 and not target.exists():
        if tokenizer is not None:
            shutil.copyfile(tokenizer, target)
        else:
            roots = [s.path for s in sources if s.kind != INSTRUCTION]
            log.info("training a %d-piece SentencePiece BPE model on %s", vocab_size, roots)
            train_tokenizer(roots, target, vocab_size=vocab_size)
    tdist.barrier()
    return Tokenizer(target)


def fit_vocab(config: KosmosConfig, tok: Tokenizer) -> KosmosConfig:
    """The model config with the tokenizer's piece count (a small corpus may give fewer pieces)."""
    if tok.sp_pieces == config.sp_pieces:
        return config
    if tok.layout.size > config.decoder.vocab_size:
        raise DataError(
            f"the tokenizer needs {tok.layout.size} ids, the model has vocab_size {config.decoder.vocab_size}"
        )
    return dataclasses.replace(config, sp_pieces=tok.sp_pieces)


def build_engine(
    cfg: TrainConfig, model: torch.nn.Module, micro_batches: int, bf16: bool, ds_override: str | Path | None
) -> Any:
    import deepspeed

    from kosmos_train.train.forward import TrainingModule

    module = TrainingModule(model)
    ds = deepspeed_config(cfg, micro_batches, bf16, ds_override)
    optimizer = (
        None if "optimizer" in ds else make_optimizer(module, cfg.lr, cfg.betas, cfg.eps, cfg.weight_decay)
    )
    engine, *_ = deepspeed.initialize(
        model=module,
        optimizer=optimizer,
        config=ds,
        model_parameters=None if optimizer else [p for p in module.parameters() if p.requires_grad],
    )
    return engine, "scheduler" not in ds


def _to(batch: Batch, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(
        t.to(device, non_blocking=True)
        for t in (batch.input_ids, batch.images, batch.slot_mask, batch.loss_mask)
    )


def train(
    cfg: TrainConfig,
    sources: list[SourceSpec],
    run_dir: str | Path,
    tokenizer: str | Path | None = None,
    deepspeed_config_file: str | Path | None = None,
    resume: bool = True,
    stop_after: int | None = None,
    progress: bool | None = None,
    export_at_end: bool = True,
    destroy_process_group: bool = False,
    eval_every: int = 0,
    evaluate: Callable[[Any, Tokenizer], dict[str, float]] | None = None,
) -> TrainResult:
    """Train (or resume) in RUN_DIR. `stop_after` ends this call after that many steps without a final save.

    `evaluate(model, tok) -> metrics` runs every `eval_every` steps and at the last step, on every
    rank alike (ZeRO 0-2 keep full weights on each; ZeRO-3 is untested); its metrics are logged
    with that step's loss.

    The process group stays up unless `destroy_process_group` (the CLI sets it at exit): DeepSpeed
    caches its groups, so a second `train()` in the same process needs the same group.
    """
    dist = init_distributed()
    import torch.distributed as tdist

    run_dir = Path(run_dir)
    if dist.rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
    tdist.barrier()
    runlog = RunLog(run_dir, dist.rank == 0)
    try:
        return _train(
            cfg,
            sources,
            run_dir,
            tokenizer,
            deepspeed_config_file,
            resume,
            stop_after,
            progress,
            export_at_end,
            dist,
            runlog,
            eval_every,
            evaluate,
        )
    finally:
        runlog.close()
        if destroy_process_group:
            teardown(dist)


def _train(
    cfg: TrainConfig,
    sources: list[SourceSpec],
    run_dir: Path,
    tokenizer: str | Path | None,
    ds_file: str | Path | None,
    resume: bool,
    stop_after: int | None,
    progress: bool | None,
    export_at_end: bool,
    dist: DistInfo,
    runlog: RunLog,
    eval_every: int = 0,
    evaluate: Callable[[Any, Tokenizer], dict[str, float]] | None = None,
) -> TrainResult:
    import torch.distributed as tdist
    from tqdm import tqdm

    from kosmos_train.model.architecture.kosmos import Kosmos

    if not sources:
        raise DataError("no training data: pass at least one --data KIND=DIR")
    config = cfg.model_config()
    streams = cfg.streams(sources, config)
    if config.vision is None and any(s.kind in ("image_text", "interleaved") for s in streams):
        raise DataError(f"model {config.name!r} has no vision tower but image data was given")
    tok = prepare_tokenizer(run_dir, sources, tokenizer, config.sp_pieces, dist)
    config = fit_vocab(config, tok)
    config.decoder.checkpoint_activations = (
        cfg.checkpoint_activations or config.decoder.checkpoint_activations
    )
    if dist.rank == 0:
        config.save(run_dir / CONFIG_FILE)
        checkpoint.write_json_atomic(
            run_dir / TRAIN_CONFIG_FILE, {**cfg.to_dict(), "model": config.to_dict()}
        )

    torch.manual_seed(cfg.seed)
    model = Kosmos(config).train()
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and torch.cuda.is_available())
    streams = [s.fitted(dist.world_size) for s in streams]
    micro = {s.kind: s.micro_batches(dist.world_size) for s in streams}
    engine, own_schedule = build_engine(cfg, model, sum(micro.values()), bf16, ds_file)

    step, data_state = 0, None
    tag = checkpoint.latest_tag(run_dir) if resume else None
    if tag is not None:
        step, data_state = checkpoint.load(engine, run_dir, tag, dist.world_size)
        runlog.message(f"resumed from {run_dir}/deepspeed/{tag} at step {step}")
    my_state = data_state["ranks"][dist.rank] if data_state else {}
    loaders = {
        s.kind: StreamLoader(
            s,
            str(run_dir / TOKENIZER_FILE),
            config.connector.image_tokens,
            config.vision.image_size if config.vision else 224,
            dist.rank,
            dist.world_size,
            cfg.num_workers,
            cfg.seed,
            my_state.get(s.kind),
        )
        for s in streams
    }
    kinds = list(loaders)
    peak = peak_flops(cfg.peak_tflops)
    result = TrainResult(run_dir, step)
    show = (sys.stderr.isatty() if progress is None else progress) and dist.rank == 0
    bar = tqdm(total=cfg.steps, initial=step, disable=not show, desc="train", dynamic_ncols=True)
    last_saved = step
    ran = 0
    while step < cfg.steps and (stop_after is None or ran < stop_after):
        t0 = time.perf_counter()
        torch.manual_seed(stable_hash(f"{cfg.seed}/{step}/{dist.rank}"))
        lr = lr_at(step, cfg.lr, cfg.warmup_steps, cfg.steps)
        if own_schedule:
            for group in engine.optimizer.param_groups:
                group["lr"] = lr
        wait0 = {k: loaders[k].wait_s for k in kinds}
        batches = {k: [loaders[k].next() for _ in range(micro[k])] for k in kinds}
        # Reduced tensors live on the engine's device: NCCL groups cannot reduce CPU tensors.
        counts = torch.tensor(
            [float(sum(b.n_loss_tokens for b in batches[k])) for k in kinds], device=engine.device
        )
        tdist.all_reduce(counts)
        nll = torch.zeros(len(kinds), device=engine.device)
        flops = 0.0
        for i, k in enumerate(kinds):
            for b in batches[k]:
                ids, images, slots, loss_mask = _to(b, engine.device)
                out_nll, _ = engine(ids, images, slots, loss_mask)
                engine.backward(
                    out_nll * dist.world_size / counts[i].clamp(min=1).item(), scale_wrt_gas=False
                )
                engine.step()
                nll[i] += out_nll.detach().float()
                flops += b.n_tokens * token_flops(config, b.input_ids.shape[1]) + b.n_images * image_flops(
                    config
                )
        sums = torch.tensor(
            [
                [
                    float(sum(b.n_tokens for b in batches[k])),
                    float(sum(b.n_images for b in batches[k])),
                    float(loaders[k].total_skipped),
                ]
                for k in kinds
            ],
            device=engine.device,
        )
        tdist.all_reduce(nll)
        tdist.all_reduce(sums)
        counts, nll, sums = counts.cpu(), nll.cpu(), sums.cpu()
        step += 1
        ran += 1
        dt = time.perf_counter() - t0
        grad_norm = engine.get_global_grad_norm()
        tokens = float(sums[:, 0].sum())
        metrics: dict[str, Any] = {"lr": lr, "grad_norm": float(grad_norm) if grad_norm is not None else None}
        for i, k in enumerate(kinds):
            metrics[f"loss/{k}"] = (nll[i] / counts[i].clamp(min=1)).item()
            metrics[f"tokens/{k}"] = int(sums[i, 0])
            metrics[f"images/{k}"] = int(sums[i, 1])
            metrics[f"skipped/{k}"] = int(sums[i, 2])
            metrics[f"loader_wait_s/{k}"] = round(loaders[k].wait_s - wait0[k], 4)
        metrics["loss"] = float(sum(metrics[f"loss/{k}"] for k in kinds))
        metrics["tokens_per_s"] = tokens / dt
        metrics["images_per_s"] = float(sums[:, 1].sum()) / dt
        metrics["step_s"] = dt
        if peak:
            metrics["mfu"] = flops / dt / peak  # this rank's model FLOPs over its device's peak
        evaluated = evaluate is not None and eval_every > 0 and (step % eval_every == 0 or step == cfg.steps)
        if evaluated:
            metrics.update(evaluate(engine.module.model, tok))  # puts the model back in train mode
        result.history.append({"step": step, **metrics})
        bar.update(1)
        bar.set_postfix(loss=f"{metrics['loss']:.3f}")
        if step % cfg.log_every == 0 or step == cfg.steps or step == 1 or evaluated:
            runlog.log(step, metrics)
            for k in kinds:
                if loaders[k].last_skip and dist.rank == 0:
                    log.warning(
                        "%s stream: %d corrupt samples skipped so far; last: %s",
                        k,
                        loaders[k].total_skipped,
                        loaders[k].last_skip,
                    )
        if cfg.save_every and step % cfg.save_every == 0 and step < cfg.steps:
            _save(engine, run_dir, step, loaders, cfg, dist)
            last_saved = step
    bar.close()
    result.step = step
    if stop_after is not None and step < cfg.steps:
        return result
    if step != last_saved or checkpoint.latest_tag(run_dir) is None:
        _save(engine, run_dir, step, loaders, cfg, dist)
    if export_at_end and dist.rank == 0:
        path = checkpoint.export(run_dir)
        runlog.message(f"wrote {path}")
    tdist.barrier()
    return result


def _save(
    engine: Any, run_dir: Path, step: int, loaders: dict[str, StreamLoader], cfg: TrainConfig, dist: DistInfo
) -> None:
    import torch.distributed as tdist

    mine = {k: loader.state() for k, loader in loaders.items()}
    gathered: list[Any] = [None] * dist.world_size
    tdist.all_gather_object(gathered, mine)
    checkpoint.save(engine, run_dir, step, gathered, cfg.keep_checkpoints, dist.rank)
