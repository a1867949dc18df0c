"""End-to-end tests of replication groups (cluster mode disabled): boto3
drives `ferrocache control`, redis-py writes through the primary endpoint
and reads through the reader endpoint, and the primary is failed over by
TestFailover and by kill -9.

Run: python3 -m unittest discover -s tests/control -v
"""

import os
import signal
import time
import unittest
import urllib.request

import redis

from harness import FAST, ControlPlaneCase


class ReplicationGroupTests(ControlPlaneCase):
    def group(self, gid):
        return self.ec.describe_replication_groups(ReplicationGroupId=gid)["ReplicationGroups"][0]

    def wait_available(self, gid):
        self.ec.get_waiter("replication_group_available").wait(
            ReplicationGroupId=gid, WaiterConfig=FAST)
        return self.group(gid)

    def roles(self, g):
        return {m["CacheClusterId"]: m["CurrentRole"] for m in g["NodeGroups"][0]["NodeGroupMembers"]}

    def primary_of(self, g):
        return [c for c, r in self.roles(g).items() if r == "primary"]

    def events(self, gid):
        return [e["Message"] for e in self.ec.describe_events(
            SourceIdentifier=gid, SourceType="replication-group", Duration=60)["Events"]]

    def test_primary_and_reader_endpoints_failover_and_replica_count(self):
        started = time.time()
        out = self.ec.create_replication_group(
            ReplicationGroupId="shop", ReplicationGroupDescription="orders and carts",
            Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=3,
            AutomaticFailoverEnabled=True)["ReplicationGroup"]
        self.assertEqual(out["Status"], "creating")
        self.assertEqual(out["MemberClusters"], ["shop-001", "shop-002", "shop-003"])
        g = self.wait_available("shop")
        available_after = time.time() - started
        self.assertLess(available_after, 30)
        ng = g["NodeGroups"][0]
        self.assertEqual(self.roles(g), {"shop-001": "primary", "shop-002": "replica",
                                         "shop-003": "replica"})
        self.assertEqual(g["AutomaticFailover"], "enabled")
        self.assertEqual(g["ClusterEnabled"], False)
        self.assertEqual(g["ARN"], "arn:aws:elasticache:us-west-2:000000000000:replicationgroup:shop")
        member = self.ec.describe_cache_clusters(CacheClusterId="shop-002")["CacheClusters"][0]
        self.assertEqual(member["ReplicationGroupId"], "shop")

        primary_ep = (ng["PrimaryEndpoint"]["Address"], ng["PrimaryEndpoint"]["Port"])
        reader_ep = (ng["ReaderEndpoint"]["Address"], ng["ReaderEndpoint"]["Port"])
        w = redis.Redis(*primary_ep)
        for i in range(100):
            w.set(f"cart:{i}", i)
        self.assertEqual(w.wait(2, 5000), 2)
        for _ in range(4):  # connections spread over both replicas
            r = redis.Redis(*reader_ep)
            self.assertEqual(r.get("cart:7"), b"7")
            self.assertEqual(r.info("replication")["role"], "slave")
            with self.assertRaises(redis.exceptions.ReadOnlyError):
                r.set("x", 1)
            r.close()

        with urllib.request.urlopen(self.cp.url + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        lag_lines = [l for l in text.splitlines()
                     if l.startswith("ferrocache_replication_lag_bytes{") and 'replication_group="shop"' in l]
        self.assertEqual(len(lag_lines), 2, text)
        masters = [l for l in text.splitlines()
                   if l.startswith("ferrocache_is_master{") and 'replication_group="shop"' in l]
        self.assertEqual(sorted(l.rsplit(" ", 1)[1] for l in masters), ["0", "0", "1"])

        # TestFailover: a replica becomes primary behind the same endpoint.
        self.ec.test_failover(ReplicationGroupId="shop", NodeGroupId="0001")
        g = self.wait_available("shop")
        [new_primary] = self.primary_of(g)
        self.assertNotEqual(new_primary, "shop-001")
        self.assertEqual(g["NodeGroups"][0]["PrimaryEndpoint"]["Port"], primary_ep[1])
        w = redis.Redis(*primary_ep)
        self.assertEqual(w.get("cart:99"), b"99")
        w.set("after-test-failover", 1)
        self.assertIn(f"Failover from primary node shop-001 to replica node {new_primary} completed",
                      self.events("shop"))

        # kill -9 of the primary: a replica takes over within 10 seconds.
        self.assertEqual(w.wait(2, 5000), 2)
        primary_port = [m["ReadEndpoint"]["Port"] for m in g["NodeGroups"][0]["NodeGroupMembers"]
                        if m["CacheClusterId"] == new_primary][0]
        with open(os.path.join(self.cp.data_dir, "nodes", new_primary, "0001", "node.pid")) as f:
            pid = int(f.read())
        killed = time.time()
        os.kill(pid, signal.SIGKILL)
        while True:
            try:
                c = redis.Redis(*primary_ep, socket_timeout=1, socket_connect_timeout=1)
                c.set("after-kill", 1)
                break
            except redis.exceptions.RedisError:
                self.assertLess(time.time() - killed, 10, "no failover within 10 seconds")
                time.sleep(0.1)
        failover_seconds = time.time() - killed
        self.assertEqual(c.get("cart:42"), b"42")
        self.assertEqual(c.get("after-test-failover"), b"1")
        g = self.wait_available("shop")
        [third_primary] = self.primary_of(g)
        self.assertNotEqual(third_primary, new_primary)
        self.assertIn(f"Failover from primary node {new_primary} to replica node {third_primary} completed",
                      self.events("shop"))
        self.assertNotEqual(primary_port, g["NodeGroups"][0]["PrimaryEndpoint"]["Port"])
        # The killed node came back as a replica of the new primary.
        self.assertEqual(sorted(self.roles(g).values()), ["primary", "replica", "replica"])

        # Replica counts.
        self.ec.increase_replica_count(ReplicationGroupId="shop", NewReplicaCount=3,
                                       ApplyImmediately=True)
        g = self.wait_available("shop")
        self.assertEqual(len(g["MemberClusters"]), 4)
        self.assertEqual(redis.Redis(*primary_ep).wait(3, 5000), 3)
        self.assertEqual(self.error(self.ec.increase_replica_count, ReplicationGroupId="shop",
                                    NewReplicaCount=3, ApplyImmediately=True),
                         ("NoOperationFault", 400))
        self.ec.decrease_replica_count(ReplicationGroupId="shop", NewReplicaCount=1,
                                       ApplyImmediately=True)
        g = self.wait_available("shop")
        self.assertEqual(len(g["MemberClusters"]), 2)
        self.assertEqual(self.error(self.ec.decrease_replica_count, ReplicationGroupId="shop",
                                    NewReplicaCount=0, ApplyImmediately=True),
                         ("InvalidParameterCombination", 400))

        self.ec.delete_replication_group(ReplicationGroupId="shop")
        self.ec.get_waiter("replication_group_deleted").wait(ReplicationGroupId="shop",
                                                             WaiterConfig=FAST)
        for m in g["MemberClusters"]:
            self.ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId=m, WaiterConfig=FAST)
        print(f"\n  shop: available {available_after:.1f} s after CreateReplicationGroup "
              f"(1 primary + 2 replicas); writes on the primary endpoint {failover_seconds:.1f} s "
              f"after kill -9 of the primary")

    def test_error_answers(self):
        self.ec.create_replication_group(ReplicationGroupId="solo", ReplicationGroupDescription="d",
                                         NumCacheClusters=1)
        cases = [
            (self.ec.create_replication_group,
             dict(ReplicationGroupId="solo", ReplicationGroupDescription="d"),
             ("ReplicationGroupAlreadyExists", 400)),
            (self.ec.describe_replication_groups, dict(ReplicationGroupId="none"),
             ("ReplicationGroupNotFoundFault", 404)),
            (self.ec.delete_replication_group, dict(ReplicationGroupId="none"),
             ("ReplicationGroupNotFoundFault", 404)),
            (self.ec.create_replication_group,
             dict(ReplicationGroupId="sharded", ReplicationGroupDescription="d", NumNodeGroups=2),
             ("InvalidParameterCombination", 400)),
            (self.ec.create_replication_group,
             dict(ReplicationGroupId="af", ReplicationGroupDescription="d", NumCacheClusters=1,
                  AutomaticFailoverEnabled=True),
             ("InvalidParameterCombination", 400)),
            (self.ec.create_replication_group,
             dict(ReplicationGroupId="mc", ReplicationGroupDescription="d", Engine="memcached"),
             ("InvalidParameterValue", 400)),
            (self.ec.create_replication_group,
             dict(ReplicationGroupId="big", ReplicationGroupDescription="d", NumCacheClusters=7),
             ("InvalidParameterValue", 400)),
            (self.ec.create_replication_group,
             dict(ReplicationGroupId="adopt", ReplicationGroupDescription="d",
                  PrimaryClusterId="missing"),
             ("CacheClusterNotFound", 404)),
        ]
        for call, kwargs, want in cases:
            with self.subTest(call=call.__name__, **kwargs):
                self.assertEqual(self.error(call, **kwargs), want)
        g = self.wait_available("solo")
        self.assertEqual(self.roles(g), {"solo-001": "primary"})
        self.assertEqual(self.error(self.ec.test_failover, ReplicationGroupId="solo",
                                    NodeGroupId="0001"), ("TestFailoverNotAvailableFault", 400))
        self.assertEqual(self.error(self.ec.test_failover, ReplicationGroupId="solo",
                                    NodeGroupId="0002"), ("NodeGroupNotFoundFault", 404))
        self.assertEqual(self.error(self.ec.delete_cache_cluster, CacheClusterId="solo-001"),
                         ("InvalidCacheClusterState", 400))
        # RetainPrimaryCluster keeps the primary as a standalone cluster.
        self.ec.delete_replication_group(ReplicationGroupId="solo", RetainPrimaryCluster=True)
        self.ec.get_waiter("replication_group_deleted").wait(ReplicationGroupId="solo",
                                                             WaiterConfig=FAST)
        kept = self.ec.describe_cache_clusters(CacheClusterId="solo-001")["CacheClusters"][0]
        self.assertNotIn("ReplicationGroupId", kept)
        self.ec.delete_cache_cluster(CacheClusterId="solo-001")
        self.ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="solo-001", WaiterConfig=FAST)

    def test_users_and_user_groups_control_access(self):
        ec = self.ec
        ec.create_user(UserId="app-default", UserName="default", Engine="redis",
                       AccessString="off -@all", NoPasswordRequired=True)
        ec.create_user(UserId="alice", UserName="alice", Engine="redis",
                       AccessString="on ~app:* +@all", Passwords=["alice-password-0001"])
        ec.create_user(UserId="auditor", UserName="auditor", Engine="redis",
                       AccessString="on ~* +@read", Passwords=["auditor-password-01"])
        self.assertEqual(self.error(ec.create_user, UserId="alice", UserName="x", Engine="redis",
                                    AccessString="on", NoPasswordRequired=True),
                         ("UserAlreadyExists", 400))
        self.assertEqual(self.error(ec.create_user, UserId="short", UserName="s", Engine="redis",
                                    AccessString="on", Passwords=["tooshort"]),
                         ("InvalidParameterValue", 400))
        self.assertEqual(self.error(ec.create_user, UserId="inline", UserName="i", Engine="redis",
                                    AccessString="on >secret-in-rules ~*", NoPasswordRequired=True),
                         ("InvalidParameterValue", 400))
        self.assertEqual(self.error(ec.create_user_group, UserGroupId="nodefault", Engine="redis",
                                    UserIds=["alice"]), ("DefaultUserRequired", 400))
        self.assertEqual(self.error(ec.create_user_group, UserGroupId="twice", Engine="redis",
                                    UserIds=["default", "app-default"]), ("DuplicateUserName", 400))
        self.assertEqual(self.error(ec.create_user_group, UserGroupId="ghost", Engine="redis",
                                    UserIds=["default", "ghost"]), ("UserNotFound", 404))
        ec.create_user_group(UserGroupId="app-users", Engine="redis",
                             UserIds=["app-default", "alice", "auditor"])
        ids = [u["UserId"] for u in ec.describe_users()["Users"]]
        self.assertEqual(ids, ["alice", "app-default", "auditor", "default"])
        self.assertEqual(ec.describe_users(UserId="alice")["Users"][0]["UserGroupIds"], ["app-users"])

        ec.create_replication_group(ReplicationGroupId="secure", ReplicationGroupDescription="rbac",
                                    NumCacheClusters=2, UserGroupIds=["app-users"])
        g = self.wait_available("secure")
        self.assertEqual(g["UserGroupIds"], ["app-users"])
        ng = g["NodeGroups"][0]
        primary = (ng["PrimaryEndpoint"]["Address"], ng["PrimaryEndpoint"]["Port"])
        reader = (ng["ReaderEndpoint"]["Address"], ng["ReaderEndpoint"]["Port"])
        with self.assertRaises(redis.exceptions.AuthenticationError):
            redis.Redis(*primary).get("app:1")
        with self.assertRaises(redis.exceptions.AuthenticationError):
            redis.Redis(*primary, username="alice", password="wrong-password-000").ping()
        alice = redis.Redis(*primary, username="alice", password="alice-password-0001")
        alice.set("app:1", "v")
        with self.assertRaises(redis.exceptions.NoPermissionError):
            alice.set("other", "v")
        self.assertEqual(alice.wait(1, 5000), 1)
        auditor = redis.Redis(*reader, username="auditor", password="auditor-password-01")
        self.assertEqual(auditor.get("app:1"), b"v")
        with self.assertRaises(redis.exceptions.NoPermissionError):
            redis.Redis(*primary, username="auditor", password="auditor-password-01").set("app:2", 1)

        # A new password replaces the old one on every node.
        ec.modify_user(UserId="alice", Passwords=["alice-password-0002"])
        deadline = time.time() + 10
        while True:
            try:
                redis.Redis(*primary, username="alice", password="alice-password-0001").ping()
            except redis.exceptions.AuthenticationError:
                break
            self.assertLess(time.time(), deadline, "the old password still works")
            time.sleep(0.2)
        self.assertTrue(redis.Redis(*primary, username="alice",
                                    password="alice-password-0002").ping())

        self.assertEqual(self.error(ec.delete_user_group, UserGroupId="app-users"),
                         ("InvalidUserGroupState", 400))
        ec.modify_replication_group(ReplicationGroupId="secure", UserGroupIdsToRemove=["app-users"],
                                    ApplyImmediately=True)
        self.wait_available("secure")
        self.assertTrue(redis.Redis(*primary).set("open", 1))
        ec.delete_user_group(UserGroupId="app-users")
        for u in ("alice", "auditor", "app-default"):
            ec.delete_user(UserId=u)
        self.assertEqual(self.error(ec.delete_user, UserId="default"), ("InvalidParameterValue", 400))
        ec.delete_replication_group(ReplicationGroupId="secure")
        ec.get_waiter("replication_group_deleted").wait(ReplicationGroupId="secure",
                                                        WaiterConfig=FAST)

    def test_existing_cluster_becomes_the_primary(self):
        self.ec.create_cache_cluster(CacheClusterId="seed", Engine="redis")
        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId="seed", WaiterConfig=FAST)
        node = self.ec.describe_cache_clusters(CacheClusterId="seed", ShowCacheNodeInfo=True)[
            "CacheClusters"][0]["CacheNodes"][0]["Endpoint"]
        redis.Redis(port=node["Port"]).set("seeded", "yes")
        self.ec.create_replication_group(ReplicationGroupId="grown", ReplicationGroupDescription="d",
                                         PrimaryClusterId="seed", NumCacheClusters=2)
        g = self.wait_available("grown")
        self.assertEqual(self.roles(g), {"seed": "primary", "grown-001": "replica"})
        reader = g["NodeGroups"][0]["ReaderEndpoint"]
        self.assertEqual(redis.Redis(port=reader["Port"]).get("seeded"), b"yes")
        self.ec.delete_replication_group(ReplicationGroupId="grown")
        self.ec.get_waiter("replication_group_deleted").wait(ReplicationGroupId="grown",
                                                             WaiterConfig=FAST)
        for m in ("seed", "grown-001"):
            self.ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId=m, WaiterConfig=FAST)


if __name__ == "__main__":
    unittest.main(verbosity=2)
