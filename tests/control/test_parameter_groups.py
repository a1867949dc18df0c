"""End-to-end tests of parameter groups: the catalogue, a custom group's
values reaching new nodes (Redis and Memcached), immediate changes applied
to running nodes, requires-reboot changes left pending until a reboot.

Run: python3 -m unittest discover -s tests/control -v
"""

import socket
import time
import unittest

import redis

from harness import FAST, ControlPlaneCase


class ParameterGroupTests(ControlPlaneCase):
    PORTS = 20


    def node_port(self, cid):
        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId=cid, WaiterConfig=FAST)
        return self.ec.describe_cache_clusters(CacheClusterId=cid, ShowCacheNodeInfo=True)[
            "CacheClusters"][0]["CacheNodes"][0]["Endpoint"]["Port"]

    def eventually(self, check, what, limit=10):
        deadline = time.time() + limit
        while not check():
            self.assertLess(time.time(), deadline, what)
            time.sleep(0.2)

    def test_redis_parameter_group(self):
        defaults = {p["ParameterName"]: p for p in self.ec.describe_engine_default_parameters(
            CacheParameterGroupFamily="redis7")["EngineDefaults"]["Parameters"]}
        self.assertEqual(defaults["maxmemory-policy"]["ParameterValue"], "volatile-lru")
        self.assertEqual(defaults["maxmemory-policy"]["ChangeType"], "immediate")
        self.assertEqual(defaults["databases"]["ChangeType"], "requires-reboot")
        pages = list(self.ec.get_paginator("describe_engine_default_parameters").paginate(
            CacheParameterGroupFamily="redis7", PaginationConfig={"PageSize": 20}))
        self.assertEqual(len(pages), 2)
        paged = [p["ParameterName"] for page in pages
                 for p in page["EngineDefaults"]["Parameters"]]
        self.assertEqual(paged, sorted(defaults))
        names = [g["CacheParameterGroupName"] for g in
                 self.ec.describe_cache_parameter_groups()["CacheParameterGroups"]]
        self.assertIn("default.redis7", names)
        self.assertEqual(self.error(self.ec.modify_cache_parameter_group,
                                    CacheParameterGroupName="default.redis7",
                                    ParameterNameValues=[{"ParameterName": "timeout",
                                                          "ParameterValue": "5"}]),
                         ("InvalidCacheParameterGroupState", 400))

        self.ec.create_cache_parameter_group(CacheParameterGroupName="tuned",
                                             CacheParameterGroupFamily="redis7",
                                             Description="tuned for sessions")
        self.assertEqual(self.error(self.ec.create_cache_parameter_group,
                                    CacheParameterGroupName="tuned",
                                    CacheParameterGroupFamily="redis7", Description="d"),
                         ("CacheParameterGroupAlreadyExists", 400))
        for name, value in (("no-such-parameter", "1"), ("maxmemory-policy", "sometimes"),
                            ("maxmemory-samples", "0"), ("databases", "many")):
            with self.subTest(name=name):
                self.assertEqual(self.error(self.ec.modify_cache_parameter_group,
                                            CacheParameterGroupName="tuned",
                                            ParameterNameValues=[{"ParameterName": name,
                                                                  "ParameterValue": value}]),
                                 ("InvalidParameterValue", 400))
        self.ec.modify_cache_parameter_group(
            CacheParameterGroupName="tuned",
            ParameterNameValues=[{"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"},
                                 {"ParameterName": "databases", "ParameterValue": "32"}])
        user_values = {p["ParameterName"]: p["ParameterValue"] for p in
                       self.ec.describe_cache_parameters(CacheParameterGroupName="tuned",
                                                         Source="user")["Parameters"]}
        self.assertEqual(user_values, {"databases": "32", "maxmemory-policy": "allkeys-lru"})

        self.ec.create_cache_cluster(CacheClusterId="tuned-c", Engine="redis",
                                     CacheParameterGroupName="tuned")
        r = redis.Redis(port=self.node_port("tuned-c"))
        self.assertEqual(r.config_get("maxmemory-policy")["maxmemory-policy"], "allkeys-lru")
        self.assertEqual(r.config_get("databases")["databases"], "32")

        # immediate: reaches the running node; requires-reboot: pending.
        self.ec.modify_cache_parameter_group(
            CacheParameterGroupName="tuned",
            ParameterNameValues=[{"ParameterName": "maxmemory-samples", "ParameterValue": "7"},
                                 {"ParameterName": "databases", "ParameterValue": "64"}])
        self.eventually(lambda: r.config_get("maxmemory-samples")["maxmemory-samples"] == "7",
                        "maxmemory-samples never reached the node")

        def group_status():
            return self.ec.describe_cache_clusters(CacheClusterId="tuned-c")[
                "CacheClusters"][0]["CacheParameterGroup"]
        self.eventually(lambda: group_status()["ParameterApplyStatus"] == "pending-reboot",
                        "databases change not pending-reboot")
        self.assertEqual(group_status()["CacheNodeIdsToReboot"], ["0001"])
        self.ec.reboot_cache_cluster(CacheClusterId="tuned-c", CacheNodeIdsToReboot=["0001"])
        r = redis.Redis(port=self.node_port("tuned-c"))
        self.assertEqual(r.config_get("databases")["databases"], "64")
        self.assertEqual(group_status()["ParameterApplyStatus"], "in-sync")

        self.assertEqual(self.error(self.ec.delete_cache_parameter_group,
                                    CacheParameterGroupName="tuned"),
                         ("InvalidCacheParameterGroupState", 400))
        self.ec.reset_cache_parameter_group(CacheParameterGroupName="tuned", ResetAllParameters=True)
        self.eventually(lambda: r.config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-lru",
                        "the reset never reached the node")
        self.assertEqual(self.error(self.ec.create_cache_cluster, CacheClusterId="wrong-family",
                                    Engine="memcached", CacheParameterGroupName="tuned"),
                         ("InvalidParameterCombination", 400))
        self.ec.delete_cache_cluster(CacheClusterId="tuned-c")
        self.ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="tuned-c", WaiterConfig=FAST)
        self.ec.delete_cache_parameter_group(CacheParameterGroupName="tuned")
        self.assertEqual(self.error(self.ec.describe_cache_parameters,
                                    CacheParameterGroupName="tuned"),
                         ("CacheParameterGroupNotFound", 404))

    def test_memcached_parameter_group(self):
        self.ec.create_cache_parameter_group(CacheParameterGroupName="big-items",
                                             CacheParameterGroupFamily="memcached1.6",
                                             Description="2 MB items")
        self.ec.modify_cache_parameter_group(
            CacheParameterGroupName="big-items",
            ParameterNameValues=[{"ParameterName": "max_item_size", "ParameterValue": "2097152"}])
        self.ec.create_cache_cluster(CacheClusterId="mc-big", Engine="memcached",
                                     CacheParameterGroupName="big-items")
        port = self.node_port("mc-big")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"stats settings\r\n")
            data = b""
            while not data.endswith(b"END\r\n"):
                data += s.recv(65536)
        self.assertIn(b"STAT item_size_max 2097152\r\n", data)
        self.ec.delete_cache_cluster(CacheClusterId="mc-big")
        self.ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="mc-big", WaiterConfig=FAST)


if __name__ == "__main__":
    unittest.main(verbosity=2)
