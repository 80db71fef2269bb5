"""An output directory holds one corpus: a run refuses one of another kind or other settings.

Re-running the same command resumes (complete shards with an unchanged source are reused);
a different kind or a setting that changes the corpus would mix two corpora, so it is refused
unless `--overwrite` removes the old one first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pipelines.common.options import UsageError
from schemas.kinds import Kind, SchemaError
from schemas.manifest import MANIFEST_NAME, read_manifest
from schemas.storage import filesystem, join
from schemas.writer import remove_corpus

# Settings that change how a run works, not what the corpus holds.
OPERATIONAL = (
    "output",
    "drops_dir",
    "clip_accelerator",
    "fetch_batch",
    "fetch.max_concurrency",
    "fetch.max_per_host",
    "fetch.dns_workers",
    "fetch.dns_cache_size",
    "fetch.dns_cache_ttl",
    "fetch.timeout",
    "fetch.retries",
    "clip.batch_size",
    "clip.device",
    "clip.num_threads",
    "near_dedup.batch_size",
    # Recorded by the held-out split after the run, which checks a changed fraction itself.
    "holdout_fraction",
    "holdout_output",
    # What resume itself handles: a shard is reused only when the content of its input rows and the
    # settings are unchanged, and dedup runs over the whole corpus, so a run that adds inputs (a
    # launcher appending WARCs) or re-shards builds exactly the corpus a fresh run would.
    "inputs",
    "warcs",
    "samples_per_shard",
)


def flatten(config: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from flatten(value, name + ".")
        else:
            yield name, value


def _operational(name: str) -> bool:
    return any(name == op or name.startswith(op + ".") for op in OPERATIONAL)


def corpus_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The flattened settings that shape what the corpus holds (OPERATIONAL ones left out)."""
    return {name: value for name, value in flatten(config) if not _operational(name)}


def corpus_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """`name: old -> new` for each setting that differs and changes the corpus."""
    a, b = corpus_settings(old), corpus_settings(new)
    out = []
    for name in sorted(set(a) | set(b)):
        if json.dumps(a.get(name), sort_keys=True) != json.dumps(b.get(name), sort_keys=True):
            out.append(f"{name}: {a.get(name, 'unset')} -> {b.get(name, 'unset')}")
    return out


def _shard_kinds(output: str) -> set[str]:
    """Kinds recorded in the shard stats of an unfinished run."""
    fs, path = filesystem(output)
    kinds = set()
    for name in fs.glob(path.rstrip("/") + "/*.stats.json")[:16]:
        try:
            kinds.add(json.loads(fs.cat_file(name))["kind"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return kinds


def holds_corpus(output: str) -> bool:
    fs, path = filesystem(output)
    return fs.exists(join(path, MANIFEST_NAME)) or bool(_shard_kinds(output))


def check_output(output: str, kind: Kind, config: dict[str, Any], overwrite: bool) -> None:
    """UsageError when `output` holds another corpus. With `overwrite` the corpus there is removed
    (the run starts over): its own files only, never anything else the directory holds."""
    if overwrite:
        if holds_corpus(output):
            remove_corpus(output)
        return
    problem = _conflict(output, kind, config)
    if problem is not None:
        raise UsageError(
            f"--output {output} {problem}; pass --overwrite to replace it, or choose another --output"
        )


def _conflict(output: str, kind: Kind, config: dict[str, Any]) -> str | None:
    fs, path = filesystem(output)
    if not fs.exists(path):
        return None
    if fs.exists(join(path, MANIFEST_NAME)):
        try:
            manifest = read_manifest(output)
        except SchemaError as e:
            return f"holds a broken {MANIFEST_NAME} ({e})"
        if manifest.kind != kind:
            return f"holds a {manifest.kind.value} corpus, not {kind.value}"
        changes = corpus_changes(manifest.config, config)
        if changes:
            shown = "; ".join(changes[:3]) + ("; ..." if len(changes) > 3 else "")
            return f"holds a {kind.value} corpus made with other settings ({shown})"
        return None
    others = _shard_kinds(output) - {kind.value}
    if others:
        return f"holds {', '.join(sorted(others))} shards of an unfinished run, not {kind.value}"
    return None
