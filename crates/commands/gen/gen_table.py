#!/usr/bin/env python3
"""Generate crates/commands/src/table.rs from a real redis-server's own facts.

Usage (from the repository root, with a redis-server 7.0.15 running):

    redis-server --port 7411 --save '' --appendonly no --daemonize yes
    python3 crates/commands/gen/gen_table.py --host 127.0.0.1 --port 7411

The script reads gen/commands.txt (one command per line; subcommands are
written "container|sub"), sends HELLO 3, then COMMAND INFO and COMMAND DOCS
for the top-level names, parses the RESP3 replies itself and writes
src/table.rs. A container keeps only the subcommands listed in commands.txt.

Commands that the server does not know (Redis 7.2 additions when run against
7.0.15) are taken from EXTRA_COMMANDS below, transcribed from Redis 7.2's
src/commands/*.json files; 7.2 changes to commands the server does know (such
as ZRANK's WITHSCORE) are applied from COMMAND_OVERRIDES.

Only the Python 3 standard library is used. If `rustfmt` is on PATH the output
is run through it (disable with --no-rustfmt).
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.dirname(HERE)

# ---------------------------------------------------------------------------
# RESP3 client
# ---------------------------------------------------------------------------


class RespError(Exception):
    pass


class Set(list):
    """A RESP3 set (kept as an ordered list)."""


class Resp3:
    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.f = self.sock.makefile("rb")

    def close(self):
        self.f.close()
        self.sock.close()

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        while True:
            reply = self._read()
            if isinstance(reply, _Push):
                continue  # out-of-band data; not ours
            if isinstance(reply, RespError):
                raise reply
            return reply

    def _line(self):
        line = self.f.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed or malformed reply")
        return line[:-2]

    def _exact(self, n):
        data = self.f.read(n + 2)
        if len(data) != n + 2 or data[-2:] != b"\r\n":
            raise ConnectionError("short read")
        return data[:-2]

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"(":
            return int(rest)
        if t == b",":
            return float(rest)
        if t == b"#":
            return rest == b"t"
        if t == b"_":
            return None
        if t in (b"$", b"=", b"!"):
            n = int(rest)
            if n < 0:
                return None
            data = self._exact(n).decode("utf-8")
            if t == b"=":
                data = data[4:]  # "txt:" / "mkd:" prefix
            if t == b"!":
                return RespError(data)
            return data
        if t in (b"*", b"~", b">"):
            n = int(rest)
            if n < 0:
                return None
            items = [self._read() for _ in range(n)]
            if t == b"~":
                return Set(items)
            if t == b">":
                return _Push(items)
            return items
        if t == b"%":
            n = int(rest)
            m = {}
            for _ in range(n):
                k = self._read()
                m[k] = self._read()
            return m
        if t == b"|":
            n = int(rest)
            for _ in range(2 * n):
                self._read()  # attributes: ignored
            return self._read()
        raise ConnectionError("unknown RESP3 type byte %r" % t)


class _Push(list):
    pass


# ---------------------------------------------------------------------------
# Facts for commands newer than 7.0.15 (from Redis 7.2 src/commands/*.json).
# Shapes are those of the parsed COMMAND INFO / COMMAND DOCS replies.
# "SENTINEL" in command_flags is not printed by COMMAND INFO and is dropped;
# commands without FAST get @slow, as Redis adds it.
# ---------------------------------------------------------------------------

EXTRA_COMMANDS = {
    # src/commands/waitaof.json (Redis 7.2)
    "waitaof": {
        "info": [
            "waitaof",
            4,
            Set(["noscript"]),
            0,
            0,
            0,
            Set(["@slow", "@connection"]),
            Set(["request_policy:all_shards", "response_policy:agg_min"]),
            [],
            [],
        ],
        "docs": {
            "summary": "Blocks until all of the preceding write commands sent by the connection are written to the append-only file of the master and/or replicas.",
            "since": "7.2.0",
            "group": "generic",
            "complexity": "O(1)",
            "arguments": [
                {"name": "numlocal", "type": "integer"},
                {"name": "numreplicas", "type": "integer"},
                {"name": "timeout", "type": "integer"},
            ],
        },
    },
    # src/commands/client-setinfo.json (Redis 7.2)
    "client|setinfo": {
        "info": [
            "client|setinfo",
            4,
            Set(["noscript", "loading", "stale"]),
            0,
            0,
            0,
            Set(["@slow", "@connection"]),
            Set(),
            [],
            [],
        ],
        "docs": {
            "summary": "Sets information specific to the client or connection.",
            "since": "7.2.0",
            "group": "connection",
            "complexity": "O(1)",
            "arguments": [
                {
                    "name": "attr",
                    "type": "oneof",
                    "arguments": [
                        {"name": "libname", "type": "string", "token": "lib-name"},
                        {"name": "libver", "type": "string", "token": "lib-ver"},
                        {
                            "name": "libinstancename",
                            "type": "string",
                            "token": "lib-instance-name",
                        },
                    ],
                }
            ],
        },
    },
    # src/commands/client-no-touch.json (Redis 7.2)
    "client|no-touch": {
        "info": [
            "client|no-touch",
            3,
            Set(["noscript", "loading", "stale"]),
            0,
            0,
            0,
            Set(["@slow", "@connection"]),
            Set(),
            [],
            [],
        ],
        "docs": {
            "summary": "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
            "since": "7.2.0",
            "group": "connection",
            "complexity": "O(1)",
            "arguments": [
                {
                    "name": "enabled",
                    "type": "oneof",
                    "arguments": [
                        {"name": "on", "type": "pure-token", "token": "ON"},
                        {"name": "off", "type": "pure-token", "token": "OFF"},
                    ],
                }
            ],
        },
    },
}

# Changes Redis 7.2 made to commands that 7.0.15 already knows, applied to
# the server's COMMAND INFO / COMMAND DOCS facts before conversion. Each entry
# may set "arity", append "history" entries and append "arguments" (argument
# maps shaped like COMMAND DOCS replies).
# ---------------------------------------------------------------------------

# The optional WITHSCORE of ZRANK / ZREVRANK (src/commands/zrank.json and
# zrevrank.json in Redis 7.2).
_WITHSCORE_7_2 = {
    "arity": -3,
    "history": [["7.2.0", "Added the optional `WITHSCORE` argument."]],
    "arguments": [
        {"name": "withscore", "type": "pure-token", "token": "WITHSCORE", "flags": ["optional"]}
    ],
}

COMMAND_OVERRIDES = {
    "zrank": _WITHSCORE_7_2,
    "zrevrank": _WITHSCORE_7_2,
}


def apply_override(name, info, docs):
    """Returns copies of (info, docs) with COMMAND_OVERRIDES[name] applied."""
    o = COMMAND_OVERRIDES.get(name)
    if o is None:
        return info, docs
    check_keys(o, ("arity", "history", "arguments"), name + " override")
    info = list(info)
    docs = dict(docs)
    if "arity" in o:
        info[1] = o["arity"]
    if "history" in o:
        docs["history"] = list(docs.get("history", [])) + [list(h) for h in o["history"]]
    if "arguments" in o:
        have = {a["name"] for a in docs.get("arguments", [])}
        for a in o["arguments"]:
            if a["name"] in have:
                problem("%s: override argument %r already known to the server" % (name, a["name"]))
        docs["arguments"] = list(docs.get("arguments", [])) + [dict(a) for a in o["arguments"]]
    print("note: %s amended from COMMAND_OVERRIDES (Redis 7.2)" % name, file=sys.stderr)
    return info, docs


# ---------------------------------------------------------------------------
# Name mappings (mirroring src/spec.rs; checked against it at start-up)
# ---------------------------------------------------------------------------

FLAG_NAMES = [
    "write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript",
    "blocking", "loading", "stale", "skip_monitor", "skip_slowlog", "asking",
    "fast", "no_auth", "may_replicate", "no_mandatory_keys",
    "no_async_loading", "no_multi", "movablekeys", "allow_busy",
]
ACL_NAMES = [
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
    "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast",
    "slow", "blocking", "dangerous", "connection", "transaction", "scripting",
]
KEY_FLAG_NAMES = [
    "RO", "RW", "OW", "RM", "access", "update", "insert", "delete", "not_key",
    "incomplete", "variable_flags",
]
ARG_TYPES = {
    "string": "String",
    "integer": "Integer",
    "double": "Double",
    "key": "Key",
    "pattern": "Pattern",
    "unix-time": "UnixTime",
    "pure-token": "PureToken",
    "oneof": "OneOf",
    "block": "Block",
}
ARG_FLAGS = ["optional", "multiple", "multiple_token"]
GROUPS = {
    "generic": "Generic",
    "string": "String",
    "list": "List",
    "set": "Set",
    "sorted-set": "SortedSet",
    "hash": "Hash",
    "pubsub": "Pubsub",
    "transactions": "Transactions",
    "connection": "Connection",
    "server": "Server",
    "scripting": "Scripting",
    "hyperloglog": "Hyperloglog",
    "cluster": "Cluster",
    "sentinel": "Sentinel",
    "geo": "Geo",
    "stream": "Stream",
    "bitmap": "Bitmap",
}
DOC_FLAGS = ["deprecated", "syscmd"]


def const_name(name):
    return name.upper()


def check_spec_rs():
    """Fail early if spec.rs and the tables above have drifted apart."""
    path = os.path.join(CRATE, "src", "spec.rs")
    with open(path, encoding="utf-8") as f:
        src = f.read()

    def module_consts(module):
        m = re.search(r"pub mod %s \{(.*?)\n\}" % module, src, re.S)
        if not m:
            sys.exit("spec.rs: module %s not found" % module)
        return re.findall(r"pub const (\w+):", m.group(1))

    for module, names in (
        ("flag", FLAG_NAMES),
        ("acl", ACL_NAMES),
        ("key_flag", KEY_FLAG_NAMES),
        ("arg_flag", ARG_FLAGS),
        ("doc_flag", DOC_FLAGS),
    ):
        if module_consts(module) != [const_name(n) for n in names]:
            sys.exit("spec.rs: constants of mod %s differ from gen_table.py" % module)
    for variant in list(ARG_TYPES.values()) + list(GROUPS.values()):
        if not re.search(r"\b%s\b" % variant, src):
            sys.exit("spec.rs: variant %s not found" % variant)


# ---------------------------------------------------------------------------
# Conversion of replies into a checked model
# ---------------------------------------------------------------------------

problems = []


def problem(msg):
    problems.append(msg)


def check_keys(d, allowed, what):
    for k in d:
        if k not in allowed:
            problem("%s: unhandled field %r = %r" % (what, k, d[k]))


def conv_key_spec(ks, what):
    check_keys(ks, ("notes", "flags", "begin_search", "find_keys"), what)
    flags = []
    for n in ks.get("flags", []):
        if n not in KEY_FLAG_NAMES:
            problem("%s: unknown key flag %r" % (what, n))
        else:
            flags.append(n)
    flags.sort(key=KEY_FLAG_NAMES.index)
    bs = ks["begin_search"]
    check_keys(bs, ("type", "spec"), what + " begin_search")
    spec = bs.get("spec") or {}
    if bs["type"] == "index":
        check_keys(spec, ("index",), what + " begin_search index")
        begin = ("Index", spec["index"])
    elif bs["type"] == "keyword":
        check_keys(spec, ("keyword", "startfrom"), what + " begin_search keyword")
        begin = ("Keyword", spec["keyword"], spec["startfrom"])
    elif bs["type"] == "unknown":
        begin = ("Unknown",)
    else:
        problem("%s: unknown begin_search type %r" % (what, bs["type"]))
        begin = ("Unknown",)
    fk = ks["find_keys"]
    check_keys(fk, ("type", "spec"), what + " find_keys")
    spec = fk.get("spec") or {}
    if fk["type"] == "range":
        check_keys(spec, ("lastkey", "keystep", "limit"), what + " find_keys range")
        find = ("Range", spec["lastkey"], spec["keystep"], spec["limit"])
    elif fk["type"] == "keynum":
        check_keys(spec, ("keynumidx", "firstkey", "keystep"), what + " find_keys keynum")
        find = ("Keynum", spec["keynumidx"], spec["firstkey"], spec["keystep"])
    elif fk["type"] == "unknown":
        find = ("Unknown",)
    else:
        problem("%s: unknown find_keys type %r" % (what, fk["type"]))
        find = ("Unknown",)
    return {"notes": ks.get("notes", ""), "flags": flags, "begin": begin, "find": find}


def conv_arg(a, what):
    check_keys(
        a,
        (
            "name", "type", "key_spec_index", "token", "summary", "since",
            "flags", "deprecated_since", "display_text", "arguments",
        ),
        what,
    )
    what = "%s/%s" % (what, a["name"])
    if a["type"] not in ARG_TYPES:
        problem("%s: unknown argument type %r" % (what, a["type"]))
    flags = []
    for n in a.get("flags", []):
        if n not in ARG_FLAGS:
            problem("%s: unknown argument flag %r" % (what, n))
        else:
            flags.append(n)
    flags.sort(key=ARG_FLAGS.index)
    return {
        "name": a["name"],
        "kind": ARG_TYPES.get(a["type"], "String"),
        "key_spec_index": a.get("key_spec_index", -1),
        "token": a.get("token"),
        "summary": a.get("summary"),
        "since": a.get("since"),
        "flags": flags,
        "deprecated_since": a.get("deprecated_since"),
        "display_text": a.get("display_text"),
        "arguments": [conv_arg(x, what) for x in a.get("arguments", [])],
    }


def conv_command(info, docs, wanted_subs):
    """info: one COMMAND INFO entry; docs: its COMMAND DOCS map."""
    name = info[0]
    if len(info) != 10:
        problem("%s: COMMAND INFO entry has %d fields, expected 10" % (name, len(info)))
    flags = []
    for n in info[2]:
        if n not in FLAG_NAMES:
            problem("%s: unknown command flag %r" % (name, n))
        else:
            flags.append(n)
    flags.sort(key=FLAG_NAMES.index)
    acls = []
    for n in info[6]:
        c = n[1:] if n.startswith("@") else n
        if c not in ACL_NAMES:
            problem("%s: unknown ACL category %r" % (name, n))
        else:
            acls.append(c)
    acls.sort(key=ACL_NAMES.index)
    key_specs = [
        conv_key_spec(ks, "%s key spec %d" % (name, i)) for i, ks in enumerate(info[8])
    ]

    check_keys(
        docs,
        (
            "summary", "since", "group", "complexity", "doc_flags",
            "deprecated_since", "replaced_by", "history", "arguments",
            "subcommands",
        ),
        name + " docs",
    )
    group = docs.get("group")
    if group not in GROUPS:
        problem("%s: unknown group %r" % (name, group))
    doc_flags = []
    for n in docs.get("doc_flags", []):
        if n not in DOC_FLAGS:
            problem("%s: unknown doc flag %r" % (name, n))
        else:
            doc_flags.append(n)
    history = []
    for h in docs.get("history", []):
        if not (isinstance(h, list) and len(h) == 2):
            problem("%s: odd history entry %r" % (name, h))
            continue
        history.append((h[0], h[1]))

    cmd = {
        "name": name,
        "arity": info[1],
        "flags": flags,
        "acl": acls,
        "first_key": info[3],
        "last_key": info[4],
        "key_step": info[5],
        "tips": list(info[7]),
        "key_specs": key_specs,
        "group": GROUPS.get(group, "Server"),
        "since": docs.get("since", ""),
        "summary": docs.get("summary", ""),
        "complexity": docs.get("complexity", ""),
        "doc_flags": doc_flags,
        "deprecated_since": docs.get("deprecated_since"),
        "replaced_by": docs.get("replaced_by"),
        "history": history,
        "arguments": [conv_arg(a, name) for a in docs.get("arguments", [])],
        "subcommands": [],
    }

    sub_docs = docs.get("subcommands", {}) or {}
    subs = []
    have = set()
    for sub_info in info[9]:
        sname = sub_info[0]
        if sname not in wanted_subs:
            continue
        if sname not in sub_docs:
            problem("%s: no COMMAND DOCS entry" % sname)
            continue
        have.add(sname)
        subs.append(conv_command(sub_info, sub_docs[sname], set()))
    for sname in sorted(wanted_subs - have):
        extra = EXTRA_COMMANDS.get(sname)
        if extra is None:
            problem("%s: unknown to the server and not in EXTRA_COMMANDS" % sname)
            continue
        print("note: %s taken from EXTRA_COMMANDS (Redis 7.2 JSON)" % sname, file=sys.stderr)
        subs.append(conv_command(extra["info"], extra["docs"], set()))
    for sname in sorted(have):
        if sname in EXTRA_COMMANDS:
            print("note: server knows %s; EXTRA_COMMANDS entry unused" % sname, file=sys.stderr)
    subs.sort(key=lambda c: c["name"])
    cmd["subcommands"] = subs
    return cmd


# ---------------------------------------------------------------------------
# Rust emission
# ---------------------------------------------------------------------------


def rs(s):
    out = ['"']
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


# rustfmt's defaults: max_width 100; call/tuple arguments and array items go
# on one line only while they fit in 60 columns (fn_call_width, array_width).
MAX_WIDTH = 100
SHORT_WIDTH = 60


class Writer:
    def __init__(self):
        self.lines = []

    def line(self, depth, text):
        self.lines.append("    " * depth + text)

    def fits(self, depth, text):
        return len("    " * depth + text) <= MAX_WIDTH

    def field_str(self, depth, field, s):
        # a string literal cannot be broken: always one line
        self.line(depth, "%s: %s," % (field, rs(s)))

    def field_opt(self, depth, field, s):
        if s is None:
            self.line(depth, "%s: None," % field)
            return
        one = "%s: Some(%s)," % (field, rs(s))
        if self.fits(depth, one):
            self.line(depth, one)
        else:
            self.line(depth, "%s: Some(" % field)
            self.line(depth + 1, rs(s) + ",")
            self.line(depth, "),")

    def field_bits(self, depth, field, module, names):
        if not names:
            self.line(depth, "%s: 0," % field)
            return
        terms = ["%s::%s" % (module, const_name(n)) for n in names]
        one = "%s: %s," % (field, " | ".join(terms))
        if self.fits(depth, one):
            self.line(depth, one)
            return
        self.line(depth, "%s: %s" % (field, terms[0]))
        for t in terms[1:-1]:
            self.line(depth + 1, "| " + t)
        self.line(depth + 1, "| %s," % terms[-1])

    def field_strs(self, depth, field, items):
        inner = ", ".join(rs(t) for t in items)
        one = "%s: &[%s]," % (field, inner)
        if len(inner) <= SHORT_WIDTH and self.fits(depth, one):
            self.line(depth, one)
            return
        self.line(depth, "%s: &[" % field)
        for t in items:
            self.line(depth + 1, rs(t) + ",")
        self.line(depth, "],")

    def tuple(self, depth, items):
        inner = ", ".join(rs(t) for t in items)
        one = "(%s)," % inner
        if len(inner) <= SHORT_WIDTH and self.fits(depth, one):
            self.line(depth, one)
            return
        self.line(depth, "(")
        for t in items:
            self.line(depth + 1, rs(t) + ",")
        self.line(depth, "),")


def emit_key_spec(w, d, ks):
    w.line(d, "KeySpec {")
    w.field_str(d + 1, "notes", ks["notes"])
    w.field_bits(d + 1, "flags", "key_flag", ks["flags"])
    b = ks["begin"]
    if b[0] == "Index":
        w.line(d + 1, "begin_search: BeginSearch::Index(%d)," % b[1])
    elif b[0] == "Keyword":
        w.line(d + 1, "begin_search: BeginSearch::Keyword {")
        w.field_str(d + 2, "keyword", b[1])
        w.line(d + 2, "startfrom: %d," % b[2])
        w.line(d + 1, "},")
    else:
        w.line(d + 1, "begin_search: BeginSearch::Unknown,")
    f = ks["find"]
    if f[0] == "Range":
        w.line(d + 1, "find_keys: FindKeys::Range {")
        w.line(d + 2, "lastkey: %d," % f[1])
        w.line(d + 2, "keystep: %d," % f[2])
        w.line(d + 2, "limit: %d," % f[3])
        w.line(d + 1, "},")
    elif f[0] == "Keynum":
        w.line(d + 1, "find_keys: FindKeys::Keynum {")
        w.line(d + 2, "keynumidx: %d," % f[1])
        w.line(d + 2, "firstkey: %d," % f[2])
        w.line(d + 2, "keystep: %d," % f[3])
        w.line(d + 1, "},")
    else:
        w.line(d + 1, "find_keys: FindKeys::Unknown,")
    w.line(d, "},")


def emit_arg(w, d, a):
    w.line(d, "Arg {")
    w.field_str(d + 1, "name", a["name"])
    w.line(d + 1, "kind: ArgType::%s," % a["kind"])
    w.line(d + 1, "key_spec_index: %d," % a["key_spec_index"])
    w.field_opt(d + 1, "token", a["token"])
    w.field_opt(d + 1, "summary", a["summary"])
    w.field_opt(d + 1, "since", a["since"])
    w.field_bits(d + 1, "flags", "arg_flag", a["flags"])
    w.field_opt(d + 1, "deprecated_since", a["deprecated_since"])
    w.field_opt(d + 1, "display_text", a["display_text"])
    emit_list(w, d + 1, "arguments", a["arguments"], emit_arg)
    w.line(d, "},")


def emit_list(w, d, field, items, emit_one):
    if not items:
        w.line(d, "%s: &[]," % field)
        return
    if len(items) == 1:
        # rustfmt hugs a lone struct literal: `field: &[Struct {` ... `}],`
        sub = Writer()
        emit_one(sub, d, items[0])
        first, rest = sub.lines[0].lstrip(), sub.lines[1:]
        w.line(d, "%s: &[%s" % (field, first))
        w.lines.extend(rest[:-1])
        w.line(d, "}],")
        return
    w.line(d, "%s: &[" % field)
    for it in items:
        emit_one(w, d + 1, it)
    w.line(d, "],")


def emit_history(w, d, history):
    if not history:
        w.line(d, "history: &[],")
        return
    tuples = ["(%s)" % ", ".join(rs(x) for x in h) for h in history]
    inner = ", ".join(tuples)
    one = "history: &[%s]," % inner
    if len(inner) <= SHORT_WIDTH and w.fits(d, one):
        w.line(d, one)
        return
    if len(history) == 1:
        w.line(d, "history: &[(")
        for x in history[0]:
            w.line(d + 1, rs(x) + ",")
        w.line(d, ")],")
        return
    w.line(d, "history: &[")
    for h in history:
        w.tuple(d + 1, h)
    w.line(d, "],")


def emit_command(w, d, c):
    w.line(d, "CommandSpec {")
    w.field_str(d + 1, "name", c["name"])
    w.line(d + 1, "arity: %d," % c["arity"])
    w.field_bits(d + 1, "flags", "flag", c["flags"])
    w.field_bits(d + 1, "acl_categories", "acl", c["acl"])
    w.line(d + 1, "first_key: %d," % c["first_key"])
    w.line(d + 1, "last_key: %d," % c["last_key"])
    w.line(d + 1, "key_step: %d," % c["key_step"])
    w.field_strs(d + 1, "tips", c["tips"])
    emit_list(w, d + 1, "key_specs", c["key_specs"], emit_key_spec)
    w.line(d + 1, "group: Group::%s," % c["group"])
    w.field_str(d + 1, "since", c["since"])
    w.field_str(d + 1, "summary", c["summary"])
    w.field_str(d + 1, "complexity", c["complexity"])
    w.field_bits(d + 1, "doc_flags", "doc_flag", c["doc_flags"])
    w.field_opt(d + 1, "deprecated_since", c["deprecated_since"])
    w.field_opt(d + 1, "replaced_by", c["replaced_by"])
    emit_history(w, d + 1, c["history"])
    emit_list(w, d + 1, "arguments", c["arguments"], emit_arg)
    emit_list(w, d + 1, "subcommands", c["subcommands"], emit_command)
    w.line(d, "},")


def render(commands, server_version):
    w = Writer()
    w.line(0, "// @generated by crates/commands/gen/gen_table.py from redis-server %s facts" % server_version)
    w.line(0, "// (COMMAND INFO and COMMAND DOCS over RESP3). Do not edit by hand.")
    w.line(0, "//")
    w.line(0, "// Regenerate: start a redis-server 7.0.15, e.g.")
    w.line(0, "//     redis-server --port 7411 --save '' --appendonly no --daemonize yes")
    w.line(0, "// then, from the repository root,")
    w.line(0, "//     python3 crates/commands/gen/gen_table.py --host 127.0.0.1 --port 7411")
    w.line(0, "// The command list is crates/commands/gen/commands.txt; commands newer than")
    w.line(0, "// the server (client|setinfo, client|no-touch from Redis 7.2) come from")
    w.line(0, "// EXTRA_COMMANDS in the script; 7.2 changes to known commands (zrank and")
    w.line(0, "// zrevrank WITHSCORE) from COMMAND_OVERRIDES.")
    w.line(0, "")
    w.line(0, "use crate::spec::*;")
    w.line(0, "")
    w.line(0, "/// Every top-level command, sorted by name; subcommands hang off their container.")
    w.line(0, "pub static COMMANDS: &[CommandSpec] = &[")
    for c in commands:
        emit_command(w, 1, c)
    w.line(0, "];")
    return "\n".join(w.lines) + "\n"


# ---------------------------------------------------------------------------


def read_command_list(path):
    tops, subs = [], {}
    with open(path, encoding="utf-8") as f:
        for raw in f:
            name = raw.split("#", 1)[0].strip().lower()
            if not name:
                continue
            if "|" in name:
                parent = name.split("|", 1)[0]
                subs.setdefault(parent, set()).add(name)
            elif name not in tops:
                tops.append(name)
    for parent in subs:
        if parent not in tops:
            sys.exit("%s: subcommands listed without their container" % parent)
    return tops, subs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--commands", default=os.path.join(HERE, "commands.txt"))
    ap.add_argument("--out", default=os.path.join(CRATE, "src", "table.rs"))
    ap.add_argument("--no-rustfmt", action="store_true", help="do not run rustfmt on the output")
    ap.add_argument("--dump", action="store_true", help="print the parsed replies and exit")
    opts = ap.parse_args()

    check_spec_rs()
    tops, wanted = read_command_list(opts.commands)

    conn = Resp3(opts.host, opts.port)
    try:
        hello = conn.call("HELLO", "3")
        version = hello.get("version", "?") if isinstance(hello, dict) else "?"
        if version != "7.0.15":
            print("warning: server is redis %s, not 7.0.15" % version, file=sys.stderr)
        infos = conn.call("COMMAND", "INFO", *tops)
        docs = conn.call("COMMAND", "DOCS", *tops)
    finally:
        conn.close()

    if opts.dump:
        import pprint

        pprint.pprint({"info": infos, "docs": docs}, width=120)
        return

    commands = []
    for name, info in zip(tops, infos):
        if info is None:
            extra = EXTRA_COMMANDS.get(name)
            if extra is None:
                problem("%s: unknown to the server and not in EXTRA_COMMANDS" % name)
                continue
            print("note: %s taken from EXTRA_COMMANDS (Redis 7.2 JSON)" % name, file=sys.stderr)
            commands.append(conv_command(extra["info"], extra["docs"], set()))
            continue
        if name not in docs:
            problem("%s: no COMMAND DOCS entry" % name)
            continue
        info, doc = apply_override(name, info, docs[name])
        cmd = conv_command(info, doc, wanted.get(name, set()))
        got = {s["name"] for s in cmd["subcommands"]}
        for missing in sorted(wanted.get(name, set()) - got):
            problem("%s: subcommand not produced" % missing)
        commands.append(cmd)
    for name in sorted(set(COMMAND_OVERRIDES) - set(tops)):
        problem("%s: in COMMAND_OVERRIDES but not in the command list" % name)
    commands.sort(key=lambda c: c["name"])

    if problems:
        for p in problems:
            print("error: " + p, file=sys.stderr)
        sys.exit("%d problem(s); %s not written" % (len(problems), opts.out))

    text = render(commands, version)
    with open(opts.out, "w", encoding="utf-8") as f:
        f.write(text)
    if not opts.no_rustfmt and shutil.which("rustfmt"):
        subprocess.run(["rustfmt", "--edition", "2021", opts.out], check=True)
    nsub = sum(len(c["subcommands"]) for c in commands)
    print(
        "wrote %s: %d commands, %d subcommands" % (opts.out, len(commands), nsub),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
