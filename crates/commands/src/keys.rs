//! Key extraction from key specs, following Redis 7's `getKeysUsingKeySpecs`.

use std::fmt;

use crate::spec::{key_flag, BeginSearch, CommandSpec, FindKeys, KeySpec};

/// Why keys could not be extracted from a command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysError {
    /// A `keynum` argument is not an integer or is negative. Redis replies
    /// to `COMMAND GETKEYS` with [`KeysError::message`] in that case.
    InvalidArguments,
}

impl KeysError {
    /// The error reply Redis sends for `COMMAND GETKEYS` in this case.
    pub fn message(self) -> &'static str {
        match self {
            KeysError::InvalidArguments => "ERR Invalid arguments specified for command",
        }
    }
}

impl fmt::Display for KeysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for KeysError {}

/// The keys of one command line: `(argument index, key_flag bits)` for every
/// key, in key-spec order.
///
/// `args` is the whole command line, the command name at index 0 (for a
/// subcommand, its name is at index 1). As in Redis, key specs flagged
/// `not_key` are skipped, a spec that finds nothing or points outside the
/// arguments yields no keys (the others still do), and an `incomplete` spec
/// yields what it can find. A `keynum` count that is not a non-negative
/// integer is an error ([`KeysError::InvalidArguments`]).
pub fn key_positions(spec: &CommandSpec, args: &[&[u8]]) -> Result<Vec<(usize, u32)>, KeysError> {
    let mut out = Vec::new();
    for ks in spec.key_specs {
        if ks.flags & key_flag::NOT_KEY != 0 {
            continue;
        }
        spec_keys(ks, args, &mut out)?;
    }
    if spec.name == "set" && !args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get")) {
        // Variable flags too (Redis's setGetKeys): without GET, SET only
        // overwrites its key.
        for k in &mut out {
            k.1 = key_flag::OW | key_flag::UPDATE;
        }
    }
    if spec.name == "bitfield" {
        // Its key spec's flags are variable: Redis's bitfieldGetKeys calls
        // the key read-only when every subcommand is a GET.
        for k in &mut out {
            k.1 = if bitfield_read_only(args) {
                key_flag::RO | key_flag::ACCESS
            } else {
                key_flag::RW | key_flag::ACCESS | key_flag::UPDATE
            };
        }
    }
    Ok(out)
}

/// Whether a BITFIELD line only reads (GET and OVERFLOW subcommands; a
/// malformed one counts as writing, to be safe).
fn bitfield_read_only(args: &[&[u8]]) -> bool {
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i - 1;
        let arg = args[i];
        if arg.eq_ignore_ascii_case(b"get") && more >= 2 {
            i += 3;
        } else if arg.eq_ignore_ascii_case(b"overflow") && more >= 1 {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

/// The keys one key spec finds, appended to `out`.
fn spec_keys(ks: &KeySpec, args: &[&[u8]], out: &mut Vec<(usize, u32)>) -> Result<(), KeysError> {
    let argc = args.len() as i64;

    let mut first: i64 = match ks.begin_search {
        BeginSearch::Index(pos) => i64::from(pos),
        BeginSearch::Keyword { keyword, startfrom } => match find_keyword(args, keyword, startfrom)
        {
            Some(i) => i as i64 + 1,
            None => return Ok(()),
        },
        BeginSearch::Unknown => return Ok(()),
    };

    let (last, step) = match ks.find_keys {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            let (lastkey, limit) = (i64::from(lastkey), i64::from(limit));
            let last = if lastkey >= 0 {
                first + lastkey
            } else if limit <= 0 {
                argc + lastkey
            } else {
                // "1/limit of the remaining arguments" (Redis requires lastkey == -1 here).
                first + ((argc - first) / limit + lastkey)
            };
            (last, i64::from(keystep))
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            let keynumidx = i64::from(keynumidx);
            if keynumidx < 0 || keynumidx >= argc - first {
                return Ok(());
            }
            let raw = args[(first + keynumidx) as usize];
            let numkeys = parse_i64(raw)
                .filter(|n| *n >= 0)
                .ok_or(KeysError::InvalidArguments)?;
            first += i64::from(firstkey);
            (first.saturating_add(numkeys) - 1, i64::from(keystep))
        }
        FindKeys::Unknown => return Ok(()),
    };

    // First or last out of bounds: a syntax error the command reports itself.
    if first < 1 || last >= argc || last < first || first >= argc || step < 1 {
        return Ok(());
    }
    let mut i = first;
    while i <= last {
        out.push((i as usize, ks.flags));
        i += step;
    }
    Ok(())
}

/// Redis's keyword search: forwards from `startfrom` (not looking at the
/// last argument), or backwards from `argc + startfrom` down to index 1.
fn find_keyword(args: &[&[u8]], keyword: &str, startfrom: i32) -> Option<usize> {
    let argc = args.len() as i64;
    let startfrom = i64::from(startfrom);
    let (start, end) = if startfrom > 0 {
        (startfrom, argc - 1)
    } else {
        (argc + startfrom, 0)
    };
    let forward = start <= end;
    let mut i = start;
    while i != end {
        if i >= argc || i < 1 {
            break;
        }
        if args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
            return Some(i as usize);
        }
        i += if forward { 1 } else { -1 };
    }
    None
}

/// Strict integer parsing as Redis's `string2ll` does it: optional `-`, no
/// `+`, no leading zeros, no spaces, within `i64`.
fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    if neg && digits == b"0" {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}
