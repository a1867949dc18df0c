//! Persistence for the Redis engine: keyspace values to and from Redis's
//! RDB object encodings ([`object`], [`stream`]), whole RDB files
//! ([`file`]), fork-free snapshots written to disk ([`snapshot`]), and the
//! append-only file's manifest and command reader ([`aof`]). The byte-level building blocks (lengths, strings, LZF, CRC64, listpack...)
//! live in the pure `rdb` crate.

pub mod aof;
pub mod aof_rewrite;
pub mod file;
pub mod object;
pub mod snapshot;
pub mod stream;
