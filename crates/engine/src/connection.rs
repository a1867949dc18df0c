//! Connection commands: PING, ECHO, QUIT, RESET, AUTH, HELLO, SELECT,
//! MONITOR and the CLIENT family.

use std::sync::atomic::Ordering;

use resp::Protocol;

use crate::args::{eq, int, text};
use crate::client::ReplyMode;
use crate::error::{CmdError, CmdResult, SYNTAX};
use crate::generic::{db_index, help};
use crate::{ClientShared, Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("ping", ping),
    ("echo", echo),
    ("quit", quit),
    ("reset", reset),
    ("auth", auth),
    ("hello", hello),
    ("select", select),
    ("monitor", monitor),
    ("client|id", client_id),
    ("client|getname", client_getname),
    ("client|setname", client_setname),
    ("client|setinfo", client_setinfo),
    ("client|list", client_list),
    ("client|info", client_info),
    ("client|kill", client_kill),
    ("client|pause", client_pause),
    ("client|unpause", client_unpause),
    ("client|reply", client_reply),
    ("client|no-evict", client_no_evict),
    ("client|no-touch", client_no_touch),
    ("client|unblock", client_unblock),
    ("client|help", client_help),
];

fn ping(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    if a.len() <= 2 && !ctx.out.is_resp3() && ctx.client.subs.any() {
        // A RESP2 subscriber's stream only carries arrays.
        ctx.out.array(2);
        ctx.out.bulk_str("pong");
        ctx.out.bulk(a.get(1).copied().unwrap_or_default());
        return Ok(());
    }
    match a.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(a[1]),
        _ => return Err(crate::error::wrong_args("ping")),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    ctx.out.bulk(a[1]);
    Ok(())
}

fn quit(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    ctx.client.close_after_reply = true;
    ctx.out.ok();
    Ok(())
}

fn reset(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let open = ctx.server.acl.default_open();
    let c = &mut *ctx.client;
    c.user = Some(ctx.server.acl.default_user());
    c.set_db(0);
    c.proto = Protocol::Resp2;
    ctx.out.proto = Protocol::Resp2;
    c.shared.resp3.store(false, Ordering::Relaxed);
    c.authenticated = open;
    {
        let mut names = c.shared.names.lock();
        names.name = None;
        names.user = None;
    }
    c.reply = ReplyMode::On;
    c.no_touch = false;
    c.shared.no_touch.store(false, Ordering::Relaxed);
    c.shared.no_evict.store(false, Ordering::Relaxed);
    if c.monitor {
        c.monitor = false;
        c.shared.monitor.store(false, Ordering::Relaxed);
        let mut m = ctx.server.monitors.lock();
        m.retain(|x| x.client_id != c.id());
        ctx.server.monitor_count.store(m.len(), Ordering::Relaxed);
    }
    crate::multi::end_multi(ctx.client);
    crate::multi::unwatch_all(ctx.server, ctx.client);
    crate::pubsub::unsubscribe_all(ctx.server, ctx.client);
    crate::tracking::disable(ctx.server, ctx.client);
    ctx.out.simple("RESET");
    Ok(())
}

/// Checks credentials for AUTH / HELLO AUTH and logs the client in as
/// the user. A failure is recorded in ACL LOG, under `command` (the
/// command word as typed, as Redis names it).
fn check_auth(ctx: &mut Ctx, command: &[u8], user: &[u8], pass: &[u8]) -> CmdResult {
    match ctx.server.acl.user(user) {
        Some(u) if u.perms().password_ok(pass) => {
            ctx.client.log_in(u);
            Ok(())
        }
        _ => {
            *ctx.client.shared.last_cmd.lock() = ctx.spec.name;
            let context = if ctx.client.multi.is_some() {
                "multi"
            } else {
                "toplevel"
            };
            crate::acl::log_refusal(
                ctx.server,
                &ctx.client.shared,
                "auth",
                context,
                command,
                user,
            );
            Err(CmdError::new(
                "WRONGPASS invalid username-password pair or user is disabled.",
            ))
        }
    }
}

