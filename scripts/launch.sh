#!/usr/bin/env bash
# Starts N local processes of a command as one distributed run, with the environment variables torchrun
# sets (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), for users without
# torchrun. If one process fails, the others are stopped and the script exits with its status.
#   scripts/launch.sh -n 2 [--port 29500] [--addr 127.0.0.1] -- build/flatclr --threads=1 ...
# On several machines use torchrun (or set the same variables by hand): flatclr reads only the variables.
set -euo pipefail

usage() {
  echo "usage: $0 -n N [--port PORT] [--addr ADDR] -- command [args...]" >&2
  exit 2
}

n=""
port=29500
addr=127.0.0.1
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n | --nproc) n="${2:-}"; shift 2 ;;
    --port) port="${2:-}"; shift 2 ;;
    --addr) addr="${2:-}"; shift 2 ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "$0: -n expects a positive process count, got '$n'" >&2; usage; }
[[ "$port" =~ ^[0-9]+$ ]] && ((port >= 1 && port <= 65535)) || { echo "$0: --port expects 1..65535, got '$port'" >&2; exit 2; }
[[ $# -gt 0 ]] || usage

pids=()
stop_all() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
}
trap 'stop_all; exit 130' INT TERM

for ((r = 0; r < n; r++)); do
  RANK=$r LOCAL_RANK=$r WORLD_SIZE=$n LOCAL_WORLD_SIZE=$n MASTER_ADDR=$addr MASTER_PORT=$port "$@" &
  pids+=($!)
done

status=0
while ((${#pids[@]} > 0)); do
  done_pid=""
  set +e
  wait -n -p done_pid "${pids[@]}"
  code=$?
  set -e
  [[ -n "$done_pid" ]] || break
  left=()
  for p in "${pids[@]}"; do [[ "$p" == "$done_pid" ]] || left+=("$p"); done
  pids=("${left[@]+"${left[@]}"}")
  if ((code != 0 && status == 0)); then
    status=$code
    echo "launch.sh: process $done_pid exited with status $code; stopping the others" >&2
    stop_all
  fi
done
exit $status
