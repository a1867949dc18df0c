"""End-to-end tests of the control plane's cache clusters, driven the way an
operator drives the managed service: boto3 and the AWS CLI against
`ferrocache control --endpoint-url`, then redis-py and pymemcache against
the nodes it starts.

Run: python3 -m unittest discover -s tests/control -v
(FERROCACHE_BIN picks the binary; default target/release/ferrocache).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from botocore.exceptions import ClientError
import pymemcache.client.base
import redis

from harness import FAST, ControlPlane, ControlPlaneCase, free_port_range


class CacheClusterTests(ControlPlaneCase):
    def describe(self, cluster_id):
        return self.ec.describe_cache_clusters(
            CacheClusterId=cluster_id, ShowCacheNodeInfo=True)["CacheClusters"][0]

    def delete_and_wait(self, cluster_id):
        out = self.ec.delete_cache_cluster(CacheClusterId=cluster_id)
        self.assertEqual(out["CacheCluster"]["CacheClusterStatus"], "deleting")
        self.ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId=cluster_id, WaiterConfig=FAST)
        code, status = self.error(self.ec.describe_cache_clusters, CacheClusterId=cluster_id)
        self.assertEqual((code, status), ("CacheClusterNotFound", 404))

    def test_banner_names_the_endpoint_and_a_first_command(self):
        self.assertIn(self.cp.url, self.cp.banner)
        self.assertIn("aws elasticache create-cache-cluster", self.cp.banner)

    def test_redis_cluster_create_use_reboot_delete(self):
        out = self.ec.create_cache_cluster(
            CacheClusterId="Orders", Engine="redis", CacheNodeType="cache.t3.small",
            NumCacheNodes=1, Tags=[{"Key": "team", "Value": "a"}])["CacheCluster"]
        self.assertEqual(out["CacheClusterId"], "orders")
        self.assertEqual(out["CacheClusterStatus"], "creating")
        self.assertEqual(out["ARN"], "arn:aws:elasticache:us-west-2:000000000000:cluster:orders")
        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId="orders", WaiterConfig=FAST)
        c = self.describe("orders")
        self.assertEqual((c["Engine"], c["CacheClusterStatus"], c["NumCacheNodes"]),
                         ("redis", "available", 1))
        node = c["CacheNodes"][0]
        self.assertEqual((node["CacheNodeId"], node["CacheNodeStatus"]), ("0001", "available"))
        r = redis.Redis(host=node["Endpoint"]["Address"], port=node["Endpoint"]["Port"])
        r.set("order:1", "paid")
        # The node type sets the memory limit: cache.t3.small = 1.37 GiB.
        self.assertEqual(int(r.config_get("maxmemory")["maxmemory"]), 1403 * 1024 * 1024)
        self.assertEqual(r.config_get("maxmemory-policy")["maxmemory-policy"], "volatile-lru")

        out = self.ec.reboot_cache_cluster(CacheClusterId="orders", CacheNodeIdsToReboot=["0001"])
        self.assertEqual(out["CacheCluster"]["CacheClusterStatus"], "rebooting cache cluster nodes")
        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId="orders", WaiterConfig=FAST)
        # A reboot stops the node with SIGTERM, which saves its data first.
        self.assertEqual(redis.Redis(port=node["Endpoint"]["Port"]).get("order:1"), b"paid")
        messages = [e["Message"] for e in self.ec.describe_events(
            SourceIdentifier="orders", SourceType="cache-cluster")["Events"]]
        self.assertEqual(messages, [
            "Added cache node 0001 in availability zone us-west-2a",
            "Cache cluster created",
            "Cache node 0001 restarted",
            "Cache cluster rebooted",
        ])
        self.delete_and_wait("orders")
        with self.assertRaises(redis.exceptions.ConnectionError):
            redis.Redis(port=node["Endpoint"]["Port"], socket_connect_timeout=1).ping()

    def test_memcached_cluster_auto_discovery_and_node_count(self):
        self.ec.create_cache_cluster(CacheClusterId="sessions", Engine="memcached",
                                     CacheNodeType="cache.t3.micro", NumCacheNodes=2)
        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId="sessions", WaiterConfig=FAST)
        c = self.describe("sessions")
        config = c["ConfigurationEndpoint"]

        def discovered(port=config["Port"]):
            with socket.create_connection((config["Address"], port), timeout=5) as s:
                s.sendall(b"config get cluster\r\n")
                data = b""
                while not data.endswith(b"END\r\n"):
                    data += s.recv(4096)
            nodes = data.split(b"\r\n")[1].split(b"\n")[1].decode().split()
            return sorted(int(n.split("|")[2]) for n in nodes)

        ports = sorted(n["Endpoint"]["Port"] for n in c["CacheNodes"])
        self.assertEqual(discovered(), ports)
        for port in ports:
            mc = pymemcache.client.base.Client(("127.0.0.1", port))
            mc.set("user:1", b"alice")
            self.assertEqual(mc.get("user:1"), b"alice")
            mc.close()

        self.ec.modify_cache_cluster(CacheClusterId="sessions", NumCacheNodes=3, ApplyImmediately=True)
        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId="sessions", WaiterConfig=FAST)
        c = self.describe("sessions")
        self.assertEqual([n["CacheNodeId"] for n in c["CacheNodes"]], ["0001", "0002", "0003"])
        self.assertEqual(discovered(), sorted(n["Endpoint"]["Port"] for n in c["CacheNodes"]))

        code, _ = self.error(self.ec.modify_cache_cluster, CacheClusterId="sessions",
                                NumCacheNodes=2)
        self.assertEqual(code, "InvalidParameterValue")
        self.ec.modify_cache_cluster(CacheClusterId="sessions", NumCacheNodes=2,
                                     CacheNodeIdsToRemove=["0002"], ApplyImmediately=True)
        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId="sessions", WaiterConfig=FAST)
        c = self.describe("sessions")
        self.assertEqual([n["CacheNodeId"] for n in c["CacheNodes"]], ["0001", "0003"])
        self.assertEqual(c["NumCacheNodes"], 2)
        ports = sorted(n["Endpoint"]["Port"] for n in c["CacheNodes"])
        self.assertEqual(discovered(), ports)

        # A killed node is replaced, and the new process knows the node list.
        [killed] = [n["Endpoint"]["Port"] for n in c["CacheNodes"] if n["CacheNodeId"] == "0003"]
        os.kill(self.cp.node_pid("sessions", "0003"), signal.SIGKILL)
        deadline = time.time() + 20
        while True:
            try:
                if discovered(killed) == ports:
                    break
            except (OSError, IndexError):
                pass
            self.assertLess(time.time(), deadline, "the killed node did not come back with the node list")
            time.sleep(0.2)
        self.delete_and_wait("sessions")

    def test_error_answers(self):
        self.ec.create_cache_cluster(CacheClusterId="dup", Engine="memcached", NumCacheNodes=1)
        cases = [
            (self.ec.create_cache_cluster, dict(CacheClusterId="dup", Engine="memcached"),
             "CacheClusterAlreadyExists", 400),
            (self.ec.describe_cache_clusters, dict(CacheClusterId="missing"),
             "CacheClusterNotFound", 404),
            (self.ec.delete_cache_cluster, dict(CacheClusterId="missing"),
             "CacheClusterNotFound", 404),
            (self.ec.create_cache_cluster, dict(CacheClusterId="r2", Engine="redis", NumCacheNodes=2),
             "InvalidParameterValue", 400),
            (self.ec.create_cache_cluster, dict(CacheClusterId="x", Engine="oracle"),
             "InvalidParameterValue", 400),
            (self.ec.create_cache_cluster, dict(CacheClusterId="1abc", Engine="redis"),
             "InvalidParameterValue", 400),
            (self.ec.create_cache_cluster, dict(CacheClusterId="a--b", Engine="redis"),
             "InvalidParameterValue", 400),
            (self.ec.create_cache_cluster, dict(CacheClusterId="t", Engine="redis",
                                                CacheNodeType="cache.huge"),
             "InvalidParameterValue", 400),
            (self.ec.create_cache_cluster, dict(CacheClusterId="g", ReplicationGroupId="nope"),
             "ReplicationGroupNotFoundFault", 404),
            (self.ec.describe_cache_clusters, dict(MaxRecords=5), "InvalidParameterValue", 400),
            (self.ec.reboot_cache_cluster, dict(CacheClusterId="dup", CacheNodeIdsToReboot=["0009"]),
             None, 400),
            (self.ec.describe_events, dict(SourceType="galaxy"), "InvalidParameterValue", 400),
            (self.ec.create_cache_cluster, dict(CacheClusterId="tls", Engine="memcached",
                                                TransitEncryptionEnabled=True,
                                                AuthToken="Sample-token-for-mc-01"),
             "InvalidParameterCombination", 400),
        ]
        for call, kwargs, want_code, want_status in cases:
            with self.subTest(call=call.__name__, **kwargs):
                code, status = self.error(call, **kwargs)
                if want_code:
                    self.assertEqual(code, want_code)
                self.assertEqual(status, want_status)
        # Operations outside the model, and a request without an action.
        for body, code in ((b"Action=LaunchRocket&Version=2015-02-02", "InvalidAction"),
                           (b"Version=2015-02-02", "MissingAction")):
            req = urllib.request.Request(self.cp.url + "/", data=body, method="POST")
            with self.assertRaises(urllib.error.HTTPError) as ctx:
                urllib.request.urlopen(req, timeout=10)
            self.assertEqual(ctx.exception.code, 400)
            text = ctx.exception.read().decode()
            self.assertIn(f"<Code>{code}</Code>", text)
            self.assertIn("<RequestId>", text)
        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId="dup", WaiterConfig=FAST)
        self.delete_and_wait("dup")

    def test_pagination_with_marker(self):
        ids = [f"page{i:02}" for i in range(21)]
        for i in ids:
            self.ec.create_cache_cluster(CacheClusterId=i, Engine="memcached", NumCacheNodes=1)
        pages = list(self.ec.get_paginator("describe_cache_clusters").paginate(
            PaginationConfig={"PageSize": 20}))
        seen = [c["CacheClusterId"] for p in pages for c in p["CacheClusters"]]
        self.assertEqual([i for i in seen if i.startswith("page")], ids)
        self.assertGreaterEqual(len(pages), 2)
        self.assertIn("Marker", pages[0])
        for i in ids:
            self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId=i, WaiterConfig=FAST)
            self.ec.delete_cache_cluster(CacheClusterId=i)
        for i in ids:
            self.ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId=i, WaiterConfig=FAST)

    def test_tags_engine_versions_and_node_type_changes(self):
        arn = self.ec.create_cache_cluster(
            CacheClusterId="tagged", Engine="redis", CacheNodeType="cache.t3.micro",
            Tags=[{"Key": "env", "Value": "dev"}])["CacheCluster"]["ARN"]

        def tags():
            return {t["Key"]: t["Value"]
                    for t in self.ec.list_tags_for_resource(ResourceName=arn)["TagList"]}

        self.assertEqual(tags(), {"env": "dev"})
        self.ec.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "team", "Value": "core"},
                                                             {"Key": "env", "Value": "prod"}])
        self.assertEqual(tags(), {"env": "prod", "team": "core"})
        self.ec.remove_tags_from_resource(ResourceName=arn, TagKeys=["env"])
        self.assertEqual(tags(), {"team": "core"})
        for name, want in (
            (arn.replace(":tagged", ":missing"), ("CacheClusterNotFound", 404)),
            ("not-an-arn", ("InvalidARN", 400)),
            (arn.replace(":cluster:", ":reservation:"), ("InvalidARN", 400)),
        ):
            self.assertEqual(self.error(self.ec.list_tags_for_resource, ResourceName=name), want)
        self.assertEqual(self.error(self.ec.remove_tags_from_resource, ResourceName=arn,
                                    TagKeys=["nope"]), ("TagNotFound", 404))

        versions = self.ec.describe_cache_engine_versions()["CacheEngineVersions"]
        self.assertEqual({(v["Engine"], v["CacheParameterGroupFamily"]) for v in versions},
                         {("redis", "redis7"), ("memcached", "memcached1.6")})
        self.assertEqual(len(self.ec.describe_cache_engine_versions(Engine="memcached")[
            "CacheEngineVersions"]), 1)

        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId="tagged",
                                                           WaiterConfig=FAST)
        port = self.describe("tagged")["CacheNodes"][0]["Endpoint"]["Port"]
        allowed = self.ec.list_allowed_node_type_modifications(CacheClusterId="tagged")
        self.assertIn("cache.r7g.large", allowed["ScaleUpModifications"])
        self.assertNotIn("cache.t3.micro", allowed["ScaleUpModifications"])
        self.ec.modify_cache_cluster(CacheClusterId="tagged", CacheNodeType="cache.r7g.large",
                                     ApplyImmediately=True)
        self.assertEqual(self.describe("tagged")["CacheNodeType"], "cache.r7g.large")
        self.assertEqual(int(redis.Redis(port=port).config_get("maxmemory")["maxmemory"]),
                         13384 * 1024 * 1024)
        self.delete_and_wait("tagged")
        self.assertEqual(self.error(self.ec.list_tags_for_resource, ResourceName=arn),
                         ("CacheClusterNotFound", 404))

    def test_metrics_endpoint_labels_every_node(self):
        self.ec.create_cache_cluster(CacheClusterId="metered", Engine="redis")
        self.ec.create_cache_cluster(CacheClusterId="metered-mc", Engine="memcached")
        r = redis.Redis(port=self.port_of("metered"))
        r.set("k", "v")
        for _ in range(3):
            r.get("k")
        r.get("missing")
        mc = pymemcache.client.base.Client(("127.0.0.1", self.port_of("metered-mc")))
        mc.set("a", b"1")
        mc.get("a")
        mc.close()
        with urllib.request.urlopen(self.cp.url + "/metrics", timeout=10) as resp:
            self.assertTrue(resp.headers["Content-Type"].startswith("text/plain"))
            text = resp.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name_labels, value = line.rsplit(" ", 1)
                values[name_labels] = float(value)
        redis_labels = 'cluster="metered",node="0001",engine="redis",replication_group=""'
        mc_labels = 'cluster="metered-mc",node="0001",engine="memcached",replication_group=""'
        self.assertGreaterEqual(values[f"ferrocache_cache_hits_total{{{redis_labels}}}"], 3)
        self.assertGreaterEqual(values[f"ferrocache_cache_misses_total{{{redis_labels}}}"], 1)
        self.assertEqual(values[f"ferrocache_curr_items{{{redis_labels}}}"], 1)
        self.assertEqual(values[f"ferrocache_is_master{{{redis_labels}}}"], 1)
        self.assertGreater(values[f"ferrocache_bytes_used_for_cache{{{redis_labels}}}"], 0)
        self.assertEqual(values[f"ferrocache_cache_hits_total{{{mc_labels}}}"], 1)
        self.assertEqual(values[f"ferrocache_curr_items{{{mc_labels}}}"], 1)
        self.assertIn("# TYPE ferrocache_cache_hits_total counter", text)
        for cid in ("metered", "metered-mc"):
            self.delete_and_wait(cid)

    def port_of(self, cluster_id):
        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId=cluster_id,
                                                           WaiterConfig=FAST)
        return self.describe(cluster_id)["CacheNodes"][0]["Endpoint"]["Port"]

    def test_subnet_groups(self):
        ec = self.ec
        out = ec.create_cache_subnet_group(CacheSubnetGroupName="Private",
                                           CacheSubnetGroupDescription="app tier",
                                           SubnetIds=["subnet-a1", "subnet-b2"])["CacheSubnetGroup"]
        self.assertEqual(out["CacheSubnetGroupName"], "private")
        self.assertEqual([s["SubnetIdentifier"] for s in out["Subnets"]], ["subnet-a1", "subnet-b2"])
        self.assertEqual(self.error(ec.create_cache_subnet_group, CacheSubnetGroupName="private",
                                    CacheSubnetGroupDescription="d", SubnetIds=["subnet-c"]),
                         ("CacheSubnetGroupAlreadyExists", 400))
        self.assertEqual(self.error(ec.create_cache_subnet_group, CacheSubnetGroupName="odd",
                                    CacheSubnetGroupDescription="d", SubnetIds=["sn-1"]),
                         ("InvalidSubnet", 400))
        names = [g["CacheSubnetGroupName"] for g in
                 ec.describe_cache_subnet_groups()["CacheSubnetGroups"]]
        self.assertEqual(names, ["default", "private"])
        ec.modify_cache_subnet_group(CacheSubnetGroupName="private", SubnetIds=["subnet-c3"])
        self.assertEqual(ec.describe_cache_subnet_groups(CacheSubnetGroupName="private")[
            "CacheSubnetGroups"][0]["Subnets"][0]["SubnetIdentifier"], "subnet-c3")
        self.assertEqual(self.error(ec.create_cache_cluster, CacheClusterId="nosubnet",
                                    Engine="memcached", CacheSubnetGroupName="missing"),
                         ("CacheSubnetGroupNotFoundFault", 400))
        ec.create_cache_cluster(CacheClusterId="subnetted", Engine="memcached",
                                CacheSubnetGroupName="private")
        self.assertEqual(self.describe("subnetted")["CacheSubnetGroupName"], "private")
        self.assertEqual(self.error(ec.delete_cache_subnet_group, CacheSubnetGroupName="private"),
                         ("CacheSubnetGroupInUse", 400))
        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId="subnetted",
                                                           WaiterConfig=FAST)
        self.delete_and_wait("subnetted")
        ec.delete_cache_subnet_group(CacheSubnetGroupName="private")
        self.assertEqual(self.error(ec.describe_cache_subnet_groups, CacheSubnetGroupName="private"),
                         ("CacheSubnetGroupNotFoundFault", 400))

    def test_unsigned_requests_use_the_default_region(self):
        ec = self.cp.client(unsigned=True)
        out = ec.create_cache_cluster(CacheClusterId="anon", Engine="memcached")["CacheCluster"]
        self.assertEqual(out["ARN"], "arn:aws:elasticache:us-east-1:000000000000:cluster:anon")
        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId="anon", WaiterConfig=FAST)
        self.delete_and_wait("anon")

    def test_aws_cli(self):
        aws = shutil.which("aws")
        if not aws:
            self.skipTest("the AWS CLI is not installed")
        env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDFERROCACHE", AWS_SECRET_ACCESS_KEY="secret",
                   AWS_DEFAULT_REGION="eu-west-1")

        def cli(*args):
            out = subprocess.run([aws, "elasticache", *args, "--endpoint-url", self.cp.url],
                                 env=env, capture_output=True, text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stderr)
            return json.loads(out.stdout) if out.stdout.strip() else None

        created = cli("create-cache-cluster", "--cache-cluster-id", "cli", "--engine", "redis",
                      "--cache-node-type", "cache.t3.micro", "--num-cache-nodes", "1")
        self.assertEqual(created["CacheCluster"]["PreferredAvailabilityZone"], "eu-west-1a")
        self.ec.get_waiter("cache_cluster_available").wait(CacheClusterId="cli", WaiterConfig=FAST)
        listed = cli("describe-cache-clusters", "--cache-cluster-id", "cli", "--show-cache-node-info")
        self.assertEqual(listed["CacheClusters"][0]["CacheNodes"][0]["CacheNodeStatus"], "available")
        cli("delete-cache-cluster", "--cache-cluster-id", "cli")
        self.ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="cli", WaiterConfig=FAST)


class SignatureTests(unittest.TestCase):
    """With --credentials, only requests signed by a configured key pass."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ferrocache-control-")
        creds = os.path.join(self.tmp, "credentials")
        with open(creds, "w") as f:
            f.write("[default]\naws_access_key_id = AKIDOPS\n"
                    "aws_secret_access_key = s3cr3t/Key+value\n")
        self.cp = ControlPlane(os.path.join(self.tmp, "data"), free_port_range(4),
                               ["--credentials", creds])
        self.cp.start()

    def tearDown(self):
        self.cp.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_signatures_are_verified(self):
        good = self.cp.client(region="ap-south-1", key="AKIDOPS", secret="s3cr3t/Key+value")
        self.assertEqual(good.describe_cache_clusters()["CacheClusters"], [])
        self.assertEqual(good.describe_events(Duration=5)["Events"], [])
        for client, code in (
            (self.cp.client(key="AKIDOPS", secret="wrong"), "SignatureDoesNotMatch"),
            (self.cp.client(key="AKIDNOBODY", secret="s3cr3t/Key+value"), "InvalidClientTokenId"),
            (self.cp.client(unsigned=True), "MissingAuthenticationToken"),
        ):
            with self.subTest(code=code):
                with self.assertRaises(ClientError) as ctx:
                    client.describe_cache_clusters()
                e = ctx.exception.response
                self.assertEqual((e["Error"]["Code"], e["ResponseMetadata"]["HTTPStatusCode"]),
                                 (code, 403))


