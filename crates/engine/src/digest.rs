//! DEBUG DIGEST and DEBUG DIGEST-VALUE: SHA-1 signatures of the dataset and
//! of single values, computed exactly as Redis 7.0 does (debug.c), so a
//! replica, an AOF reload or a test can compare datasets with Redis's own
//! tooling and get byte-identical hex.
//!
//! The building blocks, on a 20-byte digest `d`:
//! - xor: `d ^= SHA1(data)`; order independent, used for set members, hash
//!   fields, sorted-set members and the keys of a database;
//! - mix: `d = SHA1(d ^ SHA1(data))`; order dependent, used for sequences.
//!
//! A value's digest (DIGEST-VALUE; 40 zeros for a missing key) starts from
//! zero, mixes the type number (big-endian u32: string 0, list 1, set 2,
//! zset 3, hash 4, stream 6), then the contents: a string's bytes (integers
//! in decimal); each list element in order; each set member xored in; per
//! sorted-set member a sub-digest of the member then its score as `%.17g`
//! (Redis 7.0; 7.2 switched to the shortest round-trip form), xored in; per
//! hash field a sub-digest of the field then the value, xored in; per live
//! stream entry its id as `ms.seq` (a dot), then each field and value, in
//! order. Stream groups, consumers, pending entries and the last id are not
//! part of it. A key with a TTL has `"!!expire!!"` xored in: the expiry
//! time itself is not (so PEXPIREAT to any time gives the same digest).
//!
//! The dataset digest (DIGEST) starts from zero and, for each database that
//! has keys, mixes the database number (big-endian u32) and then xors in,
//! per key, the SHA-1 of (key mixed into zero, then the value's digest
//! continued on it). An empty dataset is 40 zeros. Like Redis, keys whose
//! TTL has passed but which were not yet reclaimed are still counted.

use std::time::{Duration, Instant};

use keyspace::{itoa_buf, Entry, Keyspace, Value};

use crate::error::{CmdError, CmdResult};
use crate::Ctx;

/// A 20-byte SHA-1 state, as Redis's `unsigned char digest[20]`.
pub type Digest = [u8; 20];

/// Redis's object type numbers (`OBJ_STRING` ... `OBJ_STREAM`).
const OBJ_STRING: u32 = 0;
const OBJ_LIST: u32 = 1;
const OBJ_SET: u32 = 2;
const OBJ_ZSET: u32 = 3;
const OBJ_HASH: u32 = 4;
const OBJ_STREAM: u32 = 6;

/// How long DEBUG waits for shards another thread's hold keeps when it
/// runs inside a hold that does not cover every shard.
const ESCALATION_WAIT: Duration = Duration::from_millis(500);

