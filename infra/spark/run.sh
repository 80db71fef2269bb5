#!/usr/bin/env bash
# Run one kosmos-corpus pipeline with Beam's SparkRunner (portable: the Beam Spark job server turns the
# graph into Spark stages; Python SDK workers run our DoFns beside each executor).
#
#   # a standalone Spark cluster (spark://, the master's job server mode):
#   SPARK_MASTER=spark://master:7077 IMAGE=us-docker.pkg.dev/P/kosmos/worker:0.1.0 \
#     infra/spark/run.sh text --input 's3://bucket/docs/*.jsonl.gz' --output s3://bucket/corpus/text
#   # YARN (Dataproc, EMR): write a self-contained jar, then submit it with spark-submit (see README.md):
#   JAR=kosmos-text.jar IMAGE=... infra/spark/run.sh text --input ... --output gs://bucket/corpus/text
#
# Everything after the pipeline name goes to `kosmos-corpus <pipeline>` (its flags and any Beam option).
# Environment (defaults in brackets):
#   SPARK_MASTER   spark://host:7077 of a standalone cluster [local[4]: Spark inside the job server, smoke tests]
#   JAR            write the pipeline as a jar for spark-submit (--output_executable_path) instead of running it
#   REST_URL       with UBER_JAR=1: the standalone master's REST URL (http://master:6066) to submit an uber jar
#   ENVIRONMENT    DOCKER (default; IMAGE on every executor host), EXTERNAL (a worker pool beside each
#                  executor, WORKER_POOL=host:port [localhost:50000]), LOOPBACK (local only)
#   IMAGE          SDK container for DOCKER: the worker image of infra/dataflow/Dockerfile works unchanged
#   SDK_WORKER_PARALLELISM  SDK worker processes per executor [0: one per core]
#   JOB_SERVER_JAR a local beam-runners-spark-3-job-server-<beam>.jar (else Beam downloads it from Maven
#                  Central at run time into ~/.apache_beam/cache/jars: needs Java 11+ and internet)
#   KOSMOS_CORPUS  [kosmos-corpus]        DRY_RUN=1 prints the command only
# Needs a Spark cluster: cannot run on the dev machine, where the job-server jar cannot be downloaded. The
# same portable path (job service + external worker pool) is tested by tests/pipelines/test_portable_runner.py.
set -euo pipefail

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;/^set -euo/d'; exit 2; fi
PIPELINE=$1; shift
ENVIRONMENT=${ENVIRONMENT:-DOCKER}
flags=(
  --runner=SparkRunner
  --spark_version=3
  --environment_type="$ENVIRONMENT"
  --sdk_worker_parallelism="${SDK_WORKER_PARALLELISM:-0}"
)
[[ -z "${SPARK_MASTER:-}" ]] || flags+=(--spark_master_url="$SPARK_MASTER")
case "$ENVIRONMENT" in
  DOCKER)   flags+=(--environment_config="${IMAGE:?set IMAGE to the SDK worker image}") ;;
  EXTERNAL) flags+=(--environment_config="${WORKER_POOL:-localhost:50000}") ;;
  LOOPBACK) ;;
  *) echo "run.sh: ENVIRONMENT must be DOCKER, EXTERNAL or LOOPBACK" >&2; exit 2 ;;
esac
[[ -z "${JAR:-}" ]] || flags+=(--output_executable_path="$JAR")
[[ -z "${UBER_JAR:-}" ]] || flags+=(--spark_submit_uber_jar --spark_rest_url="${REST_URL:?set REST_URL=http://master:6066}")
[[ -z "${JOB_SERVER_JAR:-}" ]] || flags+=(--spark_job_server_jar="$JOB_SERVER_JAR")

cmd=("${KOSMOS_CORPUS:-kosmos-corpus}" "$PIPELINE" "${flags[@]}" "$@")
if [[ -n "${DRY_RUN:-}" ]]; then printf '%q ' "${cmd[@]}"; echo; exit 0; fi
exec "${cmd[@]}"
