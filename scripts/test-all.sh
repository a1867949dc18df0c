#!/usr/bin/env bash
# Installs what the tests need (Debian and Python packages) and runs every
# test: formatting, lints, unit/in-process/end-to-end/differential tests,
# the control plane's end-to-end tests (boto3, the AWS CLI, redis-py and
# pymemcache against the release binary), and the Redis project's own test
# suite against the release binary, checked against the pass-count floor
# recorded in docs/compatibility.md.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for bin in redis-server redis-cli redis-benchmark tclsh memcached memccapable openssl ss; do
  command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing test dependencies (redis-server redis-tools tcl memcached libmemcached-tools openssl iproute2)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools tcl memcached libmemcached-tools openssl iproute2 >/dev/null
fi

if ! python3 -c "import boto3, redis, pymemcache" 2>/dev/null || ! command -v aws >/dev/null 2>&1; then
  echo "== installing Python test dependencies (boto3 awscli redis pymemcache)"
  python3 -m pip install --quiet --disable-pip-version-check boto3 awscli redis pymemcache
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace
cargo build --release
echo "== control plane end-to-end tests (boto3, AWS CLI) against the release binary"
FERROCACHE_BIN=target/release/ferrocache python3 -m unittest discover -s tests/control -v
echo "== Redis test suite (external mode) against the release binary"
scripts/redis-suite-floor.sh target/release/ferrocache
echo "== memcached test suites (memccapable, memcached's own tests) against the release binary"
scripts/mc-suite-floor.sh target/release/ferrocache
