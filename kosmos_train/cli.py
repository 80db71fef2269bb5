"""`kosmos_train`: tokenizer, train, generate, export, eval, info.

Examples:
  kosmos_train tokenizer --data out/text out/image_text --vocab-size 64000 --output spm.model
  kosmos_train train --config tiny --data text=out/text image_text=out/image_text \\
      interleaved=out/interleaved --output runs/tiny --steps 300
  torchrun --nproc_per_node 8 -m kosmos_train.cli train --config kosmos1 --data ... --output runs/k1
  deepspeed --num_gpus 8 --module kosmos_train.cli train --config kosmos1 --data ... --output runs/k1
  kosmos_train generate --run runs/tiny --image cat.jpg --prompt "An image of"
  kosmos_train export --run runs/k1
  kosmos_train eval --run runs/k1 --task caption --data captions_val2014.json --images val2014 [--shots 4]
  kosmos_train info --config kosmos1
  kosmos_train plan --config kosmos1 --gpus 8 --gpu-memory-gib 80 [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import logging
import sys
from collections.abc import Sequence

DATA_HELP = """training data, repeatable: KIND=PATH[@WEIGHT] with KIND one of text, image_text,
interleaved (a corpus folder or URL holding manifest.json, as the pipelines write it) or
instruction (a .jsonl file or folder of them, lines {"instruction", "input", "output"}; loss on the
output only). A bare PATH takes its kind from its manifest. Several sources of one kind are mixed
by WEIGHT (default 1) within that kind's stream. Several values may follow one --data."""

TRAIN_EPILOG = """
Mixture: each optimizer step takes a token budget from every stream that has data (KOSMOS-1:
0.5M text, 0.5M image-caption, 0.2M interleaved tokens; a token is a position, image slots
included), in micro-batches of at most --micro-batch-tokens padded positions (rows x longest row)
per rank. Documents are packed into full rows, captions bucketed by length. The step's gradient is
that of one token-weighted mean NLL over all streams and ranks (--loss-weighting streams: the sum
of per-stream means). `loss` (token-weighted) and per-stream losses, realised tokens, tokens/s,
images/s, MFU (GPU), LR, grad norm and loader wait time go to stdout and RUN/logs/ (TensorBoard
when installed, and train.jsonl always).

DeepSpeed: the ZeRO stage comes from the training config (default 2; --zero-stage changes it).
--deepspeed FILE overrides any DeepSpeed key the file sets (deep-merged over the generated config),
except the batch-size keys, which the token budgets decide; a file that defines "optimizer" or
"scheduler" replaces the built-in AdamW (betas 0.9/0.98, eps 1e-6, weight decay 0.01, none on
biases and norms) or the warm-up/linear-decay schedule. Precision: bf16 on GPU, fp32 on CPU.

Runs as a plain process, under torchrun, or under the deepspeed launcher (on CPU set
DS_ACCELERATOR=cpu for the launcher). The run directory gets config.json, tokenizer.model,
train_config.json, deepspeed/<tag>/ checkpoints with data_state.json, logs/ and, at the end,
model.safetensors. Running the same command again resumes from the newest checkpoint exactly
(same world size and --num-workers).
"""


def _data_values(values: list[list[str]] | None) -> list[str]:
    return [v for group in values or [] for v in group]


def _sources(values: list[str]):
    from kosmos_train.data.corpus import parse_data_args
    from kosmos_train.inference.api import sources_from_dirs

    keyed = [v for v in values if "=" in v.split("@")[0]]
    bare = [v for v in values if v not in keyed]
    return parse_data_args(keyed) + sources_from_dirs(bare)


