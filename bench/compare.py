#!/usr/bin/env python3
"""Side-by-side benchmark: Ferrocache vs the real redis-server, same machine, same run.

Throughput. Each workload runs with redis-benchmark (Debian's redis-tools)
against both servers in interleaved rounds (A B, B A, ...); we report the
median throughput ratio (ferrocache / redis), p99 latencies, and server CPU
time per request (from /proc, user+system of the server process) as an
efficiency ratio (redis CPU per request / ferrocache CPU per request; > 1 =
we are cheaper). The last line is the geometric mean of the throughput
ratios (overall, and per group).

A workload is either a redis-benchmark built-in test (`-t set`) or a custom
command line given as trailing arguments; redis-benchmark replaces every
`__rand_int__` in it with its own random 12-digit number below `-r` (100000).
Groups (`--group`):
  strings      SET/GET at several sizes, connection counts and pipelines.
               No setup: GET reads the keys the SET workloads wrote.
  collections  at 50 connections, unpipelined and -P 16: LPUSH, LPOP, SADD,
               HSET, ZADD (built-in tests: keys mylist, myset, myhash and
               myzset, members element:__rand_int__), `ZADD zs:__rand_int__
               __rand_int__ m:__rand_int__` (many small sorted sets, random
               scores) and `ZRANGE zrange:key 0 9 WITHSCORES` (a 1000-member
               sorted set). Before every run, untimed and on each server, the
               database is flushed and refilled as the workload needs: LPOP
               gets a list longer than its request count (it never pops an
               empty list), ZRANGE gets its 1000-member sorted set.
  features     PUBLISH of 32 bytes to a channel with 10 subscribers (redis-cli
               processes reading and discarding), EVALSHA of a script doing
               GET + INCR on a random key, both at 50 connections with and
               without -P 16; and MULTI / SET / INCR / EXEC transactions,
               16 pipelined per round trip on 48 connections, driven by 4
               Python processes (redis-benchmark cannot send transactions;
               this load generator is slower than redis-benchmark, so this
               ratio is bounded by it). The transaction rate is reported as
               requests/s and its p99 as 0.

  types        at 50 connections: XADD with `*` (one stream), XREAD COUNT 10
               from a 1000-entry stream, PFADD of random elements into one
               HyperLogLog, SETBIT of bit 1000 in random keys, BITCOUNT of
               a 12.5 KB bitmap, GEOADD of random members, and GEOSEARCH
               BYRADIUS 20 km ASC COUNT 10 among 10,000 points around Sicily
               (about 100 within the radius).

Memory (`--mem`, RSS growth of a fresh server of each kind; data loaded with
pipelined RESP over one socket):
  strings  N keys (--keys, 16-byte keys, 32-byte values), bytes per key
  hashes   100,000 hashes of 10 fields f0..f9, values 8-16 bytes, bytes per hash
  zset     one sorted set of 1,000,000 members member:<i> with random double
           scores, total bytes and bytes per member
  stream   one stream of 1,000,000 entries `XADD stream * field <i>`, bytes
           per entry
Counts are multiplied by --mem-scale (default 1; 0.2 with --quick). By default
the memory tests follow --group and are skipped with --only or --no-mem.

Usage: bench/compare.py [--rounds 3] [--quick] [--group strings|collections|features|types|all]
                        [--only SUBSTRING] [--mem strings,hashes,zset,stream | --no-mem]
                        [--mem-scale 1.0] [--keys 1000000] [--binary target/release/ferrocache]
Examples: bench/compare.py --quick --rounds 1 --group collections
          bench/compare.py --only P16 --no-mem
          bench/compare.py --group collections --mem hashes,zset --mem-scale 0.1
Only 127.0.0.1 is used. Needs: redis-server, redis-benchmark (apt: redis-server redis-tools).
"""
import argparse
import atexit
import csv
import hashlib
import io
import itertools
import os
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import sys
import time
from typing import Callable, NamedTuple, Optional

HOST = "127.0.0.1"
RANDOM_KEYS = 100_000  # redis-benchmark -r


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


# Options both servers get (--aof: the append-only file on, each server in a
# fresh temporary directory).
COMMON = []


