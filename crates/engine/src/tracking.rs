//! Client-side caching: CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO
//! and the invalidation messages, with Redis 7's semantics.
//!
//! Default mode: before a tracking client runs a read-only command, the
//! keys it names are recorded in their shard (keyspace's tracking table);
//! recording first means a write racing the read still invalidates. When a
//! recorded key changes, the keyspace hands its clients to
//! [`on_invalidated`], which queues them on this thread; when the command
//! that caused it finishes, [`flush`] sends the messages: after the reply
//! for the writing client itself, through the push channel for others.
//! BCAST mode: while BCAST clients exist the keyspace reports every write,
//! and each command's keys go to the clients of the matching prefixes in
//! one message per prefix.
//!
//! Messages go to the client itself (RESP3 push `invalidate`) or to its
//! REDIRECT client: RESP3 push, or a `__redis__:invalidate` pub/sub message
//! when that client is subscribed in RESP2.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashMap;
use parking_lot::RwLock;
use resp::{Protocol, ReplyWriter};

use crate::client::ClientShared;
use crate::error::{CmdError, CmdResult};
use crate::{Client, Ctx, Handler, Server};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("client|tracking", client_tracking),
    ("client|caching", client_caching),
    ("client|getredir", client_getredir),
    ("client|trackinginfo", client_trackinginfo),
];

/// A client's tracking mode (`Client::tracking`; None = tracking off).
#[derive(Debug, Clone, Default)]
pub struct Mode {
    /// The tracking client: the client itself, or for a script's client,
    /// the caller whose reads the script's commands are.
    pub id: u64,
    /// Where invalidations go (0 = the client itself).
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// CLIENT CACHING was given for the next command.
    pub caching: bool,
    /// BCAST prefixes, sorted.
    pub prefixes: Vec<Box<[u8]>>,
}

/// What other connections need to invalidate a tracking client.
struct Tracker {
    shared: Arc<ClientShared>,
    redirect: u64,
    bcast: bool,
    noloop: bool,
}

/// The node's tracking clients and BCAST prefixes.
#[derive(Default)]
pub struct Tracking {
    clients: RwLock<HashMap<u64, Tracker>>,
    /// BCAST prefix → its clients.
    prefixes: RwLock<BTreeMap<Box<[u8]>, Vec<u64>>>,
    count: AtomicUsize,
}

impl Tracking {
    /// Clients with tracking on (INFO tracking_clients).
    pub fn clients(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// BCAST prefixes in use (INFO tracking_total_prefixes).
    pub fn prefixes(&self) -> usize {
        self.prefixes.read().len()
    }
}

/// Turns tracking off for `client` (CLIENT TRACKING OFF, RESET,
/// disconnection). Its keys stay in the table and are skipped when they
/// change, as in Redis.
pub fn disable(server: &Server, client: &mut Client) {
    let Some(mode) = client.tracking.take() else {
        return;
    };
    let t = &server.tracking;
    if t.clients.write().remove(&mode.id).is_some() {
        t.count.fetch_sub(1, Ordering::Relaxed);
    }
    client.shared.tracking.store(0, Ordering::Relaxed);
    if mode.bcast {
        let mut prefixes = t.prefixes.write();
        for p in &mode.prefixes {
            if let Some(ids) = prefixes.get_mut(p) {
                ids.retain(|&id| id != mode.id);
                if ids.is_empty() {
                    prefixes.remove(p);
                }
            }
        }
        server.keyspace.set_report_all_writes(!prefixes.is_empty());
    }
}

thread_local! {
    /// Keys that changed during the command running on this thread, with
    /// the tracking clients that had read them.
    static PENDING: RefCell<Vec<(Box<[u8]>, keyspace::TrackingClients)>> =
        const { RefCell::new(Vec::new()) };
    /// A flush ran during that command.
    static FLUSHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The keyspace's invalidation hook: queues the key until [`flush`].
pub(crate) fn on_invalidated(key: &[u8], clients: &[u64]) {
    PENDING.with(|p| p.borrow_mut().push((key.into(), clients.into())));
}

/// Records the keys a tracking client's read-only command reads: before it
/// runs (a write racing it on another thread still invalidates) and again
/// after (a key its own lazy expiry invalidated stays tracked).
pub(crate) fn remember_keys(
    server: &Server,
    mode: &Mode,
    spec: &commands::CommandSpec,
    args: &[&[u8]],
    now_ms: u64,
) {
    use commands::flag;
    if !spec.has_flag(flag::READONLY)
        || spec.has_flag(flag::PUBSUB)
        || matches!(spec.name, "eval_ro" | "evalsha_ro" | "fcall_ro")
    {
        return;
    }
    let Ok(positions) = commands::keys::key_positions(spec, args) else {
        return;
    };
    let keys: smallvec::SmallVec<[&[u8]; 8]> = positions.iter().map(|(i, _)| args[*i]).collect();
    remember(server, mode, &keys, now_ms);
}

/// Records that the tracking client read `keys`, unless its mode (BCAST,
/// OPTIN without CLIENT CACHING YES, OPTOUT after CLIENT CACHING NO) says
/// otherwise. A script that ran a read-only command remembers the keys it
/// declared, as in Redis 7.0.
pub(crate) fn remember(server: &Server, mode: &Mode, keys: &[&[u8]], now_ms: u64) {
    if keys.is_empty()
        || mode.bcast
        || (mode.optin && !mode.caching)
        || (mode.optout && mode.caching)
    {
        return;
    }
    let mut locked = server.keyspace.lock(keys.iter().copied(), now_ms);
    for key in keys {
        locked.track(key, mode.id);
    }
}

/// The payload of an invalidation: keys, or "everything" after a flush.
enum Payload<'a> {
    Keys(&'a [&'a [u8]]),
    All,
}

