"""A task's result, its JSON file, the per-sample predictions beside it, and the printed table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TaskResult:
    task: str
    metrics: dict[str, float]
    predictions: list[dict[str, Any]] = field(default_factory=list)  # one record per sample, for inspection
    settings: dict[str, Any] = field(default_factory=dict)  # prompt, decoding, shots, data: what produced it

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "metrics": self.metrics,
            "n": len(self.predictions),
            "settings": self.settings,
        }


def predictions_path(output: str | Path) -> Path:
    """`results.json` -> `results.predictions.jsonl` (always beside the results)."""
    output = Path(output)
    return output.with_name(output.stem + ".predictions.jsonl")


def write(result: TaskResult, output: str | Path) -> Path:
    """Write the results JSON and the predictions JSONL; returns the results path."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    preds = predictions_path(output)
    with open(preds, "w", encoding="utf-8") as f:
        for row in result.predictions:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    record = {**result.to_dict(), "predictions": str(preds)}
    output.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return output


def table(result: TaskResult) -> str:
    """A two-column text table of the metrics (floats with 2 decimals)."""
    rows = [("task", result.task), ("samples", str(len(result.predictions)))]
    for k in ("shots", "prompt"):
        if k in result.settings:
            rows.append((k, str(result.settings[k])))
    rows += [(k, f"{v:.2f}" if isinstance(v, float) else str(v)) for k, v in result.metrics.items()]
    width = max(len(k) for k, _ in rows)
    line = "-" * (width + 2 + max(len(v) for _, v in rows))
    return "\n".join([line, *(f"{k:<{width}}  {v}" for k, v in rows), line])
