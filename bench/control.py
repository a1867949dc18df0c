#!/usr/bin/env python3
"""Control plane timings: CreateReplicationGroup (1 primary + 2 replicas) to
`available`, failover (kill -9 of the primary to the first write the
primary endpoint accepts again), over a few rounds, medians; then the
throughput of a snapshot of a ~1 GB dataset (CreateSnapshot to
`available`) and of its restore (CreateCacheCluster with SnapshotName to
`available`, the data loaded).

Describe calls are polled every 50 ms (botocore's waiters poll every 15 s,
which would measure the waiter).

Usage: bench/control.py [--rounds 3] [--keys 10000] [--snapshot-mb 1024]
                        [--binary target/release/ferrocache]
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
import harness  # noqa: E402
from harness import ControlPlane, free_port_range  # noqa: E402

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
    ap.add_argument("--snapshot-mb", type=int, default=1024)
    ap.add_argument("--binary", default="target/release/ferrocache")
    args = ap.parse_args()
    harness.BIN = os.path.abspath(args.binary)
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
        snap_mbps, restore_mbps, rdb_mb = snapshot_round(ec, args.snapshot_mb)
    finally:
        cp.kill_nodes()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nCreateReplicationGroup (1 primary + 2 replicas) to available: "
          f"median {statistics.median(create_s):.2f} s (target < 5 s)")
    print(f"failover, kill -9 of the primary to a write accepted on the primary endpoint "
          f"({args.keys} keys): median {statistics.median(failover_s):.2f} s (target < 10 s)")
    print(f"snapshot of {args.snapshot_mb} MB of values (RDB {rdb_mb:.0f} MB): {snap_mbps:.0f} MB/s; "
          f"restore into a new cluster: {restore_mbps:.0f} MB/s (target >= 100 MB/s)")


def wait_cluster(ec, cid, poll=0.05, limit=600):
    start = time.time()
    while time.time() - start < limit:
        c = ec.describe_cache_clusters(CacheClusterId=cid, ShowCacheNodeInfo=True)["CacheClusters"][0]
        if c["CacheClusterStatus"] == "available":
            return c
        time.sleep(poll)
    raise SystemExit(f"{cid} never became available")


def snapshot_round(ec, megabytes):
    """Loads `megabytes` of 1 KB values, snapshots them and restores them;
    returns (snapshot MB/s, restore MB/s, RDB size in MB)."""
    ec.create_cache_cluster(CacheClusterId="bulk", Engine="redis", CacheNodeType="cache.r7g.large")
    c = wait_cluster(ec, "bulk")
    r = redis.Redis(port=c["CacheNodes"][0]["Endpoint"]["Port"])
    # Incompressible values (RDB files compress strings with LZF).
    pool = os.urandom(1 << 20)
    keys = megabytes * 1024
    for start in range(0, keys, 10000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(start + 10000, keys)):
            at = (i * 4099) % ((1 << 20) - 1024)
            pipe.set(f"bulk:{i:09}", pool[at:at + 1024])
        pipe.execute()
    t0 = time.time()
    ec.create_snapshot(CacheClusterId="bulk", SnapshotName="bulk-snap")
    while True:
        s = ec.describe_snapshots(SnapshotName="bulk-snap")["Snapshots"][0]
        if s["SnapshotStatus"] != "creating":
            break
        time.sleep(0.05)
    snap_s = time.time() - t0
    if s["SnapshotStatus"] != "available":
        raise SystemExit(f"snapshot failed: {s}")
    rdb_mb = float(s["NodeSnapshots"][0]["CacheSize"].split()[0])
    t0 = time.time()
    ec.create_cache_cluster(CacheClusterId="bulk-restored", Engine="redis",
                            CacheNodeType="cache.r7g.large", SnapshotName="bulk-snap")
    c2 = wait_cluster(ec, "bulk-restored")
    restore_s = time.time() - t0
    restored = redis.Redis(port=c2["CacheNodes"][0]["Endpoint"]["Port"]).dbsize()
    assert restored == keys, f"restored {restored} keys of {keys}"
    for cid in ("bulk", "bulk-restored"):
        ec.delete_cache_cluster(CacheClusterId=cid)
    ec.delete_snapshot(SnapshotName="bulk-snap")
    return rdb_mb / snap_s, rdb_mb / restore_s, rdb_mb


if __name__ == "__main__":
    main()
