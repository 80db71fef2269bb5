#!/usr/bin/env bash
# Build and push the worker image: infra/dataflow/build.sh IMAGE [docker build flags...]
#   infra/dataflow/build.sh us-docker.pkg.dev/my-project/kosmos/worker:0.1.0
#   infra/dataflow/build.sh IMAGE --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu   # CPU-only
# Needs a Docker engine with BuildKit (it reads infra/dataflow/Dockerfile.dockerignore) and push rights
# (gcloud auth configure-docker us-docker.pkg.dev). Not available on the dev machine (no Docker engine).
# PUSH=0 builds without pushing.
set -euo pipefail
if [[ $# -lt 1 ]]; then sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
IMAGE=$1; shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
beam_version=$(grep '^apache-beam==' "$ROOT/requirements/lock.txt" | cut -d= -f3)
DOCKER_BUILDKIT=1 docker build -f "$ROOT/infra/dataflow/Dockerfile" --build-arg BEAM_VERSION="$beam_version" \
  -t "$IMAGE" "$@" "$ROOT"
[[ "${PUSH:-1}" == 0 ]] || docker push "$IMAGE"