/// The running command's client: its id, its output and where the
/// command's reply starts there. Its own invalidations go after the reply
/// (as Redis defers them); messages redirected to it from other tracking
/// clients go before, where Redis writes them as the key changes.
pub(crate) type Current<'a> = Option<(u64, &'a mut Vec<u8>, usize)>;

/// After a command (or background work, `current` None): sends the
/// invalidations its writes caused.
pub(crate) fn flush(server: &Server, mut current: Current, now_ms: u64) {
    let pending = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        (!p.is_empty()).then(|| std::mem::take(&mut *p))
    });
    let flushed = FLUSHED.with(|f| f.replace(false));
    if pending.is_none() && !flushed {
        return;
    }
    let t = &server.tracking;
    let clients = t.clients.read();
    if flushed {
        for tracker in clients.values() {
            send(server, tracker, Payload::All, &mut current, now_ms);
        }
    }
    let Some(pending) = pending else {
        return;
    };
    let current_id = current.as_ref().map_or(0, |(id, _, _)| *id);
    for (key, ids) in &pending {
        for id in ids {
            let Some(tracker) = clients.get(id) else {
                continue;
            };
            if tracker.bcast || (tracker.noloop && *id == current_id) {
                continue;
            }
            send(server, tracker, Payload::Keys(&[key]), &mut current, now_ms);
        }
    }
    let prefixes = t.prefixes.read();
    if prefixes.is_empty() {
        return;
    }
    // BCAST: the command's keys per prefix, sorted and without repeats.
    for (prefix, ids) in prefixes.iter() {
        let mut keys: Vec<&[u8]> = pending
            .iter()
            .map(|(k, _)| &**k)
            .filter(|k| k.starts_with(prefix))
            .collect();
        if keys.is_empty() {
            continue;
        }
        keys.sort_unstable();
        keys.dedup();
        for id in ids {
            let Some(tracker) = clients.get(id) else {
                continue;
            };
            // NOLOOP: the command's own writes are not news to its client.
            if tracker.noloop && *id == current_id {
                continue;
            }
            send(server, tracker, Payload::Keys(&keys), &mut current, now_ms);
        }
    }
}

/// FLUSHDB / FLUSHALL ran: every tracking client is told to drop its
/// whole cache (a null invalidation) when the command finishes.
pub(crate) fn on_flush() {
    FLUSHED.with(|f| f.set(true));
}

