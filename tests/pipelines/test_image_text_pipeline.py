"""`kosmos-corpus image-text` on the DirectRunner against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main as corpus_main
from pipelines.common.drops import read_drops
from schemas.keys import make_key, row_identity
from schemas.manifest import read_manifest
from schemas.reader import iter_corpus
from schemas.validate import validate

FAST = ["--timeout", "1", "--retries", "1", "--clip-model", "none"]

# (path, caption, expected fate): "kept" or a drop reason; "same-photo" rows serve identical bytes
# (the smallest key among them is kept, the others are duplicate_image drops) and "same-url" rows
# share a URL (the smallest key goes on, the other is a duplicate_url drop).
ROWS: list[tuple[str, str, str]] = [
    ("/img/astronaut.jpg", "An astronaut holding a helmet in front of a flag.", "same-url"),
    ("/img/chelsea.png", "A tabby cat looking to the side of the room.", "kept"),
    ("/img/coffee.webp", "A cup of coffee on a saucer with a spoon.", "kept"),
    ("/img/rocket-cmyk.jpg", "A rocket standing on the launch pad under the sky.", "kept"),
    ("/img/logo-palette-alpha.png", "The logo of a software library for images.", "kept"),
    ("/img/camera-16bit.png", "A man with a camera on a tripod in a field.", "kept"),
    ("/img/chelsea-exif-rot6.jpg", "A photo of a cat that the file stores sideways.", "kept"),
    ("/img/astronaut.jpg", "The same astronaut photo listed a second time.", "same-url"),
    ("/flaky/1", "An astronaut photo behind a server that fails once.", "same-photo"),
    ("/rate-limited/1", "The astronaut stands in her white suit next to the flag.", "same-photo"),
    ("/missing", "A photo that the server does not have at all.", "http_error"),
    ("/hang", "A photo on a server that never answers the request.", "timeout"),
    ("/cut-short", "A photo whose body is cut off in the middle.", "connection_error"),
    ("/html-as-jpeg", "A photograph of a brown dog playing in the garden.", "undecodable_image"),
    ("/bomb.png", "A picture that would need far too much memory.", "decompression_bomb"),
    ("/redirect-loop/a", "A photo behind redirects that go round in circles.", "too_many_redirects"),
    ("/huge-content-length", "A photo that claims to be two gigabytes large.", "too_large"),
    ("/tiny.png", "A very small thumbnail of an astronaut in space.", "image_too_small"),
    ("/single-color.png", "A plain red rectangle with nothing else in it.", "single_color"),
    ("/noai", "An astronaut photo whose owner opted out of training.", "opted_out"),
    ("/private/chelsea.png", "A cat photo in a folder that robots may not visit.", "robots_disallowed"),
    ("/img/coffee.webp", "<PERSON> drinking coffee at the table in the morning.", "placeholder_tag"),
    ("/img/rocket-cmyk.jpg", "Ein Hund läuft über die grüne Wiese im Park.", "language"),
]


def write_rows(path: Path, base: str, rows=ROWS, extra_lines: tuple[str, ...] = ()) -> Path:
    lines = [
        json.dumps({"url": base + p, "caption": c, "id": f"row{i}", "source_site": "test"})
        for i, (p, c, _) in enumerate(rows)
    ]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path


@pytest.fixture(scope="module")
def fates_run(tmp_path_factory, _http_server_session):
    from pipelines.io.fetch import ROBOTS_CACHE

    server = _http_server_session
    server.reset()
    ROBOTS_CACHE.clear()
    tmp = tmp_path_factory.mktemp("imgtext")
    src = write_rows(
        tmp / "urls.jsonl",
        server.base_url,
        extra_lines=("{broken json", json.dumps({"caption": "no url here"})),
    )
    rc = corpus_main(
        [
            "image-text",
            "--input",
            str(src),
            "--output",
            str(tmp / "out"),
            "--drops",
            str(tmp / "drops"),
            "--allow-private-network",
            "--samples-per-shard",
            "8",
            *FAST,
        ]
    )
    return {"rc": rc, "out": tmp / "out", "drops": read_drops(str(tmp / "drops"))}


def expected_fates(keys: list[str]) -> dict[str, tuple[str, str | None]]:
    """key -> (fate, duplicate_of) with the smallest-key rules applied."""
    fates = {k: (fate, None) for k, (_, _, fate) in zip(keys, ROWS, strict=True)}
    same_url = sorted(k for k, (f, _) in fates.items() if f == "same-url")
    for k in same_url[1:]:
        fates[k] = ("duplicate_url", same_url[0])
    same_photo = sorted([same_url[0]] + [k for k, (f, _) in fates.items() if f == "same-photo"])
    fates[same_photo[0]] = ("kept", None)
    for k in same_photo[1:]:
        fates[k] = ("duplicate_image", same_photo[0])
    return fates


def test_every_row_has_its_fate(fates_run):
    assert fates_run["rc"] == 0
    survivors = {s.key for s in iter_corpus(str(fates_run["out"]))}
    drops = fates_run["drops"]
    keys = [make_key("image_text", row_identity("urls.jsonl", i)) for i in range(len(ROWS))]
    for i, key in enumerate(keys):
        fate, duplicate_of = expected_fates(keys)[key]
        path = ROWS[i][0]
        if fate == "kept":
            assert key in survivors, f"row {i} {path} should be kept, got {drops.get(key)}"
            continue
        assert key not in survivors and key in drops, f"row {i} {path} should be dropped as {fate}"
        assert drops[key]["reason"] == fate, f"row {i} {path}: {drops[key]}"
        assert drops[key]["duplicate_of"] == duplicate_of
    malformed = [d for d in drops.values() if d["reason"] == "malformed_row"]
    assert len(malformed) == 2 and any("invalid JSON" in d["detail"] for d in malformed)


def test_counts_add_up_and_shards_validate(fates_run):
    manifest = read_manifest(str(fates_run["out"]))
    c = manifest.counts
    assert c.input == len(ROWS) + 2 == c.kept + sum(c.dropped.values())
    assert len(manifest.shards) == 4  # 25 rows, 8 per shard
    assert manifest.config["clip_model"] == "none"
    assert len(fates_run["drops"]) == sum(c.dropped.values())
    report = validate(str(fates_run["out"]))
    assert report.ok, [str(p) for p in report.problems]


def test_stored_images_and_metadata(fates_run):
    for sample in iter_corpus(str(fates_run["out"])):
        assert min(sample.width, sample.height) == 256  # keep_ratio, shorter side 256
        assert sample.original_width >= 256 and sample.original_height >= 256
        assert sample.lang == "en" and sample.lang_score >= 0.65
        assert sample.columns == {"source_site": "test"} and sample.extra is None  # input columns, top level
        assert sample.original_sha256 and len(sample.uid) == 32
        assert sample.clip_model == "none" and sample.clip_score is None
        assert sample.id.startswith("row")
    rotated = next(s for s in iter_corpus(str(fates_run["out"])) if s.id == "row6")
    assert (
        rotated.original_width < rotated.original_height
    )  # EXIF orientation applied (451x300 shown portrait)


def test_without_allow_private_network_nothing_is_requested(tmp_path, http_server):
    rows = [r for r in ROWS if r[2] in ("kept", "same-photo", "same-url")]
    src = write_rows(tmp_path / "urls.jsonl", http_server.base_url, rows)
    rc = corpus_main(
        ["image-text", "--input", str(src), "--output", str(tmp_path / "out"), "--no-url-dedup", *FAST]
    )
    assert rc == 0
    counts = read_manifest(str(tmp_path / "out")).counts
    assert counts.input == len(rows) and counts.kept == 0
    assert counts.dropped == {"blocked_address": len(rows)}
    assert http_server.request_count() == 0


def test_rerun_after_kill_does_not_refetch_finished_shards(tmp_path, http_server):
    """Kill a run (SIGKILL) after some shards are complete; the rerun fetches only the rest."""
    rows = [(f"/slow/{i}", "A photograph of an astronaut in a white space suit.", "kept") for i in range(24)]
    src = write_rows(tmp_path / "urls.jsonl", http_server.base_url, rows)
    out = tmp_path / "out"
    args = [
        "image-text",
        "--input",
        str(src),
        "--output",
        str(out),
        "--allow-private-network",
        "--samples-per-shard",
        "4",
        "--fetch-batch",
        "1",
        "--no-image-dedup",
        *FAST,
    ]
    code = f"import sys; from pipelines.cli import main; sys.exit(main({args!r}))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(glob.glob(str(out / "*.stats.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    complete = sorted(Path(p).name[: -len(".stats.json")] for p in glob.glob(str(out / "*.stats.json")))
    assert 2 <= len(complete) < 6, f"the kill should land mid-run, {len(complete)} shards were complete"
    assert not (out / "manifest.json").exists()
    finished_paths = set()
    for name in complete:
        for row in pq.read_table(out / f"{name}.parquet").to_pylist():
            finished_paths.add("/" + row["url"].split("/", 3)[3])
    http_server.reset()
    assert corpus_main(args) == 0
    refetched = {p for p in finished_paths if http_server.request_count(p) > 0}
    assert refetched == set(), "finished shards were fetched again"
    assert http_server.request_count() > 0
    manifest = read_manifest(str(out))
    assert manifest.counts.kept == 24 and len(manifest.shards) == 6
    assert validate(str(out)).ok


def test_img2dataset_output_is_refiltered_without_downloading(tmp_path, http_server):
    """Real img2dataset webdataset shards as input: stored bytes are re-filtered and re-sharded."""
    import pyarrow as pa

    paths = ["/img/astronaut.jpg", "/img/chelsea.png", "/img/coffee.webp", "/missing"]
    captions = [
        "An astronaut with a helmet and a flag.",
        "A tabby cat looking to the side of the room.",
        "A cup of coffee on a saucer with a spoon.",
        "A photo that is missing from the server.",
    ]
    pq.write_table(
        pa.table({"url": [http_server.url(p) for p in paths], "caption": captions}), tmp_path / "urls.parquet"
    )
    i2d_out = tmp_path / "i2d"
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    subprocess.run(
        [
            str(Path(sys.executable).parent / "img2dataset"),
            "--url_list",
            str(tmp_path / "urls.parquet"),
            "--input_format",
            "parquet",
            "--url_col",
            "url",
            "--caption_col",
            "caption",
            "--output_folder",
            str(i2d_out),
            "--output_format",
            "webdataset",
            "--processes_count",
            "1",
            "--thread_count",
            "4",
            "--image_size",
            "320",
            "--resize_mode",
            "keep_ratio",
            "--timeout",
            "2",
            "--retries",
            "0",
            "--disallowed_header_directives",
            "[]",
        ],
        check=True,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert (i2d_out / "00000.tar").exists()
    http_server.reset()
    out = tmp_path / "out"
    rc = corpus_main(["image-text", "--input", str(i2d_out / "00000.tar"), "--output", str(out), *FAST])
    assert rc == 0
    assert http_server.request_count() == 0, "nothing may be downloaded again"
    samples = sorted(iter_corpus(str(out)), key=lambda s: s.caption)
    assert [s.caption for s in samples] == sorted(captions[:3])
    for s in samples:
        assert min(s.width, s.height) == 256  # our resize, from img2dataset's 320
        assert s.url.startswith(http_server.base_url)
        assert s.columns["status"] == "success" and "source_key" in s.columns  # top-level, not in `extra`
    assert read_manifest(str(out)).counts.input == 3
    assert validate(str(out)).ok


def test_phash_removes_near_duplicate_images(tmp_path, http_server):
    """The same photo at two sizes is one image to pHash (not to sha256); a different photo is not."""
    rows = [
        ("/img/astronaut.jpg", "An astronaut holding a helmet in front of a flag.", "kept"),
        ("/img/astronaut-1600.jpg", "The astronaut photo again, at a much larger size.", "kept"),
        ("/img/chelsea.png", "A tabby cat looking to the side of the room.", "kept"),
    ]
    src = write_rows(tmp_path / "urls.jsonl", http_server.base_url, rows)
    args = [
        "image-text",
        "--input",
        str(src),
        "--allow-private-network",
        "--drops",
        str(tmp_path / "d"),
        *FAST,
    ]
    assert corpus_main([*args, "--output", str(tmp_path / "plain")]) == 0
    assert read_manifest(str(tmp_path / "plain")).counts.kept == 3, "different bytes: sha256 keeps both"
    assert corpus_main([*args, "--output", str(tmp_path / "phash"), "--phash-distance", "4"]) == 0
    counts = read_manifest(str(tmp_path / "phash")).counts
    assert counts.kept == 2 and counts.dropped == {"near_duplicate_image": 1}
    keys = sorted(make_key("image_text", row_identity("urls.jsonl", i)) for i in range(2))
    kept = {s.key for s in iter_corpus(str(tmp_path / "phash"))}
    assert keys[0] in kept and keys[1] not in kept
    assert validate(str(tmp_path / "phash")).ok


def test_holdout_split_survives_a_rerun(tmp_path, http_server):
    rows = [
        (f"/img/{name}?h={i}", caption, "kept")
        for i, (name, caption) in enumerate(
            [
                ("astronaut.jpg", "An astronaut holding a helmet in front of a flag."),
                ("chelsea.png", "A tabby cat looking to the side of the room."),
                ("coffee.webp", "A cup of coffee on a saucer with a spoon."),
                ("rocket-cmyk.jpg", "A rocket standing on the launch pad under the sky."),
                ("camera-16bit.png", "A man with a camera on a tripod in a field."),
                ("logo-palette-alpha.png", "The logo of a software library for images."),
            ]
        )
    ]
    src = write_rows(tmp_path / "urls.jsonl", http_server.base_url, rows)
    args = [
        "image-text",
        "--input",
        str(src),
        "--output",
        str(tmp_path / "out"),
        "--allow-private-network",
        "--holdout-fraction",
        "0.5",
        "--samples-per-shard",
        "3",
        *FAST,
    ]
    results = []
    for _ in range(2):
        assert corpus_main(args) == 0
        main, held = read_manifest(str(tmp_path / "out")), read_manifest(str(tmp_path / "out-holdout"))
        results.append(
            (main.counts, held.counts.kept, sorted(s.key for s in iter_corpus(str(tmp_path / "out-holdout"))))
        )
        assert (
            main.counts.kept + held.counts.kept == 6
            and main.counts.dropped.get("held_out") == held.counts.kept
        )
        assert validate(str(tmp_path / "out")).ok and validate(str(tmp_path / "out-holdout")).ok
    assert results[0] == results[1]


def test_clip_scores_drop_mismatched_pairs(tmp_path, tiny_clip):
    """The real CLIP path in the pipeline, with a tiny open_clip model trained by the tests:
    per-sample threshold and the corpus-wide top fraction both keep the matched captions."""
    import numpy as np

    from filters.clip_score import ClipConfig, ClipScorer
    from pipelines.demo.photos import encode
    from pipelines.demo.server import DemoSite
    from tests.clip_fixtures import MODEL_NAME, pairs

    images, matched, swapped = pairs(24, seed=7)
    rows = [(images[i], matched[i] if i % 2 == 0 else swapped[i], i % 2 == 0) for i in range(24)]
    scorer = ClipScorer(
        ClipConfig(
            model=MODEL_NAME,
            pretrained=tiny_clip["checkpoint"],
            model_config=tiny_clip["config_path"],
            device="cpu",
        )
    )
    scores = scorer.score([im for im, _, _ in rows], [c for _, c, _ in rows])
    threshold = float(np.median(scores))
    clip_flags = [
        "--clip-model",
        MODEL_NAME,
        "--clip-pretrained",
        tiny_clip["checkpoint"],
        "--clip-model-config",
        tiny_clip["config_path"],
        "--clip-device",
        "cpu",
        "--languages",
        "any",
        "--timeout",
        "2",
    ]
    with DemoSite({}) as site:
        lines = [
            json.dumps(
                {
                    "url": site.add(f"/shape/{i}.png", encode(im, "PNG"), "image/png"),
                    "caption": c,
                    "id": str(i),
                }
            )
            for i, (im, c, _) in enumerate(rows)
        ]
        (tmp_path / "urls.jsonl").write_text("\n".join(lines) + "\n")
        base = ["image-text", "--input", str(tmp_path / "urls.jsonl"), "--allow-private-network", *clip_flags]
        assert (
            corpus_main([*base, "--output", str(tmp_path / "thr"), "--clip-threshold", f"{threshold:.6f}"])
            == 0
        )
        assert (
            corpus_main(
                [
                    *base,
                    "--output",
                    str(tmp_path / "top"),
                    "--clip-threshold",
                    "none",
                    "--clip-top-fraction",
                    "0.5",
                ]
            )
            == 0
        )
    for out in ("thr", "top"):
        kept = list(iter_corpus(str(tmp_path / out)))
        assert 10 <= len(kept) <= 14, (out, len(kept))
        right = sum(rows[int(s.id)][2] for s in kept)
        assert right >= len(kept) - 1, f"{out}: {right} of {len(kept)} kept pairs are matched"
        assert all(
            s.clip_model == f"{MODEL_NAME}/{tiny_clip['checkpoint']}" and s.clip_score is not None
            for s in kept
        )
        manifest = read_manifest(str(tmp_path / out))
        assert manifest.counts.dropped.get("clip_score", 0) == 24 - len(kept)
        assert manifest.config["clip_model"] == f"{MODEL_NAME}/{tiny_clip['checkpoint']}"
        assert validate(str(tmp_path / out)).ok


def test_top_fraction_threshold_is_exact_and_independent_of_splitting():
    import random
    from collections import Counter

    from pipelines.image_text.finalize import score_bin, top_fraction_threshold

    rng = random.Random(3)
    scores = [rng.uniform(-0.1, 0.45) for _ in range(20_000)]
    whole = top_fraction_threshold(list(Counter(score_bin(s) for s in scores).items()), 0.3)
    parts = [Counter(score_bin(s) for s in scores[i::7]) for i in range(7)]  # as if counted on 7 workers
    merged = sum(parts, Counter())
    assert top_fraction_threshold(list(merged.items()), 0.3) == whole
    kept = sum(s >= whole for s in scores) / len(scores)
    assert 0.3 <= kept < 0.3 + 0.002


def test_a_rerun_with_other_shards_rebuilds_instead_of_reusing_stale_ones(tmp_path, http_server):
    rows = [
        (f"/img/chelsea.png?s={i}", "A tabby cat looking to the side of the room.", "kept") for i in range(12)
    ]
    src = write_rows(tmp_path / "urls.jsonl", http_server.base_url, rows)
    base = [
        "image-text",
        "--input",
        str(src),
        "--output",
        str(tmp_path / "out"),
        "--allow-private-network",
        "--no-image-dedup",
        *FAST,
    ]
    assert corpus_main([*base, "--samples-per-shard", "3"]) == 0
    # Other shard sizes are a resume (finished or not): the stale shards must be rebuilt.
    assert corpus_main([*base, "--samples-per-shard", "4"]) == 0
    counts = read_manifest(str(tmp_path / "out")).counts
    assert counts.input == 12 and counts.kept == 12
    assert len({s.key for s in iter_corpus(str(tmp_path / "out"))}) == 12
