"""End-to-end tests of snapshots: CreateSnapshot from a cluster and from a
replication group (taken on a replica), restore into a new cluster and a
new group, CopySnapshot, DeleteSnapshot, final snapshots on delete.

Run: python3 -m unittest discover -s tests/control -v
"""

import datetime
import time
import unittest

import redis

from harness import FAST, ControlPlaneCase


class SnapshotTests(ControlPlaneCase):
    def snapshot(self, name, limit=60):
        deadline = time.time() + limit
        while True:
            s = self.ec.describe_snapshots(SnapshotName=name)["Snapshots"][0]
            if s["SnapshotStatus"] != "creating":
                return s
            self.assertLess(time.time(), deadline, f"snapshot {name} never finished")
            time.sleep(0.2)

    def cluster_port(self, cid):
        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId=cid, WaiterConfig=FAST)
        c = self.ec.describe_cache_clusters(CacheClusterId=cid, ShowCacheNodeInfo=True)[
            "CacheClusters"][0]
        return c["CacheNodes"][0]["Endpoint"]["Port"]

    def test_cluster_snapshot_restore_copy_delete_and_final_snapshot(self):
        self.ec.create_cache_cluster(CacheClusterId="src", Engine="redis")
        r = redis.Redis(port=self.cluster_port("src"))
        pipe = r.pipeline(transaction=False)
        for i in range(5000):
            pipe.set(f"k:{i}", "x" * 100)
        pipe.rpush("list", *range(100))
        pipe.execute()

        out = self.ec.create_snapshot(CacheClusterId="src", SnapshotName="snap1")["Snapshot"]
        self.assertEqual(out["SnapshotStatus"], "creating")
        s = self.snapshot("snap1")
        self.assertEqual((s["SnapshotStatus"], s["SnapshotSource"], s["CacheClusterId"]),
                         ("available", "manual", "src"))
        self.assertEqual(s["NodeSnapshots"][0]["CacheClusterId"], "src")
        self.assertRegex(s["NodeSnapshots"][0]["CacheSize"], r"^\d+ MB$")
        self.assertEqual(self.error(self.ec.create_snapshot, CacheClusterId="src",
                                    SnapshotName="snap1"), ("SnapshotAlreadyExistsFault", 400))

        # Writes after the snapshot are not in it.
        r.set("later", 1)
        self.ec.create_cache_cluster(CacheClusterId="restored", Engine="redis", SnapshotName="snap1")
        restored = redis.Redis(port=self.cluster_port("restored"))
        self.assertEqual(restored.dbsize(), 5001)
        self.assertEqual(restored.get("k:4999"), b"x" * 100)
        self.assertEqual(restored.lrange("list", 0, 2), [b"0", b"1", b"2"])
        self.assertIsNone(restored.get("later"))

        self.ec.copy_snapshot(SourceSnapshotName="snap1", TargetSnapshotName="snap2")
        self.assertEqual(self.snapshot("snap2")["SnapshotStatus"], "available")
        listed = [s["SnapshotName"] for s in self.ec.describe_snapshots(CacheClusterId="src")["Snapshots"]]
        self.assertEqual(listed, ["snap1", "snap2"])
        self.ec.delete_snapshot(SnapshotName="snap2")
        self.assertEqual(self.error(self.ec.describe_snapshots, SnapshotName="snap2"),
                         ("SnapshotNotFoundFault", 404))
        self.assertEqual(self.error(self.ec.delete_snapshot, SnapshotName="snap2"),
                         ("SnapshotNotFoundFault", 404))
        self.assertEqual(self.error(self.ec.create_cache_cluster, CacheClusterId="nope",
                                    Engine="redis", SnapshotName="snap2"),
                         ("SnapshotNotFoundFault", 404))

        # A final snapshot keeps the data of a deleted cluster.
        self.ec.delete_cache_cluster(CacheClusterId="src", FinalSnapshotIdentifier="src-final")
        self.ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="src", WaiterConfig=FAST)
        final = self.snapshot("src-final")
        self.assertEqual(final["SnapshotStatus"], "available")
        self.ec.create_cache_cluster(CacheClusterId="reborn", Engine="redis",
                                     SnapshotName="src-final")
        self.assertEqual(redis.Redis(port=self.cluster_port("reborn")).get("later"), b"1")
        events = [e["Message"] for e in self.ec.describe_events(SourceIdentifier="src")["Events"]]
        self.assertIn("Snapshot succeeded for snapshot with ID 'snap1' of cache cluster with ID 'src'",
                      events)
        for cid in ("restored", "reborn"):
            self.ec.delete_cache_cluster(CacheClusterId=cid)
        for cid in ("restored", "reborn"):
            self.ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId=cid, WaiterConfig=FAST)

    def test_automatic_snapshots_follow_the_window_and_go_with_the_cluster(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = now - datetime.timedelta(minutes=1), now + datetime.timedelta(minutes=30)
        window = f"{start:%H:%M}-{end:%H:%M}"
        self.assertEqual(self.error(self.ec.create_cache_cluster, CacheClusterId="badwin",
                                    Engine="redis", SnapshotWindow="25:00-26:00"),
                         ("InvalidParameterValue", 400))
        self.ec.create_cache_cluster(CacheClusterId="daily", Engine="redis",
                                     SnapshotRetentionLimit=1, SnapshotWindow=window)
        deadline = time.time() + 30
        while True:
            auto = self.ec.describe_snapshots(CacheClusterId="daily",
                                              SnapshotSource="automated")["Snapshots"]
            if auto and auto[0]["SnapshotStatus"] == "available":
                break
            self.assertLess(time.time(), deadline, "no automatic snapshot in the window")
            time.sleep(0.3)
        self.assertEqual(len(auto), 1)
        self.assertTrue(auto[0]["SnapshotName"].startswith(f"automatic.daily-{now:%Y-%m-%d}-"))
        self.ec.delete_cache_cluster(CacheClusterId="daily")
        self.ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="daily", WaiterConfig=FAST)
        deadline = time.time() + 10
        while self.ec.describe_snapshots(SnapshotSource="automated")["Snapshots"]:
            self.assertLess(time.time(), deadline, "the automatic snapshot outlived its cluster")
            time.sleep(0.3)

    def test_group_snapshot_is_taken_on_a_replica_and_restores_a_group(self):
        self.ec.create_replication_group(ReplicationGroupId="rg", ReplicationGroupDescription="d",
                                         NumCacheClusters=2)
        self.ec.get_waiter("replication_group_available").wait(ReplicationGroupId="rg",
                                                               WaiterConfig=FAST)
        g = self.ec.describe_replication_groups(ReplicationGroupId="rg")["ReplicationGroups"][0]
        ep = g["NodeGroups"][0]["PrimaryEndpoint"]
        w = redis.Redis(host=ep["Address"], port=ep["Port"])
        w.hset("user:1", mapping={"name": "ada", "plan": "pro"})
        self.assertEqual(w.wait(1, 5000), 1)
        self.ec.create_snapshot(ReplicationGroupId="rg", SnapshotName="rg-snap")
        s = self.snapshot("rg-snap")
        self.assertEqual((s["ReplicationGroupId"], s["NodeSnapshots"][0]["CacheClusterId"]),
                         ("rg", "rg-002"))
        self.ec.create_replication_group(ReplicationGroupId="rg2", ReplicationGroupDescription="d",
                                         NumCacheClusters=2, SnapshotName="rg-snap")
        self.ec.get_waiter("replication_group_available").wait(ReplicationGroupId="rg2",
                                                               WaiterConfig=FAST)
        g2 = self.ec.describe_replication_groups(ReplicationGroupId="rg2")["ReplicationGroups"][0]
        reader = g2["NodeGroups"][0]["ReaderEndpoint"]
        self.assertEqual(redis.Redis(host=reader["Address"], port=reader["Port"]).hgetall("user:1"),
                         {b"name": b"ada", b"plan": b"pro"})
        # Memcached clusters have no snapshots.
        self.ec.create_cache_cluster(CacheClusterId="mc", Engine="memcached")
        self.cluster_port("mc")
        self.assertEqual(self.error(self.ec.create_snapshot, CacheClusterId="mc",
                                    SnapshotName="mc-snap"),
                         ("SnapshotFeatureNotSupportedFault", 400))
        for gid in ("rg", "rg2"):
            self.ec.delete_replication_group(ReplicationGroupId=gid)
        self.ec.delete_cache_cluster(CacheClusterId="mc")
        for gid in ("rg", "rg2"):
            self.ec.get_waiter("replication_group_deleted").wait(ReplicationGroupId=gid,
                                                                 WaiterConfig=FAST)
        self.ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="mc", WaiterConfig=FAST)


if __name__ == "__main__":
    unittest.main(verbosity=2)
