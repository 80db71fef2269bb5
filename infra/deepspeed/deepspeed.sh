#!/usr/bin/env bash
# Multi-node kosmos_train under the DeepSpeed launcher. Run it ONCE, on the first host of the hostfile:
# the launcher starts the processes on every host over ssh (pdsh by default).
#
#   HOSTFILE=infra/deepspeed/hostfile MASTER_ADDR=node-001 \
#     infra/deepspeed/deepspeed.sh --config kosmos1 --deepspeed infra/deepspeed/zero2.json \
#       --data text=gs://b/text image_text=gs://b/image_text interleaved=gs://b/interleaved --output /shared/runs/k1
#
# Arguments are `kosmos_train train` flags. Environment (defaults in brackets):
#   HOSTFILE   lines "hostname slots=N" (see hostfile.example); without it: one node, NUM_GPUS processes
#   NUM_GPUS   processes on the local node when there is no HOSTFILE [all GPUs]
#   MASTER_ADDR [first host of HOSTFILE, else 127.0.0.1]    MASTER_PORT [29500]
#   LAUNCHER   pdsh (default), openmpi, mvapich, slurm, ...: how the launcher reaches the other hosts
#   DEEPSPEED  the launcher binary [deepspeed]
#   On CPU (tests, smoke runs) set DS_ACCELERATOR=cpu; the gloo backend is used automatically.
# Multi-node needs passwordless ssh between the hosts, the same paths and environment on every host
# (variables listed in ./.deepspeed_env are exported to the remote processes, e.g. NCCL_* settings),
# and an --output directory on a shared filesystem.
set -euo pipefail

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;/^set -euo/d'; exit 0; fi
DEEPSPEED=${DEEPSPEED:-deepspeed}
MASTER_PORT=${MASTER_PORT:-29500}
launcher=("$DEEPSPEED")
if [[ -n "${HOSTFILE:-}" ]]; then
  first_host=$(grep -v '^[[:space:]]*\(#\|$\)' "$HOSTFILE" | head -n1 | awk '{print $1}')
  launcher+=(--hostfile "$HOSTFILE" --master_addr "${MASTER_ADDR:-$first_host}")
  [[ -z "${LAUNCHER:-}" ]] || launcher+=(--launcher "$LAUNCHER")
else
  [[ -z "${NUM_GPUS:-}" ]] || launcher+=(--num_gpus "$NUM_GPUS")
  launcher+=(--master_addr "${MASTER_ADDR:-127.0.0.1}")
fi
launcher+=(--master_port "$MASTER_PORT")

exec "${launcher[@]}" --module kosmos_train.cli train "$@"
