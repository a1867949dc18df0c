"""The control plane under test: a `ferrocache control` process with its
own data directory and ports, boto3 clients for it, and a test case base
that runs one per test class.
(FERROCACHE_BIN picks the binary; default target/release/ferrocache).
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import unittest

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("FERROCACHE_BIN", os.path.join(ROOT, "target", "release", "ferrocache"))
# Waiters poll every second instead of botocore's 15.
FAST = {"Delay": 1, "MaxAttempts": 60}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_range(size):
    """A run of `size` ports that are free now."""
    for _ in range(200):
        base = 20000 + int.from_bytes(os.urandom(2), "big") % 30000
        ok = True
        for p in range(base, base + size):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base, base + size - 1
    raise RuntimeError("no free port range")


class ControlPlane:
    """A `ferrocache control` process with its own data directory and ports."""

    def __init__(self, data_dir, node_ports, extra=()):
        self.data_dir = data_dir
        self.node_ports = node_ports
        self.extra = list(extra)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [BIN, "control", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir,
             "--node-ports", f"{self.node_ports[0]}-{self.node_ports[1]}", *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # It prints its endpoint once it serves.
        line = self.proc.stdout.readline()
        if self.url not in line:
            raise RuntimeError(f"control plane did not start: {line}")
        self.banner = line + "".join(self.proc.stdout.readline() for _ in range(5))
        # Keep reading its output (logs), so a full pipe never blocks it.
        self.log = open(os.path.join(os.path.dirname(self.data_dir), "control.log"), "a")
        self.drain = threading.Thread(
            target=lambda: shutil.copyfileobj(self.proc.stdout, self.log), daemon=True)
        self.drain.start()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.drain.join(timeout=5)
            self.proc.stdout.close()
            self.log.close()

    def client(self, region="us-west-2", unsigned=False, key="AKIDFERROCACHE", secret="secret"):
        config = Config(retries={"max_attempts": 1})
        if unsigned:
            config = config.merge(Config(signature_version=botocore.UNSIGNED))
        return boto3.client("elasticache", endpoint_url=self.url, region_name=region,
                            aws_access_key_id=key, aws_secret_access_key=secret, config=config)

    def node_pids(self):
        pids = []
        for root, _, files in os.walk(os.path.join(self.data_dir, "nodes")):
            if "node.pid" in files:
                with open(os.path.join(root, "node.pid")) as f:
                    pids.append(int(f.read()))
        return pids

    def node_pid(self, cluster, node):
        with open(os.path.join(self.data_dir, "nodes", cluster, node, "node.pid")) as f:
            return int(f.read())

    def kill_nodes(self):
        """Stops the control plane, then every node it started."""
        pids = self.node_pids()
        self.stop()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class ControlPlaneCase(unittest.TestCase):
    """One control plane for the test class (`cls.cp`, client `cls.ec`)."""

    PORTS = 40

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ferrocache-control-")
        cls.cp = ControlPlane(os.path.join(cls.tmp, "data"), free_port_range(cls.PORTS))
        cls.cp.start()
        cls.ec = cls.cp.client()

    @classmethod
    def tearDownClass(cls):
        cls.cp.kill_nodes()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def error(self, call, **kwargs):
        """The error code and HTTP status a call fails with."""
        with self.assertRaises(ClientError) as ctx:
            call(**kwargs)
        e = ctx.exception.response
        return e["Error"]["Code"], e["ResponseMetadata"]["HTTPStatusCode"]
