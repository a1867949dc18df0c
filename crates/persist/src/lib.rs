//! Persistence for the Redis engine: keyspace values to and from Redis's
//! RDB object encodings ([`object`], [`stream`]), whole RDB files
//! ([`file`]), and fork-free snapshots written to disk ([`snapshot`]). The
//! byte-level building blocks (lengths, strings, LZF, CRC64, listpack...)
//! live in the pure `rdb` crate.

pub mod file;
pub mod object;
pub mod snapshot;
pub mod stream;
