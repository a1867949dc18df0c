//! The binary protocol (deprecated upstream but still spoken by many clients): 24-byte
//! headers, per-opcode validation, request parsing and response encoding.
//!
//! A request is `magic 0x80 | opcode | key length (u16) | extras length | data type |
//! vbucket (u16) | total body length (u32) | opaque (u32) | cas (u64)` followed by extras,
//! key and value, all big-endian. Responses use magic `0x81` and put a status in place of
//! the vbucket. [`parse`] applies memcached 1.6.18's checks in its order
//! (`try_read_command_binary` then `dispatch_bin_command`):
//! - wrong magic: close the connection without a reply;
//! - key + extras longer than the body: `Unknown command` (status 0x81), then close;
//! - key longer than 250, or extras/key/body sizes wrong for the opcode: `Invalid
//!   arguments` (0x04), then close;
//! - unknown opcode: `Unknown command`, and memcached skips `body length` more bytes after
//!   the extras and key it already read (its own over-skip, reproduced);
//! - a value over the item size limit: `Too large.` (0x03), the value is skipped, and for
//!   SET the old item is dropped.
//!
//! Quiet opcodes map onto their base command with [`BinRequest::quiet`] set: the engine
//! omits success replies (and misses for GETQ/GETKQ/GATQ/GATKQ) but still sends errors.
//! With SASL enabled the engine must refuse every opcode except [`Opcode::allowed_unauthenticated`]
//! ones with `Auth failure.` (0x20) and close.

use crate::text::StoreCmd;
use crate::Limits;

pub const REQUEST_MAGIC: u8 = 0x80;
pub const RESPONSE_MAGIC: u8 = 0x81;
pub const HEADER_LEN: usize = 24;
/// The longest key memcached accepts (the header allows 65535).
pub const KEY_MAX_LENGTH: usize = 250;

/// The opcodes of memcached 1.6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    Get = 0x00,
    Set = 0x01,
    Add = 0x02,
    Replace = 0x03,
    Delete = 0x04,
    Increment = 0x05,
    Decrement = 0x06,
    Quit = 0x07,
    Flush = 0x08,
    GetQ = 0x09,
    Noop = 0x0a,
    Version = 0x0b,
    GetK = 0x0c,
    GetKQ = 0x0d,
    Append = 0x0e,
    Prepend = 0x0f,
    Stat = 0x10,
    SetQ = 0x11,
    AddQ = 0x12,
    ReplaceQ = 0x13,
    DeleteQ = 0x14,
    IncrementQ = 0x15,
    DecrementQ = 0x16,
    QuitQ = 0x17,
    FlushQ = 0x18,
    AppendQ = 0x19,
    PrependQ = 0x1a,
    /// Defined by the protocol but not dispatched by memcached 1.6: `Unknown command`.
    Verbosity = 0x1b,
    Touch = 0x1c,
    Gat = 0x1d,
    GatQ = 0x1e,
    SaslListMechs = 0x20,
    SaslAuth = 0x21,
    SaslStep = 0x22,
    GatK = 0x23,
    GatKQ = 0x24,
}

impl Opcode {
    pub fn from_u8(b: u8) -> Option<Opcode> {
        use Opcode::*;
        Some(match b {
            0x00 => Get,
            0x01 => Set,
            0x02 => Add,
            0x03 => Replace,
            0x04 => Delete,
            0x05 => Increment,
            0x06 => Decrement,
            0x07 => Quit,
            0x08 => Flush,
            0x09 => GetQ,
            0x0a => Noop,
            0x0b => Version,
            0x0c => GetK,
            0x0d => GetKQ,
            0x0e => Append,
            0x0f => Prepend,
            0x10 => Stat,
            0x11 => SetQ,
            0x12 => AddQ,
            0x13 => ReplaceQ,
            0x14 => DeleteQ,
            0x15 => IncrementQ,
            0x16 => DecrementQ,
            0x17 => QuitQ,
            0x18 => FlushQ,
            0x19 => AppendQ,
            0x1a => PrependQ,
            0x1b => Verbosity,
            0x1c => Touch,
            0x1d => Gat,
            0x1e => GatQ,
            0x20 => SaslListMechs,
            0x21 => SaslAuth,
            0x22 => SaslStep,
            0x23 => GatK,
            0x24 => GatKQ,
            _ => return None,
        })
    }

    /// The non-quiet opcode and whether this one is quiet.
    pub fn base(self) -> (Opcode, bool) {
        use Opcode::*;
        match self {
            SetQ => (Set, true),
            AddQ => (Add, true),
            ReplaceQ => (Replace, true),
            DeleteQ => (Delete, true),
            IncrementQ => (Increment, true),
            DecrementQ => (Decrement, true),
            QuitQ => (Quit, true),
            FlushQ => (Flush, true),
            AppendQ => (Append, true),
            PrependQ => (Prepend, true),
            GetQ => (Get, true),
            GetKQ => (GetK, true),
            GatQ => (Gat, true),
            GatKQ => (GatK, true),
            other => (other, false),
        }
    }

