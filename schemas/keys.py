"""Stable, dot-free sample keys and the tar member naming rules.

WebDataset splits a member name at the FIRST dot: `doc.0.jpg` is key `doc`, field `0.jpg`.
Keys are therefore hex digests: stable across runs (reruns are idempotent, dedup reproducible)
and never containing a dot.
"""

from __future__ import annotations

import hashlib
import re

KEY_HEX_CHARS = 24
_VALID_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def make_key(kind: str, source_identity: str) -> str:
    """24 hex characters of sha256 over (kind, source identity)."""
    digest = hashlib.sha256(f"{kind}\x00{source_identity}".encode()).hexdigest()
    return digest[:KEY_HEX_CHARS]


def uid_of(key: str) -> str:
    """DataComp's `uid` (128-bit hex) for a sample without one in its input: stable, from the key."""
    return hashlib.sha256(f"uid\x00{key}".encode()).hexdigest()[:32]


def row_identity(relative_path: str, row_index: int) -> str:
    """Source identity of an input row: the file's path relative to the input root, plus the row."""
    posix_path = relative_path.replace("\\", "/")
    return f"{posix_path}#{row_index}"


def warc_identity(warc_file: str, offset: int) -> str:
    """Source identity of a WARC record: the WARC file name plus the record's byte offset."""
    return f"{warc_file}@{offset}"


def holdout_score(key: str) -> float:
    """A uniform number in [0, 1) from the key: keys below a fraction form the held-out split.

    Depends on the key alone, so the split is the same on every run, runner and machine, and a
    reader can tell which keys were held out without any list."""
    digest = hashlib.sha256(f"holdout\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def key_problem(key: str) -> str | None:
    """Why `key` is not a valid sample key, or None when it is."""
    if "." in key:
        return f"key {key!r} contains a dot (WebDataset splits keys at the first dot)"
    if not _VALID_KEY.match(key):
        return f"key {key!r} must be 1-128 characters of [A-Za-z0-9_-]"
    return None


def member_name_problem(name: str) -> str | None:
    """Why a tar member name is unsafe or malformed, or None when it is fine.

    Members live flat at the top of the tar: no directories, no absolute paths, no `..`.
    """
    if name.startswith("/") or "\\" in name or "/" in name or name in ("", ".", ".."):
        return f"member {name!r} is not a plain file name at the top of the tar (path traversal risk)"
    if "" in name.split("."):
        return f"member {name!r} has an empty name part"
    if "." not in name:
        return f"member {name!r} has no extension"
    return None


def split_member_name(name: str) -> tuple[str, str]:
    """(key, field) of a member name, split at the first dot: `k.0.jpg` -> (`k`, `0.jpg`)."""
    key, _, field = name.partition(".")
    return key, field
