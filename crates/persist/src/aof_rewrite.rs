//! The AOF rewrite as commands (`aof-use-rdb-preamble no`): for every key
//! the RESP commands that recreate it, as Redis 7.0's
//! `rewriteAppendOnlyFileRio` (aof.c) writes them into a BASE file.
//!
//! - functions first, one `FUNCTION LOAD <code>` per library;
//! - per non-empty database a `SELECT <db>`, then per key:
//!   strings `SET`; lists `RPUSH`, sets `SADD`, sorted sets `ZADD` (score
//!   as `%.17g`, `inf` / `-inf`) and hashes `HMSET`, each in commands of at
//!   most [`ITEMS_PER_CMD`] elements (pairs for `ZADD` / `HMSET`); streams
//!   as in `rewriteStreamObject` (below); then `PEXPIREAT` if it expires.
//!
//! A stream is its live entries as `XADD key id field value...` (an empty
//! stream: `XADD key MAXLEN 0 0-1 x y`, which creates the key and trims the
//! entry away), then `XSETID key last ENTRIESADDED n MAXDELETEDID id`, then
//! per group `XGROUP CREATE key group last ENTRIESREAD n` and per consumer
//! either one `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n JUSTID
//! FORCE` per pending entry or, with none pending, `XGROUP CREATECONSUMER`.
//!
//! What the format itself cannot carry (Redis loses it the same way): the
//! stream's node layout and tombstones, consumers' seen times, pending
//! entries whose stream entry was deleted (`XCLAIM ... FORCE` only claims
//! existing entries), and encodings (the loader picks its own).

use keyspace::{StrValue, Value};
use resp::{write_array_len as array_header, write_bulk as bulk};
use types::stream::{Stream, StreamId};
use types::{Hash, List, Set, ZSet};

/// Elements per variadic command (`AOF_REWRITE_ITEMS_PER_CMD`).
pub const ITEMS_PER_CMD: usize = 64;

/// Appends `SELECT db`.
pub fn write_select(out: &mut Vec<u8>, db: usize) {
    array_header(out, 2);
    bulk(out, b"SELECT");
    bulk_u64(out, db as u64);
}

/// Appends `FUNCTION LOAD <library_code>` (the rewrite writes every
/// library before the first `SELECT`).
pub fn write_function_commands(out: &mut Vec<u8>, library_code: &[u8]) {
    array_header(out, 3);
    bulk(out, b"FUNCTION");
    bulk(out, b"LOAD");
    bulk(out, library_code);
}

/// Appends the commands that recreate `key` holding `value`, then
/// `PEXPIREAT key expire_at_ms` unless `expire_at_ms` is 0 (no expiry).
pub fn write_entry_commands(out: &mut Vec<u8>, key: &[u8], value: &Value, expire_at_ms: u64) {
    match value {
        Value::Str(s) => write_string(out, key, s),
        Value::List(l) => write_list(out, key, l),
        Value::Set(s) => write_set(out, key, s),
        Value::ZSet(z) => write_zset(out, key, z),
        Value::Hash(h) => write_hash(out, key, h),
        Value::Stream(s) => write_stream(out, key, s),
    }
    if expire_at_ms != 0 {
        array_header(out, 3);
        bulk(out, b"PEXPIREAT");
        bulk(out, key);
        bulk_u64(out, expire_at_ms);
    }
}

fn write_string(out: &mut Vec<u8>, key: &[u8], s: &StrValue) {
    array_header(out, 3);
    bulk(out, b"SET");
    bulk(out, key);
    let mut buf = keyspace::itoa_buf::Buf::default();
    bulk(out, s.bytes(&mut buf));
}

fn write_list(out: &mut Vec<u8>, key: &[u8], l: &List) {
    let mut batch = Batch::new(b"RPUSH", key, l.len(), 1);
    for e in l.iter() {
        batch.item(out);
        bulk(out, e);
    }
}

fn write_set(out: &mut Vec<u8>, key: &[u8], s: &Set) {
    let mut batch = Batch::new(b"SADD", key, s.len(), 1);
    for m in s.iter() {
        batch.item(out);
        m.with_bytes(|b| bulk(out, b));
    }
}

fn write_zset(out: &mut Vec<u8>, key: &[u8], z: &ZSet) {
    let mut batch = Batch::new(b"ZADD", key, z.len(), 2);
    for (member, score) in z.iter() {
        batch.item(out);
        // rioWriteBulkDouble: `%.17g` in Redis 7.0 (7.2 moved to fpconv).
        bulk(out, resp::format_double(score).as_bytes());
        bulk(out, member);
    }
}

fn write_hash(out: &mut Vec<u8>, key: &[u8], h: &Hash) {
    let mut batch = Batch::new(b"HMSET", key, h.len(), 2);
    for (field, value) in h.iter() {
        batch.item(out);
        bulk(out, &field);
        bulk(out, &value);
    }
}

