#!/usr/bin/env bash
# Writes to a primary with one replica attached: redis-server (primary and
# replica) against Ferrocache (primary and replica), same machine, same run,
# interleaved rounds. Reports per round the primary's throughput and the
# CPU time the primary and the replica spent (ticks of 10 ms, from
# /proc/<pid>/stat), and the median throughput ratio.
#
# Usage: bench/replication.sh [ROUNDS] [BINARY]   (defaults: 3, target/release/ferrocache)
# Needs redis-server and redis-benchmark. Uses ports 7501-7504 and /tmp/ferro-repl-bench.
set -euo pipefail
rounds=${1:-3}
bin=$(realpath "${2:-target/release/ferrocache}")
work=/tmp/ferro-repl-bench
rm -rf "$work" && mkdir -p "$work"/{rp,rr,fp,fr}

cleanup() {
  for p in 7501 7502 7503 7504; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
cleanup

redis-server --port 7501 --dir "$work/rp" --save '' --daemonize yes >/dev/null
redis-server --port 7502 --dir "$work/rr" --save '' --daemonize yes --replicaof "127.0.0.1 7501" >/dev/null
"$bin" server --port 7503 --dir "$work/fp" --save '' >"$work/fp.log" 2>&1 &
"$bin" server --port 7504 --dir "$work/fr" --save '' --replicaof 127.0.0.1 7503 >"$work/fr.log" 2>&1 &
for p in 7502 7504; do
  for _ in $(seq 100); do
    redis-cli -p "$p" info replication 2>/dev/null | grep -q "master_link_status:up" && break
    sleep 0.1
  done
done

pid() { pgrep -f "$1" | head -1; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
declare -A primary=([7501]=$(pid "redis-server.*:7501") [7503]=$(pid "port 7503"))
declare -A replica=([7501]=$(pid "redis-server.*:7502") [7503]=$(pid "port 7504"))

run() { # port, benchmark args -> "ops primary_ticks replica_ticks"
  local port=$1; shift
  local p0 r0 ops
  p0=$(ticks "${primary[$port]}"); r0=$(ticks "${replica[$port]}")
  ops=$(redis-benchmark -p "$port" -t set "$@" -d 32 -r 100000 -q 2>&1 | tr '\r' '\n' |
    grep "requests per second" | tail -1 | awk '{print $2}')
  echo "$ops $(( $(ticks "${primary[$port]}") - p0 )) $(( $(ticks "${replica[$port]}") - r0 ))"
}

for workload in "-c 50 -n 200000" "-c 50 -P 16 -n 1000000"; do
  ratios=()
  echo "== SET 32 B $workload (ops/s, primary ticks, replica ticks)"
  for r in $(seq "$rounds"); do
    # shellcheck disable=SC2086
    read -r rops rpt rrt <<<"$(run 7501 $workload)"
    # shellcheck disable=SC2086
    read -r fops fpt frt <<<"$(run 7503 $workload)"
    ratio=$(awk -v a="$fops" -v b="$rops" 'BEGIN{printf "%.2f", a/b}')
    ratios+=("$ratio")
    echo "round $r: redis $rops ($rpt, $rrt)  ferrocache $fops ($fpt, $frt)  ratio $ratio"
  done
  echo "median ratio: $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')"
done
d1=$(redis-cli -p 7503 debug digest); d2=$(redis-cli -p 7504 debug digest)
[ "$d1" = "$d2" ] && echo "ferrocache replica digest matches the primary" || echo "DIGEST MISMATCH: $d1 vs $d2"
