//! The text protocol and the meta commands: an incremental, zero-copy request parser.
//!
//! [`parse`] looks at the start of a connection's read buffer and returns one [`Parsed`]:
//! a complete [`Request`] with the number of bytes it used, [`Parsed::Incomplete`], or a
//! [`ParseError`] carrying memcached's exact reply. Keys and data blocks borrow from the
//! buffer. Call it in a loop to drain pipelined requests.
//!
//! The rules are memcached 1.6.18's (`proto_text.c`), checked against the real server:
//! - A line ends at `\n`; one `\r` before it is dropped; the line is cut at its first NUL
//!   byte (memcached `strlen`s it). Tokens are separated by spaces only (a tab is part of a
//!   token, so `a\tb` is a valid key; control characters are not rejected).
//! - Only the first 23 tokens count, except for the keys of `get`-family commands.
//! - Without a `\n` in more than [`Limits::max_line`] bytes the connection is closed without
//!   a reply, unless the line starts (after at most 100 spaces) with `get ` or `gets `: those
//!   may grow to [`Limits::max_multiget_line`].
//! - `noreply` is recognised only as the last token and also silences error replies of the
//!   classic commands (memcached sets the flag before validating).

use std::borrow::Cow;

use crate::meta::{parse_meta, MetaLine, MetaRequest, KEY_MAX_LENGTH};
use crate::num::{parse_i32, parse_u32, parse_u64};
use crate::Limits;

/// memcached keeps at most this many tokens per line (`MAX_TOKENS` minus the terminator).
const MAX_TOKENS: usize = 23;

const ERROR: &str = "ERROR";
const BAD_FORMAT: &str = "CLIENT_ERROR bad command line format";
const BAD_EXPTIME: &str = "CLIENT_ERROR invalid exptime argument";
const BAD_CHUNK: &str = "CLIENT_ERROR bad data chunk";
const TOO_LARGE: &str = "SERVER_ERROR object too large for cache";

/// The storage commands. `Cas` is also what `ms` uses when a compare value is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreCmd {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
}

/// The retrieval commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetCmd {
    /// `get` (and the ancient `bget`).
    Get,
    /// `gets`: values carry their CAS unique.
    Gets,
    /// `gat <exptime>`: get and touch.
    Gat,
    /// `gats <exptime>`: get and touch, with CAS.
    Gats,
}

impl GetCmd {
    /// Whether `VALUE` lines carry the CAS unique.
    pub fn with_cas(self) -> bool {
        matches!(self, GetCmd::Gets | GetCmd::Gats)
    }
    /// Whether the command also sets a new expiration time.
    pub fn touches(self) -> bool {
        matches!(self, GetCmd::Gat | GetCmd::Gats)
    }
}

/// Space-separated tokens of a line, borrowed (the keys of a multi-get, `stats` arguments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tokens<'a> {
    rest: &'a [u8],
}

impl<'a> Tokens<'a> {
    pub fn new(rest: &'a [u8]) -> Self {
        Tokens { rest }
    }
    /// True when no token is left.
    pub fn is_empty(&self) -> bool {
        self.rest.iter().all(|&b| b == b' ')
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| b != b' ')?;
        let rest = &self.rest[start..];
        let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
        self.rest = &rest[end..];
        Some(&rest[..end])
    }
}

/// A storage request (`set`, `add`, `replace`, `append`, `prepend`, `cas`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store<'a> {
    pub cmd: StoreCmd,
    pub key: &'a [u8],
    /// Client flags (memcached's 32-bit truncation already applied).
    pub flags: u32,
    /// Expiration: 0 none, negative already expired, up to 30 days relative seconds,
    /// above that an absolute unix time (memcached's `int32` value).
    pub exptime: i64,
    /// The compare value of `cas` (0 for the other commands).
    pub cas: u64,
    /// The data block, without its trailing `\r\n`.
    pub data: &'a [u8],
    pub noreply: bool,
}

/// The `shutdown` forms. memcached answers `ERROR: shutdown not enabled` to all of them
/// unless started with `-A`, and `CLIENT_ERROR invalid shutdown mode` to `Invalid` when
/// enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownMode {
    Immediate,
    Graceful,
    Invalid,
}

