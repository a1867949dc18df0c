#!/usr/bin/env bash
# Runs the memcached test suites (../shared/tools/mc-suite.sh: memccapable and
# memcached's own Perl tests) against a fresh memcached-engine node and fails
# if fewer tests pass than the floor in docs/compatibility.md (the row
# "| mc-suite total | N | of |"). Skipped (with a note) when the shared
# tools are not present.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/release/ferrocache}"
SUITE="${MC_SUITE:-../shared/tools/mc-suite.sh}"
if [ ! -x "$SUITE" ]; then
  echo "mc-suite floor: $SUITE not present, skipping"
  exit 0
fi
floor=$(awk -F'|' '/^\| mc-suite total/ {gsub(/ /,"",$3); print $3}' docs/compatibility.md)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" server --engine memcached -p "$port" -l 127.0.0.1 >/tmp/ferrocache-mc-suite.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  printf 'version\r\n' | timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; head -c 7 <&3" 2>/dev/null | grep -q VERSION && break
  sleep 0.1
done
out=$(mktemp)
"$SUITE" -v 127.0.0.1 "$port" | tee "$out" || true
got=$(awk '/^mc-suite: [0-9]+ passed/ {print $2}' "$out")
got=${got:-0}
if [ "$got" -lt "$floor" ]; then
  echo "mc-suite floor: $got passed, below the floor of $floor"
  exit 1
fi
echo "mc-suite floor: $got passed (floor $floor)"
