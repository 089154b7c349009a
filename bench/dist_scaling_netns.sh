#!/usr/bin/env bash
# Measured against predicted scaling across hosts on one machine: H Linux network namespaces (the hosts),
# each with one veth end named fce0 at 10.233.0.<h+1>/24, the other ends joined by a bridge in a namespace
# of its own; build/bench_dist_scaling then runs rank r inside host r (Gloo over fce0, rank 0's address as
# MASTER_ADDR) and prints each world's measurement beside the model's prediction. --rate shapes every host's
# outgoing link with tc's token bucket (e.g. --rate 400mbit) to put the run into a bandwidth-bound regime;
# --delay adds a one-way delay with tc netem (needs the sch_netem module). Needs root and iproute2. Everything is removed on exit (trap), also after a failure
# or Ctrl-C; every command is bounded in time.
#   bench/dist_scaling_netns.sh [--hosts 2] [--rate R] [--delay D] [--bench build/bench_dist_scaling]
#                               [--timeout 900] -- [bench_dist_scaling flags, e.g. --batch 32 --width 0.125]
set -euo pipefail

hosts=2 rate="" delay="" bench=build/bench_dist_scaling limit=900
while [[ $# -gt 0 ]]; do
  case "$1" in
    --hosts) hosts=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --delay) delay=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "needs root (ip netns add)" >&2; exit 1; }
[[ -x $bench ]] || { echo "$bench not found: build it (cmake --build build --target bench_dist_scaling)" >&2; exit 1; }
(( hosts >= 2 && hosts <= 8 )) || { echo "--hosts $hosts: 2 to 8" >&2; exit 2; }

id=$$
br_ns="fcs${id}br"
t() { timeout -k 2 10 "$@"; }  # every setup command bounded in time
cleanup() {
  for h in $(seq 0 $((hosts - 1))); do
    for p in $(t ip netns pids "fcs${id}h$h" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    t ip netns del "fcs${id}h$h" 2>/dev/null || true
  done
  t ip netns del "$br_ns" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

t ip netns add "$br_ns"
t ip -n "$br_ns" link add br0 type bridge
t ip -n "$br_ns" link set br0 up
for h in $(seq 0 $((hosts - 1))); do
  ns="fcs${id}h$h"
  t ip netns add "$ns"
  t ip link add "fs${id}a$h" type veth peer name "fs${id}b$h"
  t ip link set "fs${id}a$h" netns "$ns"
  t ip -n "$ns" link set "fs${id}a$h" name fce0
  t ip -n "$ns" addr add "10.233.0.$((h + 1))/24" dev fce0
  t ip -n "$ns" link set fce0 up
  t ip -n "$ns" link set lo up
  t ip link set "fs${id}b$h" netns "$br_ns"
  t ip -n "$br_ns" link set "fs${id}b$h" master br0
  t ip -n "$br_ns" link set "fs${id}b$h" up
  # Token bucket for the rate (sch_tbf), netem for a delay (sch_netem, which not every kernel has).
  if [[ -n $delay ]]; then
    t ip netns exec "$ns" tc qdisc add dev fce0 root handle 1: netem delay "$delay" limit 100000
    [[ -z $rate ]] || t ip netns exec "$ns" tc qdisc add dev fce0 parent 1: handle 2: tbf rate "$rate" burst 64kb latency 200ms
  elif [[ -n $rate ]]; then
    t ip netns exec "$ns" tc qdisc add dev fce0 root tbf rate "$rate" burst 64kb latency 200ms
  fi
done
# Every host reaches rank 0's host before the benchmark starts: a TCP connection to a closed port there is
# refused at once when the host is reachable, and times out (124) when it is not.
for h in $(seq 1 $((hosts - 1))); do
  rc=0
  timeout 3 ip netns exec "fcs${id}h$h" bash -c ': </dev/tcp/10.233.0.1/9' 2>/dev/null || rc=$?
  [[ $rc != 124 ]] || { echo "host $h cannot reach 10.233.0.1" >&2; exit 1; }
done
echo "hosts: $hosts network namespaces on a bridge (veth), link ${rate:-unshaped}${delay:+, delay $delay each way}"
worlds=$(seq -s, 1 "$hosts")
GLOO_SOCKET_IFNAME=fce0 timeout -k 5 "$limit" "$bench" --worlds "$worlds" --master_addr 10.233.0.1 \
  --rank_prefix "ip netns exec fcs${id}h{r}" "$@"
