"""The language-only instruction recipe: Unnatural Instructions and FLANv2 rows converted from their
public formats into the trainer's instruction rows, and mixed by the trainer's own source mixture
in the paper's proportion (68,478 : 54,000); the loss falls on the output only."""

from __future__ import annotations

import json

import pytest

from kosmos_train.data.corpus import INSTRUCTION, open_source, parse_data_args
from kosmos_train.data.sequences import instruction_sequence
from kosmos_train.data.sources import Mixture, SkipLog, SourceReader
from kosmos_train.eval.data import EvalDataError
from kosmos_train.eval.instruction_mix import (
    FLAN_FILE,
    FLAN_ROWS,
    UNNATURAL_FILE,
    UNNATURAL_ROWS,
    main,
    write_recipe,
)
from kosmos_train.vocab import VocabLayout

UNNATURAL = [
    {
        "instruction": "Is the sentence grammatical?",
        "instances": [
            {
                "instruction_with_input": "...",
                "input": "She go home.",
                "constraints": "Answer Yes or No.",
                "output": "No",
            },
            {
                "instruction_with_input": "...",
                "input": "She goes home.",
                "constraints": "Answer Yes or No.",
                "output": "Yes",
            },
        ],
        "reformulations": [],
    },
    {"instruction": "Name a colour.", "instances": [{"input": "", "constraints": "", "output": "red"}]},
]
FLAN = [
    {"inputs": f"Translate to French: cat {i}", "targets": f"chat {i}", "task_name": "wmt"} for i in range(5)
]


@pytest.fixture
def sources(tmp_path):
    (tmp_path / "core_data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in UNNATURAL))
    (tmp_path / "flan.jsonl").write_text("".join(json.dumps(r) + "\n" for r in FLAN))
    return tmp_path / "core_data.jsonl", tmp_path / "flan.jsonl"


def rows(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_public_formats_become_instruction_rows(sources, tmp_path):
    values = write_recipe(*sources, tmp_path / "mix", flan_rows_kept=3, seed=0)
    unnatural = rows(tmp_path / "mix" / UNNATURAL_FILE)
    assert unnatural == [
        {
            "instruction": "Is the sentence grammatical? Answer Yes or No.",
            "input": "She go home.",
            "output": "No",
        },
        {
            "instruction": "Is the sentence grammatical? Answer Yes or No.",
            "input": "She goes home.",
            "output": "Yes",
        },
        {"instruction": "Name a colour.", "input": "", "output": "red"},
    ]
    flan = rows(tmp_path / "mix" / FLAN_FILE)
    assert len(flan) == 3 and all(r["instruction"].startswith("Translate") and r["input"] == "" for r in flan)
    assert values == [
        f"instruction={tmp_path / 'mix' / UNNATURAL_FILE}@3",
        f"instruction={tmp_path / 'mix' / FLAN_FILE}@3",
    ]
    specs = parse_data_args(values)  # what `kosmos_train train --data` makes of them
    assert [(s.kind, s.weight) for s in specs] == [(INSTRUCTION, 3.0), (INSTRUCTION, 3.0)]


def test_the_trainer_mixes_the_sources_in_the_papers_ratio(sources, tmp_path):
    write_recipe(*sources, tmp_path / "mix")
    u, f = tmp_path / "mix" / UNNATURAL_FILE, tmp_path / "mix" / FLAN_FILE
    specs = parse_data_args([f"instruction={u}@{UNNATURAL_ROWS}", f"instruction={f}@{FLAN_ROWS}"])
    skips = SkipLog(INSTRUCTION)
    readers = [SourceReader(open_source(s), 0, 1, 0, 4, skips) for s in specs]
    mix = Mixture(readers, [s.weight for s in specs], seed=0, reader_slot=0)
    draws = [mix.next()[0] for _ in range(4000)]
    share = draws.count(0) / len(draws)
    assert share == pytest.approx(UNNATURAL_ROWS / (UNNATURAL_ROWS + FLAN_ROWS), abs=0.03)  # 0.559
    assert skips.count == 0


def test_instruction_rows_carry_loss_on_the_output_only():
    v = VocabLayout(1000)
    ids, loss = instruction_sequence([11, 12], [13], [14, 15], v, 64)
    targets = [i for i, keep in zip(ids, loss, strict=True) if keep]
    assert targets == [14, 15, v.eos]


def test_bad_source_lines_are_one_line_errors(sources, tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text('{"inputs": "x"}\n')
    with pytest.raises(EvalDataError, match=r"bad.jsonl:1: expected string 'inputs' and 'targets'"):
        write_recipe(sources[0], tmp_path / "bad.jsonl", tmp_path / "out")
    assert (
        main(
            [
                "--unnatural",
                str(sources[0]),
                "--flan",
                str(tmp_path / "bad.jsonl"),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "bad.jsonl:1" in capsys.readouterr().err
    assert (
        main(["--unnatural", str(sources[0]), "--flan", str(sources[1]), "--output", str(tmp_path / "ok")])
        == 0
    )
    assert f"@{len(FLAN)}" in capsys.readouterr().out