    /// Opcodes memcached serves before SASL authentication.
    pub fn allowed_unauthenticated(self) -> bool {
        matches!(
            self,
            Opcode::SaslListMechs | Opcode::SaslAuth | Opcode::SaslStep | Opcode::Version
        )
    }
}

/// Response status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Status {
    NoError = 0x00,
    KeyNotFound = 0x01,
    KeyExists = 0x02,
    TooLarge = 0x03,
    InvalidArguments = 0x04,
    NotStored = 0x05,
    DeltaBadValue = 0x06,
    NotMyVbucket = 0x07,
    AuthError = 0x20,
    AuthContinue = 0x21,
    UnknownCommand = 0x81,
    OutOfMemory = 0x82,
    NotSupported = 0x83,
    InternalError = 0x84,
    Busy = 0x85,
    TemporaryFailure = 0x86,
}

impl Status {
    /// The body memcached sends with an error status (`write_bin_error`).
    pub fn default_message(self) -> &'static str {
        match self {
            Status::OutOfMemory => "Out of memory",
            Status::UnknownCommand => "Unknown command",
            Status::KeyNotFound => "Not found",
            Status::InvalidArguments => "Invalid arguments",
            Status::KeyExists => "Data exists for key.",
            Status::TooLarge => "Too large.",
            Status::DeltaBadValue => "Non-numeric server-side value for incr or decr",
            Status::NotStored => "Not stored.",
            Status::AuthError => "Auth failure.",
            _ => "",
        }
    }
}

/// A request or response header, fields in host order. `vbucket_or_status` is the vbucket
/// in requests and the status in responses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub magic: u8,
    pub opcode: u8,
    pub key_len: u16,
    pub extras_len: u8,
    pub data_type: u8,
    pub vbucket_or_status: u16,
    pub body_len: u32,
    pub opaque: u32,
    pub cas: u64,
}

impl Header {
    /// Decodes the first 24 bytes of `buf`; `None` when it is shorter.
    pub fn decode(buf: &[u8]) -> Option<Header> {
        let h: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Header {
            magic: h[0],
            opcode: h[1],
            key_len: u16::from_be_bytes([h[2], h[3]]),
            extras_len: h[4],
            data_type: h[5],
            vbucket_or_status: u16::from_be_bytes([h[6], h[7]]),
            body_len: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            opaque: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
            cas: u64::from_be_bytes([h[16], h[17], h[18], h[19], h[20], h[21], h[22], h[23]]),
        })
    }

    /// Appends the 24 encoded bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.magic);
        out.push(self.opcode);
        out.extend_from_slice(&self.key_len.to_be_bytes());
        out.push(self.extras_len);
        out.push(self.data_type);
        out.extend_from_slice(&self.vbucket_or_status.to_be_bytes());
        out.extend_from_slice(&self.body_len.to_be_bytes());
        out.extend_from_slice(&self.opaque.to_be_bytes());
        out.extend_from_slice(&self.cas.to_be_bytes());
    }
}

/// A validated binary command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BinCommand<'a> {
    /// GET/GETQ (`return_key` false) and GETK/GETKQ.
    Get {
        key: &'a [u8],
        return_key: bool,
    },
    /// TOUCH: new expiration, no value returned.
    Touch {
        key: &'a [u8],
        exptime: i64,
    },
    /// GAT/GATQ/GATK/GATKQ.
    GetAndTouch {
        key: &'a [u8],
        exptime: i64,
        return_key: bool,
    },
    /// SET/ADD/REPLACE (with `cmd` [`StoreCmd::Cas`] when the header CAS is non-zero, as
    /// memcached does) and APPEND/PREPEND (flags and exptime 0; `cas` still checked).
    Store {
        cmd: StoreCmd,
        key: &'a [u8],
        flags: u32,
        exptime: i64,
        cas: u64,
        value: &'a [u8],
    },
    /// DELETE; a non-zero `cas` must match.
    Delete {
        key: &'a [u8],
        cas: u64,
    },
    /// INCREMENT/DECREMENT. On a miss the item is created with `initial` unless
    /// `exptime == 0xffff_ffff`, in which case the reply is `Not found`.
    Arith {
        incr: bool,
        key: &'a [u8],
        delta: u64,
        initial: u64,
        exptime: u32,
        cas: u64,
    },
    Quit,
    /// FLUSH with an optional delay (0 = now).
    Flush {
        delay: i64,
    },
    Noop,
    Version,
    /// STAT with an optional group name (empty = general stats).
    Stat {
        group: &'a [u8],
    },
    SaslListMechs,
    SaslAuth {
        mechanism: &'a [u8],
        data: &'a [u8],
    },
    SaslStep {
        mechanism: &'a [u8],
        data: &'a [u8],
    },
}

