//! Pub/sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE,
//! SUNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB.
//!
//! The [`Registry`] maps channels (and patterns) to subscribers; each
//! subscriber is a connection's push channel, which its connection task
//! drains onto the socket. A message is encoded once per protocol and the
//! bytes are shared by every receiver. Bytes queued for a subscriber count
//! against `client-output-buffer-limit pubsub`: a subscriber that falls too
//! far behind is disconnected instead of growing memory without bound.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashMap;
use parking_lot::RwLock;
use resp::{Protocol, ReplyWriter};

use crate::client::ClientShared;
use crate::error::CmdResult;
use crate::{Client, Ctx, Handler, Server};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("subscribe", subscribe),
    ("unsubscribe", unsubscribe),
    ("psubscribe", psubscribe),
    ("punsubscribe", punsubscribe),
    ("ssubscribe", ssubscribe),
    ("sunsubscribe", sunsubscribe),
    ("publish", publish),
    ("spublish", spublish),
    ("pubsub|channels", pubsub_channels),
    ("pubsub|numsub", pubsub_numsub),
    ("pubsub|numpat", pubsub_numpat),
    ("pubsub|shardchannels", pubsub_shardchannels),
    ("pubsub|shardnumsub", pubsub_shardnumsub),
    ("pubsub|help", pubsub_help),
];

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn subscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    fn unsubscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }
}

/// A connection that receives messages.
#[derive(Clone)]
pub struct Subscriber {
    pub shared: Arc<ClientShared>,
}

/// Every subscription of the node.
#[derive(Default)]
pub struct Registry {
    channels: RwLock<HashMap<Box<[u8]>, Vec<Subscriber>>>,
    patterns: RwLock<HashMap<Box<[u8]>, Vec<Subscriber>>>,
    shard: RwLock<HashMap<Box<[u8]>, Vec<Subscriber>>>,
}

impl Registry {
    fn map(&self, kind: Kind) -> &RwLock<HashMap<Box<[u8]>, Vec<Subscriber>>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    /// Closes the connections of `user` subscribed to a channel or pattern
    /// that `allowed` (name, is a pattern) now refuses.
    pub(crate) fn close_revoked(&self, user: &[u8], allowed: impl Fn(&[u8], bool) -> bool) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for (name, subscribers) in self.map(kind).read().iter() {
                for s in subscribers {
                    if s.shared.names.lock().user() == user
                        && !allowed(name, matches!(kind, Kind::Pattern))
                    {
                        s.shared.kill();
                    }
                }
            }
        }
    }

    /// Channels (or patterns) with at least one subscriber.
    pub fn count(&self, kind: Kind) -> usize {
        self.map(kind).read().len()
    }

    fn add(&self, kind: Kind, name: &[u8], sub: Subscriber) {
        self.map(kind)
            .write()
            .entry(name.into())
            .or_default()
            .push(sub);
    }

    fn remove(&self, kind: Kind, name: &[u8], client_id: u64) {
        let mut map = self.map(kind).write();
        if let Some(list) = map.get_mut(name) {
            list.retain(|s| s.shared.id != client_id);
            if list.is_empty() {
                map.remove(name);
            }
        }
    }
}

/// A client's own subscriptions, in subscription order.
#[derive(Default)]
pub struct Subscriptions {
    channels: Vec<Box<[u8]>>,
    patterns: Vec<Box<[u8]>>,
    shard: Vec<Box<[u8]>>,
}

impl Subscriptions {
    fn list(&mut self, kind: Kind) -> &mut Vec<Box<[u8]>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Is the client in subscribed mode (any kind of subscription)?
    pub fn any(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }

    /// The count SUBSCRIBE and friends report: shard channels count apart.
    fn reported(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }
}

fn publish_counts(client: &Client) {
    let s = &client.subs;
    let sh = &client.shared;
    sh.sub.store(s.channels.len(), Ordering::Relaxed);
    sh.psub.store(s.patterns.len(), Ordering::Relaxed);
    sh.ssub.store(s.shard.len(), Ordering::Relaxed);
}

