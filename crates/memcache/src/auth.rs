//! memcached's ASCII authentication (`-Y authfile`): until a text connection
//! has authenticated, every request line must be a `set` whose data block
//! carries `user password`; its key, flags and expiry are ignored. Anything
//! else is refused, request by request, with `CLIENT_ERROR unauthenticated`.

/// What the buffer holds for an unauthenticated connection.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthParsed<'a> {
    /// More bytes are needed.
    Incomplete,
    /// A line longer than memcached allows before authentication: close.
    Close,
    /// Answer `reply` (without `\r\n`) and drop `consumed` bytes.
    Reply {
        consumed: usize,
        reply: &'static str,
    },
    /// Credentials to check; `consumed` bytes end the request.
    Credentials {
        consumed: usize,
        user: &'a [u8],
        password: &'a [u8],
    },
}

/// The longest request line memcached reads before authentication.
const MAX_LINE: usize = 1024;

fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ').filter(|t| !t.is_empty())
}

/// Parses the next request of an unauthenticated connection.
pub fn parse(buf: &[u8]) -> AuthParsed<'_> {
    let Some(eol) = memchr::memchr(b'\n', buf) else {
        return if buf.len() > MAX_LINE {
            AuthParsed::Close
        } else {
            AuthParsed::Incomplete
        };
    };
    let line = &buf[..eol];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let words: Vec<&[u8]> = tokens(line).take(6).collect();
    let size = match words.as_slice() {
        [b"set", _, _, _, size, ..] => std::str::from_utf8(size)
            .ok()
            .and_then(|s| s.parse::<u32>().ok()),
        _ => None,
    };
    let Some(size) = size else {
        return AuthParsed::Reply {
            consumed: eol + 1,
            reply: "CLIENT_ERROR unauthenticated",
        };
    };
    let start = eol + 1;
    let end = start + size as usize + 2;
    if buf.len() < end {
        return AuthParsed::Incomplete;
    }
    let block = &buf[start..end];
    let Some(data) = block.strip_suffix(b"\r\n") else {
        return AuthParsed::Reply {
            consumed: end,
            reply: "CLIENT_ERROR bad command line termination",
        };
    };
    let mut words = tokens(data);
    match (words.next(), words.next()) {
        (Some(user), Some(password)) => AuthParsed::Credentials {
            consumed: end,
            user,
            password,
        },
        _ => AuthParsed::Reply {
            consumed: end,
            reply: "CLIENT_ERROR bad authentication token format",
        },
    }
}

/// Reads an authfile: `user:password` per line (as memcached's `-Y`).
pub fn parse_authfile(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Replies checked against memcached 1.6.18 started with -Y.
    #[test]
    fn only_set_carries_credentials() {
        assert_eq!(
            parse(b"get a\r\nrest"),
            AuthParsed::Reply {
                consumed: 7,
                reply: "CLIENT_ERROR unauthenticated"
            }
        );
        assert_eq!(
            parse(b"add x 0 0 12\r\nalice secret\r\n"),
            AuthParsed::Reply {
                consumed: 14,
                reply: "CLIENT_ERROR unauthenticated"
            }
        );
        assert_eq!(
            parse(b"set x 0 0 12 noreply\r\nalice secret\r\nget a\r\n"),
            AuthParsed::Credentials {
                consumed: 36,
                user: b"alice",
                password: b"secret"
            }
        );
        assert_eq!(
            parse(b"set x 0 0 5\r\nalice\r\n"),
            AuthParsed::Reply {
                consumed: 20,
                reply: "CLIENT_ERROR bad authentication token format"
            }
        );
        assert_eq!(
            parse(b"set x 0 0 3\r\nabcde"),
            AuthParsed::Reply {
                consumed: 18,
                reply: "CLIENT_ERROR bad command line termination"
            }
        );
    }

    #[test]
    fn waits_for_the_whole_request() {
        assert_eq!(parse(b"set x 0 0 3000\r\n"), AuthParsed::Incomplete);
        assert_eq!(parse(b"set x 0"), AuthParsed::Incomplete);
        assert_eq!(parse(&[b'a'; 2000]), AuthParsed::Close);
    }

    #[test]
    fn authfile_lines() {
        assert_eq!(
            parse_authfile("alice:secret\r\nbob:pw:with:colons\n\nnocolon\n"),
            vec![
                ("alice".to_string(), "secret".to_string()),
                ("bob".to_string(), "pw:with:colons".to_string())
            ]
        );
    }
}
