//! The meta commands (`mg`, `ms`, `md`, `ma`, `me`, `mn`): flag parsing into [`MetaFlags`]
//! and the per-command validation memcached 1.6.18 performs before touching any item.
//!
//! memcached parses every meta flag with one shared routine, so each of `mg`/`ms`/`md`/`ma`
//! accepts the whole flag alphabet (`mg a F5 C3 M2` is a valid no-op); what a flag *does*
//! depends on the command and is the engine's business. Errors follow memcached's precedence:
//! a duplicate or unknown flag stops the scan at once, while bad numeric tokens are noted and
//! the scan goes on (so a later duplicate still wins), and the last such message is the one
//! sent. `md` and `ma` replace every flag error by `CLIENT_ERROR invalid or duplicate flag`.

use std::borrow::Cow;

use crate::num::{parse_i32, parse_u32, parse_u64};
use crate::text::StoreCmd;
use crate::Limits;

/// The longest key memcached accepts (before base64 decoding, for meta commands).
pub const KEY_MAX_LENGTH: usize = 250;
/// memcached's `MFLAG_MAX_OPAQUE_LENGTH`: an `O` token, the `O` included, may be 32 bytes.
pub const MAX_OPAQUE_TOKEN: usize = 32;
/// memcached's `MFLAG_MAX_OPT_LENGTH`: a meta line may hold at most 19 tokens
/// (command and key included).
const MAX_META_TOKENS: usize = 19;

const BAD_FORMAT: &str = "CLIENT_ERROR bad command line format";
const BAD_TOKEN: &str = "CLIENT_ERROR bad token in command line format";

/// Which meta command a [`MetaRequest`] is, with its resolved mode switch (`M` flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaCmd {
    /// `mg`.
    Get,
    /// `ms`; `mode` is the storage command selected by `M` (`S` set, the default; `E` add;
    /// `A` append; `P` prepend; `R` replace), upgraded to [`StoreCmd::Cas`] when a `C` compare
    /// value is given with set or replace, as memcached does.
    Set { mode: StoreCmd },
    /// `md`.
    Delete,
    /// `ma`; `incr` is false for mode `D`/`-`.
    Arith { incr: bool },
}

/// The flags of a meta request, decoded. Flags that only ask for a value in the reply are
/// booleans; flags with a token carry the parsed token. `order` keeps the flags as sent,
/// because memcached echoes returned flags in request order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaFlags<'a> {
    /// `b`: the key was base64 and has been decoded; echo it encoded, followed by ` b`.
    pub base64_key: bool,
    /// `c`: return the CAS value.
    pub return_cas: bool,
    /// `f`: return the client flags.
    pub return_flags: bool,
    /// `h`: return whether the item was fetched before (`h0`/`h1`).
    pub return_hit: bool,
    /// `k`: return the key.
    pub return_key: bool,
    /// `l`: return seconds since last access.
    pub return_last_access: bool,
    /// `s`: return the value size.
    pub return_size: bool,
    /// `t`: return the remaining TTL (`-1` for none).
    pub return_ttl: bool,
    /// `v`: return the value (`VA` replies).
    pub return_value: bool,
    /// `u`: do not bump the item in the LRU.
    pub no_lru_bump: bool,
    /// `q`: quiet mode: the command's nominal reply is suppressed
    /// (see [`MetaRequest::quiet_suppresses`]).
    pub quiet: bool,
    /// `I`: invalidate: `md` marks stale instead of deleting, `ms` with `C` may replace a
    /// stale item.
    pub invalidate: bool,
    /// `O`: opaque token, without the `O`, echoed in the reply.
    pub opaque: Option<&'a [u8]>,
    /// `T`: new TTL (seconds or absolute unix time, memcached's `int32` rules).
    pub ttl: Option<i64>,
    /// `N`: vivify on miss with this TTL.
    pub vivify_ttl: Option<i64>,
    /// `R`: win the recache token if the remaining TTL is below this.
    pub recache_ttl: Option<i64>,
    /// `F`: client flags for `ms`.
    pub client_flags: Option<u32>,
    /// `C`: compare CAS value.
    pub compare_cas: Option<u64>,
    /// `E`: explicit new CAS value (memcached 1.6.21+; rejected unless
    /// [`Limits::meta_explicit_cas`] is set, as 1.6.18 rejects it).
    pub explicit_cas: Option<u64>,
    /// `M`: raw mode byte (already resolved into [`MetaCmd`]).
    pub mode: Option<u8>,
    /// `D`: delta for `ma` (default 1 when absent).
    pub delta: Option<u64>,
    /// `J`: initial value for `ma` auto-vivify (default 0 when absent).
    pub initial: Option<u64>,
    order: [u8; MAX_META_TOKENS],
    order_len: u8,
}

