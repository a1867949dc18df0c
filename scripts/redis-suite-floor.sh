#!/usr/bin/env bash
# Runs the Redis test suite (../shared/tools/redis-suite.sh) against a fresh
# Ferrocache and fails if any unit file passes fewer tests than the floor in
# docs/compatibility.md (rows like "| unit/keyspace | 41 | 53 |").
# A unit file below its floor is run once more on its own against a fresh
# server (blocking commands sent on different connections within
# microseconds may be served in either order by two worker threads, and one
# such test can stall a whole unit file); the retry is reported.
# Skipped (with a note) when the shared tools are not present.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/release/ferrocache}"
SUITE="${REDIS_SUITE:-../shared/tools/redis-suite.sh}"
if [ ! -x "$SUITE" ]; then
  echo "redis-suite floor: $SUITE not present, skipping"
  exit 0
fi
floor=$(awk -F'|' '/^\| unit\// {gsub(/ /,"",$2); gsub(/ /,"",$3); print $2"\t"$3}' docs/compatibility.md)
files=$(printf '%s\n' "$floor" | cut -f1 | paste -sd, -)
pid=""
trap 'if [ -n "$pid" ]; then kill $pid 2>/dev/null || true; fi' EXIT

# Starts a fresh server on a free port; sets $pid and $port.
start_server() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # Its own directory: the suite's SAVE / FLUSHALL leave a dump.rdb, which
  # the next server must not load.
  dir=$(mktemp -d /tmp/ferrocache-suite.XXXXXX)
  "$BIN" server --port "$port" --dir "$dir" --enable-protected-configs yes >>/tmp/ferrocache-suite.log 2>&1 &
  pid=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
}

passed() { awk -v u="$1" '$1==u && $2=="passed" {print $3}' "$2"; }

: >/tmp/ferrocache-suite.log
start_server
out=$(mktemp)
"$SUITE" --files "$files" 127.0.0.1 "$port" | tee "$out" || true
fail=0
while IFS=$'\t' read -r unit min; do
  got=$(passed "$unit" "$out")
  got=${got:-0}
  if [ "$got" -lt "$min" ]; then
    start_server
    again=$(mktemp)
    "$SUITE" --files "$unit" 127.0.0.1 "$port" | tee "$again" || true
    retry=$(passed "$unit" "$again")
    retry=${retry:-0}
    if [ "$retry" -ge "$min" ]; then
      echo "RETRIED: $unit passed $got, then $retry on a fresh server (floor $min)"
    else
      echo "FLOOR BROKEN: $unit passed $got, then $retry < $min"
      fail=1
    fi
  fi
done <<< "$floor"
[ $fail = 0 ] && echo "redis-suite floor: all unit files at or above their floor"
exit $fail
