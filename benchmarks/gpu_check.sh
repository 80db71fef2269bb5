#!/usr/bin/env bash
# The GPU check in one go: install what the lent machine lacks from carried wheels, then
# benchmarks/gpu_check.py (model bench with and without activation checkpointing, 20 training steps
# of kosmos1 with a random CLIP on demo-like shards, the plan's prediction beside each) -> $OUT.
#
#   bash benchmarks/gpu_check.sh                          # on the GPU machine (kosmos1)
#   CONFIG=tiny DEVICE=cpu OUT=/tmp/gc bash benchmarks/gpu_check.sh   # CPU rehearsal (tiny)
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