/// Sends one invalidation for `tracker` where its mode says.
fn send(server: &Server, tracker: &Tracker, payload: Payload, current: &mut Current, now: u64) {
    let target = if tracker.redirect == 0 {
        Some(tracker.shared.clone())
    } else {
        server.clients.get(tracker.redirect)
    };
    let Some(target) = target else {
        tracker
            .shared
            .tracking
            .fetch_or(crate::client::TRACKING_BROKEN, Ordering::Relaxed);
        if tracker.shared.resp3.load(Ordering::Relaxed) {
            let mut msg = Vec::new();
            let mut w = ReplyWriter::new(&mut msg, Protocol::Resp3);
            w.push(2);
            w.bulk_str("tracking-redir-broken");
            w.int(tracker.redirect as i64);
            deliver(server, &tracker.shared, msg, current, now, false);
        }
        return;
    };
    let mut msg = Vec::new();
    let mut w = if target.resp3.load(Ordering::Relaxed) {
        let mut w = ReplyWriter::new(&mut msg, Protocol::Resp3);
        w.push(2);
        w.bulk_str("invalidate");
        w
    } else if tracker.redirect != 0 && target.in_pubsub_mode() {
        let mut w = ReplyWriter::new(&mut msg, Protocol::Resp2);
        w.array(3);
        w.bulk_str("message");
        w.bulk_str("__redis__:invalidate");
        w
    } else {
        // A RESP2 connection cannot receive pushes.
        return;
    };
    match payload {
        Payload::Keys(keys) => {
            w.array(keys.len());
            for k in keys {
                w.bulk(k);
            }
        }
        // "Everything", as a null of the tracking client's protocol.
        Payload::All if tracker.shared.resp3.load(Ordering::Relaxed) => {
            w.out.extend_from_slice(b"_\r\n")
        }
        Payload::All => w.out.extend_from_slice(b"$-1\r\n"),
    }
    // Redis defers the tracking client's own invalidations to after its
    // reply; others land in the target's output as the key changes.
    let own = current
        .as_ref()
        .is_some_and(|(id, _, _)| *id == tracker.shared.id);
    deliver(server, &target, msg, current, now, !own);
}

/// Queues `msg` for `target`: into the running command's output when it is
/// that command's client (`before_reply`: ahead of the command's reply),
/// else on its push channel.
fn deliver(
    server: &Server,
    target: &ClientShared,
    msg: Vec<u8>,
    current: &mut Current,
    now: u64,
    before_reply: bool,
) {
    if let Some((id, out, reply_start)) = current.as_mut() {
        if *id == target.id {
            if before_reply {
                let at = (*reply_start).min(out.len());
                out.splice(at..at, msg);
                *reply_start = at;
            } else {
                out.extend_from_slice(&msg);
            }
            return;
        }
    }
    crate::pubsub::deliver(server, target, Bytes::from(msg), now);
}

fn syntax_error() -> CmdError {
    CmdError::new("ERR syntax error")
}

/// Does one prefix start the other (they would invalidate the same key)?
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

