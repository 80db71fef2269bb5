"""Language-only instruction tuning data for the cross-modal transfer experiment (the paper's recipe).

KOSMOS-1 mixes Unnatural Instructions (68,478 instruction-input-output examples) and 54k FLANv2
examples into the pretraining streams, with no loss on the instruction and input tokens. This
module turns the public files into the trainer's instruction rows
`{"instruction", "input", "output"}` and names the two sources with weights in that proportion, so
`kosmos_train train` draws them 68,478 : 54,000 within its `instruction` stream:

  python -m kosmos_train.eval.instruction_mix --unnatural core_data.jsonl --flan flan_v2.jsonl \\
      --output data/instructions
  kosmos_train train ... --data instruction=data/instructions/unnatural_instructions.jsonl@68478 \\
      instruction=data/instructions/flan_v2.jsonl@54000

Unnatural Instructions (`core_data.jsonl`): lines `{"instruction", "instances": [{"input",
"constraints", "output", ...}]}`, one row per instance, the constraints appended to the
instruction. FLANv2 (the usual jsonl dumps): lines `{"inputs", "targets", ...}`, the inputs as the
instruction; at most 54,000 are kept (a seeded sample) as in the paper.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kosmos_train.eval.data import EvalDataError

UNNATURAL_ROWS = 68_478
FLAN_ROWS = 54_000
UNNATURAL_FILE = "unnatural_instructions.jsonl"
FLAN_FILE = "flan_v2.jsonl"


def _lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield n, json.loads(line)
                except ValueError as e:
                    raise EvalDataError(f"{path}:{n}: not JSON: {e}") from None


def unnatural_rows(path: str | Path) -> Iterator[dict[str, str]]:
    """One trainer row per Unnatural Instructions instance."""
    for n, record in _lines(path):
        try:
            for inst in record["instances"]:
                instruction = record["instruction"].strip()
                if inst.get("constraints"):
                    instruction = f"{instruction} {inst['constraints'].strip()}"
                yield {"instruction": instruction, "input": inst.get("input", ""), "output": inst["output"]}
        except (KeyError, TypeError, AttributeError) as e:
            raise EvalDataError(
                f"{path}:{n}: expected {{'instruction', 'instances': [{{'input', 'output'}}]}}: {e}"
            ) from None


def flan_rows(path: str | Path) -> Iterator[dict[str, str]]:
    """One trainer row per FLANv2 example (inputs -> instruction, targets -> output)."""
    for n, record in _lines(path):
        if not isinstance(record.get("inputs"), str) or not isinstance(record.get("targets"), str):
            raise EvalDataError(f"{path}:{n}: expected string 'inputs' and 'targets'")
        yield {"instruction": record["inputs"], "input": "", "output": record["targets"]}


def _write(rows: Sequence[dict[str, str]], path: Path) -> int:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return len(rows)


def data_args(unnatural: str | Path, flan: str | Path, n_unnatural: int, n_flan: int) -> list[str]:
    """The trainer's --data values: both files in the instruction stream, weighted by their rows."""
    return [f"instruction={unnatural}@{n_unnatural}", f"instruction={flan}@{n_flan}"]


def write_recipe(
    unnatural: str | Path,
    flan: str | Path,
    output: str | Path,
    flan_rows_kept: int = FLAN_ROWS,
    seed: int = 0,
) -> list[str]:
    """Convert both sources into `output/` and return the --data values of the mix."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    n_u = _write(list(unnatural_rows(unnatural)), out / UNNATURAL_FILE)
    flan_all = list(flan_rows(flan))
    if len(flan_all) > flan_rows_kept:
        flan_all = random.Random(seed).sample(flan_all, flan_rows_kept)
    n_f = _write(flan_all, out / FLAN_FILE)
    if not n_u or not n_f:
        raise EvalDataError(f"no rows from {unnatural if not n_u else flan}")
    return data_args(out / UNNATURAL_FILE, out / FLAN_FILE, n_u, n_f)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Unnatural Instructions + FLANv2 -> the trainer's instruction rows."
    )
    p.add_argument("--unnatural", required=True, help="Unnatural Instructions core_data.jsonl")
    p.add_argument("--flan", required=True, help="FLANv2 jsonl with 'inputs' and 'targets'")
    p.add_argument("--output", required=True, help="folder for the two converted .jsonl files")
    p.add_argument("--flan-rows", type=int, default=FLAN_ROWS, help=f"FLAN rows kept (default {FLAN_ROWS})")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        values = write_recipe(args.unnatural, args.flan, args.output, args.flan_rows, args.seed)
    except (EvalDataError, OSError) as e:
        print(f"instruction_mix: {e}", file=sys.stderr)
        return 2
    print("--data " + " ".join(values))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