fn write_stream(out: &mut Vec<u8>, key: &[u8], s: &Stream) {
    if s.is_empty() {
        // Redis's "XADD MAXLEN 0 trick": the key exists, the entry is
        // trimmed away at once; XSETID then sets the real counters.
        array_header(out, 7);
        bulk(out, b"XADD");
        bulk(out, key);
        bulk(out, b"MAXLEN");
        bulk(out, b"0");
        bulk_id(out, StreamId::new(0, 1));
        bulk(out, b"x");
        bulk(out, b"y");
    } else {
        for entry in s.range(StreamId::MIN, StreamId::MAX, false) {
            array_header(out, 3 + 2 * entry.field_count());
            bulk(out, b"XADD");
            bulk(out, key);
            bulk_id(out, entry.id);
            for (field, value) in entry.pairs() {
                bulk(out, field);
                bulk(out, value);
            }
        }
    }

    array_header(out, 7);
    bulk(out, b"XSETID");
    bulk(out, key);
    bulk_id(out, s.last_id);
    bulk(out, b"ENTRIESADDED");
    bulk_u64(out, s.entries_added);
    bulk(out, b"MAXDELETEDID");
    bulk_id(out, s.max_deleted_id);

    // Groups, consumers and ids are in byte order, as Redis's rax walks.
    for (group_name, group) in &s.groups {
        array_header(out, 7);
        bulk(out, b"XGROUP");
        bulk(out, b"CREATE");
        bulk(out, key);
        bulk(out, group_name);
        bulk_id(out, group.last_id);
        bulk(out, b"ENTRIESREAD");
        bulk_i64(out, group.entries_read);

        for (consumer_name, consumer) in &group.consumers {
            if consumer.pel.is_empty() {
                array_header(out, 5);
                bulk(out, b"XGROUP");
                bulk(out, b"CREATECONSUMER");
                bulk(out, key);
                bulk(out, group_name);
                bulk(out, consumer_name);
                continue;
            }
            // A consumer's PEL points into the group's (Redis shares the
            // NACK); an id missing there has no delivery data to write.
            for (id, pending) in consumer
                .pel
                .iter()
                .filter_map(|id| group.pel.get(id).map(|p| (*id, p)))
            {
                array_header(out, 12);
                bulk(out, b"XCLAIM");
                bulk(out, key);
                bulk(out, group_name);
                bulk(out, consumer_name);
                bulk(out, b"0");
                bulk_id(out, id);
                bulk(out, b"TIME");
                bulk_u64(out, pending.delivery_time);
                bulk(out, b"RETRYCOUNT");
                bulk_u64(out, pending.delivery_count);
                bulk(out, b"JUSTID");
                bulk(out, b"FORCE");
            }
        }
    }
}

/// The headers of a variadic command split in commands of at most
/// [`ITEMS_PER_CMD`] items, each `args_per_item` bulk strings, as
/// Redis's rewrite loops count them: each header announces
/// `min(remaining, ITEMS_PER_CMD)` items.
struct Batch<'a> {
    command: &'static [u8],
    key: &'a [u8],
    remaining: usize,
    args_per_item: usize,
    in_command: usize,
}

impl<'a> Batch<'a> {
    fn new(command: &'static [u8], key: &'a [u8], total: usize, args_per_item: usize) -> Self {
        Batch {
            command,
            key,
            remaining: total,
            args_per_item,
            in_command: 0,
        }
    }

    /// Called before each item's arguments: starts a command when due.
    fn item(&mut self, out: &mut Vec<u8>) {
        if self.in_command == 0 {
            let items = self.remaining.min(ITEMS_PER_CMD);
            array_header(out, 2 + items * self.args_per_item);
            bulk(out, self.command);
            bulk(out, self.key);
        }
        self.in_command += 1;
        if self.in_command == ITEMS_PER_CMD {
            self.in_command = 0;
        }
        self.remaining = self.remaining.saturating_sub(1);
    }
}

fn bulk_u64(out: &mut Vec<u8>, v: u64) {
    bulk(out, itoa::Buffer::new().format(v).as_bytes());
}

fn bulk_i64(out: &mut Vec<u8>, v: i64) {
    bulk(out, itoa::Buffer::new().format(v).as_bytes());
}

