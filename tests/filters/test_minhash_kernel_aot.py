"""The ahead-of-time build of the native MinHash kernel gives the JIT's signatures, and a failed build
leaves the JIT in charge."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np

from filters import minhash_kernel_aot, minhash_native
from filters.minhash import MinHashConfig, MinHasher
from filters.minhash_kernel import sketch as jit_sketch
from tests.generated_text import english_documents

TEXTS = [
    *english_documents(40, words=300),
    "",
    "one",
    "two words",
    "a b c d",
    "Ünïcödé ΣΑΣ İstanbul 123 4567, ЁЖИК!",
    "x" * 20_000,
    "word " * 3_000,
]


def _signatures(kernel, hasher: MinHasher) -> np.ndarray:
    """Signatures of TEXTS through `kernel`, in small groups and slices so documents span both."""
    out = np.full((len(TEXTS), hasher.config.num_perm), hasher.empty_value, dtype=hasher.dtype)
    table = minhash_native.fold_table(hasher.config.normalize)
    ring = np.zeros(hasher.config.ngram, dtype=np.uint64)
    state = np.zeros(3, dtype=np.uint64)
    groups = minhash_native.code_point_groups(
        TEXTS, hasher.config.normalize, group_chars=5_000, chunk_chars=700
    )
    for cps, ends, docs, flags in groups:
        kernel(cps, ends, docs, flags, table, hasher._mult, hasher._a, hasher._b, out, ring, state)
    return out


def test_the_ahead_of_time_build_gives_the_jits_signatures(tmp_path: Path) -> None:
    path = tmp_path / minhash_kernel_aot.default_path().name
    module = minhash_kernel_aot.load_or_build(path)
    assert module is not None and path.is_file()
    assert not list(tmp_path.glob(".build-*"))  # the build folder is gone
    hasher = MinHasher(MinHashConfig())
    assert np.array_equal(_signatures(module.sketch, hasher), _signatures(jit_sketch, hasher))
    assert minhash_kernel_aot.load(path) is not None  # the second process loads it, no build


def test_a_process_with_the_build_never_imports_numba(tmp_path: Path) -> None:
    minhash_kernel_aot.load_or_build(minhash_kernel_aot.default_path())  # this machine's build exists
    code = (
        "import sys; from filters.minhash import MinHasher, MinHashConfig; "
        "MinHasher(MinHashConfig()).signatures(['a b c d e f']); print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_failed_build_leaves_the_jit(tmp_path: Path, monkeypatch, caplog) -> None:
    def no_compiler(path: Path) -> None:
        raise OSError("no C compiler")

    monkeypatch.setattr(minhash_kernel_aot, "build", no_compiler)
    with caplog.at_level(logging.WARNING):
        assert minhash_kernel_aot.load_or_build(tmp_path / "k.so") is None
    assert "JIT is used instead" in caplog.text


def test_the_build_name_follows_the_kernel_source(tmp_path: Path, monkeypatch) -> None:
    before = minhash_kernel_aot.version_tag()
    changed = tmp_path / "minhash_kernel.py"
    changed.write_text(minhash_kernel_aot._KERNEL_SOURCE.read_text() + "\n# changed\n")
    monkeypatch.setattr(minhash_kernel_aot, "_KERNEL_SOURCE", changed)
    assert minhash_kernel_aot.version_tag() != before


def test_the_cache_folder_can_be_chosen(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(minhash_kernel_aot.CACHE_ENV, str(tmp_path / "cache-here"))
    assert minhash_kernel_aot.default_path().parent == tmp_path / "cache-here"


def test_strided_arrays_are_sketched_by_the_jit_with_the_same_result() -> None:
    hasher = MinHasher(MinHashConfig())
    want = _signatures(minhash_native.sketch, hasher)
    wide = np.full((len(TEXTS), 2 * hasher.config.num_perm), hasher.empty_value, dtype=hasher.dtype)
    strided = wide[:, ::2]  # not C-contiguous: the ahead-of-time build refuses it
    table = minhash_native.fold_table(hasher.config.normalize)
    ring, state = np.zeros(hasher.config.ngram, dtype=np.uint64), np.zeros(3, dtype=np.uint64)
    groups = minhash_native.code_point_groups(
        TEXTS, hasher.config.normalize, group_chars=5_000, chunk_chars=700
    )
    for cps, ends, docs, flags in groups:
        minhash_native.sketch(
            cps, ends, docs, flags, table, hasher._mult, hasher._a, hasher._b, strided, ring, state
        )
    assert np.array_equal(strided, want)
