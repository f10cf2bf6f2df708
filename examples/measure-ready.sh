#!/usr/bin/env bash
# Time from starting `fhr local` to its outputs JSON on stdout (READY), over N runs, then stop it with
# SIGTERM and check that it exits cleanly. Usage: examples/measure-ready.sh [runs=5] [stack=dev]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runs=${1:-5}
stack=${2:-dev}
for _ in $(seq "$runs"); do
  start=$(date +%s.%N)
  coproc LOCAL { exec "$here/../venv/bin/fhr" local --stack "$stack" --port 0 --no-schedules 2>/dev/null; }
  while IFS= read -r line <&"${LOCAL[0]}"; do [ "$line" = "}" ] && break; done
  end=$(date +%s.%N)
  kill -TERM "$LOCAL_PID"
  wait "$LOCAL_PID"
  echo "READY $(echo "$end - $start" | bc) s"
done