def start(kind, binary, extra=()):
    """Starts a fresh server of `kind` with `extra` arguments (both servers take
    `--name value` options); returns (process, port)."""
    port = free_port()
    if COMMON:
        d = tempfile.mkdtemp(prefix=f"bench-{kind}-")
        atexit.register(shutil.rmtree, d, True)
        extra = list(extra) + COMMON + ["--dir", d]
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "",
               "--appendonly", "no", "--protected-mode", "no", "--logfile", ""]
    else:
        cmd = [binary, "server", "--port", str(port), "--bind", HOST, "--save", ""]
    p = subprocess.Popen(cmd + list(extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, port


def stop(p):
    p.terminate()
    p.wait()


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


# --- raw RESP loading ---------------------------------------------------------

def encode(cmd):
    """One command (a sequence of str/bytes/int/float arguments) as a RESP array."""
    parts = [b"*%d\r\n" % len(cmd)]
    for a in cmd:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


def send_commands(port, commands, batch=100):
    """Send commands pipelined, `batch` at a time, reading all replies of a batch before
    the next one. Every reply must be a single line (status or integer: +OK, :10, ...)
    or, for XADD, a bulk id (two lines), so a batch is complete when we have seen that
    many '\\n'; error replies abort."""
    commands = iter(commands)
    with socket.create_connection((HOST, port)) as s:
        while True:
            chunk = list(itertools.islice(commands, batch))
            if not chunk:
                return
            s.sendall(b"".join(encode(c) for c in chunk))
            got = b""
            lines = sum(2 if c[0] == "XADD" else 1 for c in chunk)
            while got.count(b"\n") < lines:
                data = s.recv(1 << 20)
                if not data:
                    raise SystemExit(f"port {port}: connection closed while loading")
                got += data
            for line in got.split(b"\r\n"):
                if line.startswith(b"-"):
                    raise SystemExit(f"port {port}: {chunk[0][0]} failed: {line.decode()}")


def string_commands(n, vlen=32):
    val = b"v" * vlen
    return (("SET", b"key:%012d" % i, val) for i in range(n))


def hash_commands(n, fields=10):
    rng = random.Random(1)
    for i in range(n):
        args = ["HSET", b"hash:%08d" % i]
        for j in range(fields):
            args += [b"f%d" % j, (b"%016x" % rng.getrandbits(64))[:rng.randint(8, 16)]]
        yield args


def zset_commands(key, n, per_command=100):
    rng = random.Random(2)
    for start in range(0, n, per_command):
        args = ["ZADD", key]
        for i in range(start, min(n, start + per_command)):
            args += [repr(rng.uniform(-1e6, 1e6)), b"member:%d" % i]
        yield args


def list_commands(key, n, vlen=32, per_command=1000):
    val = b"v" * vlen
    for start in range(0, n, per_command):
        yield ["LPUSH", key] + [val] * min(per_command, n - start)


# --- throughput ---------------------------------------------------------------

class Workload(NamedTuple):
    name: str
    group: str
    bench: tuple  # ("-t", test) for a built-in test, or a custom command line
    clients: int
    pipeline: int
    requests: int  # full run; --quick takes a quarter
    size: int = 32  # -d, value size of the built-in tests
    # untimed, before every run on each server: None = nothing (strings), else the
    # database is flushed and setup(requests, workload) gives the commands to load
    setup: Optional[Callable] = None
    # started before the timed run with the server's port; returns a stop function
    during: Optional[Callable] = None


def nothing(n, w):
    return ()


def fill_list(n, w):
    # LPOP must never find the list empty; the pipeline can overshoot -n a little
    return list_commands("mylist", n + w.clients * w.pipeline, w.size)


def zrange_set(n, w):
    return zset_commands("zrange:key", 1000)


def strings(name, test, clients, pipeline, size, requests):
    return Workload(name, "strings", ("-t", test), clients, pipeline, requests, size)


def collection(name, bench, setup=nothing):
    """The same collection workload at 50 connections, unpipelined and with -P 16."""
    return [Workload(f"{name} c50", "collections", bench, 50, 1, 400_000, setup=setup),
            Workload(f"{name} c50 P16", "collections", bench, 50, 16, 2_000_000, setup=setup)]


# --- features (transactions, scripting, pub/sub) ---------------------------------

SCRIPT = "redis.call('get', KEYS[1]) return redis.call('incr', KEYS[1])"
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


def load_script(n, w):
    return [("SCRIPT", "LOAD", SCRIPT)]


def subscribers(count, channel):
    """Starts `count` redis-cli subscribers on `channel` (they read and discard)."""
    def start_subs(port):
        procs = [subprocess.Popen(["redis-cli", "-h", HOST, "-p", str(port), "subscribe", channel],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(count)]
        deadline = time.time() + 10
        while time.time() < deadline:
            s = socket.create_connection((HOST, port))
            s.sendall(encode(("PUBSUB", "NUMSUB", channel)))
            if s.recv(4096).endswith(b":%d\r\n" % count):
                s.close()
                break
            s.close()
            time.sleep(0.05)

        def stop_subs():
            for p in procs:
                p.kill()
                p.wait()
        return stop_subs
    return start_subs


MULTI = "@multi"  # bench marker: MULTI / SET / INCR / EXEC transactions (see multi_bench)


def multi_worker(args):
    """One load-generator process: `conns` connections, each sending 16
    pipelined MULTI/SET/INCR/EXEC transactions per round trip."""
    port, conns, rounds, seed = args
    socks = [socket.create_connection((HOST, port)) for _ in range(conns)]
    batch = b"".join(encode(("MULTI",)) + encode(("SET", f"tx:{seed}:{i}", "v" * 32))
                     + encode(("INCR", f"txc:{seed}:{i}")) + encode(("EXEC",)) for i in range(16))
    want = 16 * 6  # +OK, +QUEUED x2, then *2 +OK :n: six reply lines per transaction
    for _ in range(rounds):
        for s in socks:
            s.sendall(batch)
        for s in socks:
            got = 0
            while got < want:
                got += s.recv(1 << 16).count(b"\r\n")
    for s in socks:
        s.close()
    return rounds * conns * 16


def multi_bench(port, requests, clients):
    """Transactions per second from `clients` connections (4 processes)."""
    import multiprocessing
    procs = 4
    rounds = max(1, requests // (clients * 16))
    t0 = time.time()
    with multiprocessing.Pool(procs) as pool:
        done = sum(pool.map(multi_worker, [(port, clients // procs, rounds, i) for i in range(procs)]))
    return done / (time.time() - t0)


# --- types (streams, HyperLogLog, bitmaps, geo) ----------------------------------

def stream_commands(key, n, per_command=1):
    return [("XADD", key, "*", "field", str(i)) for i in range(n)]


def read_stream(n, w):
    return stream_commands("bench:rstream", 1000)


def bitmap(n, w):
    rng = random.Random(7)
    return [("SET", "bench:bits", bytes(rng.getrandbits(8) for _ in range(12_500)))]


def geo_points(n, w):
    rng = random.Random(7)
    return [("GEOADD", "bench:geo2", f"{rng.uniform(12, 16):.6f}", f"{rng.uniform(36, 39):.6f}", f"p{i}")
            for i in range(10_000)]


def kind(name, bench, setup=nothing, requests=300_000):
    return Workload(name, "types", bench, 50, 1, requests, setup=setup)


def feature(name, bench, clients, pipeline, requests, setup=None, during=None):
    return Workload(name, "features", bench, clients, pipeline, requests, setup=setup, during=during)


WORKLOADS = [
    strings("SET 32B c50", "set", 50, 1, 32, 400_000),
    strings("GET 32B c50", "get", 50, 1, 32, 400_000),
    strings("SET 32B c200", "set", 200, 1, 32, 400_000),
    strings("GET 32B c200", "get", 200, 1, 32, 400_000),
    strings("SET 32B c50 P16", "set", 50, 16, 32, 3_000_000),
    strings("GET 32B c50 P16", "get", 50, 16, 32, 3_000_000),
    strings("SET 32B c1 P32", "set", 1, 32, 32, 2_000_000),
    strings("GET 32B c1 P32", "get", 1, 32, 32, 2_000_000),
    strings("SET 1KiB c50", "set", 50, 1, 1024, 300_000),
    strings("GET 1KiB c50", "get", 50, 1, 1024, 300_000),
    strings("SET 100KiB c10", "set", 10, 1, 102400, 20_000),
    strings("GET 100KiB c10", "get", 10, 1, 102400, 20_000),
    *collection("LPUSH", ("-t", "lpush")),
    *collection("LPOP", ("-t", "lpop"), fill_list),
    *collection("SADD", ("-t", "sadd")),
    *collection("HSET", ("-t", "hset")),
    *collection("ZADD", ("-t", "zadd")),
    *collection("ZADD rand keys", ("ZADD", "zs:__rand_int__", "__rand_int__", "m:__rand_int__")),
    *collection("ZRANGE 0 9 WS", ("ZRANGE", "zrange:key", "0", "9", "WITHSCORES"), zrange_set),
    feature("PUBLISH 10 subs c50", ("PUBLISH", "bench:ch", "m" * 32), 50, 1, 300_000,
            setup=nothing, during=subscribers(10, "bench:ch")),
    feature("PUBLISH 10 subs c50 P16", ("PUBLISH", "bench:ch", "m" * 32), 50, 16, 600_000,
            setup=nothing, during=subscribers(10, "bench:ch")),
    feature("EVALSHA GET+INCR c50", ("EVALSHA", SCRIPT_SHA, "1", "ctr:__rand_int__"), 50, 1,
            300_000, setup=load_script),
    feature("EVALSHA GET+INCR c50 P16", ("EVALSHA", SCRIPT_SHA, "1", "ctr:__rand_int__"), 50, 16,
            1_000_000, setup=load_script),
    feature("MULTI/SET/INCR/EXEC c48 P16", (MULTI,), 48, 16, 400_000, setup=nothing),
    kind("XADD * c50", ("XADD", "bench:stream", "*", "field", "__rand_int__")),
    kind("XREAD COUNT 10 c50", ("XREAD", "COUNT", "10", "STREAMS", "bench:rstream", "0"), read_stream),
    kind("PFADD c50", ("PFADD", "bench:hll", "__rand_int__")),
    # (redis-benchmark's __rand_int__ has leading zeros, which bit offsets refuse)
    kind("SETBIT c50", ("SETBIT", "bits:__rand_int__", "1000", "1")),
    kind("BITCOUNT 12.5KB c50", ("BITCOUNT", "bench:bits"), bitmap),
    kind("GEOADD c50", ("GEOADD", "bench:geo", "13.361389", "38.115556", "m:__rand_int__")),
    kind("GEOSEARCH 20km COUNT 10 c50",
         ("GEOSEARCH", "bench:geo2", "FROMLONLAT", "14", "37.5", "BYRADIUS", "20", "km", "ASC", "COUNT", "10"),
         geo_points, 100_000),
]


def run_bench(port, pid, w, requests):
    stop_during = w.during(port) if w.during else None
    try:
        if w.bench == (MULTI,):
            c0 = cpu_seconds(pid)
            rps = multi_bench(port, requests, w.clients)
            c1 = cpu_seconds(pid)
            return rps, 0.0, (c1 - c0) / requests * 1e6
        return redis_benchmark(port, pid, w, requests)
    finally:
        if stop_during:
            stop_during()


def redis_benchmark(port, pid, w, requests):
    cmd = ["redis-benchmark", "-h", HOST, "-p", str(port), "-c", str(w.clients),
           "-P", str(w.pipeline), "-d", str(w.size), "-n", str(requests),
           "-r", str(RANDOM_KEYS), "--threads", "1", "--csv", *w.bench]
    c0 = cpu_seconds(pid)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    c1 = cpu_seconds(pid)
    rows = list(csv.reader(io.StringIO(res.stdout)))
    if len(rows) < 2 or "rps" not in rows[0]:
        raise SystemExit(f"{w.name}: redis-benchmark failed: {res.stdout} {res.stderr}")
    row = dict(zip(rows[0], rows[1]))
    return float(row["rps"]), float(row["p99_latency_ms"]), (c1 - c0) / requests * 1e6


def throughput(workloads, binary, rounds, scale):
    """Runs the workloads; returns (name, group, ratio) per workload."""
    servers = {k: start(k, binary) for k in ("redis", "ferrocache")}
    results = []
    try:
        for w in workloads:
            n = max(1000, int(w.requests * scale))
            per = {"redis": [], "ferrocache": []}
            for r in range(rounds):
                order = ("redis", "ferrocache") if r % 2 == 0 else ("ferrocache", "redis")
                for k in order:
                    p, port = servers[k]
                    if w.setup:
                        send_commands(port, itertools.chain([("FLUSHALL",)], w.setup(n, w)))
                    per[k].append(run_bench(port, p.pid, w, n))
            ratios = [f[0] / r[0] for f, r in zip(per["ferrocache"], per["redis"])]
            med = lambda xs, i: statistics.median(x[i] for x in xs)
            row = (w.name, med(per["redis"], 0), med(per["ferrocache"], 0), statistics.median(ratios),
                   med(per["redis"], 1), med(per["ferrocache"], 1),
                   med(per["redis"], 2) / max(med(per["ferrocache"], 2), 1e-9))
            results.append((w.name, w.group, row[3]))
            print("%-22s redis %10.0f/s  ferrocache %10.0f/s  ratio %.2fx  p99 %.3f / %.3f ms  eff %.2f"
                  % row, flush=True)
    finally:
        for p, _ in servers.values():
            stop(p)
    return results


# --- memory -------------------------------------------------------------------

def rss_growth(kind, binary, commands):
    """RSS growth of a fresh server of `kind` after loading `commands`."""
    p, port = start(kind, binary)
    try:
        time.sleep(0.5)
        before = rss_bytes(p.pid)
        send_commands(port, commands)
        time.sleep(1.0)
        return rss_bytes(p.pid) - before
    finally:
        stop(p)


def memory_test(binary, label, unit, n, make_commands):
    """Loads the same data into a fresh redis and a fresh ferrocache; prints RSS growth."""
    rm = rss_growth("redis", binary, make_commands())
    fm = rss_growth("ferrocache", binary, make_commands())
    print(f"memory {label}: redis {rm / n:.1f} B/{unit} ({rm / 2**20:.1f} MiB), "
          f"ferrocache {fm / n:.1f} B/{unit} ({fm / 2**20:.1f} MiB), ratio {fm / rm:.2f}", flush=True)


def memory_tests(binary, which, scale, keys):
    if "strings" in which:
        n = max(1, int(keys * scale))
        memory_test(binary, f"strings ({n} keys, 16 B keys, 32 B values)", "key", n,
                    lambda: string_commands(n))
    if "hashes" in which:
        n = max(1, int(100_000 * scale))
        memory_test(binary, f"hashes ({n} hashes x 10 fields, 8-16 B values)", "hash", n,
                    lambda: hash_commands(n))
    if "zset" in which:
        n = max(1, int(1_000_000 * scale))
        memory_test(binary, f"zset (one sorted set, {n} members, random scores)", "member", n,
                    lambda: zset_commands("zset", n))
    if "stream" in which:
        n = max(1, int(1_000_000 * scale))
        memory_test(binary, f"stream (one stream, {n} entries)", "entry", n,
                    lambda: stream_commands("stream", n))


MEM_TESTS = ("strings", "hashes", "zset", "stream")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a quarter of the requests, --mem-scale 0.2")
    ap.add_argument("--group", choices=("strings", "collections", "features", "types", "all"), default="all")
    ap.add_argument("--only", default="", help="substring filter on workload names (no memory tests)")
    ap.add_argument("--mem", help="memory tests to run, comma-separated: strings,hashes,zset "
                                  "(default: those of --group; none with --only)")
    ap.add_argument("--no-mem", action="store_true", help="skip the memory tests")
    ap.add_argument("--mem-scale", type=float, help="multiply memory-test counts (default 1, 0.2 with --quick)")
    ap.add_argument("--keys", type=int, default=1_000_000, help="keys of the strings memory test")
    ap.add_argument("--binary", default="target/release/ferrocache")
    ap.add_argument("--aof", choices=("always", "everysec", "no"),
                    help="both servers with appendonly yes and this appendfsync")
    args = ap.parse_args()
    if args.aof:
        COMMON.extend(["--appendonly", "yes", "--appendfsync", args.aof])
    scale = 0.25 if args.quick else 1.0
    mem_scale = args.mem_scale if args.mem_scale is not None else (0.2 if args.quick else 1.0)
    if args.no_mem:
        mem = []
    elif args.mem is not None:
        mem = [m for m in args.mem.split(",") if m]
        if any(m not in MEM_TESTS for m in mem):
            ap.error(f"--mem: choose from {','.join(MEM_TESTS)}")
    elif args.only:
        mem = []
    else:
        mem = {"strings": ["strings"], "collections": ["hashes", "zset"], "features": [],
               "types": ["stream"], "all": list(MEM_TESTS)}[args.group]

    workloads = [w for w in WORKLOADS
                 if args.group in ("all", w.group) and args.only in w.name]
    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    print(f"# machine: {os.cpu_count()} cpus; {version}")
    results = throughput(workloads, args.binary, args.rounds, scale) if workloads else []
    if mem:
        memory_tests(args.binary, mem, mem_scale, args.keys)
    if results:
        geo = lambda rs: statistics.geometric_mean([r[2] for r in rs])
        groups = [(g, [r for r in results if r[1] == g]) for g in ("strings", "collections", "features", "types")]
        detail = ", ".join(f"{g} {geo(rs):.2f}x" for g, rs in groups if rs)
        print(f"GEOMEAN throughput ratio: {geo(results):.2f}x ({detail})")


if __name__ == "__main__":
    sys.exit(main())