/// One parsed request of the text or meta protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// `get`/`gets`/`gat`/`gats`. `keys` may be empty (`gat 10` answers just `END`); every
    /// key is at most 250 bytes. `exptime` is 0 for `get`/`gets`.
    Get {
        cmd: GetCmd,
        exptime: i64,
        keys: Tokens<'a>,
    },
    /// A storage command with its data block.
    Store(Store<'a>),
    /// `incr`/`decr`. Replies: the new value, `NOT_FOUND`, or
    /// `CLIENT_ERROR cannot increment or decrement non-numeric value`.
    Arith {
        incr: bool,
        key: &'a [u8],
        delta: u64,
        noreply: bool,
    },
    /// `touch <key> <exptime>`: `TOUCHED` or `NOT_FOUND`.
    Touch {
        key: &'a [u8],
        exptime: i64,
        noreply: bool,
    },
    /// `delete <key> [0] [noreply]`: `DELETED` or `NOT_FOUND`.
    Delete { key: &'a [u8], noreply: bool },
    /// `flush_all [delay] [noreply]`: `OK`. A delay <= 0 means now.
    FlushAll { delay: i64, noreply: bool },
    /// `version`: `VERSION 1.6.x`.
    Version,
    /// `verbosity <level> [noreply]`: `OK`.
    Verbosity { level: u32, noreply: bool },
    /// `stats [group [args...]]`; `args` excludes the word `stats`. The engine answers
    /// groups (`settings`, `items`, `slabs`, `sizes`, `conns`, `reset` -> `RESET`,
    /// `detail ...`, `cachedump ...`) and `ERROR` for unknown ones.
    Stats { args: Tokens<'a> },
    /// `quit`: close the connection without a reply.
    Quit,
    /// `shutdown [graceful]`.
    Shutdown { mode: ShutdownMode },
    /// ElastiCache auto-discovery: `config get <key>` (the key is `cluster`). Reply:
    /// `CONFIG cluster 0 <len>\r\n<version>\n<nodes>\n\r\nEND\r\n` (see
    /// [`crate::reply::config_cluster`]).
    ConfigGet { key: &'a [u8] },
    /// `config set <key> <flags> [<exptime>] <bytes> [noreply]` followed by a data block,
    /// as the ElastiCache client test suites send it (`<version>\r\n<nodes>`). Not a
    /// memcached command: real memcached answers `ERROR`.
    ConfigSet {
        key: &'a [u8],
        flags: u32,
        data: &'a [u8],
        noreply: bool,
    },
    /// `mg`, `ms`, `md`, `ma`.
    Meta(MetaRequest<'a>),
    /// `mn`: reply `MN` and flush.
    MetaNoop,
    /// `me <key> [b]`: `ME <key> exp=.. la=.. cas=.. fetch=yes|no cls=.. size=..` or `EN`.
    MetaDebug {
        key: Cow<'a, [u8]>,
        base64_key: bool,
    },
    /// Administrative commands the parser does not interpret (`slabs`, `lru_crawler`,
    /// `lru`, `watch`, `cache_memlimit`, `extstore`...): `name` and its arguments.
    /// memcached's replies are mostly `OK`, `ERROR` or specific `CLIENT_ERROR`s.
    Admin { name: &'a [u8], args: Tokens<'a> },
}

/// A request that fails before reaching the engine, with memcached's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError<'a> {
    /// The reply line without `\r\n`; `None` means send nothing (noreply, or a close).
    pub reply: Option<&'static str>,
    /// Bytes of the buffer to drop now (never more than the buffer holds).
    pub consumed: usize,
    /// Further bytes to drop as they arrive: the rest of a rejected data block.
    pub swallow: usize,
    /// Close the connection after sending `reply`.
    pub close: bool,
    /// memcached deletes this key when it rejects a `set`/`ms` as too large, so that a
    /// stale value does not survive the failed update.
    pub unlink: Option<Cow<'a, [u8]>>,
}

/// Result of one [`parse`] call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// More bytes are needed. `need` is the total buffer length required for progress when
    /// known (a storage command waiting for its data block).
    Incomplete { need: Option<usize> },
    /// A complete request that used the first `consumed` bytes.
    Request { req: Request<'a>, consumed: usize },
    /// An error to answer (see [`ParseError`]).
    Error(ParseError<'a>),
}

fn err<'a>(reply: Option<&'static str>, consumed: usize) -> Parsed<'a> {
    Parsed::Error(ParseError {
        reply,
        consumed,
        swallow: 0,
        close: false,
        unlink: None,
    })
}

fn close<'a>(consumed: usize) -> Parsed<'a> {
    Parsed::Error(ParseError {
        reply: None,
        consumed,
        swallow: 0,
        close: true,
        unlink: None,
    })
}

/// Whether a line without its `\n` may keep growing past `max_line` (memcached lets large
/// `get`/`gets` lines grow, after at most 100 leading spaces).
fn is_long_multiget(buf: &[u8]) -> bool {
    let spaces = buf.iter().take_while(|&&b| b == b' ').count();
    if spaces > 100 {
        return false;
    }
    let rest = &buf[spaces..];
    rest.starts_with(b"get ") || rest.starts_with(b"gets ")
}

/// Parses the request at the start of `buf`. See the module documentation.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    if buf.is_empty() {
        return Parsed::Incomplete { need: None };
    }
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > limits.max_line
            && (!is_long_multiget(buf) || buf.len() > limits.max_multiget_line)
        {
            return close(buf.len());
        }
        return Parsed::Incomplete { need: None };
    };
    let consumed = nl + 1;
    let mut line = &buf[..nl];
    if line.len() > 1 && line[line.len() - 1] == b'\r' {
        line = &line[..line.len() - 1];
    }
    if let Some(nul) = memchr::memchr(0, line) {
        line = &line[..nul];
    }
    parse_line(buf, line, consumed, limits)
}