/// `*3 <word> <name> <count>` (a push in RESP3), as Redis confirms
/// (un)subscriptions.
fn confirm(out: &mut ReplyWriter, word: &str, name: Option<&[u8]>, count: usize) {
    if out.is_resp3() {
        out.push(3);
    } else {
        out.array(3);
    }
    out.bulk_str(word);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

fn subscribe_generic(ctx: &mut Ctx, names: &[&[u8]], kind: Kind) -> CmdResult {
    ctx.client.output_is_push = true;
    for name in names {
        let list = ctx.client.subs.list(kind);
        if !list.iter().any(|n| **n == **name) {
            list.push((*name).into());
            ctx.server.pubsub.add(
                kind,
                name,
                Subscriber {
                    shared: ctx.client.shared.clone(),
                },
            );
        }
        let count = ctx.client.subs.reported(kind);
        confirm(&mut ctx.out, kind.subscribe_word(), Some(name), count);
    }
    publish_counts(ctx.client);
    Ok(())
}

fn unsubscribe_generic(ctx: &mut Ctx, names: &[&[u8]], kind: Kind) -> CmdResult {
    ctx.client.output_is_push = true;
    let id = ctx.client.id();
    let names: Vec<Box<[u8]>> = if names.is_empty() {
        ctx.client.subs.list(kind).clone()
    } else {
        names.iter().map(|n| (*n).into()).collect()
    };
    if names.is_empty() {
        let count = ctx.client.subs.reported(kind);
        confirm(&mut ctx.out, kind.unsubscribe_word(), None, count);
    }
    for name in &names {
        let list = ctx.client.subs.list(kind);
        if let Some(i) = list.iter().position(|n| n == name) {
            list.remove(i);
            ctx.server.pubsub.remove(kind, name, id);
        }
        let count = ctx.client.subs.reported(kind);
        confirm(&mut ctx.out, kind.unsubscribe_word(), Some(name), count);
    }
    publish_counts(ctx.client);
    Ok(())
}

/// Drops every subscription of a client (disconnection, RESET).
pub fn unsubscribe_all(server: &Server, client: &mut Client) {
    let id = client.id();
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in std::mem::take(client.subs.list(kind)) {
            server.pubsub.remove(kind, &name, id);
        }
    }
    publish_counts(client);
}

fn subscribe(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    subscribe_generic(ctx, &a[1..], Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    subscribe_generic(ctx, &a[1..], Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    subscribe_generic(ctx, &a[1..], Kind::Shard)
}

fn unsubscribe(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    unsubscribe_generic(ctx, &a[1..], Kind::Channel)
}

fn punsubscribe(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    unsubscribe_generic(ctx, &a[1..], Kind::Pattern)
}

fn sunsubscribe(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    unsubscribe_generic(ctx, &a[1..], Kind::Shard)
}

/// One message, encoded lazily per protocol and shared by its receivers.
struct Message<'m> {
    /// `message`, `pmessage` or `smessage`.
    kind: &'static str,
    pattern: Option<&'m [u8]>,
    channel: &'m [u8],
    payload: &'m [u8],
    encoded: [Option<Bytes>; 2],
}

impl Message<'_> {
    fn bytes(&mut self, resp3: bool) -> Bytes {
        let slot = &mut self.encoded[resp3 as usize];
        if let Some(b) = slot {
            return b.clone();
        }
        let mut buf = Vec::with_capacity(self.channel.len() + self.payload.len() + 48);
        let proto = if resp3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        let mut w = ReplyWriter::new(&mut buf, proto);
        let n = 3 + self.pattern.is_some() as usize;
        if resp3 {
            w.push(n);
        } else {
            w.array(n);
        }
        w.bulk_str(self.kind);
        if let Some(p) = self.pattern {
            w.bulk(p);
        }
        w.bulk(self.channel);
        w.bulk(self.payload);
        let b = Bytes::from(buf);
        *slot = Some(b.clone());
        b
    }
}

/// Below this many queued bytes a subscriber is never checked against the
/// limits (reading the configuration on every message would cost more).
const CHECK_ABOVE: usize = 64 * 1024;

/// Queues `bytes` for `sub`, or disconnects it if it is over its output
/// buffer limits. Returns false if the message was not delivered.
pub(crate) fn deliver(server: &Server, sh: &ClientShared, bytes: Bytes, now_ms: u64) -> bool {
    if sh.is_killed() {
        return false;
    }
    let pending = sh.push_pending.load(Ordering::Acquire) + bytes.len();
    if pending > CHECK_ABOVE {
        let (hard, soft, secs) = server.config.output_buffer_limits("pubsub");
        let over_hard = hard > 0 && pending as u64 > hard;
        let over_soft = soft > 0 && pending as u64 > soft;
        let since = sh.push_soft_since.load(Ordering::Acquire);
        let soft_expired = over_soft && since != 0 && now_ms.saturating_sub(since) >= secs * 1000;
        if over_soft && since == 0 {
            sh.push_soft_since.store(now_ms, Ordering::Release);
        } else if !over_soft && since != 0 {
            sh.push_soft_since.store(0, Ordering::Release);
        }
        if over_hard || soft_expired {
            server
                .stats
                .client_output_buffer_limit_disconnections
                .incr();
            sh.kill();
            return false;
        }
    }
    sh.push(bytes);
    true
}

