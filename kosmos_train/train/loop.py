"""The training loop: streams mixed by token budget, DeepSpeed ZeRO, checkpoints and exact resume.

One optimizer step = for each stream (fixed order: text, image_text, interleaved, instruction)
`micro_batches(world)` micro-batches on every rank. The loss-token counts of every stream on every
rank are all-reduced before any backward, then micro-batch i backpropagates NLL_i x world / N:

- `loss_weighting="tokens"` (default, the KOSMOS lineage: unilm on fairseq): N is the step's total
  loss-token count over all streams and ranks, so the update is the gradient of one token-weighted
  mean NLL (a stream's share follows its loss tokens).
- `loss_weighting="streams"`: N is the stream's own count, so the update is the sum of the streams'
  mean-NLL gradients (each stream an equal share whatever its tokens).

DeepSpeed's data-parallel averaging divides the world factor back out. `loss` in the log is always
the token-weighted mean; `loss/KIND` are the per-stream means.

Randomness: each step reseeds torch from (seed, step, rank), which drives dropout; the data
loaders draw from their own generators, never from the global one, so a resumed run repeats the
uninterrupted run bit for bit.
"""

from __future__ import annotations

import dataclasses
import hashlib
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
from kosmos_train.train.config import RANDOM_CLIP, TrainConfig, check_clip_weights, clip_weights
from kosmos_train.train.distributed import DistInfo, init_distributed, teardown
from kosmos_train.train.metrics import RunLog, image_flops, peak_flops, token_flops
from kosmos_train.train.optim import lr_at, make_optimizer

log = logging.getLogger(__name__)
TRAIN_CONFIG_FILE = "train_config.json"
CLIP_WEIGHTS_FILE = "clip_weights.json"
BATCH_KEYS = ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps")
BUCKET_ELEMENTS = 50_000_000  # ZeRO reduce / all-gather buckets (DeepSpeed's 5e8 default is 1 GB in bf16)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per step run in this call


@dataclass
class Run:
    """Everything the steps need, built once by `setup`."""

    cfg: TrainConfig
    config: KosmosConfig
    dist: DistInfo
    run_dir: Path
    tok: Tokenizer
    engine: Any
    own_schedule: bool
    loaders: dict[str, StreamLoader]
    micro: dict[str, int]  # micro-batches per step and rank, by stream
    step: int
    peak: float | None

    @property
    def kinds(self) -> list[str]:
        return list(self.loaders)


def deepspeed_config(cfg: TrainConfig, micro_batches: int, bf16: bool, override: str | Path | None) -> dict:
    """The DeepSpeed config: ZeRO stage, clipping and precision from the training config.

    Under bf16, gradients accumulate and are reduced in fp32 (DeepSpeed's bf16 default would do both
    in bf16: about 4e-3 relative error after 10 micro-batches). Gradient reduction overlaps the
    backward (`overlap_comm`). An explicit file overrides any key it sets (deep-merged), except the
    batch-size keys, which the token-budget mixture decides (one DeepSpeed "sample" per micro-batch).
    """
    ds: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": 1,
        "gradient_accumulation_steps": micro_batches,
        "gradient_clipping": cfg.grad_clip,
        "zero_optimization": {
            "stage": cfg.zero_stage,
            "contiguous_gradients": True,
            "overlap_comm": True,
            "reduce_bucket_size": BUCKET_ELEMENTS,
            "allgather_bucket_size": BUCKET_ELEMENTS,
        },
        "bf16": {"enabled": bf16},
        "steps_per_print": 10**12,
        "wall_clock_breakdown": False,
    }
    if bf16:
        ds["data_types"] = {"grad_accum_dtype": "fp32"}
        ds["communication_data_type"] = "fp32"
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


def loss_scales(counts: torch.Tensor, world_size: int, weighting: str) -> torch.Tensor:
    """Per-stream factor on a micro-batch's summed NLL (see the module docstring); stays on the device."""
    if weighting == "tokens":
        return (world_size / counts.sum().clamp(min=1)).expand(counts.shape[0])
    if weighting == "streams":
        return world_size / counts.clamp(min=1)
    raise ValueError(f"loss_weighting {weighting!r}: expected 'tokens' or 'streams'")


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


def clip_record(pretrained: str | None) -> dict[str, Any]:
    """What RUN/clip_weights.json says about the vision weights: a tag, or a file and its sha256."""
    if pretrained is None or pretrained == RANDOM_CLIP:
        return {"weights": RANDOM_CLIP}
    path = Path(pretrained)
    if not path.is_file():
        return {"weights": "tag", "tag": pretrained}
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"weights": "file", "path": str(path.resolve()), "sha256": digest.hexdigest()}


