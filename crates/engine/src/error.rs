//! Command errors: the exact texts Redis replies with.

use std::borrow::Cow;

/// An error reply (text without the leading `-`), e.g. `ERR syntax error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, str>);

impl CmdError {
    pub fn new(msg: impl Into<Cow<'static, str>>) -> Self {
        CmdError(msg.into())
    }

    /// The error code (first word), used for INFO errorstats.
    pub fn code(&self) -> &str {
        self.0.split(' ').next().unwrap_or("ERR")
    }
}

pub type CmdResult = Result<(), CmdError>;

pub const SYNTAX: CmdError = CmdError(Cow::Borrowed("ERR syntax error"));
pub const WRONGTYPE: CmdError = CmdError(Cow::Borrowed(
    "WRONGTYPE Operation against a key holding the wrong kind of value",
));
pub const NOT_INTEGER: CmdError =
    CmdError(Cow::Borrowed("ERR value is not an integer or out of range"));
pub const NOT_FLOAT: CmdError = CmdError(Cow::Borrowed("ERR value is not a valid float"));
pub const OVERFLOW: CmdError = CmdError(Cow::Borrowed("ERR increment or decrement would overflow"));
pub const NO_SUCH_KEY: CmdError = CmdError(Cow::Borrowed("ERR no such key"));
pub const DB_INDEX: CmdError = CmdError(Cow::Borrowed("ERR DB index is out of range"));
pub const INVALID_EXPIRE: CmdError =
    CmdError(Cow::Borrowed("ERR invalid expire time in 'set' command"));

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