/// Sends a message to the subscribers of `channel` (and of matching
/// patterns unless `shard`); returns how many received it. The publishing
/// client's own copy goes straight into its reply, before the count (as in
/// Redis, where both land in the same output buffer).
pub(crate) fn publish_message(ctx: &mut Ctx, channel: &[u8], payload: &[u8], shard: bool) -> usize {
    let me = (ctx.client.id(), &mut *ctx.out.out);
    publish_from(ctx.server, ctx.now_ms, Some(me), channel, payload, shard)
}

/// [`publish_message`] by the server itself (`me`: None) or by a client
/// (its id and output buffer).
pub(crate) fn publish_from(
    server: &Server,
    now: u64,
    mut me: Option<(u64, &mut Vec<u8>)>,
    channel: &[u8],
    payload: &[u8],
    shard: bool,
) -> usize {
    let mut receivers = 0;
    let mut send = |sub: &Subscriber, msg: &mut Message| {
        let resp3 = sub.shared.resp3.load(Ordering::Relaxed);
        match &mut me {
            Some((id, out)) if *id == sub.shared.id => {
                out.extend_from_slice(&msg.bytes(resp3));
                true
            }
            _ => deliver(server, &sub.shared, msg.bytes(resp3), now),
        }
    };
    let kind = if shard { Kind::Shard } else { Kind::Channel };
    let mut msg = Message {
        kind: if shard { "smessage" } else { "message" },
        pattern: None,
        channel,
        payload,
        encoded: [None, None],
    };
    if let Some(list) = server.pubsub.map(kind).read().get(channel) {
        for sub in list {
            receivers += send(sub, &mut msg) as usize;
        }
    }
    if !shard {
        let patterns = server.pubsub.patterns.read();
        for (pattern, list) in patterns.iter() {
            if !keyspace::glob::glob_match(pattern, channel, false) {
                continue;
            }
            let mut pmsg = Message {
                kind: "pmessage",
                pattern: Some(pattern),
                channel,
                payload,
                encoded: [None, None],
            };
            for sub in list {
                receivers += send(sub, &mut pmsg) as usize;
            }
        }
    }
    receivers
}

fn publish(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let n = publish_message(ctx, a[1], a[2], false);
    ctx.out.int(n as i64);
    Ok(())
}

fn spublish(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let n = publish_message(ctx, a[1], a[2], true);
    ctx.out.int(n as i64);
    Ok(())
}

fn channels_generic(ctx: &mut Ctx, a: &[&[u8]], kind: Kind) -> CmdResult {
    if a.len() > 3 {
        return Err(crate::error::CmdError::quoting(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            &[a[1]],
        ));
    }
    let pattern = a.get(2).copied();
    let names: Vec<Box<[u8]>> = ctx
        .server
        .pubsub
        .map(kind)
        .read()
        .keys()
        .filter(|c| pattern.is_none_or(|p| keyspace::glob::glob_match(p, c, false)))
        .cloned()
        .collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(&n);
    }
    Ok(())
}

fn numsub_generic(ctx: &mut Ctx, a: &[&[u8]], kind: Kind) -> CmdResult {
    let counts: Vec<usize> = {
        let map = ctx.server.pubsub.map(kind).read();
        a[2..]
            .iter()
            .map(|c| map.get(*c).map_or(0, |l| l.len()))
            .collect()
    };
    ctx.out.array(counts.len() * 2);
    for (c, n) in a[2..].iter().zip(counts) {
        ctx.out.bulk(c);
        ctx.out.int(n as i64);
    }
    Ok(())
}

fn pubsub_channels(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    channels_generic(ctx, a, Kind::Channel)
}

fn pubsub_shardchannels(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    channels_generic(ctx, a, Kind::Shard)
}

fn pubsub_numsub(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    numsub_generic(ctx, a, Kind::Channel)
}

fn pubsub_shardnumsub(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    numsub_generic(ctx, a, Kind::Shard)
}

fn pubsub_numpat(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let n = ctx.server.pubsub.count(Kind::Pattern);
    ctx.out.int(n as i64);
    Ok(())
}

fn pubsub_help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    crate::generic::help(
        ctx,
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    )
}
