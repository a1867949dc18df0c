//! Reply encoders for the text and meta protocols. Everything appends to a `Vec<u8>` so a
//! connection can batch the replies of a pipeline into one write.
//!
//! Text replies: [`value`] + [`end`] for retrievals, [`line()`] with the status constants,
//! [`number`] for `incr`/`decr`, [`stat`] for `stats`, [`config_cluster`] for ElastiCache
//! auto-discovery. Meta replies: [`meta`], which echoes the returned flags in the order
//! memcached 1.6.18 emits them (request order, restricted to the flags each command and
//! outcome returns).

use crate::meta::{MetaCmd, MetaRequest, MetaStatus};

pub const STORED: &str = "STORED";
pub const NOT_STORED: &str = "NOT_STORED";
pub const EXISTS: &str = "EXISTS";
pub const NOT_FOUND: &str = "NOT_FOUND";
pub const DELETED: &str = "DELETED";
pub const TOUCHED: &str = "TOUCHED";
pub const OK: &str = "OK";
pub const END: &str = "END";
pub const ERROR: &str = "ERROR";
pub const RESET: &str = "RESET";
pub const MN: &str = "MN";
pub const NON_NUMERIC: &str = "CLIENT_ERROR cannot increment or decrement non-numeric value";
pub const SHUTDOWN_DISABLED: &str = "ERROR: shutdown not enabled";
pub const INVALID_SHUTDOWN_MODE: &str = "CLIENT_ERROR invalid shutdown mode";
pub const OUT_OF_MEMORY: &str = "SERVER_ERROR out of memory storing object";