/// A parsed binary request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinRequest<'a> {
    pub header: Header,
    /// The opcode as received (quiet variants included); echo it in the response.
    pub opcode: Opcode,
    /// A quiet variant: omit success replies (and misses of get-type commands).
    pub quiet: bool,
    pub cmd: BinCommand<'a>,
}

/// A request rejected by the parser, with memcached's reaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinError<'a> {
    /// The error response to send (encode with [`write_error`]); `None`: send nothing.
    pub status: Option<Status>,
    /// The opcode byte and opaque to echo.
    pub opcode: u8,
    pub opaque: u32,
    /// Bytes of the buffer to drop now (never more than the buffer holds).
    pub consumed: usize,
    /// Further bytes to drop as they arrive.
    pub swallow: usize,
    /// Close the connection after the response.
    pub close: bool,
    /// Key whose old item memcached drops (a SET rejected as too large).
    pub unlink: Option<&'a [u8]>,
}

/// Result of one [`parse`] call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BinParsed<'a> {
    /// `need`: the total buffer length required for progress.
    Incomplete {
        need: usize,
    },
    Request {
        req: BinRequest<'a>,
        consumed: usize,
    },
    Error(BinError<'a>),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Parses the binary request at the start of `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> BinParsed<'a> {
    let Some(h) = Header::decode(buf) else {
        return BinParsed::Incomplete { need: HEADER_LEN };
    };
    let error = |status, consumed: usize, swallow: usize, close, unlink| {
        BinParsed::Error(BinError {
            status,
            opcode: h.opcode,
            opaque: h.opaque,
            consumed,
            swallow,
            close,
            unlink,
        })
    };
    if h.magic != REQUEST_MAGIC {
        return error(None, buf.len(), 0, true, None);
    }
    let extlen = usize::from(h.extras_len);
    let keylen = usize::from(h.key_len);
    let bodylen = h.body_len as usize;
    let head = HEADER_LEN + extlen + keylen;
    if buf.len() < head {
        return BinParsed::Incomplete { need: head };
    }
    if keylen > bodylen || keylen + extlen > bodylen {
        return error(Some(Status::UnknownCommand), head, 0, true, None);
    }
    let invalid = || error(Some(Status::InvalidArguments), head, 0, true, None);
    if keylen > KEY_MAX_LENGTH {
        return invalid();
    }
    let extras = &buf[HEADER_LEN..HEADER_LEN + extlen];
    let key = &buf[HEADER_LEN + extlen..head];
    let Some(opcode) = Opcode::from_u8(h.opcode).filter(|o| *o != Opcode::Verbosity) else {
        // memcached swallows `bodylen` bytes after what it already read.
        let now = bodylen.min(buf.len() - head);
        return error(
            Some(Status::UnknownCommand),
            head + now,
            bodylen - now,
            false,
            None,
        );
    };
    let (base, quiet) = opcode.base();
    let done = |cmd, consumed| BinParsed::Request {
        req: BinRequest {
            header: h,
            opcode,
            quiet,
            cmd,
        },
        consumed,
    };
    let no_body = extlen == 0 && keylen == 0 && bodylen == 0;
    let vlen = bodylen - keylen - extlen;
    // The value of a command is complete only once the whole body is there.
    let with_value = |cmd: &dyn Fn(&'a [u8]) -> BinCommand<'a>| {
        let total = HEADER_LEN + bodylen;
        if buf.len() < total {
            BinParsed::Incomplete { need: total }
        } else {
            done(cmd(&buf[head..total]), total)
        }
    };
    use Opcode::*;
    match base {
        Version if no_body => done(BinCommand::Version, head),
        Noop if no_body => done(BinCommand::Noop, head),
        Quit if no_body => done(BinCommand::Quit, head),
        SaslListMechs if no_body => done(BinCommand::SaslListMechs, head),
        Flush if keylen == 0 && bodylen == extlen && (extlen == 0 || extlen == 4) => {
            let delay = if extlen == 4 {
                i64::from(be32(extras))
            } else {
                0
            };
            done(BinCommand::Flush { delay }, head)
        }
        Set | Add | Replace if extlen == 8 && keylen != 0 && bodylen >= keylen + 8 => {
            let flags = be32(&extras[..4]);
            let exptime = i64::from(be32(&extras[4..]));
            if !limits.item_fits(keylen, flags, vlen) {
                let now = vlen.min(buf.len() - head);
                let unlink = (base == Set).then_some(key);
                return error(
                    Some(Status::TooLarge),
                    head + now,
                    vlen - now,
                    false,
                    unlink,
                );
            }
            let cmd = match (base, h.cas) {
                (_, c) if c != 0 => StoreCmd::Cas,
                (Set, _) => StoreCmd::Set,
                (Add, _) => StoreCmd::Add,
                _ => StoreCmd::Replace,
            };
            with_value(&|value| BinCommand::Store {
                cmd,
                key,
                flags,
                exptime,
                cas: h.cas,
                value,
            })
        }
        Append | Prepend if keylen > 0 && extlen == 0 => {
            if !limits.item_fits(keylen, 0, vlen) {
                let now = vlen.min(buf.len() - head);
                return error(Some(Status::TooLarge), head + now, vlen - now, false, None);
            }
            let cmd = if base == Append {
                StoreCmd::Append
            } else {
                StoreCmd::Prepend
            };
            with_value(&|value| BinCommand::Store {
                cmd,
                key,
                flags: 0,
                exptime: 0,
                cas: h.cas,
                value,
            })
        }
        Get | GetK if extlen == 0 && bodylen == keylen && keylen > 0 => done(
            BinCommand::Get {
                key,
                return_key: base == GetK,
            },
            head,
        ),
        Delete if keylen > 0 && extlen == 0 && bodylen == keylen => {
            done(BinCommand::Delete { key, cas: h.cas }, head)
        }
        Increment | Decrement if keylen > 0 && extlen == 20 && bodylen == keylen + extlen => done(
            BinCommand::Arith {
                incr: base == Increment,
                key,
                delta: be64(&extras[..8]),
                initial: be64(&extras[8..16]),
                exptime: be32(&extras[16..]),
                cas: h.cas,
            },
            head,
        ),
        // memcached reads only the key of a STAT; extra body bytes are parsed as the next
        // command, and we do the same.
        Stat if extlen == 0 => done(BinCommand::Stat { group: key }, head),
        SaslAuth | SaslStep if extlen == 0 && keylen != 0 => {
            let step = base == SaslStep;
            with_value(&|data| {
                if step {
                    BinCommand::SaslStep {
                        mechanism: key,
                        data,
                    }
                } else {
                    BinCommand::SaslAuth {
                        mechanism: key,
                        data,
                    }
                }
            })
        }
        Touch | Gat | GatK if extlen == 4 && keylen != 0 => {
            let exptime = i64::from(be32(extras));
            // memcached reads extras and key only; a longer body is parsed as the next
            // command (the shape check does not compare the body length).
            let cmd = if base == Touch {
                BinCommand::Touch { key, exptime }
            } else {
                BinCommand::GetAndTouch {
                    key,
                    exptime,
                    return_key: base == GatK,
                }
            };
            done(cmd, head)
        }
        _ => invalid(),
    }
}

/// Appends a response: header (magic 0x81, the request's opcode and opaque, `cas`), then
/// extras, key and value.
#[allow(clippy::too_many_arguments)]
pub fn write_response(
    out: &mut Vec<u8>,
    opcode: u8,
    status: Status,
    opaque: u32,
    cas: u64,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
) {
    Header {
        magic: RESPONSE_MAGIC,
        opcode,
        key_len: key.len() as u16,
        extras_len: extras.len() as u8,
        data_type: 0,
        vbucket_or_status: status as u16,
        body_len: (extras.len() + key.len() + value.len()) as u32,
        opaque,
        cas,
    }
    .encode(out);
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

/// Appends an error response with memcached's default message as the body.
pub fn write_error(out: &mut Vec<u8>, opcode: u8, opaque: u32, status: Status) {
    write_response(
        out,
        opcode,
        status,
        opaque,
        0,
        &[],
        &[],
        status.default_message().as_bytes(),
    );
}

/// Appends a GET-family hit: extras are the 4-byte client flags; `key` is empty unless the
/// request was GETK/GETKQ/GATK/GATKQ.
pub fn write_get_hit(
    out: &mut Vec<u8>,
    opcode: u8,
    opaque: u32,
    cas: u64,
    flags: u32,
    key: &[u8],
    value: &[u8],
) {
    write_response(
        out,
        opcode,
        Status::NoError,
        opaque,
        cas,
        &flags.to_be_bytes(),
        key,
        value,
    );
}

/// Appends an INCREMENT/DECREMENT success: the new value as an 8-byte body.
pub fn write_counter(out: &mut Vec<u8>, opcode: u8, opaque: u32, cas: u64, value: u64) {
    write_response(
        out,
        opcode,
        Status::NoError,
        opaque,
        cas,
        &[],
        &[],
        &value.to_be_bytes(),
    );
}

#[cfg(test)]
#[path = "binary_tests.rs"]
mod tests;