/// memcached's tokenizer: up to [`MAX_TOKENS`] space-separated tokens, with the byte offset
/// where each starts (the `get` family reads its keys from the raw line).
struct LineTokens<'a> {
    toks: [&'a [u8]; MAX_TOKENS],
    starts: [usize; MAX_TOKENS],
    n: usize,
}

fn tokenize(line: &[u8]) -> LineTokens<'_> {
    let mut t = LineTokens {
        toks: [&[][..]; MAX_TOKENS],
        starts: [0; MAX_TOKENS],
        n: 0,
    };
    let mut i = 0;
    while i < line.len() && t.n < MAX_TOKENS {
        if line[i] == b' ' {
            i += 1;
            continue;
        }
        let end = memchr::memchr(b' ', &line[i..]).map_or(line.len(), |e| i + e);
        t.toks[t.n] = &line[i..end];
        t.starts[t.n] = i;
        t.n += 1;
        i = end;
    }
    t
}

fn parse_line<'a>(buf: &'a [u8], line: &'a [u8], consumed: usize, limits: &Limits) -> Parsed<'a> {
    let lt = tokenize(line);
    let toks = &lt.toks[..lt.n];
    if toks.is_empty() || toks[0].len() < 2 {
        return err(Some(ERROR), consumed);
    }
    let cmd = toks[0];
    let n = toks.len();
    // memcached's set_noreply_maybe: only the last token counts.
    let noreply = toks[n - 1] == b"noreply";
    let reply_unless_noreply = |msg: &'static str| if noreply { None } else { Some(msg) };
    let ok = |req| Parsed::Request { req, consumed };

    if cmd[0] == b'm' && cmd.len() == 2 {
        return match parse_meta(toks, limits) {
            MetaLine::Ready(req) => ok(req),
            MetaLine::Unknown => err(Some(ERROR), consumed),
            MetaLine::Error {
                reply,
                swallow_vlen,
                unlink,
            } => {
                let block = swallow_vlen.map_or(0, |v| v + 2);
                let available = buf.len() - consumed;
                let now = block.min(available);
                Parsed::Error(ParseError {
                    reply: Some(reply),
                    consumed: consumed + now,
                    swallow: block - now,
                    close: false,
                    unlink,
                })
            }
            MetaLine::NeedData { mut req, vlen } => match data_block(buf, consumed, vlen) {
                DataBlock::Incomplete(need) => Parsed::Incomplete { need: Some(need) },
                // Meta commands always report a bad chunk, even in quiet mode.
                DataBlock::Bad(total) => err(Some(BAD_CHUNK), total),
                DataBlock::Ok(data, total) => {
                    req.data = data;
                    Parsed::Request {
                        req: Request::Meta(req),
                        consumed: total,
                    }
                }
            },
        };
    }

    match cmd {
        b"get" | b"gets" | b"gat" | b"gats" | b"bget" => {
            if n < 2 {
                return err(Some(ERROR), consumed);
            }
            let get = match cmd {
                b"gets" => GetCmd::Gets,
                b"gat" => GetCmd::Gat,
                b"gats" => GetCmd::Gats,
                _ => GetCmd::Get,
            };
            let mut exptime = 0;
            let mut first_key = 1;
            if get.touches() {
                match parse_i32(toks[1]) {
                    Some(v) => exptime = i64::from(v),
                    None => return err(Some(BAD_EXPTIME), consumed),
                }
                first_key = 2;
            }
            let keys = if first_key < n {
                Tokens::new(&line[lt.starts[first_key]..])
            } else {
                Tokens::new(&[])
            };
            if keys.clone().any(|k| k.len() > KEY_MAX_LENGTH) {
                return err(Some(BAD_FORMAT), consumed);
            }
            ok(Request::Get {
                cmd: get,
                exptime,
                keys,
            })
        }
        b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" => {
            let store = match cmd {
                b"set" => StoreCmd::Set,
                b"add" => StoreCmd::Add,
                b"replace" => StoreCmd::Replace,
                b"append" => StoreCmd::Append,
                b"prepend" => StoreCmd::Prepend,
                _ => StoreCmd::Cas,
            };
            let base = if store == StoreCmd::Cas { 6 } else { 5 };
            if n != base && n != base + 1 {
                return err(Some(ERROR), consumed);
            }
            let key = toks[1];
            if key.len() > KEY_MAX_LENGTH {
                return err(reply_unless_noreply(BAD_FORMAT), consumed);
            }
            let (Some(flags), Some(exptime), Some(vlen)) =
                (parse_u32(toks[2]), parse_i32(toks[3]), parse_i32(toks[4]))
            else {
                return err(reply_unless_noreply(BAD_FORMAT), consumed);
            };
            let mut cas = 0;
            if store == StoreCmd::Cas {
                match parse_u64(toks[5]) {
                    Some(v) => cas = v,
                    None => return err(reply_unless_noreply(BAD_FORMAT), consumed),
                }
            }
            if !(0..=i32::MAX - 2).contains(&vlen) {
                return err(reply_unless_noreply(BAD_FORMAT), consumed);
            }
            let vlen = vlen as usize;
            if !limits.item_fits(key.len(), flags, vlen) {
                let block = vlen + 2;
                let now = block.min(buf.len() - consumed);
                return Parsed::Error(ParseError {
                    reply: reply_unless_noreply(TOO_LARGE),
                    consumed: consumed + now,
                    swallow: block - now,
                    close: false,
                    // memcached only drops the old item for `set`.
                    unlink: (store == StoreCmd::Set).then_some(Cow::Borrowed(key)),
                });
            }
            match data_block(buf, consumed, vlen) {
                DataBlock::Incomplete(need) => Parsed::Incomplete { need: Some(need) },
                DataBlock::Bad(total) => err(reply_unless_noreply(BAD_CHUNK), total),
                DataBlock::Ok(data, total) => Parsed::Request {
                    req: Request::Store(Store {
                        cmd: store,
                        key,
                        flags,
                        exptime: i64::from(exptime),
                        cas,
                        data,
                        noreply,
                    }),
                    consumed: total,
                },
            }
        }
        b"incr" | b"decr" => {
            if n != 3 && n != 4 {
                return err(Some(ERROR), consumed);
            }
            let key = toks[1];
            if key.len() > KEY_MAX_LENGTH {
                return err(reply_unless_noreply(BAD_FORMAT), consumed);
            }
            match parse_u64(toks[2]) {
                Some(delta) => ok(Request::Arith {
                    incr: cmd == b"incr",
                    key,
                    delta,
                    noreply,
                }),
                None => err(
                    reply_unless_noreply("CLIENT_ERROR invalid numeric delta argument"),
                    consumed,
                ),
            }
        }
        b"touch" => {
            if n != 3 && n != 4 {
                return err(Some(ERROR), consumed);
            }
            let key = toks[1];
            if key.len() > KEY_MAX_LENGTH {
                return err(reply_unless_noreply(BAD_FORMAT), consumed);
            }
            match parse_i32(toks[2]) {
                Some(v) => ok(Request::Touch {
                    key,
                    exptime: i64::from(v),
                    noreply,
                }),
                None => err(reply_unless_noreply(BAD_EXPTIME), consumed),
            }
        }
        b"delete" => {
            if !(2..=4).contains(&n) {
                return err(Some(ERROR), consumed);
            }
            if n > 2 {
                // The legacy `delete <key> 0` form is the only hold time accepted.
                let hold_is_zero = toks[2] == b"0";
                let valid =
                    (n == 3 && (hold_is_zero || noreply)) || (n == 4 && hold_is_zero && noreply);
                if !valid {
                    return err(
                        reply_unless_noreply(
                            "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]",
                        ),
                        consumed,
                    );
                }
            }
            let key = toks[1];
            if key.len() > KEY_MAX_LENGTH {
                return err(reply_unless_noreply(BAD_FORMAT), consumed);
            }
            ok(Request::Delete { key, noreply })
        }
        b"flush_all" => {
            if n > 3 {
                return err(Some(ERROR), consumed);
            }
            let mut delay = 0;
            if n != if noreply { 2 } else { 1 } {
                match parse_i32(toks[1]) {
                    Some(v) => delay = i64::from(v),
                    None => return err(reply_unless_noreply(BAD_EXPTIME), consumed),
                }
            }
            ok(Request::FlushAll { delay, noreply })
        }
        b"version" => ok(Request::Version),
        b"quit" => ok(Request::Quit),
        b"verbosity" => {
            if n != 2 && n != 3 {
                return err(Some(ERROR), consumed);
            }
            match parse_u32(toks[1]) {
                Some(level) => ok(Request::Verbosity { level, noreply }),
                None => err(reply_unless_noreply(BAD_FORMAT), consumed),
            }
        }
        b"stats" => ok(Request::Stats {
            args: rest_tokens(line, &lt, 1),
        }),
        b"shutdown" => {
            let mode = match toks {
                [_] => ShutdownMode::Immediate,
                [_, g] if *g == b"graceful" => ShutdownMode::Graceful,
                _ => ShutdownMode::Invalid,
            };
            ok(Request::Shutdown { mode })
        }
        b"config" => parse_config(buf, toks, consumed, noreply),
        b"cache_memlimit" if n != 2 && n != 3 => err(Some(ERROR), consumed),
        b"lru" if n < 2 => err(Some(ERROR), consumed),
        b"slabs" | b"lru_crawler" | b"watch" | b"cache_memlimit" | b"lru" | b"extstore"
        | b"refresh_certs" => ok(Request::Admin {
            name: cmd,
            args: rest_tokens(line, &lt, 1),
        }),
        _ => {
            // A stray HTTP request: memcached hangs up without a word.
            if toks[n - 1].starts_with(b"HTTP/") {
                close(consumed)
            } else {
                err(Some(ERROR), consumed)
            }
        }
    }
}

