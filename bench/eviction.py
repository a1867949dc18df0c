#!/usr/bin/env python3
"""Eviction side by side: Ferrocache vs the real redis-server, both with the
same `maxmemory` (default 64 MiB) and `maxmemory-policy allkeys-lru`.

1. Write load at 2x the limit: redis-benchmark SET of 1000-byte values to
   random keys (-r 10,000,000), 50 connections, as many requests as make
   twice `maxmemory` of values; interleaved rounds (A B / B A). Reports the
   throughput ratio (ferrocache / redis), evicted keys, used_memory and RSS
   at the end of each run (a fresh server per run).
2. Hit rate on a Zipf-distributed read/write mix (a cache-aside loop: GET,
   and SET on a miss) over a key universe about 4x what fits, the same
   seeded key sequence for both servers, pipelined 100 deep over one socket.
   Reports the hit rate of each after a warm-up of the same length.

Usage: bench/eviction.py [--rounds 3] [--maxmemory-mb 64] [--ops 400000]
                         [--binary target/release/ferrocache]
Needs: redis-server, redis-benchmark (apt: redis-server redis-tools).
"""
import argparse
import random
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from compare import HOST, encode, rss_bytes, stop  # noqa: E402
from compare import start as start_server  # noqa: E402


def start(kind, binary, maxmemory):
    return start_server(kind, binary,
                        ["--maxmemory", str(maxmemory), "--maxmemory-policy", "allkeys-lru"])


def info(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "info"], capture_output=True,
                         text=True, check=True).stdout
    fields = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k] = v.strip()
    return fields


def write_load(kind, binary, maxmemory):
    p, port = start(kind, binary, maxmemory)
    try:
        requests = 2 * maxmemory // 1000
        out = subprocess.run(
            ["redis-benchmark", "-p", str(port), "-t", "set", "-d", "1000", "-r", "10000000",
             "-n", str(requests), "-c", "50", "-q", "--csv"],
            capture_output=True, text=True, check=True).stdout
        rps = float(out.strip().splitlines()[-1].split(",")[1].strip('"'))
        i = info(port)
        return rps, int(i["evicted_keys"]), int(i["used_memory"]), rss_bytes(p.pid)
    finally:
        stop(p)


def zipf_keys(universe, n, s=0.99, seed=7):
    # Inverse-CDF sampling over ranks 1..universe, shuffled to key ids.
    rng = random.Random(seed)
    weights = [1.0 / (r ** s) for r in range(1, universe + 1)]
    total = sum(weights)
    cdf, acc = [], 0.0
    for w in weights:
        acc += w / total
        cdf.append(acc)
    ids = list(range(universe))
    rng.shuffle(ids)
    import bisect
    return [ids[min(bisect.bisect_left(cdf, rng.random()), universe - 1)] for _ in range(n)]


def read_replies(sock, buf, count):
    """Reads `count` GET/SET replies; returns (hits, rest of buffer)."""
    hits = 0
    while count:
        while b"\r\n" not in buf:
            buf += sock.recv(1 << 20)
        line, buf = buf.split(b"\r\n", 1)
        if line[:1] == b"$":
            n = int(line[1:])
            if n >= 0:
                hits += 1
                while len(buf) < n + 2:
                    buf += sock.recv(1 << 20)
                buf = buf[n + 2:]
        count -= 1
    return hits, buf


def hit_rate(kind, binary, maxmemory, keys, value):
    p, port = start(kind, binary, maxmemory)
    try:
        sock = socket.create_connection((HOST, port))
        buf = b""
        hits = gets = 0
        half = len(keys) // 2
        for start_at in range(0, len(keys), 100):
            batch = keys[start_at:start_at + 100]
            sock.sendall(b"".join(encode(["GET", f"key:{k}"]) for k in batch))
            got = []
            for k in batch:
                h, buf = read_replies(sock, buf, 1)
                got.append(h)
            misses = [k for k, h in zip(batch, got) if not h]
            if misses:
                sock.sendall(b"".join(encode(["SET", f"key:{k}", value]) for k in misses))
                _, buf = read_replies(sock, buf, len(misses))
            if start_at >= half:
                hits += sum(got)
                gets += len(batch)
        sock.close()
        return hits / gets, int(info(port)["evicted_keys"])
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--maxmemory-mb", type=int, default=64)
    ap.add_argument("--ops", type=int, default=400_000)
    ap.add_argument("--binary", default="target/release/ferrocache")
    args = ap.parse_args()
    maxmemory = args.maxmemory_mb << 20

    print(f"write load at 2x maxmemory ({args.maxmemory_mb} MiB, allkeys-lru), SET 1000 B, 50 conns")
    ratios = []
    for r in range(args.rounds):
        order = ("redis", "ferrocache") if r % 2 == 0 else ("ferrocache", "redis")
        res = {k: write_load(k, args.binary, maxmemory) for k in order}
        ratios.append(res["ferrocache"][0] / res["redis"][0])
        for k in ("redis", "ferrocache"):
            rps, ev, used, rss = res[k]
            print(f"  round {r + 1} {k:10s} {rps / 1000:8.1f}k ops/s  evicted {ev:7d}  "
                  f"used {used / 2**20:6.1f} MiB  rss {rss / 2**20:6.1f} MiB")
    print(f"  throughput ratio (median) {statistics.median(ratios):.2f}")

    value = "v" * 1000
    universe = 4 * maxmemory // 1000
    keys = zipf_keys(universe, args.ops)
    print(f"hit rate, Zipf(0.99) over {universe} keys of 1000 B, GET + SET on miss, {args.ops} ops")
    for k in ("redis", "ferrocache"):
        rate, ev = hit_rate(k, args.binary, maxmemory, keys, value)
        print(f"  {k:10s} hit rate {rate * 100:5.1f}%  evicted {ev}")


if __name__ == "__main__":
    main()