/// Appends `text` and `\r\n`.
pub fn line(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends a decimal number line (the `incr`/`decr` reply).
pub fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n`.
pub fn value(out: &mut Vec<u8>, key: &[u8], flags: u32, data: &[u8], cas: Option<u64>) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b"VALUE ");
    out.extend_from_slice(key);
    out.push(b' ');
    out.extend_from_slice(b.format(flags).as_bytes());
    out.push(b' ');
    out.extend_from_slice(b.format(data.len()).as_bytes());
    if let Some(cas) = cas {
        out.push(b' ');
        out.extend_from_slice(b.format(cas).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends `END\r\n`.
pub fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"END\r\n");
}

/// Appends `VERSION <version>\r\n`.
pub fn version(out: &mut Vec<u8>, version: &str) {
    out.extend_from_slice(b"VERSION ");
    line(out, version);
}

/// Appends `STAT <name> <value>\r\n` (finish a stats reply with [`end`]).
pub fn stat(out: &mut Vec<u8>, name: &str, value: impl std::fmt::Display) {
    use std::io::Write as _;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "STAT {name} {value}\r\n");
}

/// One node of an ElastiCache cluster configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNode<'a> {
    pub host: &'a str,
    pub ip: &'a str,
    pub port: u16,
}

/// Appends the ElastiCache auto-discovery answer to `config get cluster`:
/// `CONFIG cluster 0 <len>\r\n<version>\n<host>|<ip>|<port> ...\n\r\nEND\r\n`, where `<len>`
/// counts the payload between the header line and the final `\r\n`.
pub fn config_cluster(out: &mut Vec<u8>, version: u64, nodes: &[ClusterNode<'_>]) {
    let mut payload = Vec::new();
    payload.extend_from_slice(itoa::Buffer::new().format(version).as_bytes());
    payload.push(b'\n');
    for (i, n) in nodes.iter().enumerate() {
        if i > 0 {
            payload.push(b' ');
        }
        payload.extend_from_slice(n.host.as_bytes());
        payload.push(b'|');
        payload.extend_from_slice(n.ip.as_bytes());
        payload.push(b'|');
        payload.extend_from_slice(itoa::Buffer::new().format(n.port).as_bytes());
    }
    payload.push(b'\n');
    out.extend_from_slice(b"CONFIG cluster 0 ");
    out.extend_from_slice(itoa::Buffer::new().format(payload.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&payload);
    out.extend_from_slice(b"\r\nEND\r\n");
}

/// Appends the `me` (meta debug) answer for a hit:
/// `ME <key> exp=<ttl|-1> la=<secs> cas=<cas> fetch=<yes|no> cls=<slab class> size=<bytes>`,
/// the key re-encoded in base64 when it is binary. A miss is `line(out, "EN")`.
#[allow(clippy::too_many_arguments)]
pub fn meta_debug(
    out: &mut Vec<u8>,
    key: &[u8],
    base64_key: bool,
    exp: i64,
    last_access: u64,
    cas: u64,
    fetched: bool,
    class: u32,
    size: usize,
) {
    use std::io::Write as _;
    out.extend_from_slice(b"ME ");
    if base64_key {
        crate::b64::encode_into(key, out);
    } else {
        out.extend_from_slice(key);
    }
    let fetch = if fetched { "yes" } else { "no" };
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        " exp={exp} la={last_access} cas={cas} fetch={fetch} cls={class} size={size}\r\n"
    );
}

/// What the engine knows about the item a meta command touched, for returned flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ItemMeta {
    /// `c`: the CAS unique (after the operation).
    pub cas: u64,
    /// `f`: client flags.
    pub client_flags: u32,
    /// `s`: value size in bytes.
    pub size: usize,
    /// `t`: seconds to live, `-1` when the item never expires.
    pub ttl: i64,
    /// `l`: seconds since the previous access.
    pub last_access: u64,
    /// `h`: whether the item had been fetched before this request.
    pub fetched: bool,
    /// Whether the stored key is binary (it was set with `b`). `mg` hits echo `k` in the
    /// item's form, not the request's: memcached answers `mg azA= b k` with `kk0` when `k0`
    /// was stored as text.
    pub binary_key: bool,
}

/// The lease flags memcached appends to `mg` hits, after the requested flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetaLease {
    /// `W`: this client won the right to recache.
    pub won: bool,
    /// `X`: the item is stale (invalidated by `md I`).
    pub stale: bool,
    /// `Z`: a win token was already handed out.
    pub token_sent: bool,
}

/// Appends a meta reply: the status (`VA <len>` when `value` is given), the returned
/// flags, the lease flags (for `mg` hits) and the value block.
///
/// Which requested flags appear, in request order:
/// - `mg` hit: `s t c f l h O k`, then `Z X W`; `mg` miss (`EN`): `O k`;
/// - `ms`: `O k c`; `md`: `O k`;
/// - `ma` with an item: `c t O k`; without one: `O k`.
///
/// `item` is the item after the operation, `None` on a miss. Check
/// [`MetaRequest::quiet_suppresses`] before calling.
pub fn meta(
    out: &mut Vec<u8>,
    req: &MetaRequest<'_>,
    status: MetaStatus,
    item: Option<&ItemMeta>,
    value: Option<&[u8]>,
    lease: MetaLease,
) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(status.as_str().as_bytes());
    if let Some(v) = value {
        out.push(b' ');
        out.extend_from_slice(b.format(v.len()).as_bytes());
    }
    let returned: &[u8] = match (req.cmd, item) {
        (MetaCmd::Get, Some(_)) => b"stcflhOk",
        (MetaCmd::Set { .. }, Some(_)) => b"Okc",
        (MetaCmd::Arith { .. }, Some(_)) => b"ctOk",
        _ => b"Ok",
    };
    let f = &req.flags;
    let default_item = ItemMeta::default();
    let it = item.unwrap_or(&default_item);
    for &flag in f.order() {
        if !returned.contains(&flag) {
            continue;
        }
        out.push(b' ');
        match flag {
            b's' => {
                out.push(b's');
                out.extend_from_slice(b.format(it.size).as_bytes());
            }
            b't' => {
                out.push(b't');
                out.extend_from_slice(b.format(it.ttl).as_bytes());
            }
            b'c' => {
                out.push(b'c');
                out.extend_from_slice(b.format(it.cas).as_bytes());
            }
            b'f' => {
                out.push(b'f');
                out.extend_from_slice(b.format(it.client_flags).as_bytes());
            }
            b'l' => {
                out.push(b'l');
                out.extend_from_slice(b.format(it.last_access).as_bytes());
            }
            b'h' => out.extend_from_slice(if it.fetched { b"h1" } else { b"h0" }),
            b'O' => {
                out.push(b'O');
                out.extend_from_slice(f.opaque.unwrap_or_default());
            }
            b'k' => {
                out.push(b'k');
                let binary = match (req.cmd, item) {
                    (MetaCmd::Get, Some(it)) => it.binary_key,
                    _ => f.base64_key,
                };
                if binary {
                    crate::b64::encode_into(&req.key, out);
                    out.extend_from_slice(b" b");
                } else {
                    out.extend_from_slice(&req.key);
                }
            }
            _ => {}
        }
    }
    if req.cmd == MetaCmd::Get && item.is_some() {
        if lease.token_sent {
            out.extend_from_slice(b" Z");
        }
        if lease.stale {
            out.extend_from_slice(b" X");
        }
        if lease.won {
            out.extend_from_slice(b" W");
        }
    }
    out.extend_from_slice(b"\r\n");
    if let Some(v) = value {
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{parse, Parsed, Request};
    use crate::Limits;

    fn meta_req(line: &[u8]) -> MetaRequest<'_> {
        match parse(line, &Limits::default()) {
            Parsed::Request {
                req: Request::Meta(m),
                ..
            } => m,
            other => panic!("{other:?}"),
        }
    }

    fn render(
        line: &[u8],
        status: MetaStatus,
        item: Option<ItemMeta>,
        value: Option<&[u8]>,
    ) -> String {
        let req = meta_req(line);
        let mut out = Vec::new();
        meta(
            &mut out,
            &req,
            status,
            item.as_ref(),
            value,
            MetaLease::default(),
        );
        String::from_utf8_lossy(&out).into_owned()
    }

    // Every expected string below is memcached 1.6.18's reply to the same request line.
    #[test]
    fn meta_replies_match_memcached() {
        let item = ItemMeta {
            cas: 31,
            client_flags: 0,
            size: 1,
            ttl: -1,
            last_access: 1,
            fetched: true,
            binary_key: false,
        };
        assert_eq!(
            render(
                b"mg a k v s f t c h l O q u\r\n",
                MetaStatus::Va,
                Some(item),
                Some(b"x")
            ),
            "VA 1 ka s1 f0 t-1 c31 h1 l1 O\r\nx\r\n"
        );
        assert_eq!(
            render(b"mg a O123 k\r\n", MetaStatus::Hd, Some(item), None),
            "HD O123 ka\r\n"
        );
        assert_eq!(
            render(b"mg zzz k O5 s v\r\n", MetaStatus::En, None, None),
            "EN kzzz O5\r\n"
        );
        assert_eq!(
            render(b"mg YWJj b k v\r\n", MetaStatus::En, None, None),
            "EN kYWJj b\r\n"
        );
        let stored = ItemMeta {
            cas: 33,
            ..ItemMeta::default()
        };
        assert_eq!(
            render(
                b"ms a 1 T0 F5 c k O9\r\nx\r\n",
                MetaStatus::Hd,
                Some(stored),
                None
            ),
            "HD c33 ka O9\r\n"
        );
        assert_eq!(
            render(
                b"ms YWJj 1 b k\r\nx\r\n",
                MetaStatus::Hd,
                Some(stored),
                None
            ),
            "HD kYWJj b\r\n"
        );
        assert_eq!(
            render(b"md a k O1 C5\r\n", MetaStatus::Nf, None, None),
            "NF ka O1\r\n"
        );
        let counter = ItemMeta {
            cas: 39,
            ttl: -1,
            ..ItemMeta::default()
        };
        assert_eq!(
            render(
                b"ma a v D5 MD t c k O1\r\n",
                MetaStatus::Va,
                Some(counter),
                Some(b"5")
            ),
            "VA 1 t-1 c39 ka O1\r\n5\r\n"
        );
        assert_eq!(
            render(
                b"ma a N0 J10 v\r\n",
                MetaStatus::Va,
                Some(counter),
                Some(b"10")
            ),
            "VA 2\r\n10\r\n"
        );
        // Lease flags come after the requested ones, in memcached's Z, X, W order.
        let req = meta_req(b"mg a c N30\r\n");
        let mut out = Vec::new();
        let lease = MetaLease {
            won: true,
            stale: true,
            token_sent: true,
        };
        meta(&mut out, &req, MetaStatus::Hd, Some(&item), None, lease);
        assert_eq!(out, b"HD c31 Z X W\r\n");
    }

    #[test]
    fn text_replies() {
        let mut out = Vec::new();
        // memcached: "gets a" -> VALUE a 4294967295 1 6 / x / END
        value(&mut out, b"a", u32::MAX, b"x", Some(6));
        value(&mut out, b"b", 0, b"", None);
        end(&mut out);
        line(&mut out, STORED);
        number(&mut out, 15);
        version(&mut out, "1.6.18");
        stat(&mut out, "pid", 30181);
        assert_eq!(
            out,
            b"VALUE a 4294967295 1 6\r\nx\r\nVALUE b 0 0\r\n\r\nEND\r\nSTORED\r\n15\r\nVERSION 1.6.18\r\nSTAT pid 30181\r\n"
        );
    }

    #[test]
    fn meta_debug_reply() {
        // memcached: "me a" -> ME a exp=-1 la=1 cas=40 fetch=no cls=1 size=62
        let mut out = Vec::new();
        meta_debug(&mut out, b"a", false, -1, 1, 40, false, 1, 62);
        assert_eq!(out, b"ME a exp=-1 la=1 cas=40 fetch=no cls=1 size=62\r\n");
    }

    #[test]
    fn elasticache_config_reply() {
        let mut out = Vec::new();
        let nodes = [
            ClusterNode {
                host: "node1.example",
                ip: "10.0.0.1",
                port: 11211,
            },
            ClusterNode {
                host: "node2.example",
                ip: "10.0.0.2",
                port: 11212,
            },
        ];
        config_cluster(&mut out, 12, &nodes);
        let payload = "12\nnode1.example|10.0.0.1|11211 node2.example|10.0.0.2|11212\n";
        assert_eq!(
            String::from_utf8_lossy(&out),
            format!("CONFIG cluster 0 {}\r\n{payload}\r\nEND\r\n", payload.len())
        );
    }
}
