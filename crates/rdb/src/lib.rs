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
pub mod lzf;

pub use crc64::crc64;

/// The RDB version Redis 7.0 writes.
pub const RDB_VERSION: u16 = 10;

/// Opcode of a function library (Redis 7.0 GA and later): its code follows
/// as one string.
pub const OPCODE_FUNCTION2: u8 = 245;
/// Opcode of a function library as Redis 7.0 rc1/rc2 wrote it: name,
/// engine, optional description and code.
pub const OPCODE_FUNCTION: u8 = 246;

/// Why RDB data could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The data ends before the value does.
    Truncated,
    /// An unknown length or string encoding.
    BadEncoding,
    /// An LZF string that does not decompress to its stated length.
    BadLzf,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "unexpected end of RDB data",
            Error::BadEncoding => "unknown RDB encoding",
            Error::BadLzf => "invalid LZF compressed string",
        })
    }
}

impl std::error::Error for Error {}
