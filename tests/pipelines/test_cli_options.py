"""The flags: each documented with its default, each default from its config dataclass, the same
flags meaning the same thing in every pipeline, and usage errors kept apart from our own bugs."""

from __future__ import annotations

import argparse
import dataclasses
import re

import pytest

from filters.image import ImageConfig
from pipelines import cli
from pipelines.common.options import EXPLICIT_DEFAULT, DefaultsHelpFormatter, UsageError
from pipelines.common.output_dir import corpus_changes
from pipelines.common.sink import config_dict
from pipelines.image_text.graph import ImageTextConfig
from pipelines.interleaved.graph import InterleavedConfig
from pipelines.io.fetch import FetchConfig
from pipelines.text.graph import TextPipelineConfig


def config(argv: list[str]):
    args, rest = cli.parse(argv)
    assert rest == []
    _, options_module, _ = cli.PIPELINES[args.command]
    import importlib

    return importlib.import_module(options_module).config_from_args(args)


def test_every_flag_has_help_and_shows_its_default() -> None:
    parser = cli.build_parser()
    missing = []
    for name, sub in cli.subparsers(parser).items():
        formatter = DefaultsHelpFormatter(sub.prog)
        for action in sub._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            text = formatter._get_help_string(action)
            if not action.help or not (EXPLICIT_DEFAULT.search(text) or text.endswith("(required)")):
                missing.append(f"{name} {action.option_strings[0]}: {text!r}")
        rendered = sub.format_help()  # every %(default)s expands without error
        assert "%(" not in rendered
    assert missing == []


def test_the_default_of_every_flag_is_the_config_dataclass_default() -> None:
    """No flag writes its own default: parsing nothing gives the dataclass's defaults."""
    text = config(["text", "--input", "a.jsonl", "--output", "o"])
    assert text == TextPipelineConfig(inputs=("a.jsonl",), output="o")
    interleaved = config(["interleaved", "--warc", "a.warc.gz", "--output", "o"])
    assert interleaved == InterleavedConfig(warcs=("a.warc.gz",), output="o")
    image_text = config(["image-text", "--input", "a.csv", "--output", "o", "--clip-model", "none"])
    assert image_text == ImageTextConfig(inputs=("a.csv",), output="o")


def test_fetch_and_image_flags_mean_the_same_in_both_pipelines_that_fetch() -> None:
    shared = [
        *("--timeout", "3", "--retries", "0", "--max-per-host", "2", "--concurrency", "5"),
        *("--max-bytes", "1000", "--no-robots", "--allow-private-network"),
        *("--min-image-size", "10", "--max-aspect-ratio", "3", "--resize-mode", "center_crop"),
        *("--image-size", "128", "--encode-format", "webp", "--encode-quality", "80"),
        *("--clip-batch-size", "7", "--clip-device", "cpu", "--clip-model", "ViT-B-32"),
    ]
    image_text = config(["image-text", "--input", "a.csv", "--output", "o", *shared])
    interleaved = config(["interleaved", "--warc", "a.warc", "--output", "o", *shared])
    assert image_text.fetch == interleaved.fetch
    assert image_text.fetch == dataclasses.replace(
        FetchConfig(),
        timeout=3.0,
        retries=0,
        max_per_host=2,
        max_concurrency=5,
        max_bytes=1000,
        respect_robots_txt=False,
        allow_private_network=True,
    )
    assert (
        image_text.image
        == interleaved.image
        == dataclasses.replace(
            ImageConfig(),
            min_side=10,
            max_aspect_ratio=3.0,
            resize_mode="center_crop",
            image_size=128,
            encode_format="webp",
            encode_quality=80,
        )
    )
    assert image_text.clip == interleaved.clip and image_text.clip.batch_size == 7


def test_min_words_has_two_names_for_its_two_meanings() -> None:
    image_text = config(["image-text", "--input", "a.csv", "--output", "o", "--min-caption-words", "5"])
    interleaved = config(["interleaved", "--warc", "a.warc", "--output", "o", "--min-doc-words", "20"])
    assert image_text.caption.min_words == 5 and interleaved.gopher_quality.min_doc_words == 20
    with pytest.raises(UsageError, match="--min-words is now --min-caption-words"):
        cli.parse(["image-text", "--input", "a.csv", "--output", "o", "--min-words", "5"])
    with pytest.raises(UsageError, match="--min-words is now --min-doc-words"):
        cli.parse(["interleaved", "--warc", "a.warc", "--output", "o", "--min-words", "5"])


