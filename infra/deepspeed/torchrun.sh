#!/usr/bin/env bash
# Multi-node kosmos_train under torchrun (c10d rendezvous: run the SAME command on every node).
#
#   # on each of 4 nodes with 8 GPUs (or from slurm.sbatch, which sets these for you):
#   NNODES=4 NPROC_PER_NODE=8 MASTER_ADDR=node-001 MASTER_PORT=29500 RDZV_ID=kosmos1 \
#     infra/deepspeed/torchrun.sh --config kosmos1 --deepspeed infra/deepspeed/zero2.json \
#       --data text=gs://b/text image_text=gs://b/image_text interleaved=gs://b/interleaved --output /shared/runs/k1
#
# Arguments are `kosmos_train train` flags. Environment (defaults in brackets):
#   NNODES [1]   NPROC_PER_NODE [GPUs from nvidia-smi, else 1]   MASTER_ADDR [127.0.0.1]   MASTER_PORT [29500]
#   RDZV_ID [kosmos]: the same on all nodes of one job     MAX_RESTARTS [0]: torchrun restarts all workers
#   after a failure this many times; the run resumes from its newest checkpoint (same world size)
#   PYTHON [python3]: the interpreter of the environment that has kosmos_train installed
#   On CPU (tests, smoke runs) the gloo backend is used automatically.
# The run directory (--output) must be on a filesystem every node sees (checkpoints are sharded per rank).
set -euo pipefail

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;/^set -euo/d'; exit 0; fi
PYTHON=${PYTHON:-python3}
NNODES=${NNODES:-1}
if [[ -z "${NPROC_PER_NODE:-}" ]]; then
  NPROC_PER_NODE=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
  [[ "$NPROC_PER_NODE" -gt 0 ]] || NPROC_PER_NODE=1
fi
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=${MASTER_PORT:-29500}
RDZV_ID=${RDZV_ID:-kosmos}
MAX_RESTARTS=${MAX_RESTARTS:-0}

exec "$PYTHON" -m torch.distributed.run \
  --nnodes "$NNODES" --nproc_per_node "$NPROC_PER_NODE" \
  --rdzv_backend c10d --rdzv_endpoint "$MASTER_ADDR:$MASTER_PORT" --rdzv_id "$RDZV_ID" \
  --max_restarts "$MAX_RESTARTS" \
  -m kosmos_train.cli train "$@"