class RestartTests(unittest.TestCase):
    """The control plane's own restart, and a node killed under it."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ferrocache-control-")
        self.cp = ControlPlane(os.path.join(self.tmp, "data"), free_port_range(10))

    def tearDown(self):
        self.cp.kill_nodes()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_restart_keeps_clusters_and_adopts_nodes_and_a_killed_node_comes_back(self):
        self.cp.start()
        ec = self.cp.client()
        ec.create_cache_cluster(CacheClusterId="keep", Engine="redis")
        ec.get_waiter("cache_cluster_available").wait(CacheClusterId="keep", WaiterConfig=FAST)
        port = ec.describe_cache_clusters(CacheClusterId="keep", ShowCacheNodeInfo=True)[
            "CacheClusters"][0]["CacheNodes"][0]["Endpoint"]["Port"]
        r = redis.Redis(port=port)
        r.set("k", "v")
        [pid] = self.cp.node_pids()

        self.cp.stop()
        self.assertEqual(r.get("k"), b"v", "nodes outlive the control plane")
        self.cp.start()
        ec = self.cp.client()
        c = ec.describe_cache_clusters(CacheClusterId="keep")["CacheClusters"][0]
        self.assertEqual(c["CacheClusterStatus"], "available")
        time.sleep(1)
        self.assertEqual(self.cp.node_pids(), [pid], "the running node is adopted, not restarted")

        r.save()
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 20
        while True:
            try:
                if redis.Redis(port=port, socket_connect_timeout=1).get("k") == b"v":
                    break
            except redis.exceptions.RedisError:
                pass
            self.assertLess(time.time(), deadline, "the killed node was not restarted")
            time.sleep(0.2)
        self.assertNotEqual(self.cp.node_pids(), [pid])
        messages = [e["Message"] for e in ec.describe_events(SourceIdentifier="keep")["Events"]]
        self.assertIn("Cache node 0001 restarted", messages)
        ec.delete_cache_cluster(CacheClusterId="keep")
        ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="keep", WaiterConfig=FAST)


if __name__ == "__main__":
    unittest.main(verbosity=2)
