#!/usr/bin/env bash
# Run one kosmos-corpus pipeline on Google Cloud Dataflow (Runner v2, custom SDK container).
#
#   PROJECT=my-project BUCKET=gs://my-bucket IMAGE=us-docker.pkg.dev/my-project/kosmos/worker:0.1.0 \
#     infra/dataflow/launch.sh image-text --input 'gs://my-bucket/laion/*.parquet' \
#       --output gs://my-bucket/corpus/image_text --drops gs://my-bucket/drops/image_text
#
# Everything after the pipeline name goes to `kosmos-corpus <pipeline>`: its own flags and any
# further Beam/Dataflow option (a later flag wins over the ones this script adds).
#
# Environment (defaults in brackets):
#   PROJECT        GCP project id (required)
#   REGION         Dataflow region [us-central1]
#   BUCKET         gs:// bucket for temp and staging files (required unless TEMP_LOCATION is set)
#   TEMP_LOCATION  [$BUCKET/dataflow/tmp]          STAGING_LOCATION [$BUCKET/dataflow/staging]
#   IMAGE          the worker container built from infra/dataflow/Dockerfile (required: the
#                  default Beam image does not have this project's code or dependencies)
#   MACHINE_TYPE   worker machine type [n2-standard-8 without GPU, g2-standard-8 with GPU_TYPE=nvidia-l4]
#   NUM_WORKERS    initial workers [10]          MAX_WORKERS   autoscaling cap [100]
#   DISK_SIZE_GB   per worker boot disk [100]   JOB_NAME      [kosmos-<pipeline>-<UTC time>]
#   GPU_TYPE       e.g. nvidia-l4, nvidia-tesla-t4: give workers GPUs (for CLIP scoring; add --clip-device cuda
#                  or leave the default 'auto')             GPU_COUNT  GPUs per worker [1]
#   GPU_MODE       service: --dataflow_service_options=worker_accelerator=... (every worker gets GPUs) [default]
#                  hint:    --resource_hints=accelerator=... (the same, as a pipeline-level resource hint)
#                  stage:   --clip-accelerator=... (a hint on the download + CLIP step only: Dataflow's right
#                           fitting gives GPUs to that step's workers, the rest run on CPU workers)
#   SERVICE_ACCOUNT  worker service account email        SUBNETWORK  regions/R/subnetworks/S
#   KOSMOS_CORPUS  the CLI to run [kosmos-corpus]        DRY_RUN=1  print the command, run nothing
#
# Needs a GCP account, a bucket and a pushed IMAGE: cannot run on the dev machine. tests/test_infra.py
# runs this script with the offline flags (--no_auth --dataflow_endpoint=http://localhost:1
# --template_location=...) and checks the job it would submit for each pipeline.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;/^set -euo/d'; }
if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then usage; exit 2; fi
PIPELINE=$1; shift
case "$PIPELINE" in
  text|image-text|interleaved) ;;
  *) echo "launch.sh: unknown pipeline '$PIPELINE' (text, image-text, interleaved)" >&2; exit 2 ;;
esac

: "${PROJECT:?set PROJECT to the GCP project id}"
: "${IMAGE:?set IMAGE to the worker container (build it with infra/dataflow/build.sh)}"
REGION=${REGION:-us-central1}
if [[ -z "${TEMP_LOCATION:-}" ]]; then
  : "${BUCKET:?set BUCKET (gs://...) or TEMP_LOCATION}"
  TEMP_LOCATION=${BUCKET%/}/dataflow/tmp
fi
STAGING_LOCATION=${STAGING_LOCATION:-${BUCKET:+${BUCKET%/}/dataflow/staging}}
STAGING_LOCATION=${STAGING_LOCATION:-$TEMP_LOCATION/staging}
GPU_TYPE=${GPU_TYPE:-}
GPU_COUNT=${GPU_COUNT:-1}
GPU_MODE=${GPU_MODE:-service}
if [[ -n "$GPU_TYPE" ]]; then
  default_machine=g2-standard-8
  [[ "$GPU_TYPE" == nvidia-l4 ]] || default_machine=n1-standard-8
else
  default_machine=n2-standard-8
fi
MACHINE_TYPE=${MACHINE_TYPE:-$default_machine}
NUM_WORKERS=${NUM_WORKERS:-10}
MAX_WORKERS=${MAX_WORKERS:-100}
DISK_SIZE_GB=${DISK_SIZE_GB:-100}
JOB_NAME=${JOB_NAME:-kosmos-${PIPELINE}-$(date -u +%Y%m%d-%H%M%S)}
KOSMOS_CORPUS=${KOSMOS_CORPUS:-kosmos-corpus}

flags=(
  --runner=DataflowRunner
  --project="$PROJECT"
  --region="$REGION"
  --temp_location="$TEMP_LOCATION"
  --staging_location="$STAGING_LOCATION"
  --job_name="$JOB_NAME"
  # Our code and every dependency live in the image; do not stage the SDK tarball or a requirements file.
  --sdk_container_image="$IMAGE"
  --sdk_location=container
  --machine_type="$MACHINE_TYPE"
  --num_workers="$NUM_WORKERS"
  --max_num_workers="$MAX_WORKERS"
  --autoscaling_algorithm=THROUGHPUT_BASED
  --disk_size_gb="$DISK_SIZE_GB"
  --experiments=use_runner_v2
)
if [[ -n "$GPU_TYPE" ]]; then
  accel="type:${GPU_TYPE};count:${GPU_COUNT};install-nvidia-driver"
  case "$GPU_MODE" in
    service) flags+=(--dataflow_service_options="worker_accelerator=${accel}") ;;
    hint)    flags+=(--resource_hints="accelerator=${accel}") ;;
    stage)   flags+=(--clip-accelerator="${accel}") ;;  # only the download + CLIP step (right fitting)
    *) echo "launch.sh: GPU_MODE must be service, hint or stage" >&2; exit 2 ;;
  esac
  # One SDK process per worker VM, so the CLIP model is loaded once per GPU (not once per vCPU).
  flags+=(--experiments=no_use_multiple_sdk_containers)
fi
[[ -z "${SERVICE_ACCOUNT:-}" ]] || flags+=(--service_account_email="$SERVICE_ACCOUNT")
[[ -z "${SUBNETWORK:-}" ]] || flags+=(--subnetwork="$SUBNETWORK")

cmd=("$KOSMOS_CORPUS" "$PIPELINE" "${flags[@]}" "$@")
if [[ -n "${DRY_RUN:-}" ]]; then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi
exec "${cmd[@]}"