impl<'a> MetaFlags<'a> {
    /// The flag characters in the order the client sent them.
    pub fn order(&self) -> &[u8] {
        &self.order[..usize::from(self.order_len)]
    }
}

/// A parsed `mg`, `ms`, `md` or `ma` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaRequest<'a> {
    pub cmd: MetaCmd,
    /// The key; decoded (owned) when the `b` flag was given, borrowed otherwise.
    pub key: Cow<'a, [u8]>,
    pub flags: MetaFlags<'a>,
    /// The data block of `ms` (without its `\r\n`); empty for the other commands.
    pub data: &'a [u8],
}

/// The status codes of meta replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaStatus {
    /// `HD`: success, no value.
    Hd,
    /// `VA <len>`: success with a value.
    Va,
    /// `EN`: miss (`mg`).
    En,
    /// `NF`: not found (`md`, `ma`, `ms` in append/prepend/replace modes).
    Nf,
    /// `NS`: not stored.
    Ns,
    /// `EX`: CAS mismatch.
    Ex,
}

impl MetaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MetaStatus::Hd => "HD",
            MetaStatus::Va => "VA",
            MetaStatus::En => "EN",
            MetaStatus::Nf => "NF",
            MetaStatus::Ns => "NS",
            MetaStatus::Ex => "EX",
        }
    }
}

impl MetaRequest<'_> {
    /// Whether quiet mode (`q`) hides a reply with this status, as memcached 1.6.18 does:
    /// `mg` hides only `EN` (hits are always sent); `ms` and `md` hide only `HD`; `ma`
    /// hides its success, `HD` or `VA`, except when it has just auto-vivified the item
    /// (`N` on a miss), which memcached always answers. `NS`/`NF`/`EX` and errors are never
    /// hidden. The connection must still flush on `mn`.
    pub fn quiet_suppresses(&self, status: MetaStatus) -> bool {
        if !self.flags.quiet {
            return false;
        }
        match self.cmd {
            MetaCmd::Get => status == MetaStatus::En,
            MetaCmd::Set { .. } | MetaCmd::Delete => status == MetaStatus::Hd,
            MetaCmd::Arith { .. } => matches!(status, MetaStatus::Hd | MetaStatus::Va),
        }
    }
}

/// Outcome of validating a meta line (the data block of `ms` is handled by the caller).
pub(crate) enum MetaLine<'a> {
    /// A complete request (everything but `ms`).
    Ready(crate::text::Request<'a>),
    /// An `ms` whose line is valid; `vlen` data bytes plus `\r\n` follow.
    NeedData { req: MetaRequest<'a>, vlen: usize },
    /// An error reply. `swallow_vlen` is `Some(n)` when memcached swallows an `n`-byte data
    /// block (plus `\r\n`) after the error; `unlink` names a key memcached deletes.
    Error {
        reply: &'static str,
        swallow_vlen: Option<usize>,
        unlink: Option<Cow<'a, [u8]>>,
    },
    /// Not a meta command memcached knows: `ERROR`.
    Unknown,
}

fn error<'a>(reply: &'static str) -> MetaLine<'a> {
    MetaLine::Error {
        reply,
        swallow_vlen: None,
        unlink: None,
    }
}