fn sha1(data: &[u8]) -> Digest {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// Redis's `xorDigest`: `digest ^= SHA1(data)`.
pub fn xor_digest(digest: &mut Digest, data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// Redis's `mixDigest`: `digest = SHA1(digest ^ SHA1(data))`.
pub fn mix_digest(digest: &mut Digest, data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1(digest);
}

/// Lower-case hex, as DEBUG DIGEST prints it.
pub fn to_hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn type_number(value: &Value) -> u32 {
    match value {
        Value::Str(_) => OBJ_STRING,
        Value::List(_) => OBJ_LIST,
        Value::Set(_) => OBJ_SET,
        Value::ZSet(_) => OBJ_ZSET,
        Value::Hash(_) => OBJ_HASH,
        Value::Stream(_) => OBJ_STREAM,
    }
}

/// Redis's `xorObjectDigest`: continues `digest` with the type, the
/// contents of `value` and, when the key has a TTL, the expire marker.
pub fn mix_value(digest: &mut Digest, value: &Value, has_expire: bool) {
    mix_digest(digest, &type_number(value).to_be_bytes());
    match value {
        Value::Str(s) => {
            let mut buf = itoa_buf::Buf::default();
            mix_digest(digest, s.bytes(&mut buf));
        }
        Value::List(l) => {
            for element in l.iter() {
                mix_digest(digest, element);
            }
        }
        Value::Set(s) => {
            for member in s.iter() {
                member.with_bytes(|b| xor_digest(digest, b));
            }
        }
        Value::ZSet(z) => {
            for (member, score) in z.iter() {
                let mut element = Digest::default();
                mix_digest(&mut element, member);
                mix_digest(&mut element, resp::format_double(score).as_bytes());
                xor_digest(digest, &element);
            }
        }
        Value::Hash(h) => {
            for (field, value) in h.iter() {
                let mut element = Digest::default();
                mix_digest(&mut element, &field);
                mix_digest(&mut element, &value);
                xor_digest(digest, &element);
            }
        }
        Value::Stream(s) => {
            use types::stream::StreamId;
            for entry in s.range(StreamId::MIN, StreamId::MAX, false) {
                let id = format!("{}.{}", entry.id.ms, entry.id.seq);
                mix_digest(digest, id.as_bytes());
                for (field, value) in entry.pairs() {
                    mix_digest(digest, field);
                    mix_digest(digest, value);
                }
            }
        }
    }
    if has_expire {
        xor_digest(digest, b"!!expire!!");
    }
}

/// DIGEST-VALUE of one stored entry: its value and expire marker, not its
/// name.
pub fn value_digest(entry: &Entry) -> Digest {
    let mut digest = Digest::default();
    mix_value(&mut digest, &entry.value, entry.expire_at().is_some());
    digest
}

/// The per-key digest DIGEST xors in (through one more SHA-1): the key
/// name mixed into zero, then the value's digest continued on it.
pub fn key_digest(entry: &Entry) -> Digest {
    let mut digest = Digest::default();
    mix_digest(&mut digest, entry.key());
    mix_value(&mut digest, &entry.value, entry.expire_at().is_some());
    digest
}

/// Runs `f` while this thread holds every shard, so what it reads is one
/// point in time: inside EXEC the transaction's hold is used (widened if it
/// does not cover everything), otherwise a hold is taken for the call.
fn with_every_shard<R>(keyspace: &Keyspace, f: impl FnOnce() -> R) -> Result<R, CmdError> {
    if keyspace.holds_every_shard() {
        return Ok(f());
    }
    if keyspace.holding() {
        if keyspace.escalate(Instant::now() + ESCALATION_WAIT) {
            return Ok(f());
        }
        return Err(CmdError::new(
            "ERR DEBUG could not lock the whole keyspace: another client holds part of it",
        ));
    }
    let _hold = keyspace.hold(std::iter::empty(), true);
    Ok(f())
}

/// Every stored entry of database `db`, expired-but-unreclaimed ones
/// included (a clock of 0 makes none count as expired). The caller holds
/// every shard.
fn for_each_entry(keyspace: &Keyspace, db: usize, mut visit: impl FnMut(&Entry)) {
    keyspace.scan(db, 0, usize::MAX, 0, |_, entry| {
        visit(entry);
        false
    });
}

/// The stored entry `key` of `db`, reached without expiring it (Redis's
/// DIGEST-VALUE reads the dictionary directly), handed to `visit`. The
/// scan starts at the key's slot and stops at the first later slot that
/// holds any key. The caller holds every shard.
fn with_stored_entry<R>(
    keyspace: &Keyspace,
    db: usize,
    key: &[u8],
    visit: impl FnOnce(&Entry) -> R,
) -> Option<R> {
    let slot = keyspace::key_slot(key);
    let mut visit = Some(visit);
    let mut result = None;
    keyspace.scan(db, u64::from(slot), 1, 0, |stored, entry| {
        if stored == key {
            result = visit.take().map(|f| f(entry));
            return true;
        }
        keyspace::key_slot(stored) != slot
    });
    result
}

/// The dataset digest of every database. The caller holds every shard.
pub fn dataset_digest(keyspace: &Keyspace) -> Digest {
    let mut digest = Digest::default();
    for db in 0..keyspace.databases() {
        // Xor is associative: the keys' part can be summed apart and
        // joined after the database number is mixed in, which Redis does
        // only for a database that has keys.
        let mut keys_part = Digest::default();
        let mut any = false;
        for_each_entry(keyspace, db, |entry| {
            any = true;
            xor_digest(&mut keys_part, &key_digest(entry));
        });
        if !any {
            continue;
        }
        mix_digest(&mut digest, &(db as u32).to_be_bytes());
        for (d, k) in digest.iter_mut().zip(keys_part) {
            *d ^= k;
        }
    }
    digest
}

/// DEBUG DIGEST: the dataset digest as a status reply.
pub(crate) fn debug_digest(ctx: &mut Ctx) -> CmdResult {
    let keyspace = &ctx.server.keyspace;
    let digest = with_every_shard(keyspace, || dataset_digest(keyspace))?;
    ctx.out.simple(&to_hex(&digest));
    Ok(())
}

/// DEBUG DIGEST-VALUE key...: per key of the client's database its value
/// digest (40 zeros when missing), as an array of status replies.
pub(crate) fn debug_digest_value(ctx: &mut Ctx, keys: &[&[u8]]) -> CmdResult {
    let keyspace = &ctx.server.keyspace;
    let db = ctx.db();
    let digests = with_every_shard(keyspace, || {
        keys.iter()
            .map(|key| with_stored_entry(keyspace, db, key, value_digest).unwrap_or_default())
            .collect::<Vec<Digest>>()
    })?;
    ctx.out.array(digests.len());
    for digest in &digests {
        ctx.out.simple(&to_hex(digest));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{server, Session};

    /// SHA-1 digests redis-server 7.0.15 printed for the same commands.
    #[test]
    fn primitives_compose_to_redis_value_digests() {
        // DEBUG DIGEST-VALUE of "hello": mix(type 0), mix("hello").
        let mut d = Digest::default();
        mix_digest(&mut d, &0u32.to_be_bytes());
        mix_digest(&mut d, b"hello");
        assert_eq!(to_hex(&d), "36b23a1456b2dce2c3ed252c456761301dba8060");

        // SADD st x y 3: mix(type 2), then members xored (any order).
        for order in [[&b"x"[..], b"y", b"3"], [b"3", b"x", b"y"]] {
            let mut d = Digest::default();
            mix_digest(&mut d, &2u32.to_be_bytes());
            for m in order {
                xor_digest(&mut d, m);
            }
            assert_eq!(to_hex(&d), "415a07507e2348d139f9fd645a024f6be569dd65");
        }

        // SET v, PEXPIREAT: the expire marker xored in last.
        let mut d = Digest::default();
        mix_digest(&mut d, &0u32.to_be_bytes());
        mix_digest(&mut d, b"v");
        xor_digest(&mut d, b"!!expire!!");
        assert_eq!(to_hex(&d), "311b17018163335616e089f6b951c82c477335ac");
    }

    #[test]
    fn mix_is_order_dependent_and_xor_is_not() {
        let mut ab = Digest::default();
        mix_digest(&mut ab, b"a");
        mix_digest(&mut ab, b"b");
        let mut ba = Digest::default();
        mix_digest(&mut ba, b"b");
        mix_digest(&mut ba, b"a");
        assert_ne!(ab, ba);
        // "fo" + "obar" differs from "foo" + "bar".
        let mut split = Digest::default();
        mix_digest(&mut split, b"fo");
        mix_digest(&mut split, b"obar");
        let mut other = Digest::default();
        mix_digest(&mut other, b"foo");
        mix_digest(&mut other, b"bar");
        assert_ne!(split, other);
        let mut x1 = Digest::default();
        xor_digest(&mut x1, b"a");
        xor_digest(&mut x1, b"b");
        let mut x2 = Digest::default();
        xor_digest(&mut x2, b"b");
        xor_digest(&mut x2, b"a");
        assert_eq!(x1, x2);
        // Xoring the same data twice cancels out.
        xor_digest(&mut x1, b"a");
        xor_digest(&mut x1, b"a");
        assert_eq!(x1, x2);
    }

    #[test]
    fn value_digests_match_redis() {
        let srv = server();
        let mut s = Session::new(&srv);
        for cmd in [
            &["SET", "s", "hello"][..],
            &["SET", "i", "12345"],
            &["RPUSH", "l", "a", "b", "1"],
            &["SADD", "st", "x", "y", "3"],
            &["ZADD", "z", "1.5", "a", "2", "b", "0.1", "c", "-inf", "d"],
            &["HSET", "h", "f", "v", "g", "1"],
            &["XADD", "x", "1-1", "f", "v", "n", "5"],
            &["SET", "e", "v"],
            &["PEXPIREAT", "e", "99999999999999"],
        ] {
            s.run(cmd);
        }
        let want = [
            "36b23a1456b2dce2c3ed252c456761301dba8060",
            "e1cf90774e995ae03de66e8109dc5cb9d9c2dc83",
            "981fd62c1655c074205cff40b800bd5a5bfdcd41",
            "415a07507e2348d139f9fd645a024f6be569dd65",
            "ad9fb47156c5f8e1cafca4258a8a49b087b59fec",
            "6679ee22f89ed8001eeb5309d0900265ea56c03a",
            "66ed97885d741cbc9fa2668ada5d93a9d052009c",
            "311b17018163335616e089f6b951c82c477335ac",
            "0000000000000000000000000000000000000000",
        ];
        let mut expected = format!("*{}\r\n", want.len());
        for w in want {
            expected.push_str(&format!("+{w}\r\n"));
        }
        assert_eq!(
            s.run(&[
                "DEBUG",
                "DIGEST-VALUE",
                "s",
                "i",
                "l",
                "st",
                "z",
                "h",
                "x",
                "e",
                "missing"
            ]),
            expected
        );
        assert_eq!(s.run(&["DEBUG", "DIGEST-VALUE"]), "*0\r\n");
    }

    #[test]
    fn dataset_digest_matches_redis() {
        let srv = server();
        let mut s = Session::new(&srv);
        assert_eq!(
            s.run(&["DEBUG", "DIGEST"]),
            "+0000000000000000000000000000000000000000\r\n"
        );
        s.run(&["SET", "a", "1"]);
        s.run(&["SELECT", "3"]);
        s.run(&["RPUSH", "l", "x", "y"]);
        s.run(&["SET", "b", "2"]);
        s.run(&["PEXPIREAT", "b", "99999999999999"]);
        // redis-server 7.0.15, same commands.
        assert_eq!(
            s.run(&["DEBUG", "DIGEST"]),
            "+5fc63348b6ed3cec30b166fefc8ab213a357e015\r\n"
        );
        // Inside MULTI / EXEC the transaction's hold is used.
        s.run(&["MULTI"]);
        s.run(&["DEBUG", "DIGEST"]);
        assert_eq!(
            s.run(&["EXEC"]),
            "*1\r\n+5fc63348b6ed3cec30b166fefc8ab213a357e015\r\n"
        );
        assert!(s
            .run(&["DEBUG", "DIGEST", "x"])
            .starts_with("-ERR unknown subcommand"));
    }
}
