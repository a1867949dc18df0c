#!/usr/bin/env python3
"""Generates the seed inputs of the fuzz targets from a real redis-server.

Starts its own redis-server (default port 7350, `--save '' --dir <tmp>`),
creates keys of every type and encoding Redis 7.0 writes, and writes:

  corpus/dump_payload/   DUMP payloads as Redis returns them
  corpus/rdb_object/     the payloads without their footer (type byte + body)
  corpus/rdb_packed/     selector byte + the listpack / intset / ziplist /
                         zipmap / LZF blobs found inside those objects and files
  corpus/rdb_file/       dump.rdb files SAVEd by the server, and the RDB files
                         of Redis's own test suite (older encodings: ziplist,
                         zipmap, quicklist 1) when its source tree is present
  corpus/resp_parse/     requests as RESP and inline commands
  corpus/memcache_parse/ memcached text, meta and binary requests

Run from fuzz/:  python3 gen_seeds.py [--port 7350] [--redis-server redis-server]
                 [--suite-assets /tmp/redis-suite-cache/debsrc/redis-7.0.15/tests/assets]
Seeds are named seed-<what>; rerunning overwrites them. After fuzzing, the
corpus is minimized with `cargo +nightly fuzz cmin <target>` (see README.md).
"""

import argparse
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class Client:
    """A minimal RESP2 client (binary-safe, no dependencies)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("unexpected reply %r" % line)

    def __call__(self, *args):
        self.sock.sendall(encode_command(args))
        return self._reply()


def encode_command(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


# --- RDB reading, just enough to find the blobs inside objects and files ---

def lzf_decompress(data, out_len):
    out = bytearray()
    i = 0
    while i < len(data):
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            out += data[i:i + ctrl + 1]
            i += ctrl + 1
        else:
            length = ctrl >> 5
            if length == 7:
                length += data[i]
                i += 1
            ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
            i += 1
            for _ in range(length + 2):
                out.append(out[ref])
                ref += 1
    assert len(out) == out_len
    return bytes(out)


def read_len(b, p):
    """Returns (length, is_special_encoding, new_pos)."""
    t = b[p] >> 6
    if t == 0:
        return b[p] & 0x3F, False, p + 1
    if t == 1:
        return ((b[p] & 0x3F) << 8) | b[p + 1], False, p + 2
    if t == 3:
        return b[p] & 0x3F, True, p + 1
    if b[p] == 0x80:
        return struct.unpack(">I", b[p + 1:p + 5])[0], False, p + 5
    return struct.unpack(">Q", b[p + 1:p + 9])[0], False, p + 9


def read_string(b, p, lzf_seeds=None):
    n, special, p = read_len(b, p)
    if not special:
        return b[p:p + n], p + n
    if n in (0, 1, 2):
        size = 1 << n
        return str(int.from_bytes(b[p:p + size], "little", signed=True)).encode(), p + size
    clen, _, p = read_len(b, p)
    ulen, _, p = read_len(b, p)
    packed = b[p:p + clen]
    if lzf_seeds is not None and ulen < 65536:
        lzf_seeds.append(struct.pack("<H", ulen) + packed)
    return lzf_decompress(packed, ulen), p + clen


def skip_double(b, p):
    n = b[p]
    return p + 1 + (n if n < 253 else 0)


# Selectors of the rdb_packed target (harness.rs).
LISTPACK, ZIPLIST, ZIPLIST_PAIRS, INTSET, ZIPMAP, LZF_DECOMPRESS, LZF_COMPRESS, STRINGS = range(8)


def read_object(t, b, p, blobs, lzf_seeds):
    """Reads the object of type t at p, collecting its packed blobs as
    (selector, blob); returns the position after it."""
    if t == 0:
        return read_string(b, p, lzf_seeds)[1]
    if t in (1, 2, 3, 4, 5):
        n, _, p = read_len(b, p)
        for _ in range(n):
            p = read_string(b, p, lzf_seeds)[1]
            if t == 3:
                p = skip_double(b, p)
            elif t == 5:
                p += 8
            elif t == 4:
                p = read_string(b, p, lzf_seeds)[1]
        return p
    if t in (9, 10, 11, 12, 13, 16, 17, 20):
        blob, p = read_string(b, p, lzf_seeds)
        selector = {9: ZIPMAP, 10: ZIPLIST, 11: INTSET, 12: ZIPLIST_PAIRS,
                    13: ZIPLIST_PAIRS}.get(t, LISTPACK)
        blobs.append((selector, blob))
        if t in (10, 12, 13):
            blobs.append((ZIPLIST, blob))
        return p
    if t in (14, 18):
        n, _, p = read_len(b, p)
        for _ in range(n):
            container = 2
            if t == 18:
                container, _, p = read_len(b, p)
            blob, p = read_string(b, p, lzf_seeds)
            if container == 2:
                blobs.append((LISTPACK if t == 18 else ZIPLIST, blob))
        return p
    if t in (15, 19, 21):
        # Only the node listpacks are collected; the rest of a stream is not skipped.
        n, _, p = read_len(b, p)
        for _ in range(n):
            _, p = read_string(b, p, lzf_seeds)
            blob, p = read_string(b, p, lzf_seeds)
            blobs.append((LISTPACK, blob))
        return None
    return None


def blobs_of_file(data, blobs, lzf_seeds, objects):
    """Walks an RDB file's top level, collecting packed blobs and objects
    (type byte + the rest of the file: the reader stops where the object
    ends); stops at anything it does not follow, such as a stream."""
    p = 9
    try:
        while p < len(data):
            op = data[p]
            p += 1
            if op == 0xFF:
                return
            if op == 0xFA:
                p = read_string(data, p)[1]
                p = read_string(data, p)[1]
            elif op == 0xFE or op == 0xF8:
                p = read_len(data, p)[2]
            elif op == 0xFB:
                p = read_len(data, read_len(data, p)[2])[2]
            elif op == 0xFC:
                p += 8
            elif op == 0xFD:
                p += 4
            elif op == 0xF9:
                p += 1
            elif op == 0xF5:
                p = read_string(data, p)[1]
            else:
                p = read_string(data, p)[1]  # the key
                objects.append(bytes([op]) + data[p:])
                p = read_object(op, data, p, blobs, lzf_seeds)
                if p is None:
                    return
    except (IndexError, struct.error, AssertionError):
        return


# --- The data set ---

def populate(r):
    """Keys of every type and encoding; returns their names."""
    r("FLUSHALL")
    keys = []

    def key(name):
        keys.append(name)
        return name

    r("SET", key("str:int"), "12345")
    r("SET", key("str:negint"), "-9223372036854775808")
    r("SET", key("str:embstr"), "hello world")
    r("SET", key("str:raw"), "x" * 60 + "y" * 3)
    r("SET", key("str:lzf"), "abcdefgh" * 40)
    r("SET", key("str:binary"), bytes(range(256)))
    r("SET", key("str:big"), os.urandom(5000))

    r("RPUSH", key("list:listpack"), "a", "bb", "12", "-7", "9223372036854775807", "x" * 70)
    r("CONFIG", "SET", "list-max-listpack-size", "4")
    r("RPUSH", key("list:quicklist"), *[("e%d" % i) * (i % 5 + 1) for i in range(30)])
    r("RPUSH", key("list:ints"), *range(-300, 300, 7))
    r("CONFIG", "SET", "list-max-listpack-size", "-2")
    r("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100")
    r("RPUSH", key("list:plain"), "small", "p" * 300, "tail", "q" * 150)
    r("DEBUG", "QUICKLIST-PACKED-THRESHOLD", str(1 << 30))

    r("SADD", key("set:intset16"), 1, 2, 3, -5, 300)
    r("SADD", key("set:intset32"), 1, 70000, -80000)
    r("SADD", key("set:intset64"), 1, 1 << 40, -(1 << 50))
    r("SADD", key("set:hashtable"), "apple", "banana", "cherry", "42")
    r("SADD", key("set:big"), *range(600))

    r("HSET", key("hash:listpack"), "f1", "v1", "f2", "22", "num", "-3", "empty", "")
    r("HSET", key("hash:hashtable"), "long", "v" * 100, "f", "v")
    r("HSET", key("hash:big"), *[x for i in range(600) for x in ("field%d" % i, i)])

    r("ZADD", key("zset:listpack"), 1, "one", 2.5, "two.5", -3, "minus", "inf", "top")
    r("ZADD", key("zset:skiplist"), 1, "m" * 100, 2, "b", "-inf", "bottom", 3.14159, "pi")
    r("ZADD", key("zset:big"), *[x for i in range(200) for x in (i / 3, "m%d" % i)])

    r("XADD", key("stream:plain"), "1-1", "a", "1", "b", "2")
    r("XADD", "stream:plain", "1-2", "a", "3", "b", "4")
    r("XADD", "stream:plain", "2-0", "other", "field")
    s = key("stream:groups")
    for i in range(20):
        r("XADD", s, "*", "n", i, "payload", "v" * (i % 7))
    r("XDEL", s, r("XRANGE", s, "-", "+", "COUNT", 1)[0][0])
    r("XGROUP", "CREATE", s, "g1", "0")
    r("XGROUP", "CREATE", s, "g2", "$")
    r("XREADGROUP", "GROUP", "g1", "alice", "COUNT", 3, "STREAMS", s, ">")
    r("XREADGROUP", "GROUP", "g1", "bob", "COUNT", 2, "STREAMS", s, ">")
    r("XACK", s, "g1", r("XRANGE", s, "-", "+", "COUNT", 1)[0][0])
    r("XGROUP", "CREATECONSUMER", s, "g2", "carol")
    r("XADD", key("stream:empty"), "MAXLEN", 0, "5-5", "f", "v")
    r("CONFIG", "SET", "stream-node-max-entries", "4")
    for i in range(15):
        r("XADD", key("stream:nodes") if i == 0 else "stream:nodes", "*", "k%d" % (i % 3), i)
    r("CONFIG", "SET", "stream-node-max-entries", "100")

    r("EXPIRE", "str:embstr", 100000)
    r("PEXPIREAT", "hash:listpack", 4102444800000)
    return keys


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def packed_seeds(blobs, lzf_seeds, origin):
    seen = set()
    for selector, blob in blobs:
        if (selector, blob) in seen:
            continue
        seen.add((selector, blob))
        write("rdb_packed", "%s-%d-%d" % (origin, selector, len(seen)), bytes([selector]) + blob)
    for i, s in enumerate(lzf_seeds):
        write("rdb_packed", "%s-lzf-%d" % (origin, i), bytes([LZF_DECOMPRESS]) + s)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=7350)
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--suite-assets", default="/tmp/redis-suite-cache/debsrc/redis-7.0.15/tests/assets")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="ferrocache-seeds-")
    server = subprocess.Popen(
        [args.redis_server, "--port", str(args.port), "--save", "", "--dir", tmp,
         "--enable-debug-command", "yes", "--appendonly", "no"],
        stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                r = Client(args.port)
                r("PING")
                break
            except (ConnectionError, OSError):
                time.sleep(0.05)
        else:
            raise SystemExit("redis-server did not start on port %d" % args.port)

        keys = populate(r)
        blobs, lzf_seeds = [], []
        for k in keys:
            payload = r("DUMP", k)
            name = k.replace(":", "-")
            write("dump_payload", name, payload)
            body = payload[:-10]
            write("rdb_object", name, body)
            write("rdb_packed", name + "-strings", bytes([STRINGS]) + body[1:])
            read_object(body[0], body, 1, blobs, lzf_seeds)
            if k.startswith("str:") and len(payload) < 4096:
                write("rdb_packed", name + "-compress", bytes([LZF_COMPRESS]) + r("GET", k))
        packed_seeds(blobs, lzf_seeds, "dump")

        # Whole files: compressed, uncompressed, several databases, a function.
        r("FUNCTION", "LOAD", "#!lua name=seedlib\nredis.register_function('seedf', function() return 1 end)")
        r("SAVE")
        shutil.copy(os.path.join(tmp, "dump.rdb"), os.path.join(tmp, "all.rdb"))
        r("CONFIG", "SET", "rdbcompression", "no")
        r("SAVE")
        shutil.copy(os.path.join(tmp, "dump.rdb"), os.path.join(tmp, "plain.rdb"))
        r("FLUSHALL")
        r("FUNCTION", "FLUSH")
        r("CONFIG", "SET", "rdbcompression", "yes")
        for db in range(3):
            r("SELECT", db)
            r("SET", "k%d" % db, "v%d" % db)
            r("HSET", "h%d" % db, "f", db)
            r("PEXPIRE", "k%d" % db, 50000 + db)
        r("SAVE")
        shutil.copy(os.path.join(tmp, "dump.rdb"), os.path.join(tmp, "dbs.rdb"))
        r("FLUSHALL")
        r("SAVE")
        shutil.copy(os.path.join(tmp, "dump.rdb"), os.path.join(tmp, "empty.rdb"))
        for name in ("all", "plain", "dbs", "empty"):
            with open(os.path.join(tmp, name + ".rdb"), "rb") as f:
                data = f.read()
            write("rdb_file", "saved-" + name, data)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    # Redis's test-suite RDB files carry the encodings 7.0 no longer writes.
    if os.path.isdir(args.suite_assets):
        for f in sorted(os.listdir(args.suite_assets)):
            if f.endswith(".rdb"):
                with open(os.path.join(args.suite_assets, f), "rb") as fh:
                    data = fh.read()
                write("rdb_file", "suite-" + f[:-4], data)
                blobs, lzf_seeds, objects = [], [], []
                blobs_of_file(data, blobs, lzf_seeds, objects)
                packed_seeds(blobs, lzf_seeds, "suite-" + f[:-4])
                for i, obj in enumerate(objects):
                    if obj[0] not in (0, 18):  # 7.0's own encodings come from DUMP
                        write("rdb_object", "suite-%s-%d" % (f[:-4], i), obj)

    # Requests: RESP multibulk pipelines and inline commands.
    cmds = [["SET", "key", "value"], ["GET", "key"], ["PING"], ["HSET", "h", "f", "v" * 40],
            ["RESTORE", "k", "0", b"\x00\x03abc\x0a\x00" + b"\x00" * 8], ["AUTH", "pw"]]
    write("resp_parse", "pipeline", b"\x00" + b"".join(encode_command(c) for c in cmds))
    write("resp_parse", "unauthenticated", b"\x01" + encode_command(["AUTH", "default", "pw"]))
    write("resp_parse", "inline", b"\x00PING\r\nSET a 'quoted value' \"esc\\x41\\n\"\r\nGET a\n")
    write("resp_parse", "empty-multibulk", b"\x00*0\r\n*1\r\n$0\r\n\r\n*-1\r\n")

    # memcached: text and meta commands, and binary requests.
    write("memcache_parse", "text", b"set k 5 0 3\r\nabc\r\nget k k2\r\ngets k\r\nincr n 5\r\n"
          b"delete k noreply\r\ncas k 0 0 1 99\r\nx\r\ntouch k 10\r\nversion\r\n")
    write("memcache_parse", "meta", b"ms k 3 T60 F5 c\r\nxyz\r\nmg k v f t s k c\r\nma n N0 J1 D5\r\n"
          b"md k q\r\nmn\r\nme k\r\nmg b64key b v\r\n")
    write("memcache_parse", "toolong", b"set k 0 0 2000000\r\n" + b"z" * 10)

    def binary(opcode, key=b"", extras=b"", value=b"", opaque=7, cas=0):
        total = len(extras) + len(key) + len(value)
        return struct.pack(">BBHBBHIIQ", 0x80, opcode, len(key), len(extras), 0, 0, total, opaque, cas) \
            + extras + key + value

    write("memcache_parse", "binary", binary(0x01, b"k", struct.pack(">II", 5, 0), b"value")
          + binary(0x00, b"k") + binary(0x05, b"n", struct.pack(">QQI", 1, 0, 0))
          + binary(0x04, b"k") + binary(0x0A) + binary(0x0B))
    print("seeds written under", os.path.join(HERE, "corpus"))


if __name__ == "__main__":
    main()
