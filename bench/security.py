#!/usr/bin/env python3
"""TLS and ACL costs, side by side with redis-server in one run.

TLS: GET and SET over TLS (50 connections, redis-benchmark --tls, no
pipelining) against Ferrocache's and redis-server's TLS ports, rounds
alternating between the servers; throughput and server CPU per request,
reported as Ferrocache / redis ratios (medians over the rounds).

ACL: the same GET/SET over plain TCP (unpipelined, and -P 16 with ten times
the requests), once as the
default user (no rules to check) and once as a user with key patterns and a
command list
(`on >pw ~key:* ~counter:* &* -@all +@read +@write +@connection`), on each
server; reported as the throughput of the ACL user relative to the default
user (1.00 = no cost).

Certificates are made with `openssl` in a temporary directory.

Usage: bench/security.py [--rounds 3] [--requests 200000] [--threads N]
                         [--binary target/release/ferrocache]
--threads: Ferrocache's worker threads (default: its own, one per core). On
a 2-core machine the load generator shares the cores: `--threads 1` gives
the server the same one core of work as redis-server's main thread.
"""

import argparse
import csv
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import HOST, cpu_seconds, free_port, stop, wait_port  # noqa: E402


def make_certs(d):
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-days", "30", "-subj", "/CN=bench CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("req", *ec, "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "30", "-extfile", "ext", "-out", "server.crt")
    return {name: os.path.join(d, name) for name in ("ca.crt", "server.crt", "server.key")}


def start(kind, binary, certs, threads):
    port, tls_port = free_port(), free_port()
    tls = ["--tls-port", str(tls_port), "--tls-cert-file", certs["server.crt"],
           "--tls-key-file", certs["server.key"], "--tls-ca-cert-file", certs["ca.crt"],
           "--tls-auth-clients", "no"]
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "",
               "--appendonly", "no", "--logfile", ""]
    else:
        cmd = [binary, "server", *(["--threads", str(threads)] if threads else []),
               "--port", str(port), "--bind", HOST, "--save", ""]
    p = subprocess.Popen(cmd + tls, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    wait_port(tls_port)
    subprocess.run(["redis-cli", "-p", str(port), "ACL", "SETUSER", "bench", "on", ">pw",
                    "~key:*", "~counter:*", "&*", "-@all", "+@read", "+@write",
                    "+@connection"], check=True, capture_output=True)
    return p, port, tls_port


def bench(pid, port, requests, test, extra):
    cmd = ["redis-benchmark", "-h", HOST, "-p", str(port), "-c", "50", "-n", str(requests),
           "-r", "100000", "--threads", "1", "--csv", "-t", test, *extra]
    c0 = cpu_seconds(pid)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    c1 = cpu_seconds(pid)
    rows = list(csv.reader(io.StringIO(res.stdout)))
    if len(rows) < 2 or "rps" not in rows[0]:
        raise SystemExit(f"redis-benchmark failed: {res.stdout} {res.stderr}")
    return float(dict(zip(rows[0], rows[1]))["rps"]), (c1 - c0) / requests * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--binary", default="target/release/ferrocache")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="bench-tls-")
    try:
        certs = make_certs(d)
        servers = {kind: start(kind, args.binary, certs, args.threads) for kind in ("redis", "ferrocache")}
        tls_args = ["--tls", "--cacert", certs["ca.crt"]]
        acl_args = ["--user", "bench", "-a", "pw"]
        results = {}  # (kind, case, test) -> [(rps, cpu_us)]
        for r in range(args.rounds):
            order = ["redis", "ferrocache"] if r % 2 == 0 else ["ferrocache", "redis"]
            for kind in order:
                p, port, tls_port = servers[kind]
                cases = [("tls", tls_port, tls_args),
                         ("plain", port, []),
                         ("acl", port, acl_args),
                         ("plain-P16", port, ["-P", "16"]),
                         ("acl-P16", port, acl_args + ["-P", "16"])]
                # Every other round runs the cases backwards, so neither the
                # default user nor the ACL user always runs on a warmer server.
                if r % 2:
                    cases.reverse()
                for test in ("set", "get"):
                    for case, bport, extra in cases:
                        # Pipelined runs go 10 times faster: 10 times the
                        # requests keep them as long (and past the balancer's
                        # first second).
                        n = args.requests * (10 if "-P" in extra else 1)
                        results.setdefault((kind, case, test), []).append(
                            bench(p.pid, bport, n, test, extra))
        med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
               for k, v in results.items()}
        print(f"rounds: {args.rounds}, requests: {args.requests}, 50 clients, no pipelining, "
              f"Ferrocache threads: {args.threads or 'default'}")
        print("\nTLS (Ferrocache / redis-server)")
        print(f"{'test':6} {'redis rps':>10} {'ferro rps':>10} {'ratio':>6} "
              f"{'redis us/req':>13} {'ferro us/req':>13} {'cpu ratio':>9}")
        for test in ("set", "get"):
            (rr, rc), (fr, fc) = med[("redis", "tls", test)], med[("ferrocache", "tls", test)]
            print(f"{test.upper():6} {rr:10.0f} {fr:10.0f} {fr / rr:6.2f} "
                  f"{rc:13.1f} {fc:13.1f} {rc / fc:9.2f}")
        print("\nACL user / default user, same server (1.00 = no cost)")
        print(f"{'test':10} {'redis':>8} {'ferro':>8}   ferro rps default / acl")
        for suffix in ("", "-P16"):
            for test in ("set", "get"):
                plain, acl = "plain" + suffix, "acl" + suffix
                ratio = {kind: med[(kind, acl, test)][0] / med[(kind, plain, test)][0]
                         for kind in ("redis", "ferrocache")}
                print(f"{test.upper() + suffix.replace('-', ' '):10} {ratio['redis']:8.2f} "
                      f"{ratio['ferrocache']:8.2f}   {med[('ferrocache', plain, test)][0]:.0f} / "
                      f"{med[('ferrocache', acl, test)][0]:.0f}")
        for p, _, _ in servers.values():
            stop(p)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