def build_model(config: KosmosConfig, cfg: TrainConfig, device: torch.device) -> torch.nn.Module:
    """The model built straight on the rank's device (no full fp32 copy per rank in host memory).

    Every rank initialises from the same seed and DeepSpeed broadcasts rank 0's weights anyway.
    """
    from kosmos_train.model.architecture.kosmos import Kosmos

    torch.manual_seed(cfg.seed)
    with torch.device(device):
        model = Kosmos(config).train()
    if cfg.compile:
        for layer in model.decoder.layers:
            layer.compile()
    return model


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
    """The forward's inputs on the device; pinned host tensors make these copies asynchronous."""
    return tuple(
        t.to(device, non_blocking=True)
        for t in (batch.input_ids, batch.images, batch.slot_index, batch.predict_index, batch.target_index)
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
    if not sources:
        raise DataError("no training data: pass at least one --data KIND=DIR")
    check_clip_weights(cfg)  # before anything slow: a frozen random CLIP must be asked for
    dist = init_distributed()
    import torch.distributed as tdist

    run_dir = Path(run_dir)
    if dist.rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
    tdist.barrier()
    runlog = RunLog(run_dir, dist.rank == 0)
    try:
        run = setup(cfg, sources, run_dir, tokenizer, deepspeed_config_file, resume, dist, runlog)
        return _steps(run, runlog, stop_after, progress, export_at_end, eval_every, evaluate)
    finally:
        runlog.close()
        if destroy_process_group:
            teardown(dist)


def setup(
    cfg: TrainConfig,
    sources: list[SourceSpec],
    run_dir: Path,
    tokenizer: str | Path | None,
    ds_file: str | Path | None,
    resume: bool,
    dist: DistInfo,
    runlog: RunLog,
) -> Run:
    """Tokenizer, model config, model, engine, checkpoint and data loaders for `run_dir`."""
    config = cfg.model_config()
    streams = cfg.streams(sources, config)
    if config.vision is None and any(s.kind in ("image_text", "interleaved") for s in streams):
        raise DataError(f"model {config.name!r} has no vision tower but image data was given")
    tok = prepare_tokenizer(run_dir, sources, tokenizer, config.sp_pieces, dist)
    config = fit_vocab(config, tok)
    config.decoder.checkpoint_activations = cfg.activation_checkpointing
    weights = clip_weights(cfg, config)
    if config.vision is not None:
        pretrained = None if weights == RANDOM_CLIP else weights
        config.vision = dataclasses.replace(config.vision, pretrained=pretrained)
    tag = checkpoint.latest_tag(run_dir) if resume else None
    if dist.rank == 0 and tag is None:  # a resume keeps the records of the run it continues
        config.save(run_dir / CONFIG_FILE)
        checkpoint.write_json_atomic(
            run_dir / TRAIN_CONFIG_FILE, {**cfg.to_dict(), "model": config.to_dict()}
        )
        if config.vision is not None:
            checkpoint.write_json_atomic(run_dir / CLIP_WEIGHTS_FILE, clip_record(weights))

    model = build_model(config, cfg, dist.device)
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and torch.cuda.is_available())
    streams = [s.fitted(dist.world_size) for s in streams]
    micro = {s.kind: s.micro_batches(dist.world_size) for s in streams}
    engine, own_schedule = build_engine(cfg, model, sum(micro.values()), bf16, ds_file)

    step, data_state = 0, None
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
            pin_memory=dist.device.type == "cuda",
        )
        for s in streams
    }
    return Run(
        cfg,
        config,
        dist,
        run_dir,
        tok,
        engine,
        own_schedule,
        loaders,
        micro,
        step,
        peak_flops(cfg.peak_tflops),
    )


@dataclass
class StepTotals:
    """One step's sums on this rank's device, all-reduced: read once per step, not per micro-batch."""

    nll: torch.Tensor  # (streams,) summed NLL
    counts: torch.Tensor  # (streams,) loss tokens
    sums: torch.Tensor  # (streams, 3): tokens, images, skipped samples
    flops: float  # this rank's model FLOPs


def run_step(run: Run, lr: float) -> StepTotals:
    """One optimizer step over every stream's micro-batches."""
    import torch.distributed as tdist

    engine, kinds, device = run.engine, run.kinds, run.engine.device
    if run.own_schedule:
        for group in engine.optimizer.param_groups:
            group["lr"] = lr
    batches = {k: [run.loaders[k].next() for _ in range(run.micro[k])] for k in kinds}
    # Reduced tensors live on the engine's device: NCCL groups cannot reduce CPU tensors.
    counts = torch.tensor([float(sum(b.n_loss_tokens for b in batches[k])) for k in kinds], device=device)
    tdist.all_reduce(counts)
    scales = loss_scales(counts, run.dist.world_size, run.cfg.loss_weighting)
    nll = torch.zeros(len(kinds), device=device)
    flops = 0.0
    for i, k in enumerate(kinds):
        for b in batches[k]:
            out_nll = engine(*_to(b, device))
            engine.backward(out_nll * scales[i], scale_wrt_gas=False)
            engine.step()
            nll[i] += out_nll.detach().float()
            flops += b.n_tokens * token_flops(run.config, b.input_ids.shape[1])
            flops += b.n_images * image_flops(run.config)
    sums = torch.tensor(
        [
            [
                float(sum(b.n_tokens for b in batches[k])),
                float(sum(b.n_images for b in batches[k])),
                float(run.loaders[k].total_skipped),
            ]
            for k in kinds
        ],
        device=device,
    )
    tdist.all_reduce(nll)
    tdist.all_reduce(sums)
    return StepTotals(nll.cpu(), counts.cpu(), sums.cpu(), flops)