fn auth(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    match a.len() {
        2 => {
            if ctx.server.acl.default_user().perms().nopass {
                return Err(CmdError::new("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
            }
            check_auth(ctx, a[0], b"default", a[1])?
        }
        3 => check_auth(ctx, a[0], a[1], a[2])?,
        _ => return Err(SYNTAX),
    }
    ctx.out.ok();
    Ok(())
}

fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn hello(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let mut proto = None;
    if a.len() >= 2 {
        let v = crate::args::parse_i64(a[1]).ok_or_else(|| {
            CmdError::new("ERR Protocol version is not an integer or out of range")
        })?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::new("NOPROTO unsupported protocol version"));
        }
        proto = Some(if v == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        });
    }
    // Like Redis, options take effect one by one: a later error leaves an
    // earlier AUTH or SETNAME done.
    let mut i = 2;
    while i < a.len() {
        let left = a.len() - i - 1;
        if eq(a[i], "auth") && left >= 2 {
            check_auth(ctx, a[0], a[i + 1], a[i + 2])?;
            i += 3;
        } else if eq(a[i], "setname") && left >= 1 {
            let n = a[i + 1];
            if !valid_name(n) {
                return Err(CmdError::new(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                ));
            }
            ctx.client.shared.names.lock().name = (!n.is_empty()).then(|| n.to_vec());
            i += 2;
        } else {
            return Err(CmdError::quoting(
                "ERR Syntax error in HELLO option '{}'",
                &[a[i]],
            ));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError::new(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(p) = proto {
        ctx.client.proto = p;
        ctx.out.proto = p;
        ctx.client
            .shared
            .resp3
            .store(p == Protocol::Resp3, Ordering::Relaxed);
    }
    let out = &mut ctx.out;
    out.map(7);
    out.bulk_str("server");
    out.bulk_str("redis");
    out.bulk_str("version");
    out.bulk_str(crate::REDIS_VERSION);
    out.bulk_str("proto");
    out.int(if ctx.client.proto == Protocol::Resp3 {
        3
    } else {
        2
    });
    out.bulk_str("id");
    out.int(ctx.client.id() as i64);
    out.bulk_str("mode");
    out.bulk_str("standalone");
    out.bulk_str("role");
    out.bulk_str("master");
    out.bulk_str("modules");
    out.array(0);
    Ok(())
}

fn select(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = db_index(ctx, a[1])?;
    ctx.client.set_db(db);
    ctx.out.ok();
    Ok(())
}

fn monitor(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    if !ctx.client.monitor {
        ctx.client.monitor = true;
        ctx.client.shared.monitor.store(true, Ordering::Relaxed);
        let mut m = ctx.server.monitors.lock();
        m.push(crate::Monitor {
            client_id: ctx.client.id(),
            shared: ctx.client.shared.clone(),
        });
        ctx.server.monitor_count.store(m.len(), Ordering::Relaxed);
    }
    ctx.out.ok();
    Ok(())
}

fn client_id(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.client.id() as i64);
    Ok(())
}

fn client_getname(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let name = ctx.client.shared.names.lock().name.clone();
    match name {
        Some(n) => ctx.out.bulk(&n),
        None => ctx.out.null(),
    }
    Ok(())
}

fn client_setname(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    if !valid_name(a[2]) {
        return Err(CmdError::new(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    ctx.client.shared.names.lock().name = (!a[2].is_empty()).then(|| a[2].to_vec());
    ctx.out.ok();
    Ok(())
}

fn client_setinfo(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (attr, val) = (a[2], a[3]);
    let is_name = eq(attr, "lib-name");
    if !is_name && !eq(attr, "lib-ver") {
        return Err(CmdError::quoting("ERR Unrecognized option '{}'", &[attr]));
    }
    if !valid_name(val) {
        return Err(CmdError::new(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            if is_name { "lib-name" } else { "lib-ver" }
        )));
    }
    let v = (!val.is_empty()).then(|| val.to_vec());
    let mut names = ctx.client.shared.names.lock();
    if is_name {
        names.lib_name = v;
    } else {
        names.lib_ver = v;
    }
    drop(names);
    ctx.out.ok();
    Ok(())
}

/// One CLIENT LIST / CLIENT INFO line (Redis 7.2 field order).
pub(crate) fn client_line(c: &ClientShared, now_ms: u64) -> String {
    let names = c.names.lock().clone();
    let s = |v: &Option<Vec<u8>>| {
        v.as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let mut flags = String::new();
    match c.link.load(Ordering::Relaxed) {
        crate::client::LINK_REPLICA => flags.push('S'),
        crate::client::LINK_PRIMARY => flags.push('M'),
        _ => {}
    }
    if c.monitor.load(Ordering::Relaxed) {
        flags.push('O');
    }
    let (sub, psub, ssub) = (
        c.sub.load(Ordering::Relaxed),
        c.psub.load(Ordering::Relaxed),
        c.ssub.load(Ordering::Relaxed),
    );
    if sub + psub + ssub > 0 {
        flags.push('P');
    }
    let multi = c.multi.load(Ordering::Relaxed);
    if multi >= 0 {
        flags.push('x');
    }
    if c.blocked_since.load(Ordering::Relaxed) != 0 {
        flags.push('b');
    }
    let tracking = c.tracking.load(Ordering::Relaxed);
    for (bit, flag) in [
        (crate::client::TRACKING_ON, 't'),
        (crate::client::TRACKING_BROKEN, 'R'),
        (crate::client::TRACKING_BCAST, 'B'),
    ] {
        if tracking & bit != 0 {
            flags.push(flag);
        }
    }
    if c.no_evict.load(Ordering::Relaxed) {
        flags.push('e');
    }
    if c.no_touch.load(Ordering::Relaxed) {
        flags.push('T');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let qbuf = c.qbuf.load(Ordering::Relaxed);
    // Output memory includes pub/sub messages queued for the client.
    let omem = c.omem.load(Ordering::Relaxed) + c.push_pending.load(Ordering::Relaxed);
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp={} obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        s(&names.name),
        now_ms.saturating_sub(c.created_ms) / 1000,
        now_ms.saturating_sub(c.last_interaction_ms.load(Ordering::Relaxed)) / 1000,
        flags,
        c.db.load(Ordering::Relaxed),
        sub,
        psub,
        ssub,
        multi,
        qbuf,
        16384usize.saturating_sub(qbuf),
        16384,
        qbuf,
        omem,
        c.tot_mem.load(Ordering::Relaxed) + 16384,
        c.last_cmd.lock(),
        String::from_utf8_lossy(names.user()),
        if tracking & crate::client::TRACKING_ON != 0 {
            c.tracking_redirect.load(Ordering::Relaxed) as i64
        } else {
            -1
        },
        if c.resp3.load(Ordering::Relaxed) { 3 } else { 2 },
        s(&names.lib_name),
        s(&names.lib_ver),
    )
}

/// A client's class for CLIENT LIST / KILL TYPE: replication links,
/// subscribers ("pubsub"), everyone else "normal".
fn client_type(c: &ClientShared) -> &'static str {
    match c.link.load(Ordering::Relaxed) {
        crate::client::LINK_REPLICA => return "slave",
        crate::client::LINK_PRIMARY => return "master",
        _ => {}
    }
    let subs = c.sub.load(Ordering::Relaxed)
        + c.psub.load(Ordering::Relaxed)
        + c.ssub.load(Ordering::Relaxed);
    if subs > 0 {
        "pubsub"
    } else {
        "normal"
    }
}

fn client_list(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut ctype: Option<String> = None;
    let mut i = 2;
    while i < a.len() {
        if eq(a[i], "type") && i + 1 < a.len() {
            let t = text(a[i + 1]).to_ascii_lowercase();
            if !matches!(
                t.as_str(),
                "normal" | "master" | "replica" | "slave" | "pubsub"
            ) {
                return Err(CmdError::quoting(
                    "ERR Unknown client type '{}'",
                    &[a[i + 1]],
                ));
            }
            // "replica" and "slave" name the same class.
            ctype = Some(if t == "replica" {
                "slave".to_string()
            } else {
                t
            });
            i += 2;
        } else if eq(a[i], "id") && i + 1 < a.len() {
            let mut v = ids.take().unwrap_or_default();
            for arg in &a[i + 1..] {
                // Any integer is accepted; ids below 1 just match nobody.
                let id = crate::args::parse_i64(arg)
                    .ok_or_else(|| CmdError::new("ERR Invalid client ID"))?;
                if id > 0 {
                    v.push(id as u64);
                }
            }
            ids = Some(v);
            i = a.len();
        } else {
            return Err(SYNTAX);
        }
    }
    let mut text_out = String::new();
    for c in ctx.server.clients.all() {
        if ids.as_ref().is_some_and(|v| !v.contains(&c.id))
            || ctype.as_deref().is_some_and(|t| t != client_type(&c))
        {
            continue;
        }
        text_out.push_str(&client_line(&c, ctx.now_ms));
        text_out.push('\n');
    }
    ctx.out.verbatim("txt", text_out.as_bytes());
    Ok(())
}

fn client_info(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let mut line = client_line(&ctx.client.shared, ctx.now_ms);
    line.push('\n');
    ctx.out.verbatim("txt", line.as_bytes());
    Ok(())
}

fn client_kill(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let all = ctx.server.clients.all();
    let me = ctx.client.id();
    if a.len() == 3 {
        // Old form: CLIENT KILL addr:port.
        let addr = text(a[2]);
        let Some(c) = all.iter().find(|c| c.addr == addr) else {
            return Err(CmdError::new("ERR No such client"));
        };
        if c.id == me {
            ctx.client.close_after_reply = true;
        } else {
            c.kill();
        }
        ctx.out.ok();
        return Ok(());
    }
    let (mut id, mut addr, mut laddr, mut user, mut ctype) = (None, None, None, None, None);
    let mut max_age: Option<u64> = None;
    let mut skipme = true;
    let mut i = 2;
    while i < a.len() {
        let Some(v) = a.get(i + 1) else {
            return Err(SYNTAX);
        };
        if eq(a[i], "id") {
            let n = crate::args::parse_i64(v)
                .filter(|n| *n > 0)
                .ok_or_else(|| CmdError::new("ERR client-id should be greater than 0"))?;
            id = Some(n as u64);
        } else if eq(a[i], "addr") {
            addr = Some(text(v));
        } else if eq(a[i], "laddr") {
            laddr = Some(text(v));
        } else if eq(a[i], "user") {
            if ctx.server.acl.user(v).is_none() {
                return Err(CmdError::quoting("ERR No such user '{}'", &[v]));
            }
            user = Some(v.to_vec());
        } else if eq(a[i], "type") {
            let t = text(v).to_ascii_lowercase();
            if !matches!(
                t.as_str(),
                "normal" | "master" | "replica" | "slave" | "pubsub"
            ) {
                return Err(CmdError::quoting("ERR Unknown client type '{}'", &[v]));
            }
            // "replica" and "slave" name the same class.
            ctype = Some(if t == "replica" {
                "slave".to_string()
            } else {
                t
            });
        } else if eq(a[i], "skipme") {
            skipme = if eq(v, "yes") {
                true
            } else if eq(v, "no") {
                false
            } else {
                return Err(SYNTAX);
            };
        } else if eq(a[i], "maxage") {
            max_age = Some(int(v)?.max(0) as u64);
        } else {
            return Err(SYNTAX);
        }
        i += 2;
    }
    let mut killed = 0;
    for c in &all {
        let matches = id.is_none_or(|x| x == c.id)
            && addr.as_deref().is_none_or(|x| x == c.addr)
            && laddr.as_deref().is_none_or(|x| x == c.laddr)
            && user.as_deref().is_none_or(|x| x == c.names.lock().user())
            && ctype.as_deref().is_none_or(|x| x == client_type(c))
            && max_age.is_none_or(|m| ctx.now_ms.saturating_sub(c.created_ms) / 1000 >= m)
            && !(skipme && c.id == me);
        if matches {
            if c.id == me {
                ctx.client.close_after_reply = true;
            } else {
                c.kill();
            }
            killed += 1;
        }
    }
    ctx.out.int(killed);
    Ok(())
}

fn client_pause(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // Redis checks the argument count, then the mode, then the timeout.
    if a.len() > 4 {
        return Err(CmdError::quoting(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            &[a[1]],
        ));
    }
    let write_only = match a.get(3) {
        None => false,
        Some(m) if eq(m, "write") => true,
        Some(m) if eq(m, "all") => false,
        Some(_) => return Err(CmdError::new("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let timeout = crate::args::parse_i64(a[2])
        .ok_or_else(|| CmdError::new("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    let until = ctx.now_ms.saturating_add(timeout as u64);
    ctx.server.pause.pause(ctx.now_ms, until, write_only);
    ctx.out.ok();
    Ok(())
}

fn client_unpause(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    ctx.server.pause.unpause(&ctx.server.clients);
    ctx.out.ok();
    Ok(())
}

fn client_reply(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    ctx.client.reply = if eq(a[2], "on") {
        ReplyMode::On
    } else if eq(a[2], "off") {
        ReplyMode::Off
    } else if eq(a[2], "skip") {
        // Like Redis, SKIP does nothing while replies are OFF.
        if ctx.client.reply == ReplyMode::Off {
            ReplyMode::Off
        } else {
            ReplyMode::SkipNext
        }
    } else {
        return Err(SYNTAX);
    };
    ctx.out.ok();
    Ok(())
}

fn on_off(a: &[u8]) -> Result<bool, CmdError> {
    if eq(a, "on") {
        Ok(true)
    } else if eq(a, "off") {
        Ok(false)
    } else {
        Err(SYNTAX)
    }
}

fn client_no_evict(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let on = on_off(a[2])?;
    ctx.client.shared.no_evict.store(on, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn client_no_touch(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let on = on_off(a[2])?;
    ctx.client.no_touch = on;
    ctx.client.shared.no_touch.store(on, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn client_unblock(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // Redis checks the argument count, then the reason, then the id.
    if a.len() > 4 {
        return Err(CmdError::quoting(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            &[a[1]],
        ));
    }
    let reason = match a.get(3) {
        None => 1,
        Some(r) if eq(r, "timeout") => 1,
        Some(r) if eq(r, "error") => 2,
        Some(_) => {
            return Err(CmdError::new(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let id = int(a[2])?;
    let target = (id > 0)
        .then(|| ctx.server.clients.get(id as u64))
        .flatten();
    let unblocked = match target {
        Some(c) if c.blocked_since.load(Ordering::Acquire) != 0 => {
            c.unblock.store(reason, Ordering::Release);
            c.wake();
            true
        }
        _ => false,
    };
    ctx.out.int(unblocked as i64);
    Ok(())
}

fn client_help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "    * MAXAGE <maxage>",
            "      Kill connections older than the specified age.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    )
}
