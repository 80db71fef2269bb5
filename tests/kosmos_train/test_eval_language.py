"""The language tasks read their public JSONL (SuperGLUE / Hugging Face field names), build the
harness's prompts, and count accuracy by candidate likelihood; length normalisation and few-shot
demonstrations checked with a scripted scorer whose log-likelihoods the test sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kosmos_train.eval.choice import MCItem, pick_demonstrations
from kosmos_train.eval.data import EvalDataError
from kosmos_train.eval.language import load_language
from tests.kosmos_train.test_eval_paper_tasks import ScriptedScorer, run, text_of


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def likes(*wanted: str) -> ScriptedScorer:
    """Log-likelihood 0 for the (context + continuation) texts containing a wanted phrase, else -5."""
    return ScriptedScorer(lambda ctx, c: 0.0 if any(w in text_of(ctx) + c for w in wanted) else -5.0)


# (task, rows in the public format, phrases the scorer likes, expected accuracy, expected first prompt)
CASES = [
    (
        "storycloze",
        [
            {
                "story_id": "s1",
                "input_sentence_1": "Tom was hungry.",
                "input_sentence_2": "He went out.",
                "input_sentence_3": "He found a diner.",
                "input_sentence_4": "He ordered soup.",
                "sentence_quiz1": "He ate the soup.",
                "sentence_quiz2": "He flew to Mars.",
                "answer_right_ending": 1,
            },
            {
                "story_id": "s2",
                "input_sentence_1": "Ann ran.",
                "input_sentence_2": "She was fast.",
                "input_sentence_3": "She won.",
                "input_sentence_4": "People cheered.",
                "sentence_quiz1": "She was proud.",
                "sentence_quiz2": "She felt ashamed.",
                "answer_right_ending": 1,
            },
        ],
        ["ate the soup", "felt ashamed"],
        50.0,
        "Tom was hungry. He went out. He found a diner. He ordered soup.",
    ),
    (
        "hellaswag",
        [
            {
                "ind": 4,
                "activity_label": "Baking cookies",
                "ctx_a": "A woman mixes dough.",
                "ctx_b": "she",
                "endings": ["rolls it out.", "eats the bowl.", "sings.", "sleeps."],
                "label": 0,
            },
            {
                "ind": 5,
                "activity_label": "Home and Garden",
                "ctx_a": "[header] How to water plants [title] Check the soil.",
                "ctx_b": "",
                "endings": ["Water [step] slowly.", "Burn it.", "Sell it.", "Eat it."],
                "label": "0",
            },
        ],
        ["rolls it out", "Water slowly"],
        100.0,
        "Baking cookies: A woman mixes dough. She",
    ),
    (
        "winograd",
        [
            {
                "text": "The trophy doesn't fit into the suitcase because it is too large.",
                "pronoun": "it",
                "pronoun_loc": 49,
                "options": ["the trophy", "the suitcase"],
                "label": 0,
            },
            {
                "text": "Joan thanked Susan for all the help she had given.",
                "pronoun": "she",
                "pronoun_loc": 36,
                "options": ["Joan", "Susan"],
                "label": 1,
            },
        ],
        ["because the trophy", "help Joan"],
        50.0,
        "The trophy doesn't fit into the suitcase because the trophy",
    ),
    (
        "winogrande",
        [
            {
                "qID": "w1",
                "sentence": "Sarah was a much better surgeon than Maria so _ always got the harder cases.",
                "option1": "Sarah",
                "option2": "Maria",
                "answer": "1",
            },
            {
                "qID": "w2",
                "sentence": "The cat chased the dog until _ got tired.",
                "option1": "the cat",
                "option2": "the dog",
                "answer": "2",
            },
        ],
        ["so Sarah", "until the cat"],
        50.0,
        "Sarah was a much better surgeon than Maria so Sarah",
    ),
    (
        "piqa",
        [
            {"goal": "To open a jar,", "sol1": "twist the lid.", "sol2": "freeze the jar.", "label": 0},
            {"goal": "To dry hair,", "sol1": "use a towel.", "sol2": "use a fork.", "label": 0},
        ],
        ["twist the lid", "use a towel"],
        100.0,
        "Question: To open a jar,\nAnswer:",
    ),
    (
        "boolq",
        [
            {"question": "is the sky blue", "passage": "The sky is blue on clear days.", "label": True},
            {"question": "is water dry", "passage": "Water is wet.", "answer": False},
            {"question": "do cats bark", "passage": "Cats meow.", "label": False},
        ],
        ["blue?\nAnswer: yes", "dry?\nAnswer: yes", "bark?\nAnswer: no"],
        200 / 3,
        "The sky is blue on clear days.\nQuestion: is the sky blue?\nAnswer:",
    ),
    (
        "cb",
        [
            {
                "premise": "It rained all day.",
                "hypothesis": "The ground is wet.",
                "label": "entailment",
                "idx": 0,
            },
            {
                "premise": "He left early.",
                "hypothesis": "He stayed late.",
                "label": "contradiction",
                "idx": 1,
            },
            {"premise": "She has a car.", "hypothesis": "The car is red.", "label": "neutral", "idx": 2},
            {"premise": "They won.", "hypothesis": "They lost.", "label": 1, "idx": 3},
        ],
        [
            "wet. True, False, or Neither?\nAnswer: True",
            "late. True, False, or Neither?\nAnswer: False",
            "red. True, False, or Neither?\nAnswer: True",
            "lost. True, False, or Neither?\nAnswer: False",
        ],
        75.0,
        "It rained all day.\nQuestion: The ground is wet. True, False, or Neither?\nAnswer:",
    ),
    (
        "copa",
        [
            {
                "premise": "The man broke his toe.",
                "choice1": "He dropped a hammer on his foot.",
                "choice2": "He got a hole in his sock.",
                "question": "cause",
                "label": 0,
                "idx": 0,
            },
            {
                "premise": "I tipped the bottle.",
                "choice1": "The liquid in the bottle froze.",
                "choice2": "The liquid in the bottle poured out.",
                "question": "effect",
                "label": 1,
                "idx": 1,
            },
        ],
        ["because he dropped", "therefore the liquid in the bottle froze"],
        50.0,
        "The man broke his toe because",
    ),
]


@pytest.mark.parametrize("task,rows,liked,accuracy,prompt", CASES, ids=[c[0] for c in CASES])
def test_language_task_reads_its_format_and_counts_accuracy(task, rows, liked, accuracy, prompt, tmp_path):
    data = write_jsonl(tmp_path / f"{task}.jsonl", rows)
    scorer = likes(*liked)
    result = run(task, [data], tmp_path, scorer)
    assert result.metrics["accuracy"] == pytest.approx(accuracy), result.predictions
    assert text_of(scorer.scored[0][0]) == prompt
    assert result.settings["norm"] == "char" and result.settings["shots"] == 0


def test_cb_reports_macro_f1(tmp_path):
    task, rows, liked, _, _ = next(c for c in CASES if c[0] == "cb")
    result = run(task, [write_jsonl(tmp_path / "cb.jsonl", rows)], tmp_path, likes(*liked))
    # chosen [T, F, T, F] vs gold [T, F, N, F]: F1 entailment 2/3, contradiction 1, neutral 0.
    assert result.metrics["f1/macro"] == pytest.approx(100 * (2 / 3 + 1 + 0) / 3)


def test_partial_scoring_and_option_forms(tmp_path):
    rows = [
        {
            "text": "Frank was upset with Tom because the toaster he had bought from him didn't work.",
            "pronoun": "he",
            "pronoun_loc": 45,
            "options": ["Frank", "Tom"],
            "label": 0,
        },
        {
            "text": "Bob paid for Charlie's college education. He is very generous.",
            "pronoun": "He",
            "pronoun_loc": 42,
            "options": ["Bob", "Charlie"],
            "label": 0,
        },
        {
            "text": "Mary took out her flute and played one of her favorite pieces.",
            "pronoun": "her",
            "pronoun_loc": 42,
            "options": ["Mary", "The flute"],
            "label": 0,
        },
    ]
    first, second, third = load_language("winograd", write_jsonl(tmp_path / "wsc.jsonl", rows))
    assert first.contexts[0] == ["Frank was upset with Tom because the toaster Frank"]
    assert first.continuations == [" had bought from him didn't work."] * 2
    assert second.contexts[1] == ["Bob paid for Charlie's college education. Charlie"]
    assert third.contexts[1] == [
        "Mary took out her flute and played one of the flute's"
    ]  # possessive, lower-cased


def test_length_normalisation_changes_the_choice(tmp_path):
    # Summed: " a" (-2) beats " a long ending" (-7); per token -2 vs -7/3: still " a"; per char -1 vs -0.5.
    row = {
        "ind": 1,
        "activity_label": "Test",
        "ctx_a": "Pick.",
        "ctx_b": "",
        "endings": ["a", "a long ending"],
        "label": 1,
    }
    data = write_jsonl(tmp_path / "h.jsonl", [row])
    scorer = ScriptedScorer(lambda ctx, c: {" a": -2.0, " a long ending": -7.0}[c])
    result = run("hellaswag", [data], tmp_path, scorer)
    assert result.metrics == {
        "accuracy": 100.0,
        "accuracy/none": 0.0,
        "accuracy/token": 0.0,
        "accuracy/char": 100.0,
    }
    summed = run("hellaswag", [data], tmp_path, scorer, norm="none")
    assert summed.metrics["accuracy"] == 0.0 and summed.settings["norm"] == "none"


def test_few_shot_demonstrations_come_first_and_exclude_the_query(tmp_path):
    task, rows, liked, _, _ = next(c for c in CASES if c[0] == "copa")
    rows = rows + [
        {
            "premise": "The sun rose.",
            "choice1": "It got bright.",
            "choice2": "It got dark.",
            "question": "effect",
            "label": 0,
            "idx": 2,
        }
    ]
    data = write_jsonl(tmp_path / "copa.jsonl", rows)
    scorer = likes(*liked)
    result = run(task, [data], tmp_path, scorer, shots=2, seed=1)
    assert result.settings["shots"] == 2 and len(scorer.scored) == 3
    for (context, _), query in zip(scorer.scored, rows, strict=True):
        blocks = text_of(context).split("\n\n")
        assert len(blocks) == 3 and blocks[-1].startswith(query["premise"][:-1])
        assert not any(b.startswith(query["premise"][:-1]) for b in blocks[:2])
        # a demonstration is its gold context and continuation
        assert all(
            b.endswith(
                (
                    " because he dropped a hammer on his foot.",
                    " therefore the liquid in the bottle poured out.",
                    " therefore it got bright.",
                )
            )
            for b in blocks[:2]
        )
    items = load_language("copa", data)
    picks = [[d.id for d in pick_demonstrations(i, it, items, 2, 1)] for i, it in enumerate(items)]
    assert picks == [[d.id for d in pick_demonstrations(i, it, items, 2, 1)] for i, it in enumerate(items)]


def test_piqa_labels_from_a_separate_file_and_storycloze_csv(tmp_path):
    rows = [{"goal": "g1", "sol1": "a", "sol2": "b"}, {"goal": "g2", "sol1": "c", "sol2": "d"}]
    data = write_jsonl(tmp_path / "valid.jsonl", rows)
    (tmp_path / "valid-labels.lst").write_text("1\n0\n")
    items = load_language("piqa", data, tmp_path / "valid-labels.lst")
    assert [i.label for i in items] == [1, 0]
    csv = tmp_path / "cloze.csv"
    csv.write_text(
        "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,"
        "RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2,AnswerRightEnding\n"
        "x1,A.,B.,C.,D.,E1.,E2.,2\n"
    )
    (item,) = load_language("storycloze", csv)
    assert item.contexts[0] == ["A. B. C. D."] and item.continuations == [" E1.", " E2."] and item.label == 1


def test_bad_rows_name_the_file_and_line(tmp_path):
    data = write_jsonl(
        tmp_path / "boolq.jsonl", [{"question": "q", "passage": "p", "label": True}, {"question": "q"}]
    )
    with pytest.raises(EvalDataError, match=r"boolq.jsonl:2: not a boolq row"):
        load_language("boolq", data)
    with pytest.raises(ValueError, match="label 3 out of range"):
        MCItem("x", [["c"]], [" a"], 3)
    with pytest.raises(ValueError, match="--shots applies to"):
        run("raven", [data], tmp_path, ScriptedScorer(), shots=1)
    with pytest.raises(ValueError, match="--cot applies to"):
        run("boolq", [data], tmp_path, ScriptedScorer(), cot=True)
    with pytest.raises(ValueError, match="--prompt does not apply to boolq"):
        run("boolq", [data], tmp_path, ScriptedScorer(), prompt="Q:")


def test_commonsense_goes_through_the_shared_choice_runner(tmp_path):
    lines = [
        {"item1": "an elephant", "item2": "a cat", "label": True},
        {"item1": "a coin", "item2": "the moon", "label": False},
        {"object": "the moon", "color": "white"},
    ]
    data = write_jsonl(tmp_path / "cs.jsonl", lines)
    scorer = likes("elephant larger than a cat? Yes", "coin larger than the moon? Yes", "is? white")
    result = run("commonsense", [data], tmp_path, scorer)
    # size: right, wrong; colour: right (11 basic colours ranked)
    assert result.metrics["accuracy/size"] == 50.0 and result.metrics["accuracy/color"] == 100.0
    assert result.metrics["accuracy"] == pytest.approx(200 / 3) and len(scorer.scored[2][1]) == 11
