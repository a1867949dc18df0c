#!/usr/bin/env python3
"""Persistence side by side: Ferrocache vs the real redis-server.

1. SAVE, file size and load: both servers get the same mixed dataset
   (strings of 100-600 bytes, and hashes, lists, sets, sorted sets of 20
   elements: --keys in all, default 1,000,000, about 0.5 GB); reports the
   time SAVE takes, the size of dump.rdb, and the time a fresh server takes
   to load it (start until DBSIZE answers with every key).
2. BGSAVE under load: --bg-keys strings of 100 bytes (default 2,000,000),
   then a 50-connection SET load on the same keys (redis-benchmark) twice:
   once alone, once with BGSAVE started a second in. Reports the peak memory
   during each (proportional set size of the server and, for Redis, its
   fork child, sampled every 20 ms) and the load's p99 latency.

Usage: bench/persistence.py [--keys N] [--bg-keys N] [--binary PATH]
Needs: redis-server, redis-benchmark (apt: redis-server redis-tools).
"""
import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from compare import HOST, free_port, send_commands, wait_port  # noqa: E402


def start(kind, binary, workdir, port=None):
    port = port or free_port()
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "",
               "--appendonly", "no", "--protected-mode", "no", "--logfile", "",
               "--dir", workdir]
    else:
        cmd = [binary, "server", "--port", str(port), "--bind", HOST, "--dir", workdir,
               "--save", ""]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p, port


def stop(p):
    p.terminate()
    p.wait()


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *map(str, args)],
                          capture_output=True, text=True).stdout.strip()


def wait_loaded(port, keys, timeout=600):
    """Seconds until DBSIZE answers `keys` (Redis answers LOADING meanwhile)."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                s.sendall(b"*1\r\n$6\r\nDBSIZE\r\n")
                reply = s.recv(100)
                if reply.startswith(b":") and int(reply[1:].strip()) >= keys:
                    return
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"port {port}: not loaded in {timeout} s")


def mixed_commands(n, seed=7):
    rnd = random.Random(seed)
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
    batch = []
    for i in range(n):
        kind = i % 20
        key = b"key:%d" % i
        if kind < 14:
            size = rnd.randint(100, 600)
            batch += [key, bytes(rnd.choice(alphabet) for _ in range(16)) * (size // 16)]
            if len(batch) >= 200:
                yield ["MSET", *batch]
                batch = []
        elif kind < 16:
            fields = []
            for f in range(20):
                fields += [b"field%d" % f, b"value%d" % rnd.randint(0, 10**6)]
            yield ["HSET", key, *fields]
        elif kind < 18:
            yield ["RPUSH", key, *[b"item%d" % rnd.randint(0, 10**6) for _ in range(20)]]
        elif kind < 19:
            yield ["SADD", key, *[b"m%d" % rnd.randint(0, 10**9) for _ in range(20)]]
        else:
            zs = []
            for m in range(20):
                zs += [rnd.random() * 1000, b"m%d" % m]
            yield ["ZADD", key, *zs]
    if batch:
        yield ["MSET", *batch]


def save_and_load(kind, binary, keys):
    workdir = tempfile.mkdtemp(prefix=f"persist-{kind}-")
    try:
        p, port = start(kind, binary, workdir)
        wait_port(port)
        send_commands(port, mixed_commands(keys))
        t = time.time()
        out = cli(port, "SAVE")
        save_s = time.time() - t
        assert out == "OK", out
        size = os.path.getsize(os.path.join(workdir, "dump.rdb"))
        stop(p)
        t = time.time()
        p, port = start(kind, binary, workdir)
        wait_loaded(port, keys)
        load_s = time.time() - t
        stop(p)
        return save_s, size, load_s
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def pss_bytes(pid):
    """Proportional set size of a process and its children (a fork child)."""
    total = 0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    for q in pids:
        try:
            with open(f"/proc/{q}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def load_with_sampling(pid, port, keys, requests, bgsave):
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], pss_bytes(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    bench = subprocess.Popen(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-d", "100", "-r", str(keys),
         "-n", str(requests), "-c", "50", "--csv"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    saved = None
    if bgsave:
        time.sleep(1)
        last = cli(port, "LASTSAVE")
        t = time.time()
        assert "started" in cli(port, "BGSAVE")
        while cli(port, "LASTSAVE") == last:
            time.sleep(0.01)
        saved = time.time() - t
    out = bench.communicate()[0]
    done.set()
    sampler.join()
    row = out.strip().splitlines()[-1].replace('"', "").split(",")
    return float(row[1]), float(row[6]), peak[0], saved


def bgsave_under_load(kind, binary, keys, requests):
    workdir = tempfile.mkdtemp(prefix=f"bgsave-{kind}-")
    try:
        p, port = start(kind, binary, workdir)
        wait_port(port)
        value = b"x" * 100
        send_commands(port, (["MSET", *sum(([b"key:%012d" % j, value]
                                             for j in range(i, min(i + 100, keys))), [])]
                             for i in range(0, keys, 100)))
        base = pss_bytes(p.pid)
        alone = load_with_sampling(p.pid, port, keys, requests, False)
        during = load_with_sampling(p.pid, port, keys, requests, True)
        stop(p)
        return base, alone, during
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--bg-keys", type=int, default=2_000_000)
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--binary", default="target/release/ferrocache")
    ap.add_argument("--skip-save", action="store_true")
    args = ap.parse_args()
    mib = 1 << 20
    if not args.skip_save:
        print(f"SAVE / load, {args.keys} mixed keys")
        res = {k: save_and_load(k, args.binary, args.keys) for k in ("redis", "ferrocache")}
        for k, (s, size, load) in res.items():
            print(f"  {k:10} SAVE {s:6.2f} s   file {size / mib:8.1f} MiB   load {load:6.2f} s")
        r, f = res["redis"], res["ferrocache"]
        print(f"  speed ratios (>1: we are faster): SAVE {r[0] / f[0]:.2f}x  load {r[2] / f[2]:.2f}x;"
              f"  file size {f[1] / r[1]:.3f}x of Redis's")
    print(f"BGSAVE under a 50-connection SET load, {args.bg_keys} keys of 100 bytes")
    for k in ("redis", "ferrocache"):
        base, alone, during = bgsave_under_load(k, args.binary, args.bg_keys, args.requests)
        print(f"  {k:10} memory before load {base / mib:7.1f} MiB")
        print(f"  {'':10} load alone: {alone[0]:9.0f} ops/s  p99 {alone[1]:5.2f} ms  peak {alone[2] / mib:7.1f} MiB")
        print(f"  {'':10} with BGSAVE ({during[3]:.2f} s): {during[0]:9.0f} ops/s  p99 {during[1]:5.2f} ms"
              f"  peak {during[2] / mib:7.1f} MiB  (+{(during[2] / max(alone[2], 1) - 1) * 100:.1f}% over the load alone)")


if __name__ == "__main__":
    main()
