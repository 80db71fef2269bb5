"""The ahead-of-time build of the native MinHash kernel (filters/minhash_kernel.py, numba.pycc).

Why: starting numba's JIT to load even a cached kernel costs a process about 0.5 CPU-s and 100 MB
(LLVM, numba's typing registries, the scipy parts it checks for). The same kernel compiled ahead of
time is a small extension module that loads in a millisecond without importing numba; its results
are the JIT's (tested).

The build is made once per machine and kernel version, for this machine's CPU: its name carries a
hash of the kernel's source, of the constants it uses, of the numba and Python versions and of the
CPU's model and flags; it is written in a temporary
folder next to its final place and renamed (two processes building at once both end with a whole
file). Any failure (no C compiler, a read-only cache folder) leaves numba's JIT in charge, with one
warning. The cache folder is $KOSMOS_KERNEL_CACHE, else $XDG_CACHE_HOME/kosmos-corpus, else
~/.cache/kosmos-corpus.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.metadata
import importlib.util
import logging
import os
import platform
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)
CACHE_ENV = "KOSMOS_KERNEL_CACHE"
_KERNEL_SOURCE = Path(__file__).with_name("minhash_kernel.py")


def version_tag() -> str:
    """What the build depends on, hashed: the kernel's source and constants, numba, Python, machine."""
    from filters import minhash_native as native

    constants = (native.BREAK, native.FIRST, native.LAST, native._FNV_OFFSET, native._FNV_PRIME)
    parts = [
        _KERNEL_SOURCE.read_bytes(),
        native.kernel_signature().encode(),
        repr([int(c) for c in constants]).encode(),
        importlib.metadata.version("numba").encode(),
        sys.version.encode(),
        platform.machine().encode(),
        _cpu_features().encode(),
    ]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def _cpu_features() -> str:
    """The CPU's model and instruction-set flags (Linux): the build is made for this CPU, so a cache
    folder shared by different machines holds one build per kind of CPU."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            lines = [line for line in f if line.startswith(("model name", "flags", "Features"))]
    except OSError:
        return platform.processor()
    return "".join(sorted(set(lines)))


def default_path() -> Path:
    """Where this machine's build of the current kernel lives."""
    folder = os.environ.get(CACHE_ENV)
    if not folder:
        folder = os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kosmos-corpus"
        )
    return Path(folder) / f"minhash_kernel_{version_tag()}{importlib.machinery.EXTENSION_SUFFIXES[0]}"


def _module_name(path: Path) -> str:
    return path.name.split(".", 1)[0]


def load(path: Path) -> ModuleType | None:
    """The built module at `path`, or None if there is none (or it cannot be loaded)."""
    if not path.is_file():
        return None
    try:
        spec = importlib.util.spec_from_file_location(_module_name(path), path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, OSError) as err:
        log.warning("cannot load the MinHash kernel build %s: %s", path, err)
        return None
    return module


def build(path: Path) -> None:
    """Compile the kernel ahead of time into `path` (imports numba; about 5-10 s, once per machine)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".build-", dir=path.parent)  # same filesystem: the rename is atomic
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numba.pycc announces its own deprecation
            from numba.pycc import CC

            from filters import minhash_kernel

            cc = CC(_module_name(path))
            cc.target_cpu = "host"  # the JIT's instruction set (about 4x the generic build's speed)
            cc.output_dir = work
            cc.export("sketch", minhash_kernel.SIGNATURE)(minhash_kernel.sketch.py_func)
            cc.compile()
        built = next(Path(work).glob(_module_name(path) + ".*"))
        os.replace(built, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def load_or_build(path: Path) -> ModuleType | None:
    """The built kernel, built first if this machine has none; None (use the JIT) if that fails."""
    module = load(path)
    if module is not None:
        return module
    log.info("building the MinHash kernel ahead of time into %s (once per machine)", path)
    try:
        build(path)
    except Exception as err:  # noqa: BLE001 - any build failure leaves the JIT, which gives the same results
        log.warning("MinHash kernel not built ahead of time (%s); numba's JIT is used instead", err)
        return None
    return load(path)