def step_metrics(
    run: Run, totals: StepTotals, lr: float, dt: float, wait: dict[str, float]
) -> dict[str, Any]:
    """The logged figures of one step: token-weighted `loss`, per-stream losses and counts, speed."""
    grad_norm = run.engine.get_global_grad_norm()
    nll, counts, sums = totals.nll, totals.counts, totals.sums
    metrics: dict[str, Any] = {"lr": lr, "grad_norm": float(grad_norm) if grad_norm is not None else None}
    metrics["loss"] = float(nll.sum() / counts.sum().clamp(min=1))
    for i, k in enumerate(run.kinds):
        metrics[f"loss/{k}"] = (nll[i] / counts[i].clamp(min=1)).item()
        metrics[f"loss_tokens/{k}"] = int(counts[i])
        metrics[f"tokens/{k}"] = int(sums[i, 0])
        metrics[f"images/{k}"] = int(sums[i, 1])
        metrics[f"skipped/{k}"] = int(sums[i, 2])
        metrics[f"loader_wait_s/{k}"] = round(wait[k], 4)
    metrics["tokens_per_s"] = float(sums[:, 0].sum()) / dt
    metrics["images_per_s"] = float(sums[:, 1].sum()) / dt
    metrics["step_s"] = dt
    if run.peak:
        metrics["mfu"] = totals.flops / dt / run.peak  # this rank's model FLOPs over its device's peak
    if run.dist.device.type == "cuda":
        metrics["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(run.dist.device) / 2**30, 2)
    return metrics


def _steps(
    run: Run,
    runlog: RunLog,
    stop_after: int | None,
    progress: bool | None,
    export_at_end: bool,
    eval_every: int,
    evaluate: Callable[[Any, Tokenizer], dict[str, float]] | None,
) -> TrainResult:
    """Steps until `cfg.steps` (or `stop_after` in this call), logging, evaluating and saving."""
    import torch.distributed as tdist
    from tqdm import tqdm

    cfg, dist, step = run.cfg, run.dist, run.step
    result = TrainResult(run.run_dir, step)
    show = (sys.stderr.isatty() if progress is None else progress) and dist.rank == 0
    bar = tqdm(total=cfg.steps, initial=step, disable=not show, desc="train", dynamic_ncols=True)
    last_saved, ran = step, 0
    while step < cfg.steps and (stop_after is None or ran < stop_after):
        t0 = time.perf_counter()
        torch.manual_seed(stable_hash(f"{cfg.seed}/{step}/{dist.rank}"))
        lr = lr_at(step, cfg.lr, cfg.warmup_steps, cfg.steps)
        wait0 = {k: loader.wait_s for k, loader in run.loaders.items()}
        totals = run_step(run, lr)
        step, ran = step + 1, ran + 1
        wait = {k: loader.wait_s - wait0[k] for k, loader in run.loaders.items()}
        metrics = step_metrics(run, totals, lr, time.perf_counter() - t0, wait)
        evaluated = evaluate is not None and eval_every > 0 and (step % eval_every == 0 or step == cfg.steps)
        if evaluated:
            metrics.update(evaluate(run.engine.module.model, run.tok))  # puts the model back in train mode
        result.history.append({"step": step, **metrics})
        bar.update(1)
        bar.set_postfix(loss=f"{metrics['loss']:.3f}")
        if step % cfg.log_every == 0 or step == cfg.steps or step == 1 or evaluated:
            runlog.log(step, metrics)
            _warn_skips(run)
        if cfg.save_every and step % cfg.save_every == 0 and step < cfg.steps:
            save(run, step)
            last_saved = step
    bar.close()
    result.step = step
    if stop_after is not None and step < cfg.steps:
        return result
    if step != last_saved or checkpoint.latest_tag(run.run_dir) is None:
        save(run, step)
    if export_at_end and dist.rank == 0:
        path = checkpoint.export(run.run_dir)
        runlog.message(f"wrote {path}")
    tdist.barrier()
    return result


def _warn_skips(run: Run) -> None:
    for k, loader in run.loaders.items():
        if loader.last_skip and run.dist.rank == 0:
            log.warning(
                "%s stream: %d corrupt samples skipped so far; last: %s",
                k,
                loader.total_skipped,
                loader.last_skip,
            )


def save(run: Run, step: int) -> None:
    """A checkpoint after `step` steps with every rank's data-stream state."""
    import torch.distributed as tdist

    mine = {k: loader.state() for k, loader in run.loaders.items()}
    gathered: list[Any] = [None] * run.dist.world_size
    tdist.all_gather_object(gathered, mine)
    checkpoint.save(run.engine, run.run_dir, step, gathered, run.cfg.keep_checkpoints, run.dist.rank)
