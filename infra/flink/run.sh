#!/usr/bin/env bash
# Run one kosmos-corpus pipeline on a Flink cluster with Beam's FlinkRunner (portable: the Beam job
# server translates the graph to a Flink job; Python SDK workers run our DoFns beside each TaskManager).
#
#   FLINK_MASTER=jobmanager:8081 IMAGE=us-docker.pkg.dev/P/kosmos/worker:0.1.0 PARALLELISM=256 \
#     infra/flink/run.sh interleaved --warc 's3://bucket/cc/*.warc.gz' --output s3://bucket/corpus/interleaved
#
# Everything after the pipeline name goes to `kosmos-corpus <pipeline>` (its flags and any Beam option).
# Environment (defaults in brackets):
#   FLINK_MASTER   JobManager REST address host:port ([local] = an embedded Flink in the job server, for smoke tests)
#   FLINK_VERSION  the cluster's Flink version, one Beam publishes a job server for: 1.19 1.20 2.0 2.1 2.2 [1.19]
#   PARALLELISM    default parallelism of the job [-1: the cluster's]
#   ENVIRONMENT    how SDK workers start: DOCKER (default; IMAGE on every TaskManager host), EXTERNAL (a worker
#                  pool beside each TaskManager, WORKER_POOL=host:port [localhost:50000]), LOOPBACK (local only)
#   IMAGE          SDK container for DOCKER: the worker image of infra/dataflow/Dockerfile works unchanged
#   SDK_WORKER_PARALLELISM  SDK worker processes per TaskManager [0: one per task slot]
#   JOB_SERVER_JAR a local beam-runners-flink-<ver>-job-server-<beam>.jar (else Beam downloads it from Maven
#                  Central at run time, into ~/.apache_beam/cache/jars: the launching host needs Java 11+ and
#                  internet, or the jar copied there)
#   UBER_JAR=1     submit one self-contained jar to the JobManager's REST API instead of running a job server
#   KOSMOS_CORPUS  [kosmos-corpus]        DRY_RUN=1 prints the command only
# Needs a Flink cluster (standalone, Kubernetes, YARN on Dataproc/EMR): cannot run on the dev machine, where
# the job-server jar cannot be downloaded. The same portable path (job service + external worker pool) is
# tested locally by tests/pipelines/test_portable_runner.py.
set -euo pipefail

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;/^set -euo/d'; exit 2; fi
PIPELINE=$1; shift
: "${FLINK_MASTER:?set FLINK_MASTER=host:8081 (or [local])}"
ENVIRONMENT=${ENVIRONMENT:-DOCKER}
flags=(
  --runner=FlinkRunner
  --flink_master="$FLINK_MASTER"
  --flink_version="${FLINK_VERSION:-1.19}"
  --parallelism="${PARALLELISM:--1}"
  --environment_type="$ENVIRONMENT"
  --sdk_worker_parallelism="${SDK_WORKER_PARALLELISM:-0}"
)
case "$ENVIRONMENT" in
  DOCKER)   flags+=(--environment_config="${IMAGE:?set IMAGE to the SDK worker image}") ;;
  EXTERNAL) flags+=(--environment_config="${WORKER_POOL:-localhost:50000}") ;;
  LOOPBACK) ;;
  *) echo "run.sh: ENVIRONMENT must be DOCKER, EXTERNAL or LOOPBACK" >&2; exit 2 ;;
esac
[[ -z "${JOB_SERVER_JAR:-}" ]] || flags+=(--flink_job_server_jar="$JOB_SERVER_JAR")
[[ -z "${UBER_JAR:-}" ]] || flags+=(--flink_submit_uber_jar)

cmd=("${KOSMOS_CORPUS:-kosmos-corpus}" "$PIPELINE" "${flags[@]}" "$@")
if [[ -n "${DRY_RUN:-}" ]]; then printf '%q ' "${cmd[@]}"; echo; exit 0; fi
exec "${cmd[@]}"