fn client_tracking(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let mut mode = Mode {
        id: ctx.client.id(),
        ..Mode::default()
    };
    let mut prefixes: Vec<&[u8]> = Vec::new();
    let mut i = 3;
    while i < a.len() {
        let more = i + 1 < a.len();
        let opt = a[i];
        if opt.eq_ignore_ascii_case(b"redirect") && more {
            i += 1;
            if mode.redirect != 0 {
                return Err(CmdError::new(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = crate::args::parse_i64(a[i])
                .ok_or_else(|| CmdError::new("ERR value is not an integer or out of range"))?;
            if id == 0 || ctx.server.clients.get(id as u64).is_none() {
                return Err(CmdError::new(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
            mode.redirect = id as u64;
        } else if opt.eq_ignore_ascii_case(b"bcast") {
            mode.bcast = true;
        } else if opt.eq_ignore_ascii_case(b"optin") {
            mode.optin = true;
        } else if opt.eq_ignore_ascii_case(b"optout") {
            mode.optout = true;
        } else if opt.eq_ignore_ascii_case(b"noloop") {
            mode.noloop = true;
        } else if opt.eq_ignore_ascii_case(b"prefix") && more {
            i += 1;
            prefixes.push(a[i]);
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    if a[2].eq_ignore_ascii_case(b"off") {
        disable(ctx.server, ctx.client);
        ctx.out.ok();
        return Ok(());
    }
    if !a[2].eq_ignore_ascii_case(b"on") {
        return Err(syntax_error());
    }
    if !mode.bcast && !prefixes.is_empty() {
        return Err(CmdError::new(
            "ERR PREFIX option requires BCAST mode to be enabled",
        ));
    }
    let old = ctx.client.tracking.clone();
    // A pending CLIENT CACHING survives turning tracking on again.
    mode.caching = old.as_ref().is_some_and(|o| o.caching);
    if old.as_ref().is_some_and(|o| o.bcast != mode.bcast) {
        return Err(CmdError::new("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return Err(CmdError::new(
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if mode.optin && mode.optout {
        return Err(CmdError::new(
            "ERR You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if old
        .as_ref()
        .is_some_and(|o| (mode.optin && o.optout) || (mode.optout && o.optin))
    {
        return Err(CmdError::new("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    let existing: &[Box<[u8]>] = old.as_ref().map_or(&[], |o| &o.prefixes);
    if mode.bcast {
        for (n, p) in prefixes.iter().enumerate() {
            if let Some(e) = existing.iter().find(|e| overlap(e, p)) {
                return Err(CmdError::quoting("ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.", &[p, e]));
            }
            if let Some(q) = prefixes[n + 1..].iter().find(|q| overlap(p, q)) {
                return Err(CmdError::quoting("ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.", &[p, q]));
            }
        }
        // As Redis: no prefix means every key (the empty prefix).
        if prefixes.is_empty() {
            prefixes.push(b"");
        }
        let mut all: Vec<Box<[u8]>> = existing.to_vec();
        for p in prefixes {
            if !all.iter().any(|e| **e == *p) {
                all.push(p.into());
            }
        }
        all.sort_unstable();
        mode.prefixes = all;
    }
    let t = &ctx.server.tracking;
    {
        let mut clients = t.clients.write();
        let fresh = clients
            .insert(
                mode.id,
                Tracker {
                    shared: ctx.client.shared.clone(),
                    redirect: mode.redirect,
                    bcast: mode.bcast,
                    noloop: mode.noloop,
                },
            )
            .is_none();
        if fresh {
            t.count.fetch_add(1, Ordering::Relaxed);
        }
    }
    if mode.bcast {
        let mut table = t.prefixes.write();
        for p in &mode.prefixes {
            let ids = table.entry(p.clone()).or_default();
            if !ids.contains(&mode.id) {
                ids.push(mode.id);
            }
        }
        ctx.server.keyspace.set_report_all_writes(true);
    }
    let shared = &ctx.client.shared;
    shared.tracking.store(
        crate::client::TRACKING_ON
            | if mode.bcast {
                crate::client::TRACKING_BCAST
            } else {
                0
            },
        Ordering::Relaxed,
    );
    shared
        .tracking_redirect
        .store(mode.redirect, Ordering::Relaxed);
    ctx.client.tracking = Some(mode);
    ctx.out.ok();
    Ok(())
}

fn client_caching(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let Some(mode) = ctx.client.tracking.as_mut() else {
        return Err(CmdError::new("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    if a[2].eq_ignore_ascii_case(b"yes") {
        if !mode.optin {
            return Err(CmdError::new(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if a[2].eq_ignore_ascii_case(b"no") {
        if !mode.optout {
            return Err(CmdError::new(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(syntax_error());
    }
    mode.caching = true;
    ctx.out.ok();
    Ok(())
}

fn client_getredir(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let redirect = ctx
        .client
        .tracking
        .as_ref()
        .map_or(-1, |m| m.redirect as i64);
    ctx.out.int(redirect);
    Ok(())
}

fn client_trackinginfo(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let mode = ctx.client.tracking.clone();
    let broken =
        ctx.client.shared.tracking.load(Ordering::Relaxed) & crate::client::TRACKING_BROKEN != 0;
    let out = &mut ctx.out;
    out.map(3);
    out.bulk_str("flags");
    let Some(m) = mode else {
        out.set(1);
        out.bulk_str("off");
        out.bulk_str("redirect");
        out.int(-1);
        out.bulk_str("prefixes");
        out.array(0);
        return Ok(());
    };
    let mut flags = vec!["on"];
    if m.bcast {
        flags.push("bcast");
    }
    if m.optin {
        flags.push("optin");
        if m.caching {
            flags.push("caching-yes");
        }
    }
    if m.optout {
        flags.push("optout");
        if m.caching {
            flags.push("caching-no");
        }
    }
    if m.noloop {
        flags.push("noloop");
    }
    if broken {
        flags.push("broken_redirect");
    }
    out.set(flags.len());
    for f in flags {
        out.bulk_str(f);
    }
    out.bulk_str("redirect");
    out.int(m.redirect as i64);
    out.bulk_str("prefixes");
    out.array(m.prefixes.len());
    for p in &m.prefixes {
        out.bulk(p);
    }
    Ok(())
}