fn rest_tokens<'a>(line: &'a [u8], lt: &LineTokens<'a>, from: usize) -> Tokens<'a> {
    if from < lt.n {
        Tokens::new(&line[lt.starts[from]..])
    } else {
        Tokens::new(&[])
    }
}

/// `config get cluster` / `config set cluster <flags> [<exptime>] <bytes> [noreply]`.
fn parse_config<'a>(
    buf: &'a [u8],
    toks: &[&'a [u8]],
    consumed: usize,
    noreply: bool,
) -> Parsed<'a> {
    match toks {
        [_, sub, key] if *sub == b"get" => Parsed::Request {
            req: Request::ConfigGet { key },
            consumed,
        },
        [_, sub, key, args @ ..] if *sub == b"set" => {
            // When the key itself is the last token, "noreply" is the key, not an option.
            let noreply = noreply && !args.is_empty();
            let args = if noreply {
                &args[..args.len() - 1]
            } else {
                args
            };
            let (flags, vlen) = match args {
                [flags, bytes] | [flags, _, bytes] => (parse_u32(flags), parse_i32(bytes)),
                _ => return err(Some(ERROR), consumed),
            };
            let (Some(flags), Some(vlen)) = (flags, vlen) else {
                return err(if noreply { None } else { Some(BAD_FORMAT) }, consumed);
            };
            if !(0..=i32::MAX - 2).contains(&vlen) {
                return err(if noreply { None } else { Some(BAD_FORMAT) }, consumed);
            }
            match data_block(buf, consumed, vlen as usize) {
                DataBlock::Incomplete(need) => Parsed::Incomplete { need: Some(need) },
                DataBlock::Bad(total) => err(if noreply { None } else { Some(BAD_CHUNK) }, total),
                DataBlock::Ok(data, total) => Parsed::Request {
                    req: Request::ConfigSet {
                        key,
                        flags,
                        data,
                        noreply,
                    },
                    consumed: total,
                },
            }
        }
        _ => err(Some(ERROR), consumed),
    }
}

enum DataBlock<'a> {
    /// Total buffer length needed.
    Incomplete(usize),
    /// The block is there but not followed by `\r\n`: memcached still consumes exactly
    /// `vlen + 2` bytes, then reads the rest as a new command.
    Bad(usize),
    Ok(&'a [u8], usize),
}

fn data_block(buf: &[u8], start: usize, vlen: usize) -> DataBlock<'_> {
    let total = start + vlen + 2;
    if buf.len() < total {
        return DataBlock::Incomplete(total);
    }
    if &buf[start + vlen..total] != b"\r\n" {
        return DataBlock::Bad(total);
    }
    DataBlock::Ok(&buf[start..start + vlen], total)
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
