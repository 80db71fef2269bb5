#!/usr/bin/env bash
# The GPU check in one go: install what the lent machine lacks from carried wheels, then
# benchmarks/gpu_check.py (model bench with and without activation checkpointing, 20 training steps
# of kosmos1 with a random CLIP on demo-like shards, the plan's prediction beside each) -> $OUT.
#
#   bash benchmarks/gpu_check.sh                          # on the GPU machine (kosmos1)
#   CONFIG=tiny DEVICE=cpu OUT=/tmp/gc bash benchmarks/gpu_check.sh   # CPU rehearsal (tiny)
#
# The lent machine (Python 3.12, torch, transformers, timm, pyarrow) lacks DeepSpeed, open_clip and
# SentencePiece. Prepare the wheels on this side, then carry shared/wheels with the run:
#   pip wheel --no-deps -w shared/wheels deepspeed==0.19.8          # pure Python: ops JIT on first use
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#       -d shared/wheels open_clip_torch==3.3.0 sentencepiece==0.2.3 ftfy wcwidth hjson ninja py-cpuinfo
# Without DeepSpeed the model bench falls back to its fp32-master AdamW; the training steps need it.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS="${WHEELS:-shared/wheels}"
PY="${PYTHON:-python3}"
if [ -x .venv/bin/python ] && [ "${DEVICE:-cuda}" = cpu ]; then PY=.venv/bin/python; fi
if compgen -G "$WHEELS/*.whl" > /dev/null; then
  # cp312 wheels carried over (deepspeed, open_clip_torch, webdataset, sentencepiece, ...); no index
  "$PY" -m pip install --no-index --find-links "$WHEELS" --no-deps "$WHEELS"/*.whl 2>&1 | tail -3
fi
export OUT="${OUT:-out/gpu_check}" HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
exec "$PY" benchmarks/gpu_check.py --config "${CONFIG:-kosmos1}" --device "${DEVICE:-cuda}" --steps "${STEPS:-20}"