/// The shared flag scanner (`_meta_flag_preparse`). Returns the flags and the (possibly
/// decoded) key, or the error text.
fn preparse<'a>(
    key: &'a [u8],
    tokens: &[&'a [u8]],
    limits: &Limits,
) -> Result<(MetaFlags<'a>, Cow<'a, [u8]>), &'static str> {
    let mut f = MetaFlags::default();
    let mut key: Cow<'a, [u8]> = Cow::Borrowed(key);
    let mut seen = [false; 127];
    let mut err: Option<&'static str> = None;
    let mut last_msg = BAD_FORMAT;
    for tok in tokens {
        let o = tok[0];
        if o >= 127 || seen[usize::from(o)] {
            return Err("CLIENT_ERROR duplicate flag");
        }
        seen[usize::from(o)] = true;
        let arg = &tok[1..];
        let mut fail = |msg: Option<&'static str>| {
            if let Some(m) = msg {
                last_msg = m;
            }
            err = Some(last_msg);
        };
        match o {
            b'b' => match crate::b64::decode(&key) {
                Some(decoded) => {
                    key = Cow::Owned(decoded);
                    f.base64_key = true;
                }
                None => fail(Some("CLIENT_ERROR error decoding key")),
            },
            b'N' => match parse_i32(arg) {
                Some(v) => f.vivify_ttl = Some(i64::from(v)),
                None => fail(Some(BAD_TOKEN)),
            },
            b'T' => match parse_i32(arg) {
                Some(v) => f.ttl = Some(i64::from(v)),
                None => fail(Some(BAD_TOKEN)),
            },
            b'R' => match parse_i32(arg) {
                Some(v) => f.recache_ttl = Some(i64::from(v)),
                None => fail(Some(BAD_TOKEN)),
            },
            b'l' => f.return_last_access = true,
            b'O' => f.opaque = Some(arg),
            // Proxy routing hints: accepted and ignored by memcached itself.
            b'P' | b'L' => {}
            b'k' => f.return_key = true,
            b's' => f.return_size = true,
            b't' => f.return_ttl = true,
            b'c' => f.return_cas = true,
            b'f' => f.return_flags = true,
            b'v' => f.return_value = true,
            b'h' => f.return_hit = true,
            b'u' => f.no_lru_bump = true,
            b'q' => f.quiet = true,
            // A bad F token keeps whichever message was current (memcached sets no errstr).
            b'F' => match parse_u32(arg) {
                Some(v) => f.client_flags = Some(v),
                None => fail(None),
            },
            b'C' => match parse_u64(arg) {
                Some(v) => f.compare_cas = Some(v),
                None => fail(Some(BAD_TOKEN)),
            },
            b'E' if limits.meta_explicit_cas => match parse_u64(arg) {
                Some(v) => f.explicit_cas = Some(v),
                None => fail(Some(BAD_TOKEN)),
            },
            b'M' => {
                if tok.len() != 2 {
                    fail(Some("CLIENT_ERROR incorrect length for M token"));
                } else {
                    f.mode = Some(tok[1]);
                }
            }
            b'J' => match parse_u64(arg) {
                Some(v) => f.initial = Some(v),
                None => fail(Some("CLIENT_ERROR invalid numeric initial value")),
            },
            b'D' => match parse_u64(arg) {
                Some(v) => f.delta = Some(v),
                None => fail(Some("CLIENT_ERROR invalid numeric delta value")),
            },
            b'I' => f.invalidate = true,
            _ => return Err("CLIENT_ERROR invalid flag"),
        }
        f.order[usize::from(f.order_len)] = o;
        f.order_len += 1;
    }
    match err {
        Some(msg) => Err(msg),
        None => Ok((f, key)),
    }
}

fn opaque_too_long(f: &MetaFlags<'_>) -> bool {
    f.opaque.is_some_and(|o| o.len() + 1 > MAX_OPAQUE_TOKEN)
}

