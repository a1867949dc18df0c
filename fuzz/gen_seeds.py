#!/usr/bin/env python3
"""Generates the seed inputs of the fuzz targets (see docs/fuzzing.md).

Starts its own redis-server (default port 7499, `--save '' --dir <tmp>`),
creates keys of every type and encoding Redis 7.0 writes, and writes:

  corpus/dump_payload/     DUMP payloads as Redis returns them
  corpus/rdb_object/       the payloads without their footer (type byte + body)
  corpus/rdb_packed/       selector byte + the listpack / intset / ziplist /
                           zipmap / LZF blobs found inside those objects and files
  corpus/rdb_load/         dump.rdb files SAVEd by the server (and one written by
                           DEBUG RELOAD), and the RDB files of Redis's own test
                           suite (older encodings: ziplist, zipmap, quicklist 1)
                           when its source tree is present
  corpus/aof_load/         the files of a multi-part AOF written by the server
                           (manifest, RDB-preamble and command bases, incremental
                           files with and without timestamp annotations)

and hand-written seeds for the parsers that need no server:

  corpus/resp_command/     requests as RESP and inline commands (flags byte first)
  corpus/memcached_text/   memcached text and meta commands
  corpus/memcached_meta/   meta commands (selector byte first)
  corpus/memcached_binary/ memcached binary requests
  corpus/config_file/      redis.conf files and fragments
  corpus/acl_rules/        ACL SETUSER rules

Run from fuzz/:  python3 gen_seeds.py [--port 7499] [--redis-server redis-server]
                 [--suite-assets /tmp/redis-suite-cache/debsrc/redis-7.0.15/tests/assets]
Seeds are named seed-<what>; rerunning overwrites them. After fuzzing, the
corpus is minimized with `cargo +nightly fuzz cmin <target>` (see docs/fuzzing.md).
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


def start_server(args, tmp, *extra):
    """A redis-server on args.port in `tmp`, and a client of it."""
    server = subprocess.Popen(
        [args.redis_server, "--port", str(args.port), "--save", "", "--dir", tmp,
         "--enable-debug-command", "yes", *extra],
        stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            r = Client(args.port)
            r("PING")
            return server, r
        except (ConnectionError, OSError):
            time.sleep(0.05)
    server.terminate()
    raise SystemExit("redis-server did not start on port %d" % args.port)


def aof_seeds(args):
    """The files of multi-part AOFs as redis-server writes them."""
    for preamble in ("yes", "no"):
        tmp = tempfile.mkdtemp(prefix="ferrocache-aof-seeds-")
        server, r = start_server(args, tmp, "--appendonly", "yes", "--aof-use-rdb-preamble", preamble,
                                 "--aof-timestamp-enabled", "yes" if preamble == "no" else "no")
        try:
            r("SET", "k", "v")
            r("HSET", "h", "f", "1", "g", "2")
            r("RPUSH", "l", "a", "b", "c")
            r("SADD", "s", "1", "2", "x")
            r("ZADD", "z", "1", "m", "2.5", "n")
            r("XADD", "x", "1-1", "f", "v")
            r("PEXPIRE", "k", 100000)
            r("SELECT", "2")
            r("INCRBY", "n", "5")
            r("MULTI")
            r("LPUSH", "l2", "q")
            r("DEL", "n")
            r("EXEC")
            r("BGREWRITEAOF")
            for _ in range(200):
                time.sleep(0.05)
                if b"aof_rewrite_in_progress:0" in r("INFO", "persistence") and \
                        b"aof_rewrite_scheduled:0" in r("INFO", "persistence"):
                    break
            r("SET", "after", "rewrite")
            r("APPEND", "after", "-more")
            r("EVAL", "redis.call('set', KEYS[1], ARGV[1])", "1", "scripted", "x")
            time.sleep(1.2)  # appendfsync everysec
            d = os.path.join(tmp, "appendonlydir")
            for f in sorted(os.listdir(d)):
                with open(os.path.join(d, f), "rb") as fh:
                    data = fh.read()
                kind = f.rsplit(".", 2)[-2] if f.endswith((".rdb", ".aof")) else "manifest"
                write("aof_load", "preamble-%s-%s-%s" % (preamble, kind, f.rsplit(".", 1)[-1]), data)
        finally:
            server.terminate()
            server.wait()
            shutil.rmtree(tmp, ignore_errors=True)


def hand_written():
    """Seeds of the parsers that need no server: valid requests, files and
    rules, and the edge cases of each format."""
    # RESP: flags byte (bit 0 unauthenticated, bits 1..7 piece size - 1).
    cmds = [["SET", "key", "value"], ["GET", "key"], ["PING"], ["HSET", "h", "f", "v" * 40],
            ["RESTORE", "k", "0", b"\x00\x03abc\x0a\x00" + b"\x00" * 8], ["AUTH", "pw"]]
    write("resp_command", "pipeline", b"\x00" + b"".join(encode_command(c) for c in cmds))
    write("resp_command", "pipeline-bytewise", b"\x00" + b"".join(encode_command(c) for c in cmds))
    write("resp_command", "pipeline-pieces-7", b"\x0c" + b"".join(encode_command(c) for c in cmds))
    write("resp_command", "unauthenticated", b"\x01" + encode_command(["AUTH", "default", "pw"]))
    write("resp_command", "unauthenticated-too-many", b"\x01" + encode_command(["MSET"] + ["a"] * 12))
    write("resp_command", "unauthenticated-big-bulk", b"\x01*2\r\n$3\r\nGET\r\n$20000\r\n")
    write("resp_command", "inline", b"\x00PING\r\nSET a 'quoted value' \"esc\\x41\\n\"\r\nGET a\n")
    write("resp_command", "inline-escapes", b"\x00set k \"\\t\\r\\n\\b\\a\\\\\\\"\" 'it\\'s'\r\n")
    write("resp_command", "inline-unbalanced", b"\x00set k \"abc\r\n")
    write("resp_command", "inline-quote-then-char", b"\x00set k \"a\"b\r\n")
    write("resp_command", "inline-nul", b"\x00get a\x00b\r\n")
    write("resp_command", "empty-multibulk", b"\x00*0\r\n*1\r\n$0\r\n\r\n*-1\r\n")
    write("resp_command", "blank-lines", b"\x00\r\n\n \r\nPING\r\n")
    write("resp_command", "bad-count", b"\x00*abc\r\n")
    write("resp_command", "bad-bulk-len", b"\x00*1\r\n$-5\r\n")
    write("resp_command", "expected-dollar", b"\x00*1\r\n:5\r\n")
    write("resp_command", "overflow-count", b"\x00*99999999999999999999\r\n")
    write("resp_command", "big-argument", b"\x00*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$33000\r\n"
          + b"v" * 33000 + b"\r\n*1\r\n$4\r\nPING\r\n")
    write("resp_command", "big-argument-pieces", b"\xfe*2\r\n$4\r\nECHO\r\n$40000\r\n" + b"e" * 40000 + b"\r\n")
    write("resp_command", "bare-cr", b"\x00*1\r$4\rPING\r*1\r\n$4\r\nPING\r\n")

    # memcached text protocol.
    write("memcached_text", "text", b"set k 5 0 3\r\nabc\r\nget k k2\r\ngets k\r\nincr n 5\r\n"
          b"delete k noreply\r\ncas k 0 0 1 99\r\nx\r\ntouch k 10\r\nversion\r\n")
    write("memcached_text", "meta", b"ms k 3 T60 F5 c\r\nxyz\r\nmg k v f t s k c\r\nma n N0 J1 D5\r\n"
          b"md k q\r\nmn\r\nme k\r\nmg b64key b v\r\n")
    write("memcached_text", "toolong", b"set k 0 0 2000000\r\n" + b"z" * 10)
    write("memcached_text", "storage", b"add a 0 0 1\r\n1\r\nreplace a 1 -1 2\r\n22\r\nappend a 0 0 1 noreply\r\n3\r\n"
          b"prepend a 0 0 1\r\n0\r\nset b 4294967295 2147483647 0\r\n\r\n")
    write("memcached_text", "bad-chunk", b"set k 0 0 3\r\nabcd\r\nget k\r\n")
    write("memcached_text", "retrieval", b"gat 100 a b c\r\ngats -1 a\r\nbget a\r\nget " + b"k" * 251 + b"\r\n")
    write("memcached_text", "admin", b"stats\r\nstats slabs\r\nflush_all 10 noreply\r\nverbosity 1\r\n"
          b"cache_memlimit 100\r\nlru_crawler metadump all\r\nwatch fetchers\r\nmisbehave\r\n"
          b"decr n 18446744073709551615\r\nconfig cluster\r\nquit\r\nshutdown graceful\r\n")
    write("memcached_text", "errors", b"\r\nx\r\nset k\r\nset k a b c\r\nincr\r\nget\r\n"
          b"set k 0 0 -1\r\ndelete a 0\r\ndelete a 5\r\ntouch k x\r\n")
    write("memcached_text", "nul-and-cr", b"get a\x00b\r\nget \r\r\nget a\tb\n")
    write("memcached_text", "many-tokens", b"get " + b" ".join(b"k%d" % i for i in range(40)) + b"\r\n"
          b"set " + b" ".join(b"x" for _ in range(30)) + b"\r\n")

    # meta: selector byte (low 3 bits: mg, ms, md, ma, mn, me, none, "m"; bit 3: E flag).
    meta = [
        (0, "get", b"k v f t s k c h l O123 q N30 R10 T5 E5\r\n"),
        (0, "b64", b"Zm9v b v k\r\n"),
        (0, "dup", b"k v v\r\n"),
        (1, "set", b"k 3 T60 F5 c I MS q O1\r\nxyz\r\n"),
        (1, "modes", b"k 1 MA\r\na\r\nms k 1 MP\r\nb\r\nms k 1 MR\r\nc\r\nms k 1 ME\r\nd\r\nms k 1 MX\r\ne\r\n"),
        (1, "bad-vlen", b"k -1\r\nms k 99999999999 T1\r\n"),
        (1, "bad-chunk", b"k 2\r\nabc\r\nmn\r\n"),
        (1, "too-large", b"k 2000000 T1\r\nxx"),
        (9, "explicit-cas", b"k 2 E123 C5\r\nab\r\n"),
        (2, "delete", b"k q C5 I T30 x O9\r\n"),
        (3, "arith", b"n N0 J1 D5 MI q t c v\r\nma n MD D18446744073709551615\r\n"),
        (4, "noop", b"\r\nmn\r\n"),
        (5, "debug", b"k\r\nme Zm9v b\r\n"),
        (6, "stream", b"mg a v\r\nms a 1\r\nx\r\nmd a\r\nma a\r\nmn\r\nme a\r\nmz a\r\n"),
        (7, "unknown", b"x k\r\n"),
        (0, "opaque-too-long", b"k O" + b"9" * 40 + b"\r\n"),
        (0, "many-flags", b"k " + b" ".join(bytes([c]) for c in b"abcdefghijklmnopqrstu") + b"\r\n"),
    ]
    for sel, name, rest in meta:
        write("memcached_meta", name, bytes([sel]) + rest)

    def binary(opcode, key=b"", extras=b"", value=b"", opaque=7, cas=0, magic=0x80, body=None):
        total = len(extras) + len(key) + len(value) if body is None else body
        return struct.pack(">BBHBBHIIQ", magic, opcode, len(key), len(extras), 0, 0, total, opaque, cas) \
            + extras + key + value

    write("memcached_binary", "binary", binary(0x01, b"k", struct.pack(">II", 5, 0), b"value")
          + binary(0x00, b"k") + binary(0x05, b"n", struct.pack(">QQI", 1, 0, 0))
          + binary(0x04, b"k") + binary(0x0A) + binary(0x0B))
    write("memcached_binary", "quiet", binary(0x09, b"a") + binary(0x0D, b"b") + binary(0x11, b"c", struct.pack(">II", 0, 0), b"v")
          + binary(0x14, b"d") + binary(0x15, b"e", struct.pack(">QQI", 1, 0, 0)) + binary(0x0A))
    write("memcached_binary", "storage", binary(0x02, b"a", struct.pack(">II", 0, 0), b"1") + binary(0x03, b"a", struct.pack(">II", 0, 0), b"2", cas=5)
          + binary(0x0E, b"a", value=b"x") + binary(0x0F, b"a", value=b"y") + binary(0x1C, b"a", struct.pack(">I", 10))
          + binary(0x1D, b"a", struct.pack(">I", 10)) + binary(0x08, extras=struct.pack(">I", 0)) + binary(0x10))
    write("memcached_binary", "sasl", binary(0x20) + binary(0x21, b"PLAIN", value=b"\x00user\x00pass") + binary(0x22, b"PLAIN", value=b"x"))
    write("memcached_binary", "errors", binary(0x01, b"k", struct.pack(">I", 5), b"v") + binary(0x00, b"k" * 300)
          + binary(0x00, b"k", body=0) + binary(0x7f, value=b"body") + binary(0x1B, extras=b"\x00\x00\x00\x01")
          + binary(0x01, b"big", struct.pack(">II", 0, 0), body=3 + 8 + 2000000))
    write("memcached_binary", "bad-magic", binary(0x00, b"k", magic=0x81))
    write("memcached_binary", "partial", binary(0x01, b"k", struct.pack(">II", 0, 0), b"value")[:30])

    # Configuration files.
    conf = {
        "basic": b"port 7000\nbind 127.0.0.1 ::1\ndaemonize no\ntimeout 0\ndatabases 4\n"
                 b"maxmemory 100mb\nmaxmemory-policy allkeys-lru\nappendonly yes\nappendfsync everysec\n",
        "save": b"save 900 1\nsave 300 10\nsave \"\"\nsave 60 10000\n",
        "quoted": b"requirepass \"p a s s\"\nmasterauth 'x\\'y'\ndbfilename \"dump\\x41.rdb\"\n"
                  b"notify-keyspace-events \"KEA\"\nlogfile \"\"\n",
        "units": b"maxmemory 1gb\nproto-max-bulk-len 1MB\nclient-query-buffer-limit 512m\n"
                 b"maxmemory-clients 10%\nhash-max-listpack-value 64\nlist-max-listpack-size -2\n",
        "obuf": b"client-output-buffer-limit normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60\n"
                b"client-output-buffer-limit replica 1gb 1gb 0\n",
        "users": b"user alice on >secret ~cached:* &news:* +get +set|nx -@dangerous\n"
                 b"user bob off nopass (~a* +get) (%R~b* +@read)\nuser default on nopass ~* &* +@all\n",
        "comments": b"# a comment\n\n   # indented comment\n\t\nhz 50\r\nloglevel notice\n",
        "replicaof": b"replicaof 127.0.0.1 6380\nlatency-tracking-info-percentiles 50 99 99.9\n",
        "errors-bad-directive": b"port 7000\nnot-a-directive yes\n",
        "errors-unbalanced": b"requirepass \"abc\n",
        "errors-arity": b"port 1 2\n",
        "errors-value": b"maxmemory-policy sometimes\n",
        "errors-user": b"user carol on +nosuchcommand\n",
        "dir": b"dir /tmp\ndir .\n",
        "case": b"PORT 7001\nAppendOnly YES\nslaveof 10.0.0.1 6379\n",
    }
    for name, text in conf.items():
        write("config_file", name, text)
    # The redis.conf Debian ships, without its comments.
    try:
        with open("/etc/redis/redis.conf", "rb") as f:
            lines = [l for l in f.read().split(b"\n") if l.strip() and not l.startswith(b"#")]
        write("config_file", "debian-redis-conf", b"\n".join(lines) + b"\n")
    except OSError:
        pass

    # ACL SETUSER rules (split at spaces; selectors may span words).
    acl = {
        "all": b"on >pass ~* &* +@all",
        "mixed": b"on nopass ~key:* %R~read:* %W~write:* resetchannels &chan:* -@all +get +set +select|0 +config|get",
        "selectors": b"on (~a* +get) (%RW~b* +@read -keys) clearselectors (&c* +publish)",
        "reset": b"reset on >a >b <a nopass resetpass",
        "hashes": b"#" + b"a" * 64 + b" !" + b"a" * 64 + b" #" + b"0123456789abcdef" * 4,
        "bad-hash": b"#" + b"A" * 64,
        "keywords": b"allkeys allchannels allcommands nocommands resetkeys resetchannels sanitize-payload skip-sanitize-payload",
        "categories": b"+@read -@write +@dangerous -flushall -debug +@all -@admin",
        "errors": b"+nosuchcommand ~a ~b %X~c",
        "unclosed-selector": b"on (~a +get",
        "empty-rules": b"on  off   on",
        "off": b"off",
        "subcommands": b"-@all +client|id +client|setname -client +acl|whoami",
    }
    for name, rules in acl.items():
        write("acl_rules", name, rules)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=7499)
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--suite-assets", default="/tmp/redis-suite-cache/debsrc/redis-7.0.15/tests/assets")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="ferrocache-seeds-")
    server, r = start_server(args, tmp, "--appendonly", "no")
    try:
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
        # DEBUG RELOAD saves the dataset and loads it back: a small file.
        r("SET", "reloaded", "1")
        r("RPUSH", "reloaded:list", "a", "b")
        r("DEBUG", "RELOAD")
        shutil.copy(os.path.join(tmp, "dump.rdb"), os.path.join(tmp, "reload.rdb"))
        r("FLUSHALL")
        for name in ("all", "plain", "dbs", "empty", "reload"):
            with open(os.path.join(tmp, name + ".rdb"), "rb") as f:
                data = f.read()
            write("rdb_load", "saved-" + name, data)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    aof_seeds(args)

    # Redis's test-suite RDB files carry the encodings 7.0 no longer writes.
    if os.path.isdir(args.suite_assets):
        for f in sorted(os.listdir(args.suite_assets)):
            if f.endswith(".rdb"):
                with open(os.path.join(args.suite_assets, f), "rb") as fh:
                    data = fh.read()
                write("rdb_load", "suite-" + f[:-4], data)
                blobs, lzf_seeds, objects = [], [], []
                blobs_of_file(data, blobs, lzf_seeds, objects)
                packed_seeds(blobs, lzf_seeds, "suite-" + f[:-4])
                for i, obj in enumerate(objects):
                    if obj[0] not in (0, 18):  # 7.0's own encodings come from DUMP
                        write("rdb_object", "suite-%s-%d" % (f[:-4], i), obj)

    hand_written()
    print("seeds written under", os.path.join(HERE, "corpus"))


if __name__ == "__main__":
    main()