def cmd_tokenizer(args: argparse.Namespace) -> int:
    from kosmos_train.tokenizer import Tokenizer, train_tokenizer

    if args.existing:
        tok = Tokenizer(args.existing)
    else:
        if not args.data or not args.output:
            raise SystemExit("kosmos_train tokenizer: --data and --output are required (or --existing)")
        tok = train_tokenizer(
            args.data,
            args.output,
            vocab_size=args.vocab_size,
            max_sentences=args.max_sentences,
            character_coverage=args.character_coverage,
            byte_fallback=args.byte_fallback,
            exact_size=args.exact_size,
        )
    print(
        f"{tok.path}: {tok.sp_pieces} SentencePiece pieces -> {tok.layout.size} ids "
        f"(<image>={tok.layout.image}, </line>={tok.layout.line_end})"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from kosmos_train.train.config import load_train_config
    from kosmos_train.train.loop import train

    cfg = load_train_config(args.config)
    changes = {
        k: v
        for k, v in {
            "steps": args.steps,
            "lr": args.lr,
            "warmup_steps": args.warmup_steps,
            "zero_stage": args.zero_stage,
            "save_every": args.save_every,
            "log_every": args.log_every,
            "num_workers": args.num_workers,
            "seed": args.seed,
            "precision": args.precision,
            "peak_tflops": args.peak_tflops,
            "shuffle_buffer": args.shuffle_buffer,
            "clip_pretrained": args.clip_pretrained,
            "activation_checkpointing": args.activation_checkpointing,
            "loss_weighting": args.loss_weighting,
            "compile": args.compile or None,
        }.items()
        if v is not None
    }
    if args.checkpoint_activations:
        changes["activation_checkpointing"] = "full"
    cfg = dataclasses.replace(cfg, **changes)
    for kind, value in _kind_values(args.tokens_per_step):
        cfg.tokens_per_step[kind] = value
    for kind, value in _kind_values(args.micro_batch_tokens):
        cfg.micro_batch_tokens[kind] = value
    evaluate = None
    if args.eval_every:
        from kosmos_train.eval.perplexity import training_evaluator

        if not args.eval_data:
            raise SystemExit("kosmos_train train: --eval-every needs --eval-data (held-out corpus folders)")
        evaluate = training_evaluator(args.eval_data, limit=args.eval_limit)
    from kosmos_train.data.corpus import DataError
    from kosmos_train.train.config import ConfigError, check_clip_weights

    try:
        check_clip_weights(cfg)  # at once, before any import of DeepSpeed or model build
        sources = _sources(_data_values(args.data))
    except (ConfigError, DataError) as e:
        print(f"kosmos_train train: {e}", file=sys.stderr)
        return 2
    train(
        cfg,
        sources,
        args.output,
        tokenizer=args.tokenizer,
        deepspeed_config_file=args.deepspeed,
        resume=not args.no_resume,
        stop_after=args.stop_after,
        progress=False if args.no_progress else None,
        destroy_process_group=True,
        eval_every=args.eval_every or 0,
        evaluate=evaluate,
    )
    return 0


def _kind_values(values: list[str] | None) -> list[tuple[str, int]]:
    out = []
    for v in values or []:
        kind, _, n = v.partition("=")
        out.append((kind, int(float(n))))
    return out


def cmd_generate(args: argparse.Namespace) -> int:
    import torch
    from PIL import Image, UnidentifiedImageError

    from kosmos_train.inference.api import caption_images, load_run

    model, tok = load_run(args.run, args.device)
    for path in args.image or []:
        try:
            Image.open(path).verify()
        except (OSError, UnidentifiedImageError) as e:
            raise SystemExit(f"kosmos_train generate: cannot read image {path}: {e}") from None
    if args.image:
        for path, text in zip(
            args.image,
            caption_images(model, tok, args.image, args.prompt, args.max_new_tokens, args.beams),
            strict=True,
        ):
            print(
                f"{path}\t{args.prompt} {text}".strip()
                if len(args.image) > 1
                else f"{args.prompt} {text}".strip()
            )
        return 0
    ids = torch.tensor([[tok.layout.bos, *tok.encode(args.prompt)]])
    out = model.generate(ids, None, max_new_tokens=args.max_new_tokens, num_beams=args.beams)
    print(f"{args.prompt} {tok.decode(out[0].tolist()).strip()}".strip())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Train `tiny` on the demo corpora, then caption images of the image-text corpus it saw."""
    from PIL import Image

    from kosmos_train.inference.api import caption_images, load_run, train_tiny
    from schemas.images import IMAGE_FORMATS
    from schemas.reader import iter_corpus

    run = train_tiny(args.data, args.output, steps=args.steps, threads=1, progress=False)
    model, tok = load_run(run)
    pairs = []
    for root in args.data:
        for sample in iter_corpus(root):
            if getattr(sample, "kind", None) is not None and sample.kind.value == "image_text":
                image = Image.open(io.BytesIO(sample.image), formats=IMAGE_FORMATS).convert("RGB")
                pairs.append((image, sample.caption))
            if len(pairs) >= args.captions:
                break
    if not pairs:
        raise SystemExit("kosmos_train demo: no image_text corpus among --data")
    blank = Image.new("RGB", (224, 224), (128, 128, 128))
    predicted = caption_images(model, tok, [img for img, _ in pairs] + [blank], "", 40, 1)
    right = sum(p.strip() == truth.strip() for p, (_, truth) in zip(predicted, pairs, strict=False))
    lines = [
        f"tiny KOSMOS-1 trained for {args.steps} steps on {', '.join(args.data)} -> {run}",
        "captions of training images (prompt: the image alone, as in the image-caption layout):",
    ]
    lines += [f"  predicted: {p!r}\n  truth:     {t!r}" for p, (_, t) in zip(predicted, pairs, strict=False)]
    lines += [
        f"  blank grey image -> {predicted[-1]!r}",
        f"{right} of {len(pairs)} captions reproduced exactly",
    ]
    print("\n".join(lines))
    with open(f"{run}/demo_summary.txt", "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


def _eval_tasks() -> dict:
    from kosmos_train.eval.runner import TASKS

    return TASKS


def _eval_epilog() -> str:
    """The task list for `eval --help`: name, what it measures, what --data is."""
    rows = [f"  {t.name:<14} {t.summary}\n  {'':<14} --data: {t.data}" for t in _eval_tasks().values()]
    return "tasks:\n" + "\n".join(rows) + "\n\nPrompts, input layouts and metrics: README, Evaluation."


def cmd_eval(args: argparse.Namespace) -> int:
    """Run one KOSMOS-1 evaluation task; results JSON + per-sample predictions, and a printed table."""
    from kosmos_train.eval import run_task
    from kosmos_train.eval.report import predictions_path, table

    try:
        result, path = run_task(
            args.run,
            args.task,
            _data_values(args.data),
            shots=args.shots,
            output=args.output,
            device=args.device,
            limit=args.limit,
            images=args.images,
            pool=args.pool,
            annotations=args.annotations,
            classes=args.classes,
            prompt=args.prompt,
            beams=args.beams,
            seed=args.seed,
            batch_size=args.batch_size,
            norm=args.norm,
            cot=args.cot,
        )
    except (ValueError, OSError) as e:
        raise SystemExit(f"kosmos_train eval: {e}") from None
    print(table(result))
    print(f"results: {path}\npredictions: {predictions_path(path)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from kosmos_train.train.checkpoint import export

    print(export(args.run, args.tag))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kosmos_train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser(
        "tokenizer",
        help="train a SentencePiece BPE tokenizer on corpora (or check one)",
        description="Train a SentencePiece BPE model on the text of corpus folders of any kind "
        "(text documents line by line, captions, interleaved paragraphs). Ids follow the KOSMOS-1 "
        "layout: <s>=0 <pad>=1 </s>=2 <unk>=3, the pieces, then <mask> </doc> <image> </image> "
        "</chunk> </line> (64,000 pieces -> 64,007 ids).",
    )
    t.add_argument(
        "--data", nargs="+", metavar="DIR", help="corpus folders or URLs (each with manifest.json)"
    )
    t.add_argument(
        "--vocab-size",
        type=int,
        default=64_000,
        help="SentencePiece pieces, controls included (default 64000)",
    )
    t.add_argument("--output", help="the .model file to write")
    t.add_argument(
        "--max-sentences",
        type=int,
        default=10_000_000,
        help="read at most this many lines/captions/paragraphs",
    )
    t.add_argument(
        "--character-coverage", type=float, default=0.9995, help="SentencePiece character coverage"
    )
    t.add_argument(
        "--no-byte-fallback",
        dest="byte_fallback",
        action="store_false",
        help="no byte pieces: characters outside the learned set map to <unk> (default: spelled as bytes)",
    )
    t.add_argument(
        "--exact-size",
        action="store_true",
        help="fail when the corpus cannot give --vocab-size pieces (default: accept fewer)",
    )
    t.add_argument("--existing", metavar="MODEL", help="only load and describe an existing .model")
    t.set_defaults(func=cmd_tokenizer)

    r = sub.add_parser(
        "train",
        help="train with DeepSpeed (single process, torchrun or deepspeed launcher)",
        description="Train KOSMOS-1 on corpus shards.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument(
        "--config",
        default="tiny",
        help="training preset (tiny, kosmos1), a training config YAML/JSON (keys of TrainConfig; 'model' a "
        "preset, a model config path or mapping), or a model config file (default tiny)",
    )
    r.add_argument("--data", nargs="+", action="append", metavar="KIND=PATH[@WEIGHT]", help=DATA_HELP)
    r.add_argument(
        "--output", required=True, metavar="RUN_DIR", help="run directory (created; reused to resume)"
    )
    r.add_argument(
        "--tokenizer",
        metavar="MODEL",
        help="an existing SentencePiece .model (default: train one on "
        "the data with the model's piece count, or reuse RUN_DIR/tokenizer.model)",
    )
    r.add_argument(
        "--deepspeed", metavar="FILE", help="DeepSpeed JSON whose keys override the generated config"
    )
    r.add_argument("--steps", type=int, help="total optimizer steps (the LR decays to 0 at this step)")
    r.add_argument("--lr", type=float, help="peak learning rate (kosmos1: 2e-4)")
    r.add_argument("--warmup-steps", type=int, help="linear warm-up steps (kosmos1: 375)")
    r.add_argument(
        "--zero-stage", type=int, choices=(0, 1, 2, 3), help="ZeRO stage (default from the config: 2)"
    )
    r.add_argument(
        "--tokens-per-step",
        nargs="+",
        metavar="KIND=N",
        help="global token budget per step for a stream, e.g. text=500000",
    )
    r.add_argument(
        "--micro-batch-tokens",
        nargs="+",
        metavar="KIND=N",
        help="padded positions (rows x longest row) per micro-batch and rank for a stream",
    )
    r.add_argument("--save-every", type=int, help="checkpoint every N steps (and always at the end)")
    r.add_argument("--log-every", type=int, help="log every N steps")
    r.add_argument("--num-workers", type=int, help="dataloader worker processes per stream and rank")
    r.add_argument("--shuffle-buffer", type=int, help="samples held per reader for shuffling")
    r.add_argument("--seed", type=int, help="seed for the model init, data order and dropout")
    r.add_argument("--precision", choices=("auto", "bf16", "fp32"), help="auto: bf16 on GPU, fp32 on CPU")
    r.add_argument(
        "--clip-pretrained",
        metavar="TAG|PATH|random",
        help="CLIP vision weights: an open_clip tag (openai), a local open_clip checkpoint file, or "
        "'random' (benchmarks, tests). Required by presets whose vision tower is frozen (kosmos1); "
        "the run directory records it in clip_weights.json (a file with its sha256)",
    )
    r.add_argument(
        "--activation-checkpointing",
        choices=("full", "selective", "none"),
        help="recompute in backward: full decoder layers (kosmos1 default), the elementwise parts "
        "(selective), or nothing (tiny default)",
    )
    r.add_argument(
        "--checkpoint-activations", action="store_true", help="same as --activation-checkpointing full"
    )
    r.add_argument(
        "--loss-weighting",
        choices=("tokens", "streams"),
        help="tokens (default): one token-weighted mean NLL over all streams and ranks; streams: the "
        "sum of the per-stream means",
    )
    r.add_argument("--compile", action="store_true", help="torch.compile each decoder layer")
    r.add_argument(
        "--peak-tflops", type=float, help="device peak TFLOP/s for the MFU estimate (known GPUs are detected)"
    )
    r.add_argument("--no-resume", action="store_true", help="ignore checkpoints already in RUN_DIR")
    r.add_argument(
        "--stop-after",
        type=int,
        metavar="N",
        help="leave after N steps of this invocation without a final checkpoint, as a preempted job "
        "would (for resume drills); the LR schedule still spans --steps",
    )
    r.add_argument(
        "--no-progress", action="store_true", help="no progress bar (default: shown on a terminal)"
    )
    r.add_argument(
        "--eval-every",
        type=int,
        metavar="N",
        help="every N steps (and at the end) log held-out "
        "perplexity per stream (eval/ppl/KIND) next to the loss",
    )
    r.add_argument(
        "--eval-data",
        nargs="+",
        metavar="PATH",
        help="held-out corpus folders (or instruction .jsonl) for --eval-every",
    )
    r.add_argument(
        "--eval-limit", type=int, metavar="N", help="score at most N samples of each --eval-data source"
    )
    r.set_defaults(func=cmd_train)

    g = sub.add_parser(
        "generate",
        help="caption images or continue a text prompt with a trained run",
        description="Greedy (or beam) decoding with RUN_DIR/model.safetensors. With --image the prompt "
        "follows `<s> <image> [slots] </image>`, the image-caption layout.",
    )
    g.add_argument(
        "--run", required=True, metavar="RUN_DIR", help="run directory with model.safetensors (see export)"
    )
    g.add_argument("--image", nargs="*", metavar="IMG", help="image files (each is captioned separately)")
    g.add_argument("--prompt", default="An image of", help="text after the image (default 'An image of')")
    g.add_argument("--max-new-tokens", type=int, default=30, help="tokens to generate at most (default 30)")
    g.add_argument(
        "--beams", type=int, default=1, help="beam search width; 1 is greedy (the paper captions with 5)"
    )
    g.add_argument("--device", default="cpu", help="torch device (default cpu)")
    g.set_defaults(func=cmd_generate)

    e = sub.add_parser(
        "export",
        help="write RUN_DIR/model.safetensors from a ZeRO checkpoint",
        description="Merge the ZeRO partitions of a checkpoint into fp32 weights and write "
        "model.safetensors beside config.json and tokenizer.model.",
    )
    e.add_argument("--run", required=True, metavar="RUN_DIR", help="run directory with deepspeed/")
    e.add_argument("--tag", help="checkpoint tag (default: the newest complete one)")
    e.set_defaults(func=cmd_export)

    d = sub.add_parser(
        "demo",
        help="train tiny on corpora for a minute on CPU, then caption their images",
        description="The training half of the main job (make demo): train the tiny model on the given "
        "corpus folders, then caption images from the image-text corpus and a blank image.",
    )
    d.add_argument(
        "--data", nargs="+", required=True, metavar="DIR", help="corpus folders (kinds from their manifests)"
    )
    d.add_argument("--output", required=True, metavar="RUN_DIR", help="run directory")
    d.add_argument(
        "--steps", type=int, default=300, help="optimizer steps (default 300, about a minute on 2 cores)"
    )
    d.add_argument("--captions", type=int, default=5, help="images to caption (default 5)")
    d.set_defaults(func=cmd_demo)

    v = sub.add_parser(
        "eval",
        help="evaluate a run on a KOSMOS-1 task (caption, vqa, raven, rendered-sst2, ... see eval --help)",
        description="Zero-/few-shot evaluation with the paper's prompts (README: Evaluation). Writes "
        "the results JSON (default RUN_DIR/eval/TASK[-Kshot].json) and TASK.predictions.jsonl beside it.",
        epilog=_eval_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument("--run", required=True, metavar="RUN_DIR", help="run directory with model.safetensors")
    v.add_argument("--task", required=True, choices=list(_eval_tasks()), help="see the task list below")
    v.add_argument(
        "--data",
        required=True,
        nargs="+",
        action="append",
        metavar="PATH",
        help="the task's input (listed per task below); perplexity takes several",
    )
    v.add_argument(
        "--shots",
        type=int,
        default=0,
        help="few-shot demonstrations per query (caption, vqa and the language tasks)",
    )
    v.add_argument(
        "--output", metavar="FILE", help="results JSON (predictions go to FILE's stem + .predictions.jsonl)"
    )
    v.add_argument(
        "--images", metavar="DIR", help="image folder of a caption/VQA json (default: the json's folder)"
    )
    v.add_argument(
        "--pool",
        metavar="PATH",
        help="demonstration pool, same format as --data (default: --data without the query)",
    )
    v.add_argument(
        "--annotations",
        metavar="FILE",
        help="VQAv2 annotations json (default: *annotations*.json beside the questions); piqa: the "
        "labels file (one 0/1 per line)",
    )
    v.add_argument(
        "--classes",
        metavar="FILE",
        help="classify: class names for folder names (imagenet_class_index.json or 'wnid name' lines); "
        "describe: the class file (category, classes with folder, name, description, examples)",
    )
    v.add_argument(
        "--prompt",
        help="replace the paper's prompt (caption: 'An image of', classify: 'The photo of the', "
        "vqa: 'Question: {question} Answer:'; raven, rendered-sst2, hateful-memes, describe ({category}), "
        "webqa ({text}, {question}): see README; not the language tasks)",
    )
    v.add_argument("--beams", type=int, help="caption beam size (default 5)")
    v.add_argument("--limit", type=int, help="evaluate the first N samples only")
    v.add_argument("--seed", type=int, default=0, help="seed of the few-shot demonstration sampling")
    v.add_argument("--batch-size", type=int, default=16, help="prompts decoded together")
    v.add_argument(
        "--norm",
        choices=("none", "token", "char"),
        help="length normalisation of candidate log-likelihoods: summed, per token, per character "
        "(default: char for the language tasks, none elsewhere); all three accuracies are reported",
    )
    v.add_argument(
        "--cot",
        action="store_true",
        help="multimodal chain-of-thought (rendered-sst2, hateful-memes): first 'Introduce this "
        "picture in detail:', then the rationale + the task prompt",
    )
    v.add_argument("--device", default="cpu", help="torch device (default cpu)")
    v.set_defaults(func=cmd_eval)

    sub.add_parser("info", help="parameter counts and the model config", add_help=False)
    sub.add_parser(
        "plan",
        help="predicted memory per rank, largest micro-batch, step time and MFU (plan --help)",
        add_help=False,
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # The deepspeed launcher adds --local_rank=N before the subcommand; LOCAL_RANK in the environment says the same.
    argv = [a for a in argv if not a.startswith(("--local_rank=", "--local-rank="))]
    if argv and argv[0] == "plan":
        from kosmos_train.train.plan import main as plan_main

        return plan_main(argv[1:])
    if argv and argv[0] == "info":
        from kosmos_train.model.info import main as info_main

        return info_main(argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("DeepSpeed", "deepspeed", "torch.distributed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
