#!/usr/bin/env python3
"""Side-by-side benchmark: Ferrocache vs the real redis-server, same machine, same run.

Each workload runs with redis-benchmark (Debian's redis-tools) against both
servers in interleaved rounds (A B, B A, ...); we report the median throughput
ratio (ferrocache / redis), p99 latencies, and server CPU time per request
(from /proc, user+system of the server process) as an efficiency ratio
(redis CPU per request / ferrocache CPU per request; > 1 = we are cheaper).
The memory test loads N keys (16-byte keys, 32-byte values) and reports RSS
growth per key.

Usage: bench/compare.py [--rounds 3] [--quick] [--keys 1000000] [--binary target/release/ferrocache]
Only 127.0.0.1 is used. Needs: redis-server, redis-benchmark (apt: redis-server redis-tools).
"""
import argparse
import csv
import io
import os
import socket
import statistics
import subprocess
import sys
import time

HOST = "127.0.0.1"


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


def start(kind, binary):
    port = free_port()
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "",
               "--appendonly", "no", "--protected-mode", "no", "--logfile", ""]
    else:
        cmd = [binary, "server", "--port", str(port), "--bind", HOST]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, port


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def run_bench(port, pid, test, clients, pipeline, size, requests):
    cmd = ["redis-benchmark", "-h", HOST, "-p", str(port), "-t", test, "-c", str(clients),
           "-P", str(pipeline), "-d", str(size), "-n", str(requests), "-r", "100000",
           "--threads", "1", "--csv"]
    c0 = cpu_seconds(pid)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    c1 = cpu_seconds(pid)
    rows = list(csv.reader(io.StringIO(out)))
    header, data = rows[0], rows[1]
    row = dict(zip(header, data))
    rps = float(row["rps"])
    return rps, float(row["p99_latency_ms"]), (c1 - c0) / requests * 1e6


WORKLOADS = [
    # name, test, clients, pipeline, value size, requests (full run)
    ("SET 32B c50", "set", 50, 1, 32, 400_000),
    ("GET 32B c50", "get", 50, 1, 32, 400_000),
    ("SET 32B c200", "set", 200, 1, 32, 400_000),
    ("GET 32B c200", "get", 200, 1, 32, 400_000),
    ("SET 32B c50 P16", "set", 50, 16, 32, 3_000_000),
    ("GET 32B c50 P16", "get", 50, 16, 32, 3_000_000),
    ("SET 32B c1 P32", "set", 1, 32, 32, 2_000_000),
    ("GET 32B c1 P32", "get", 1, 32, 32, 2_000_000),
    ("SET 1KiB c50", "set", 50, 1, 1024, 300_000),
    ("GET 1KiB c50", "get", 50, 1, 1024, 300_000),
    ("SET 100KiB c10", "set", 10, 1, 102400, 20_000),
    ("GET 100KiB c10", "get", 10, 1, 102400, 20_000),
]


def load_keys(port, n, vlen=32):
    s = socket.create_connection((HOST, port))
    val = b"v" * vlen
    batch = 1000
    for start in range(0, n, batch):
        end = min(n, start + batch)
        payload = b"".join(
            b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n" % (i, vlen, val)
            for i in range(start, end))
        s.sendall(payload)
        need = (end - start) * 5
        got = b""
        while len(got) < need:
            got += s.recv(1 << 20)
    s.close()


def memory_test(kind, binary, n):
    p, port = start(kind, binary)
    try:
        time.sleep(0.5)
        before = rss_bytes(p.pid)
        load_keys(port, n)
        time.sleep(1.0)
        after = rss_bytes(p.pid)
        return (after - before) / n
    finally:
        p.terminate()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer requests, fewer keys")
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--binary", default="target/release/ferrocache")
    ap.add_argument("--only", default="", help="substring filter on workload names")
    args = ap.parse_args()
    scale = 0.25 if args.quick else 1.0
    keys = min(args.keys, 200_000) if args.quick else args.keys

    print(f"# machine: {os.cpu_count()} cpus; {subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.split()[2]}")
    servers = {k: start(k, args.binary) for k in ("redis", "ferrocache")}
    results = []
    try:
        for name, test, clients, pipeline, size, requests in WORKLOADS:
            if args.only and args.only not in name:
                continue
            n = max(1000, int(requests * scale))
            per = {"redis": [], "ferrocache": []}
            for r in range(args.rounds):
                order = ("redis", "ferrocache") if r % 2 == 0 else ("ferrocache", "redis")
                for k in order:
                    p, port = servers[k]
                    per[k].append(run_bench(port, p.pid, test, clients, pipeline, size, n))
            ratios = [f[0] / r[0] for f, r in zip(per["ferrocache"], per["redis"])]
            med = lambda xs, i: statistics.median(x[i] for x in xs)
            row = (name, med(per["redis"], 0), med(per["ferrocache"], 0), statistics.median(ratios),
                   med(per["redis"], 1), med(per["ferrocache"], 1),
                   med(per["redis"], 2) / max(med(per["ferrocache"], 2), 1e-9))
            results.append(row)
            print("%-18s redis %10.0f/s  ferrocache %10.0f/s  ratio %.2fx  p99 %.3f / %.3f ms  eff %.2f" % row, flush=True)
    finally:
        for p, _ in servers.values():
            p.terminate()
            p.wait()
    geo = statistics.geometric_mean([r[3] for r in results]) if results else 0
    print(f"GEOMEAN throughput ratio: {geo:.2f}x")
    if not args.only:
        rm = memory_test("redis", args.binary, keys)
        fm = memory_test("ferrocache", args.binary, keys)
        print(f"memory per key ({keys} keys, 16 B keys, 32 B values): redis {rm:.1f} B, ferrocache {fm:.1f} B, ratio {fm / rm:.2f}")


if __name__ == "__main__":
    sys.exit(main())
