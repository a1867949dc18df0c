//! RESP2/RESP3 and inline request parsing, and reply encoding. No I/O.
//!
//! The parser works on the connection's input buffer in place: it yields the
//! byte ranges of each argument of every complete command, so a pipeline of
//! commands is parsed without copying. The encoder ([`ReplyWriter`]) appends
//! replies to an output buffer and downgrades RESP3 types when the client
//! speaks RESP2.

mod double;
mod parse;
mod write;

pub use double::{format_double, format_g, format_listpack_score, format_long_double};
pub use parse::{parse_command, split_inline_args, Limits, ParseError, Parsed};
pub use write::{write_array_len, write_bulk, write_command, Protocol, ReplyWriter};