def test_img2dataset_names_become_ours() -> None:
    cfg = config(
        [
            *("image-text", "--url_list", "a.csv", "--output_folder", "o", "--thread_count", "8"),
            *("--number_sample_per_shard", "500", "--image_size", "384", "--resize_mode", "border"),
            *("--url_col", "link", "--caption_col", "alt", "--min_image_size", "100"),
        ]
    )
    assert (cfg.inputs, cfg.output, cfg.fetch.max_concurrency, cfg.samples_per_shard) == (
        ("a.csv",),
        "o",
        8,
        500,
    )
    assert (cfg.image.image_size, cfg.image.resize_mode, cfg.image.min_side) == (384, "border", 100)
    assert (cfg.url_col, cfg.caption_col) == ("link", "alt")


@pytest.mark.parametrize(
    ("runner", "message"),
    [
        ("DataflowRuner", r"--runner DataflowRuner: not a Beam runner \(did you mean DataflowRunner\?\)"),
        ("no.such.module.Runner", r"--runner no.such.module.Runner: not a Beam runner"),
    ],
)
def test_a_runner_beam_cannot_make_is_a_usage_error(runner: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        cli.parse(["text", "--input", "a", "--output", "o", f"--runner={runner}"])
    _, rest = cli.parse(["text", "--input", "a", "--output", "o", "--runner", "PortableRunner"])
    assert rest == ["--runner", "PortableRunner"]


def test_beam_options_pass_and_their_bad_values_are_usage_errors() -> None:
    _, rest = cli.parse(
        ["text", "--input", "a", "--output", "o", "--runner=DirectRunner", "--direct_num_workers", "2"]
    )
    assert rest == ["--runner=DirectRunner", "--direct_num_workers", "2"]
    with pytest.raises(
        UsageError, match=r"unknown option --direct_num_worker \(did you mean --direct_num_workers\?\)"
    ):
        cli.parse(["text", "--input", "a", "--output", "o", "--direct_num_worker", "2"])
    with pytest.raises(UsageError, match="--direct_num_workers: invalid int value"):
        cli.parse(["text", "--input", "a", "--output", "o", "--direct_num_workers", "two"])
    with pytest.raises(UsageError, match="unexpected argument 'stray'"):
        cli.parse(["text", "--input", "a", "--output", "o", "--runner", "DirectRunner", "stray"])


def test_the_manifest_records_no_setting_that_does_nothing() -> None:
    cfg = config(["image-text", "--input", "a.csv", "--output", "o", "--clip-threshold", "0.3"])
    recorded = config_dict(cfg)
    assert "threshold" not in recorded["clip"] and recorded["clip_threshold"] == 0.3


def test_only_settings_that_change_the_corpus_count_as_other_settings() -> None:
    old = config_dict(config(["image-text", "--input", "a.csv", "--output", "o"]))
    faster = config_dict(
        config(
            [
                "image-text",
                "--input",
                "a.csv",
                "--output",
                "o2",
                "--concurrency",
                "256",
                "--clip-batch-size",
                "512",
            ]
        )
    )
    assert corpus_changes(old, faster) == []
    stricter = config_dict(
        config(["image-text", "--input", "a.csv", "--output", "o", "--min-image-size", "128"])
    )
    assert corpus_changes(old, stricter) == ["image.min_side: 64 -> 128"]


def test_our_own_bugs_keep_their_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    def broken(*_: object) -> None:
        raise KeyError("a bug of ours")

    monkeypatch.setattr(cli, "preflight", broken)
    with pytest.raises(KeyError, match="a bug of ours"):
        cli.main(["text", "--input", "a.jsonl", "--output", "o"])
    assert cli.main(["text", "--input", "missing.jsonl", "--output", "o", "--bogus"]) == 2
    assert re.fullmatch(r"kosmos-corpus: error: unknown option --bogus\n", capsys.readouterr().err)


def test_debug_adds_the_traceback_of_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["text", "--input", "missing.jsonl", "--output", "o", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().endswith("kosmos-corpus: error: no input files match 'missing.jsonl'")
