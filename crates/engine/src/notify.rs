//! Keyspace notifications (`notify-keyspace-events`): commands report what
//! they did to a key, and when the class of the event is enabled it is
//! published on `__keyspace@<db>__:<key>` (message: the event) and
//! `__keyevent@<db>__:<event>` (message: the key), as Redis does.
//!
//! Commands report events as they happen; they are published when the
//! command finishes. With notifications off (the default) a report costs
//! one atomic load.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Ctx, Server};

/// Publish on `__keyspace@...` channels.
pub const KEYSPACE: u32 = 1 << 0;
/// Publish on `__keyevent@...` channels.
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 12;
pub const NEW: u32 = 1 << 13;
/// `A`: every class but key-miss and new-key.
const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The class bits of a `notify-keyspace-events` value (already validated).
pub fn parse_flags(v: &str) -> u32 {
    v.chars()
        .map(|c| match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

/// The enabled classes, mirrored from the configuration so code without a
/// [`Ctx`] (helpers shared by several commands, expiry) can check them.
static FLAGS: AtomicU32 = AtomicU32::new(0);

pub(crate) fn set_flags(flags: u32) {
    FLAGS.store(flags, Ordering::Relaxed);
}

/// One event waiting to be published when its command finishes.
struct Event {
    class: u32,
    name: &'static str,
    db: usize,
    key: Box<[u8]>,
}

thread_local! {
    /// Events of the command running on this thread.
    static PENDING: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

/// Reports `event` of `class` on `key` of database `db`; it is published
/// once the running command finishes (see [`flush`]).
pub(crate) fn emit(class: u32, name: &'static str, db: usize, key: &[u8]) {
    let flags = FLAGS.load(Ordering::Relaxed);
    if flags & class == 0 || flags & (KEYSPACE | KEYEVENT) == 0 {
        return;
    }
    PENDING.with(|p| {
        p.borrow_mut().push(Event {
            class,
            name,
            db,
            key: key.into(),
        })
    });
}

/// Publishes the events the command that just ran reported.
pub(crate) fn flush(ctx: &mut Ctx) {
    let me = (ctx.client.id(), &mut *ctx.out.out);
    publish_pending(ctx.server, ctx.now_ms, Some(me));
}

/// Publishes the events reported on this thread before a command ran
/// (evictions): the client's own messages go into `out` ahead of the reply.
pub(crate) fn flush_before_command(server: &Server, now: u64, client_id: u64, out: &mut Vec<u8>) {
    publish_pending(server, now, Some((client_id, out)));
}

/// Publishes the events reported on this thread outside any command
/// (active expiry in the cron thread).
pub fn flush_background(server: &Server) {
    publish_pending(server, crate::now_ms(), None);
}

fn publish_pending(server: &Server, now: u64, mut me: Option<(u64, &mut Vec<u8>)>) {
    let events = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if events.is_empty() {
        return;
    }
    let flags = FLAGS.load(Ordering::Relaxed);
    for e in events {
        if flags & e.class == 0 {
            continue;
        }
        let mut publish = |channel: &[u8], payload: &[u8]| {
            let me = me.as_mut().map(|(id, out)| (*id, &mut **out));
            crate::pubsub::publish_from(server, now, me, channel, payload, false);
        };
        if flags & KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{}__:", e.db).into_bytes();
            channel.extend_from_slice(&e.key);
            publish(&channel, e.name.as_bytes());
        }
        if flags & KEYEVENT != 0 {
            let channel = format!("__keyevent@{}__:{}", e.db, e.name).into_bytes();
            publish(&channel, &e.key);
        }
    }
}

impl Ctx<'_> {
    /// Reports `event` of `class` on `key` in the client's database.
    pub(crate) fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        emit(class, event, self.client.db, key);
    }

    /// [`Ctx::notify`] for a key of another database (MOVE, COPY ... DB).
    pub(crate) fn notify_db(&mut self, class: u32, event: &'static str, key: &[u8], db: usize) {
        emit(class, event, db, key);
    }
}
