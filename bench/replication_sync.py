#!/usr/bin/env python3
"""Replication side by side: Ferrocache vs the real redis-server.

1. Full synchronization: a primary holding --keys strings of 100 bytes
   (default 1,000,000) gets a fresh replica (REPLICAOF, diskless, no delay)
   while a 50-connection SET load runs on it. Reports the time until the
   replica's link is up with every key, and the primary's peak memory
   during the sync (proportional set size of the server and, for Redis,
   its fork child, sampled every 20 ms) against its size before.
2. Replication lag under a 50-connection SET load (redis-benchmark): a
   probe writes the time to a key on the primary every 5 ms, another
   connection reads the key on the replica in a loop; each change seen is
   a lag sample (time seen - time written). Reports p50/p99/max.

Usage: bench/replication_sync.py [--keys N] [--binary PATH]
Needs: redis-server, redis-benchmark (apt: redis-server redis-tools).
"""
import argparse
import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from compare import HOST, encode, free_port, send_commands, wait_port  # noqa: E402
from persistence import cli, pss_bytes  # noqa: E402


def start(kind, binary, workdir):
    port = free_port()
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "",
               "--appendonly", "no", "--protected-mode", "no", "--logfile", "",
               "--dir", workdir, "--repl-diskless-sync-delay", "0"]
    else:
        cmd = [binary, "server", "--port", str(port), "--bind", HOST, "--dir", workdir,
               "--save", "", "--repl-diskless-sync-delay", "0"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, port


def field(port, name):
    for line in cli(port, "INFO", "replication").splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def load(port, keys):
    value = b"x" * 100
    send_commands(port, (["MSET", *sum(([b"key:%012d" % j, value]
                                         for j in range(i, min(i + 100, keys))), [])]
                         for i in range(0, keys, 100)))


def bench_load(port, keys, requests):
    return subprocess.Popen(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-d", "100", "-r", str(keys),
         "-n", str(requests), "-c", "50", "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def pair(kind, binary):
    """A primary and a server to become its replica, each in a directory of
    its own: yields (primary process, primary port, replica port)."""
    dirs = [tempfile.mkdtemp(prefix=f"repl-{kind}-{r}-") for r in ("p", "r")]
    procs = []
    try:
        for d in dirs:
            procs.append(start(kind, binary, d))
        yield procs[0][0], procs[0][1], procs[1][1]
    finally:
        for q, _ in procs:
            q.terminate()
            q.wait()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def full_sync(kind, binary, keys):
    with pair(kind, binary) as (p, pport, rport):
        load(pport, keys)
        base = pss_bytes(p.pid)
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], pss_bytes(p.pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        load_gen = bench_load(pport, keys, 100_000_000)
        time.sleep(1)
        t = time.time()
        cli(rport, "REPLICAOF", HOST, pport)
        while not (field(rport, "master_link_status") == "up"
                   and int(cli(rport, "DBSIZE") or 0) >= keys):
            time.sleep(0.01)
        took = time.time() - t
        load_gen.terminate()
        load_gen.wait()
        done.set()
        sampler.join()
        return took, base, peak[0]


def lag(kind, binary, seconds=10):
    with pair(kind, binary) as (_, pport, rport):
        cli(rport, "REPLICAOF", HOST, pport)
        while field(rport, "master_link_status") != "up":
            time.sleep(0.05)
        load_gen = bench_load(pport, 100_000, 100_000_000)
        time.sleep(1)
        samples = []
        stop = threading.Event()

        def probe():
            with socket.create_connection((HOST, pport)) as s:
                while not stop.is_set():
                    s.sendall(encode(["SET", "lagprobe", time.monotonic_ns()]))
                    s.recv(64)
                    time.sleep(0.005)

        writer = threading.Thread(target=probe)
        writer.start()
        last = None
        end = time.time() + seconds
        with socket.create_connection((HOST, rport)) as s:
            f = s.makefile("rb")
            while time.time() < end:
                s.sendall(encode(["GET", "lagprobe"]))
                head = f.readline()
                if head.startswith(b"$-1"):
                    continue
                value = f.readline().strip()
                if value != last:
                    if last is not None:
                        samples.append((time.monotonic_ns() - int(value)) / 1e6)
                    last = value
        stop.set()
        writer.join()
        load_gen.terminate()
        load_gen.wait()
        samples.sort()
        pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]  # noqa: E731
        return len(samples), pick(0.5), pick(0.99), samples[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--binary", default="target/release/ferrocache")
    opts = ap.parse_args()
    mb = lambda b: b / 1048576  # noqa: E731
    print(f"== full sync of {opts.keys} keys (100 B) under a 50-connection SET load")
    res = {}
    for kind in ("redis", "ferrocache"):
        took, base, peak = full_sync(kind, opts.binary, opts.keys)
        res[kind] = took
        print(f"{kind:10} {took:6.2f} s  primary memory {mb(base):7.1f} MB -> peak "
              f"{mb(peak):7.1f} MB (x{peak / base:.2f})")
    print(f"speed ratio (redis time / ferrocache time): {res['redis'] / res['ferrocache']:.2f}")
    print("== replication lag under a 50-connection SET load (ms)")
    for kind in ("redis", "ferrocache"):
        n, p50, p99, worst = lag(kind, opts.binary)
        print(f"{kind:10} samples {n:5}  p50 {p50:6.2f}  p99 {p99:6.2f}  max {worst:6.2f}")


if __name__ == "__main__":
    main()
