//! Command errors: the exact texts Redis replies with.

use std::borrow::Cow;

/// An error reply (text without the leading `-`), e.g. `ERR syntax error`.
/// Bytes, not text: some errors carry what a client or script sent, and
/// Redis passes it through as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, [u8]>);

impl CmdError {
    pub fn new(msg: impl Into<Cow<'static, str>>) -> Self {
        CmdError(match msg.into() {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        })
    }

    pub const fn fixed(msg: &'static str) -> Self {
        CmdError(Cow::Borrowed(msg.as_bytes()))
    }

    pub fn from_bytes(msg: Vec<u8>) -> Self {
        CmdError(Cow::Owned(msg))
    }

    /// An error that quotes what a client sent (see [`fill`]).
    pub fn quoting(template: &str, parts: &[&[u8]]) -> Self {
        CmdError(Cow::Owned(fill(template, parts)))
    }

    /// The error code (first word), used for INFO errorstats.
    pub fn code(&self) -> &str {
        let first = self.0.split(|&b| b == b' ').next().unwrap_or(b"ERR");
        std::str::from_utf8(first).unwrap_or("ERR")
    }

    /// The text, for messages that want one (invalid UTF-8 shown as U+FFFD).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

/// `template` with each `{}` replaced by the next of `parts`, byte for
/// byte: Redis quotes what a client sent as it is, invalid UTF-8 included
/// (but, formatting it with `%s`, only up to a NUL byte).
pub fn fill(template: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(template.len() + parts.iter().map(|p| p.len()).sum::<usize>());
    let mut pieces = template.split("{}");
    msg.extend_from_slice(pieces.next().unwrap_or_default().as_bytes());
    for (i, piece) in pieces.enumerate() {
        msg.extend_from_slice(until_nul(parts.get(i).copied().unwrap_or_default()));
        msg.extend_from_slice(piece.as_bytes());
    }
    msg
}

/// `a` up to its first NUL byte, as C's `%s` prints it.
pub fn until_nul(a: &[u8]) -> &[u8] {
    memchr::memchr(0, a).map_or(a, |i| &a[..i])
}

pub type CmdResult = Result<(), CmdError>;

pub const SYNTAX: CmdError = CmdError::fixed("ERR syntax error");
pub const WRONGTYPE: CmdError =
    CmdError::fixed("WRONGTYPE Operation against a key holding the wrong kind of value");
pub const NOT_INTEGER: CmdError = CmdError::fixed("ERR value is not an integer or out of range");
pub const NOT_FLOAT: CmdError = CmdError::fixed("ERR value is not a valid float");
pub const OVERFLOW: CmdError = CmdError::fixed("ERR increment or decrement would overflow");
pub const NO_SUCH_KEY: CmdError = CmdError::fixed("ERR no such key");
pub const DB_INDEX: CmdError = CmdError::fixed("ERR DB index is out of range");
pub const INVALID_EXPIRE: CmdError = CmdError::fixed("ERR invalid expire time in 'set' command");

/// `ERR wrong number of arguments for 'name' command`.
pub fn wrong_args(name: &str) -> CmdError {
    CmdError::new(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// `ERR invalid expire time in 'name' command`.
pub fn invalid_expire(name: &str) -> CmdError {
    CmdError::new(format!("ERR invalid expire time in '{name}' command"))
}

#[cfg(test)]
mod tests {
    use super::CmdError;

    #[test]
    fn quoting_keeps_the_bytes_of_each_part() {
        let e = CmdError::quoting("ERR no such key '{}' or group '{}'", &[b"k\xff", b"g"]);
        assert_eq!(&e.0[..], b"ERR no such key 'k\xff' or group 'g'");
        assert_eq!(&CmdError::quoting("ERR {}", &[]).0[..], b"ERR ");
        assert_eq!(&CmdError::quoting("ERR '{}'", &[b"a\0b"]).0[..], b"ERR 'a'");
    }
}
