"""End-to-end tests of encryption in transit and AUTH tokens: a replication
group and a standalone cluster created with TransitEncryptionEnabled and an
AuthToken (and a Memcached cluster with TransitEncryptionEnabled) serve TLS only (redis-py and redis-cli trusting the control
plane's CA), replicate and fail over over TLS, and change tokens with
ROTATE / SET / DELETE as the managed service does.

Run: python3 -m unittest discover -s tests/control -v
"""

import os
import socket
import ssl
import subprocess
import time
import unittest

import redis
from pymemcache.client.base import Client as Memcache

from harness import FAST, ControlPlaneCase

TOKEN = "First-sample-token-0001"
NEW_TOKEN = "Second-sample-token-0002"


class EncryptionTests(ControlPlaneCase):
    def ca(self):
        return os.path.join(self.cp.data_dir, "tls", "ca.pem")

    def tls(self, endpoint, password=None):
        return redis.Redis(host=endpoint[0], port=endpoint[1], password=password, ssl=True,
                           ssl_ca_certs=self.ca(), ssl_check_hostname=True,
                           socket_timeout=5)

    def wait_group(self, gid):
        self.ec.get_waiter("replication_group_available").wait(
            ReplicationGroupId=gid, WaiterConfig=FAST)
        return self.ec.describe_replication_groups(ReplicationGroupId=gid)["ReplicationGroups"][0]

    def until(self, check, what, timeout=10):
        deadline = time.time() + timeout
        while not check():
            self.assertLess(time.time(), deadline, what)
            time.sleep(0.2)

    def accepts(self, endpoint, password):
        try:
            return self.tls(endpoint, password).ping()
        except redis.exceptions.AuthenticationError:
            return False

    def test_tls_group_with_auth_token_rotation_and_failover(self):
        ec = self.ec
        ec.create_replication_group(
            ReplicationGroupId="vault", ReplicationGroupDescription="tls and auth",
            NumCacheClusters=2, AutomaticFailoverEnabled=True,
            TransitEncryptionEnabled=True, AuthToken=TOKEN)
        g = self.wait_group("vault")
        self.assertTrue(g["TransitEncryptionEnabled"])
        self.assertEqual(g["TransitEncryptionMode"], "required")
        self.assertTrue(g["AuthTokenEnabled"])
        self.assertIn("AuthTokenLastModifiedDate", g)
        member = ec.describe_cache_clusters(CacheClusterId="vault-002")["CacheClusters"][0]
        self.assertTrue(member["TransitEncryptionEnabled"])
        self.assertTrue(member["AuthTokenEnabled"])
        ng = g["NodeGroups"][0]
        primary = (ng["PrimaryEndpoint"]["Address"], ng["PrimaryEndpoint"]["Port"])
        reader = (ng["ReaderEndpoint"]["Address"], ng["ReaderEndpoint"]["Port"])

        # Plain text is not served; TLS without the token is refused.
        with self.assertRaises(redis.exceptions.ConnectionError):
            redis.Redis(*primary, socket_timeout=2).ping()
        with self.assertRaises(redis.exceptions.AuthenticationError):
            self.tls(primary).get("k")
        with self.assertRaises(redis.exceptions.AuthenticationError):
            self.tls(primary, "Wrong-sample-token-0000").ping()
        client = self.tls(primary, TOKEN)
        client.set("k", "v")
        # The replica follows over TLS.
        self.assertEqual(client.wait(1, 5000), 1)
        self.assertEqual(self.tls(reader, TOKEN).get("k"), b"v")
        out = subprocess.run(
            ["redis-cli", "--tls", "--cacert", self.ca(), "-h", primary[0], "-p", str(primary[1]),
             "--no-auth-warning", "-a", TOKEN, "GET", "k"],
            capture_output=True, text=True, timeout=10)
        self.assertEqual(out.stdout.strip(), "v", out.stderr)

        # ROTATE: old and new token both work; SET: only the new one.
        self.assertEqual(self.error(ec.modify_replication_group, ReplicationGroupId="vault",
                                    AuthToken=NEW_TOKEN, AuthTokenUpdateStrategy="SET",
                                    ApplyImmediately=True),
                         ("InvalidParameterCombination", 400))
        ec.modify_replication_group(ReplicationGroupId="vault", AuthToken=NEW_TOKEN,
                                    AuthTokenUpdateStrategy="ROTATE", ApplyImmediately=True)
        self.wait_group("vault")
        self.until(lambda: self.accepts(primary, NEW_TOKEN), "the new token is not accepted")
        self.assertTrue(self.accepts(primary, TOKEN))
        ec.modify_replication_group(ReplicationGroupId="vault", AuthToken=NEW_TOKEN,
                                    AuthTokenUpdateStrategy="SET", ApplyImmediately=True)
        self.until(lambda: not self.accepts(primary, TOKEN), "the old token still works")
        self.until(lambda: not self.accepts(reader, TOKEN), "the old token works on the replica")
        self.assertTrue(self.accepts(reader, NEW_TOKEN))

        # A restarted control plane adopts the TLS nodes and still manages them.
        self.cp.stop()
        self.cp.start()
        self.ec = ec = self.cp.client()
        ec.test_failover(ReplicationGroupId="vault", NodeGroupId="0001")
        self.until(lambda: [m["CacheClusterId"] for m in self.wait_group("vault")["NodeGroups"][0][
            "NodeGroupMembers"] if m["CurrentRole"] == "primary"] == ["vault-002"],
            "no failover", timeout=30)
        client = self.tls(primary, NEW_TOKEN)
        self.assertEqual(client.get("k"), b"v")
        client.set("after", "failover")
        self.assertEqual(client.wait(1, 5000), 1)

        # DELETE only when a user group takes over.
        self.assertEqual(self.error(ec.modify_replication_group, ReplicationGroupId="vault",
                                    AuthTokenUpdateStrategy="DELETE", ApplyImmediately=True),
                         ("InvalidParameterCombination", 400))
        ec.create_user_group(UserGroupId="open-users", Engine="redis", UserIds=["default"])
        ec.modify_replication_group(ReplicationGroupId="vault", UserGroupIdsToAdd=["open-users"],
                                    AuthTokenUpdateStrategy="DELETE", ApplyImmediately=True)
        g = self.wait_group("vault")
        self.assertFalse(g["AuthTokenEnabled"])
        self.until(lambda: self.accepts(primary, None), "RBAC's open default user not applied")

        ec.delete_replication_group(ReplicationGroupId="vault")
        ec.get_waiter("replication_group_deleted").wait(ReplicationGroupId="vault",
                                                        WaiterConfig=FAST)
        ec.delete_user_group(UserGroupId="open-users")

    def test_standalone_cluster_with_token(self):
        ec = self.ec
        ec.create_cache_cluster(CacheClusterId="solo", Engine="redis",
                                TransitEncryptionEnabled=True, AuthToken=TOKEN)
        ec.get_waiter("cache_cluster_available").wait(CacheClusterId="solo", WaiterConfig=FAST)
        c = ec.describe_cache_clusters(CacheClusterId="solo", ShowCacheNodeInfo=True)[
            "CacheClusters"][0]
        self.assertTrue(c["TransitEncryptionEnabled"])
        self.assertTrue(c["AuthTokenEnabled"])
        ep = c["CacheNodes"][0]["Endpoint"]
        node = (ep["Address"], ep["Port"])
        self.until(lambda: not self.accepts(node, None), "the node is open")
        self.assertTrue(self.tls(node, TOKEN).set("a", 1))
        ec.modify_cache_cluster(CacheClusterId="solo", AuthToken=NEW_TOKEN,
                                AuthTokenUpdateStrategy="ROTATE", ApplyImmediately=True)
        self.until(lambda: self.accepts(node, NEW_TOKEN), "the new token is not accepted")
        self.assertTrue(self.accepts(node, TOKEN))
        ec.delete_cache_cluster(CacheClusterId="solo")
        ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="solo", WaiterConfig=FAST)

    def test_memcached_cluster_over_tls(self):
        ec = self.ec
        ec.create_cache_cluster(CacheClusterId="mc-tls", Engine="memcached", NumCacheNodes=2,
                                TransitEncryptionEnabled=True)
        ec.get_waiter("cache_cluster_available").wait(CacheClusterId="mc-tls", WaiterConfig=FAST)
        c = ec.describe_cache_clusters(CacheClusterId="mc-tls", ShowCacheNodeInfo=True)[
            "CacheClusters"][0]
        self.assertTrue(c["TransitEncryptionEnabled"])
        self.assertFalse(c["AuthTokenEnabled"])
        config = c["ConfigurationEndpoint"]
        context = ssl.create_default_context(cafile=self.ca())
        # Auto-discovery over TLS: both nodes listed.
        with socket.create_connection((config["Address"], config["Port"]), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=config["Address"]) as s:
                s.sendall(b"config get cluster\r\n")
                reply = b""
                while not reply.endswith(b"END\r\n"):
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, reply)
                    reply += chunk
        nodes = reply.split(b"\n")[2].split()
        ports = sorted(n["Endpoint"]["Port"] for n in c["CacheNodes"])
        self.assertEqual(sorted(int(n.split(b"|")[2]) for n in nodes), ports)
        for port in ports:
            client = Memcache(("127.0.0.1", port), tls_context=context, timeout=5)
            client.set("greeting", "hello")
            self.assertEqual(client.get("greeting"), b"hello")
            client.close()
        # Plain text is not served.
        plain = Memcache(("127.0.0.1", ports[0]), timeout=2)
        with self.assertRaises(Exception):
            plain.get("greeting")
        plain.close()
        ec.delete_cache_cluster(CacheClusterId="mc-tls")
        ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="mc-tls", WaiterConfig=FAST)

    def test_refusals(self):
        ec = self.ec
        cases = [
            (ec.create_replication_group, dict(ReplicationGroupId="x", ReplicationGroupDescription="d",
                                               AuthToken=TOKEN), "InvalidParameterCombination"),
            (ec.create_replication_group, dict(ReplicationGroupId="x", ReplicationGroupDescription="d",
                                               TransitEncryptionEnabled=True, AuthToken="short"),
             "InvalidParameterValue"),
            (ec.create_replication_group, dict(ReplicationGroupId="x", ReplicationGroupDescription="d",
                                               TransitEncryptionEnabled=True,
                                               TransitEncryptionMode="preferred"),
             "InvalidParameterValue"),
            (ec.create_cache_cluster, dict(CacheClusterId="m", Engine="memcached",
                                           TransitEncryptionEnabled=True, AuthToken=TOKEN),
             "InvalidParameterCombination"),
            (ec.create_replication_group, dict(ReplicationGroupId="x", ReplicationGroupDescription="d",
                                               AtRestEncryptionEnabled=True),
             "InvalidParameterCombination"),
        ]
        for call, kwargs, code in cases:
            with self.subTest(kwargs=kwargs):
                self.assertEqual(self.error(call, **kwargs), (code, 400))


if __name__ == "__main__":
    unittest.main(verbosity=2)