fn bulk_id(out: &mut Vec<u8>, id: StreamId) {
    let mut text = Vec::with_capacity(41);
    id.write_to(&mut text);
    bulk(out, &text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::list::End;
    use types::stream::{Group, NodeLimits};
    use types::Limits;

    /// Splits RESP commands back into argument lists (and checks that the
    /// bytes are exactly a sequence of arrays of bulk strings).
    fn parse(mut buf: &[u8]) -> Vec<Vec<Vec<u8>>> {
        fn line(buf: &mut &[u8], prefix: u8) -> usize {
            assert_eq!(buf[0], prefix, "expected {:?}", prefix as char);
            let end = buf.windows(2).position(|w| w == b"\r\n").expect("CRLF");
            let n = std::str::from_utf8(&buf[1..end])
                .expect("utf8")
                .parse()
                .expect("number");
            *buf = &buf[end + 2..];
            n
        }
        let mut commands = Vec::new();
        while !buf.is_empty() {
            let argc = line(&mut buf, b'*');
            let mut args = Vec::new();
            for _ in 0..argc {
                let len = line(&mut buf, b'$');
                args.push(buf[..len].to_vec());
                assert_eq!(&buf[len..len + 2], b"\r\n");
                buf = &buf[len + 2..];
            }
            commands.push(args);
        }
        commands
    }

    fn strs(args: &[Vec<u8>]) -> Vec<String> {
        args.iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn set_select_and_function_bytes() {
        let mut out = Vec::new();
        write_function_commands(&mut out, b"#!lua name=lib\n");
        write_select(&mut out, 12);
        write_entry_commands(&mut out, b"k", &Value::Str(StrValue::Int(-42)), 0);
        write_entry_commands(
            &mut out,
            b"b",
            &Value::Str(StrValue::from_bytes(b"\0\r\n")),
            7,
        );
        assert_eq!(
            out,
            b"*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n$15\r\n#!lua name=lib\n\r\n\
              *2\r\n$6\r\nSELECT\r\n$2\r\n12\r\n\
              *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n-42\r\n\
              *3\r\n$3\r\nSET\r\n$1\r\nb\r\n$3\r\n\0\r\n\r\n\
              *3\r\n$9\r\nPEXPIREAT\r\n$1\r\nb\r\n$1\r\n7\r\n"
        );
    }

    #[test]
    fn lists_go_in_batches_of_64() {
        let mut list = List::new();
        let items: Vec<String> = (0..130).map(|i| format!("e{i}")).collect();
        list.push_all(End::Tail, items.iter().map(|s| s.as_bytes()), -2);
        let mut out = Vec::new();
        write_entry_commands(&mut out, b"l", &Value::List(Box::new(list)), 0);
        let cmds = parse(&out);
        assert_eq!(cmds.len(), 3);
        assert_eq!(
            cmds.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [66, 66, 4]
        );
        let mut seen = Vec::new();
        for c in &cmds {
            assert_eq!(strs(&c[..2]), ["RPUSH", "l"]);
            seen.extend(strs(&c[2..]));
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn exactly_64_items_is_one_command() {
        let mut list = List::new();
        list.push_all(End::Tail, (0..64).map(|_| &b"x"[..]), -2);
        let mut out = Vec::new();
        write_entry_commands(&mut out, b"l", &Value::List(Box::new(list)), 0);
        let cmds = parse(&out);
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0].len(), 66);
    }

    #[test]
    fn sets_and_hashes_batch_by_element() {
        let limits = Limits::default();
        let mut set = Set::new();
        for i in 0..100 {
            set.insert(i.to_string().as_bytes(), &limits);
        }
        let mut hash = Hash::new();
        for i in 0..70 {
            hash.insert(
                format!("f{i}").as_bytes(),
                format!("v{i}").as_bytes(),
                &limits,
            );
        }
        let mut out = Vec::new();
        write_entry_commands(&mut out, b"s", &Value::Set(Box::new(set)), 0);
        write_entry_commands(&mut out, b"h", &Value::Hash(hash), 0);
        let cmds = parse(&out);
        assert_eq!(cmds.len(), 4);
        assert_eq!(strs(&cmds[0][..2]), ["SADD", "s"]);
        assert_eq!((cmds[0].len(), cmds[1].len()), (66, 38));
        let mut members: Vec<i64> = cmds[..2]
            .iter()
            .flat_map(|c| strs(&c[2..]))
            .map(|m| m.parse().expect("int"))
            .collect();
        members.sort_unstable();
        assert_eq!(members, (0..100).collect::<Vec<_>>());
        assert_eq!(strs(&cmds[2][..2]), ["HMSET", "h"]);
        assert_eq!((cmds[2].len(), cmds[3].len()), (2 + 128, 2 + 12));
        let pairs: Vec<String> = cmds[2..].iter().flat_map(|c| strs(&c[2..])).collect();
        for pair in pairs.chunks(2) {
            assert_eq!(pair[0][1..], pair[1][1..], "field and value of one pair");
        }
        assert_eq!(pairs.len(), 140);
    }

    #[test]
    fn zadd_scores_are_percent_17g() {
        let limits = Limits::default();
        let mut z = ZSet::new();
        z.insert(b"neg-inf", f64::NEG_INFINITY, &limits);
        z.insert(b"tenth", 0.1, &limits);
        z.insert(b"int", 3.0, &limits);
        z.insert(b"big", 1e300, &limits);
        z.insert(b"inf", f64::INFINITY, &limits);
        let mut out = Vec::new();
        write_entry_commands(&mut out, b"z", &Value::ZSet(z), 0);
        let cmds = parse(&out);
        assert_eq!(cmds.len(), 1);
        assert_eq!(
            strs(&cmds[0]),
            [
                "ZADD",
                "z",
                "-inf",
                "neg-inf",
                "0.10000000000000001",
                "tenth",
                "3",
                "int",
                "1.0000000000000001e+300",
                "big",
                "inf",
                "inf"
            ]
        );
    }

    #[test]
    fn zadd_batches_count_pairs() {
        let limits = Limits::default();
        let mut z = ZSet::new();
        for i in 0..65 {
            z.insert(format!("m{i}").as_bytes(), f64::from(i), &limits);
        }
        let mut out = Vec::new();
        write_entry_commands(&mut out, b"z", &Value::ZSet(z), 0);
        let cmds = parse(&out);
        assert_eq!(cmds.iter().map(|c| c.len()).collect::<Vec<_>>(), [130, 4]);
        assert_eq!(strs(&cmds[1]), ["ZADD", "z", "64", "m64"]);
    }

    #[test]
    fn empty_stream_uses_the_maxlen_0_trick() {
        let mut s = Stream::new();
        s.last_id = StreamId::new(5, 0);
        s.entries_added = 3;
        s.max_deleted_id = StreamId::new(5, 0);
        let mut out = Vec::new();
        write_entry_commands(&mut out, b"s", &Value::Stream(Box::new(s)), 0);
        let cmds: Vec<Vec<String>> = parse(&out).iter().map(|c| strs(c)).collect();
        assert_eq!(
            cmds,
            [
                vec!["XADD", "s", "MAXLEN", "0", "0-1", "x", "y"],
                vec![
                    "XSETID",
                    "s",
                    "5-0",
                    "ENTRIESADDED",
                    "3",
                    "MAXDELETEDID",
                    "5-0"
                ],
            ]
        );
    }

    #[test]
    fn stream_entries_groups_and_pending() {
        let mut s = Stream::new();
        let limits = NodeLimits::default();
        s.append(StreamId::new(1, 0), &[(b"a", b"1")], limits);
        s.append(StreamId::new(2, 0), &[(b"a", b"2"), (b"b", b"3")], limits);
        s.append(StreamId::new(3, 0), &[(b"c", b"4")], limits);
        assert!(s.delete(StreamId::new(2, 0)));
        let mut g = Group::new(StreamId::new(3, 0), 3);
        g.consumer(b"alice", 0);
        g.consumer(b"bob", 0);
        g.deliver(StreamId::new(1, 0), b"alice", 1000, 2);
        g.deliver(StreamId::new(3, 0), b"alice", 2000, 1);
        s.groups.insert(b"g1"[..].into(), g);
        s.groups
            .insert(b"g0"[..].into(), Group::new(StreamId::MIN, -1));
        let mut out = Vec::new();
        write_entry_commands(&mut out, b"s", &Value::Stream(Box::new(s)), 99);
        let cmds: Vec<Vec<String>> = parse(&out).iter().map(|c| strs(c)).collect();
        let expected: Vec<Vec<&str>> = vec![
            vec!["XADD", "s", "1-0", "a", "1"],
            vec!["XADD", "s", "3-0", "c", "4"],
            vec![
                "XSETID",
                "s",
                "3-0",
                "ENTRIESADDED",
                "3",
                "MAXDELETEDID",
                "2-0",
            ],
            vec!["XGROUP", "CREATE", "s", "g0", "0-0", "ENTRIESREAD", "-1"],
            vec!["XGROUP", "CREATE", "s", "g1", "3-0", "ENTRIESREAD", "3"],
            vec![
                "XCLAIM",
                "s",
                "g1",
                "alice",
                "0",
                "1-0",
                "TIME",
                "1000",
                "RETRYCOUNT",
                "2",
                "JUSTID",
                "FORCE",
            ],
            vec![
                "XCLAIM",
                "s",
                "g1",
                "alice",
                "0",
                "3-0",
                "TIME",
                "2000",
                "RETRYCOUNT",
                "1",
                "JUSTID",
                "FORCE",
            ],
            vec!["XGROUP", "CREATECONSUMER", "s", "g1", "bob"],
            vec!["PEXPIREAT", "s", "99"],
        ];
        assert_eq!(cmds, expected);
    }
}
