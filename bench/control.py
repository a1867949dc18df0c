#!/usr/bin/env python3
"""Control plane timings: CreateReplicationGroup (1 primary + 2 replicas) to
`available`, and failover (kill -9 of the primary to the first write the
primary endpoint accepts again), over a few rounds, medians.

DescribeReplicationGroups is polled every 50 ms (botocore's waiter polls
every 15 s, which would measure the waiter).

Usage: bench/control.py [--rounds 3] [--keys 10000] [--binary target/release/ferrocache]
"""

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "control"))
from test_cache_clusters import ControlPlane, free_port_range  # noqa: E402

import redis  # noqa: E402


def wait_status(ec, gid, want, poll=0.05, limit=120):
    start = time.time()
    while time.time() - start < limit:
        g = ec.describe_replication_groups(ReplicationGroupId=gid)["ReplicationGroups"][0]
        if g["Status"] == want:
            return g
        time.sleep(poll)
    raise SystemExit(f"{gid} never became {want}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--binary", default="target/release/ferrocache")
    args = ap.parse_args()
    os.environ["FERROCACHE_BIN"] = os.path.abspath(args.binary)
    import test_cache_clusters
    test_cache_clusters.BIN = os.environ["FERROCACHE_BIN"]
    tmp = tempfile.mkdtemp(prefix="bench-control-")
    cp = ControlPlane(os.path.join(tmp, "data"), free_port_range(40))
    cp.start()
    ec = cp.client()
    create_s, failover_s = [], []
    try:
        for r in range(args.rounds):
            gid = f"bench{r}"
            t0 = time.time()
            ec.create_replication_group(ReplicationGroupId=gid, ReplicationGroupDescription="bench",
                                        NumCacheClusters=3, AutomaticFailoverEnabled=True)
            g = wait_status(ec, gid, "available")
            create_s.append(time.time() - t0)
            ep = g["NodeGroups"][0]["PrimaryEndpoint"]
            w = redis.Redis(host=ep["Address"], port=ep["Port"])
            pipe = w.pipeline(transaction=False)
            for i in range(args.keys):
                pipe.set(f"key:{i}", i)
            pipe.execute()
            w.wait(2, 5000)
            primary = [m["CacheClusterId"] for m in g["NodeGroups"][0]["NodeGroupMembers"]
                       if m["CurrentRole"] == "primary"][0]
            with open(os.path.join(cp.data_dir, "nodes", primary, "0001", "node.pid")) as f:
                pid = int(f.read())
            t0 = time.time()
            os.kill(pid, signal.SIGKILL)
            while True:
                try:
                    c = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=1,
                                    socket_connect_timeout=1)
                    c.set("after", 1)
                    break
                except redis.exceptions.RedisError:
                    time.sleep(0.02)
            failover_s.append(time.time() - t0)
            assert c.dbsize() >= args.keys, "keys lost in the failover"
            ec.delete_replication_group(ReplicationGroupId=gid)
            print(f"round {r + 1}: available {create_s[-1]:.2f} s, failover {failover_s[-1]:.2f} s",
                  flush=True)
    finally:
        pids = cp.node_pids()
        cp.stop()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nCreateReplicationGroup (1 primary + 2 replicas) to available: "
          f"median {statistics.median(create_s):.2f} s (target < 5 s)")
    print(f"failover, kill -9 of the primary to a write accepted on the primary endpoint "
          f"({args.keys} keys): median {statistics.median(failover_s):.2f} s (target < 10 s)")


if __name__ == "__main__":
    main()
