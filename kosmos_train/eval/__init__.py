"""Evaluation of a trained (or converted) run the way KOSMOS-1 reported it (docs/MODEL.md, evaluation prompts).

Tasks (`kosmos_train eval --task ...`, registered in `runner.TASKS`): caption, vqa, classify,
perplexity, commonsense, raven, rendered-sst2, hateful-memes, describe, webqa and the language
tasks storycloze, hellaswag, winograd, winogrande, piqa, boolq, cb, copa. Candidate ranking goes
through `choice.run_choices`, the model through `scoring.Scorer`.
`run_task` loads the data, runs the task, writes RESULTS.json + RESULTS.predictions.jsonl and
returns the TaskResult; `kosmos_train.eval.report.table` formats it.
"""

from kosmos_train.eval.report import TaskResult
from kosmos_train.eval.runner import TASKS, run_task

__all__ = ["TASKS", "TaskResult", "run_task"]
