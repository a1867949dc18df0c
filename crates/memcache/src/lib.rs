//! memcached 1.6's wire protocols as pure functions: request parsers and reply encoders,
//! with no I/O, for Ferrocache's memcached engine.
//!
//! Layout:
//! - [`text`]: the text protocol and the meta commands. [`text::parse`] turns the start of a
//!   read buffer into a [`text::Request`] (borrowing keys and data), asks for more bytes, or
//!   returns the exact error memcached would send ([`text::ParseError`]: reply, bytes to
//!   skip, whether to close).
//! - [`meta`]: the meta flags (`mg`/`ms`/`md`/`ma`) decoded into [`meta::MetaFlags`], and
//!   quiet-mode rules.
//! - [`binary`]: the binary protocol: 24-byte headers, per-opcode validation,
//!   [`binary::parse`] into [`binary::BinRequest`], and response encoding.
//! - [`reply`]: writers for text replies (`VALUE ...`, `STORED`, numbers, `END`), meta
//!   replies with returned flags in memcached's order, and the ElastiCache `config get
//!   cluster` answer.
//! - `num` and `b64`: memcached's number parsing (`safe_strtoul` & co.) and its lenient
//!   base64 decoder, which the parsers use so that edge cases answer like memcached.
//!
//! Typical connection loop (text side): append received bytes to a buffer, then
//! `loop { match text::parse(&buf[pos..], &limits) { ... } }`, executing each request and
//! advancing `pos` by `consumed`; on `Incomplete` read more. A buffer starting with byte
//! `0x80` is binary protocol (memcached decides per connection on its first byte).
//!
//! Every error text and edge case here was checked against memcached 1.6.18; the unit tests
//! say which reply the real server gave.

mod b64;
pub mod binary;
pub mod meta;
mod num;
pub mod reply;
pub mod text;

pub use num::{parse_i32, parse_i64, parse_u32, parse_u64};

/// Size limits of a memcached node. `Default` gives memcached's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes without a `\n` after which a text connection is closed (memcached: 2048).
    pub max_line: usize,
    /// The same limit for lines starting with `get `/`gets ` (memcached grows its buffer
    /// without bound; we default to 16 MiB).
    pub max_multiget_line: usize,
    /// The item size limit, memcached's `-I` (default 1 MiB).
    pub item_size_max: usize,
    /// Accept the meta `E` flag (explicit CAS, memcached 1.6.21+). memcached 1.6.18
    /// answers `CLIENT_ERROR invalid flag`, so the default is `false`.
    pub meta_explicit_cas: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 2048,
            max_multiget_line: 16 << 20,
            item_size_max: 1 << 20,
            meta_explicit_cas: false,
        }
    }
}

/// Per-item bytes memcached 1.6.18 counts on top of key and value against `-I` (the item
/// header with CAS, the key's NUL and the value's `\r\n`); 4 more when the client flags
/// are non-zero. Measured: with `-I 1m` key `a` holds at most 1048516 value bytes.
const ITEM_OVERHEAD: usize = 59;

impl Limits {
    /// Whether an item with this key length, client flags and value length fits under
    /// `item_size_max`, the way memcached's `item_size_ok` decides.
    pub fn item_fits(&self, key_len: usize, client_flags: u32, value_len: usize) -> bool {
        let flags_size = if client_flags == 0 { 0 } else { 4 };
        key_len + value_len + ITEM_OVERHEAD + flags_size <= self.item_size_max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_size_boundaries_match_memcached() {
        // Measured on memcached 1.6.18 -I 1m by bisection of `set`.
        let l = Limits::default();
        assert!(l.item_fits(1, 0, 1_048_516));
        assert!(!l.item_fits(1, 0, 1_048_517));
        assert!(l.item_fits(250, 0, 1_048_267));
        assert!(!l.item_fits(250, 0, 1_048_268));
        assert!(l.item_fits(1, 1, 1_048_512));
        assert!(!l.item_fits(1, 1, 1_048_513));
        assert!(l.item_fits(100, 7, 1_048_413));
        assert!(!l.item_fits(100, 7, 1_048_414));
    }
}
