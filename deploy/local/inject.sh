#!/usr/bin/env bash
# Inject a fault into the running demo (`make demo`), or take it away again.
#
#   deploy/local/inject.sh latency [SECONDS]   slow ranking model (default 0.3 s per request)
#   deploy/local/inject.sh errors [SHARE]      share of failing requests (default 0.3)
#   deploy/local/inject.sh down [SERVER,...]   kill model server(s) (default triton; embedder too)
#   deploy/local/inject.sh up                  start stopped servers again
#   deploy/local/inject.sh version             deploy the next ranker version (Triton, MLServer)
#   deploy/local/inject.sh rollback            back to version 1
#   deploy/local/inject.sh reset               no latency, normal errors, all servers up (version stays)
#   deploy/local/inject.sh show                current settings
#
# It only writes the demo's control file (deploy/local/control.py); the running demo,
# its traffic and its servers' ranking model pick the change up within a second.
# DEMO_STATE_DIR selects a demo started with --state-dir (default: .demo in the repository).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
[ -x "$python" ] || python=python3
state=${DEMO_STATE_DIR:-$repo/.demo}
export RANKER_CONTROL_FILE="$state/control.json"

usage() {
  sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

case "${1:-}" in
  latency | errors | down | up | version | rollback | reset | show) ;;
  *) usage ;;
esac
if [ ! -f "$RANKER_CONTROL_FILE" ]; then
  echo "inject: no demo state in $state (start one with 'make demo')" >&2
  exit 1
fi

control() { "$python" "$here/control.py" "$@"; }

case "${1:-}" in
  latency) control set "latency_seconds=${2:-0.3}" ;;
  errors) control set "error_share=${2:-0.3}" ;;
  down) control set "down=${2:-triton}" ;;
  up) control set "down=" ;;
  version)
    current=$(control show | "$python" -c 'import json, sys; print(json.load(sys.stdin)["model_version"])')
    control set "model_version=$((current + 1))"
    ;;
  rollback) control set "model_version=1" ;;
  reset) control reset ;;
  show) control show ;;
esac