/// Validates a meta line. `tokens` are memcached's tokens (command first, at most 23).
pub(crate) fn parse_meta<'a>(tokens: &[&'a [u8]], limits: &Limits) -> MetaLine<'a> {
    let which = tokens[0][1];
    match which {
        b'n' => return MetaLine::Ready(crate::text::Request::MetaNoop),
        b'g' | b's' | b'd' | b'a' => {}
        b'e' => {
            if tokens.len() < 2 || tokens[1].len() > KEY_MAX_LENGTH {
                return error(BAD_FORMAT);
            }
            let mut key = Cow::Borrowed(tokens[1]);
            let mut binary = false;
            if tokens.len() >= 3 && tokens[2] == b"b" {
                match crate::b64::decode(tokens[1]) {
                    Some(k) => {
                        key = Cow::Owned(k);
                        binary = true;
                    }
                    None => return error(BAD_FORMAT),
                }
            }
            return MetaLine::Ready(crate::text::Request::MetaDebug {
                key,
                base64_key: binary,
            });
        }
        _ => return MetaLine::Unknown,
    }
    if tokens.len() < 2 {
        return MetaLine::Unknown;
    }
    let key = tokens[1];
    if key.len() > KEY_MAX_LENGTH {
        return error(BAD_FORMAT);
    }
    match which {
        b'g' => {
            if tokens.len() > MAX_META_TOKENS {
                return error("CLIENT_ERROR options flags are too long");
            }
            let (flags, key) = match preparse(key, &tokens[2..], limits) {
                Ok(v) => v,
                Err(msg) => return error(msg),
            };
            if opaque_too_long(&flags) {
                return error("CLIENT_ERROR opaque token too long");
            }
            MetaLine::Ready(crate::text::Request::Meta(MetaRequest {
                cmd: MetaCmd::Get,
                key,
                flags,
                data: &[],
            }))
        }
        b's' => {
            if tokens.len() == 2 {
                return error(BAD_FORMAT);
            }
            if tokens.len() > MAX_META_TOKENS {
                return error("CLIENT_ERROR options flags too long");
            }
            let vlen = match parse_i32(tokens[2]) {
                Some(v) if (0..=i32::MAX - 2).contains(&v) => v as usize,
                _ => return error(BAD_FORMAT),
            };
            let swallow = |reply, unlink| MetaLine::Error {
                reply,
                swallow_vlen: Some(vlen),
                unlink,
            };
            let (flags, key) = match preparse(key, &tokens[3..], limits) {
                Ok(v) => v,
                Err(msg) => return swallow(msg, None),
            };
            if opaque_too_long(&flags) {
                return swallow("CLIENT_ERROR opaque token too long", None);
            }
            let mut mode = match flags.mode {
                None | Some(b'S') => StoreCmd::Set,
                Some(b'E') => StoreCmd::Add,
                Some(b'A') => StoreCmd::Append,
                Some(b'P') => StoreCmd::Prepend,
                Some(b'R') => StoreCmd::Replace,
                Some(_) => return swallow("CLIENT_ERROR invalid mode for ms M token", None),
            };
            if flags.compare_cas.is_some() && matches!(mode, StoreCmd::Set | StoreCmd::Replace) {
                mode = StoreCmd::Cas;
            }
            if !limits.item_fits(key.len(), flags.client_flags.unwrap_or(0), vlen) {
                // memcached also unlinks the old item so stale data does not linger.
                return swallow("SERVER_ERROR object too large for cache", Some(key));
            }
            MetaLine::NeedData {
                req: MetaRequest {
                    cmd: MetaCmd::Set { mode },
                    key,
                    flags,
                    data: &[],
                },
                vlen,
            }
        }
        _ => {
            // md and ma.
            if tokens.len() > MAX_META_TOKENS {
                return error("CLIENT_ERROR options flags too long");
            }
            let (flags, key) = match preparse(key, &tokens[2..], limits) {
                Ok(v) => v,
                Err(_) => return error("CLIENT_ERROR invalid or duplicate flag"),
            };
            let cmd = if which == b'd' {
                MetaCmd::Delete
            } else {
                match flags.mode {
                    None | Some(b'I') | Some(b'+') => MetaCmd::Arith { incr: true },
                    Some(b'D') | Some(b'-') => MetaCmd::Arith { incr: false },
                    Some(_) => return error("CLIENT_ERROR invalid mode for ma M token"),
                }
            };
            if opaque_too_long(&flags) {
                return error("CLIENT_ERROR opaque token too long");
            }
            MetaLine::Ready(crate::text::Request::Meta(MetaRequest {
                cmd,
                key,
                flags,
                data: &[],
            }))
        }
    }
}
