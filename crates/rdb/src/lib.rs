//! Building blocks of Redis's RDB format, shared by everything that reads or
//! writes it (FUNCTION DUMP / RESTORE today). No I/O: every function works
//! on byte slices.
//!
//! - [`crc64`]: Redis's CRC-64 (the Jones polynomial, reflected), which
//!   closes RDB files and DUMP payloads.
//! - [`lzf`]: LZF compression as Redis's `lzf_c.c` / `lzf_d.c` do it, so
//!   compressed strings come out byte for byte as Redis writes them.
//! - [`encoding`]: length and string encodings (`rdbSaveLen`,
//!   `rdbSaveRawString`, and their loaders: integer and LZF strings).
//! - [`dump`]: the footer of a DUMP payload (RDB version and CRC64).

pub mod crc64;
pub mod dump;
pub mod encoding;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod ziplist;
pub mod zipmap;

pub use crc64::crc64;

/// The RDB version Redis 7.0 writes.
pub const RDB_VERSION: u16 = 10;

/// Opcode of a function library (Redis 7.0 GA and later): its code follows
/// as one string.
pub const OPCODE_FUNCTION2: u8 = 245;
/// Opcode of a function library as Redis 7.0 rc1/rc2 wrote it: name,
/// engine, optional description and code.
pub const OPCODE_FUNCTION: u8 = 246;

/// One element of a packed encoding (listpack, ziplist): a byte string, or
/// an integer the encoding stored as one (read back in decimal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Element<'_> {
    /// Appends the element's bytes (an integer in decimal) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Element::Str(s) => out.extend_from_slice(s),
            Element::Int(v) => {
                let mut b = itoa::Buffer::new();
                out.extend_from_slice(b.format(*v).as_bytes());
            }
        }
    }

    /// The element as bytes (an integer in decimal).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }
}

/// Why RDB data could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The data ends before the value does.
    Truncated,
    /// An unknown length or string encoding.
    BadEncoding,
    /// An LZF string that does not decompress to its stated length.
    BadLzf,
    /// A packed encoding (listpack, ziplist, intset...) that fails its
    /// integrity checks.
    Corrupt,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "unexpected end of RDB data",
            Error::BadEncoding => "unknown RDB encoding",
            Error::BadLzf => "invalid LZF compressed string",
            Error::Corrupt => "corrupt packed encoding",
        })
    }
}

impl std::error::Error for Error {}
