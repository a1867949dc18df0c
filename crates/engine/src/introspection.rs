//! The COMMAND family: everything it reports is rendered from the command
//! table (the `commands` crate), so the table is the single source of truth.

use commands::{
    key_flag, keys::key_positions, Arg, BeginSearch, CommandSpec, FindKeys, ACL_CATEGORY_NAMES,
    FLAG_NAMES, KEY_FLAG_NAMES,
};
use keyspace::glob::glob_match;
use resp::ReplyWriter;

use crate::args::{eq, text};
use crate::error::{CmdError, CmdResult, SYNTAX};
use crate::generic::help;
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("command", command_all),
    ("command|count", command_count),
    ("command|info", command_info),
    ("command|docs", command_docs),
    ("command|list", command_list),
    ("command|getkeys", command_getkeys),
    ("command|getkeysandflags", command_getkeysandflags),
    ("command|help", command_help),
];

fn names_of_bits(out: &mut ReplyWriter, bits: u32, names: &[&str], prefix: &str) {
    let n = (0..names.len()).filter(|i| bits & (1 << i) != 0).count();
    out.set(n);
    for (i, name) in names.iter().enumerate() {
        if bits & (1 << i) != 0 {
            out.simple(&format!("{prefix}{name}"));
        }
    }
}

fn key_spec_reply(out: &mut ReplyWriter, ks: &commands::KeySpec) {
    let has_notes = !ks.notes.is_empty();
    out.map(3 + has_notes as usize);
    if has_notes {
        out.bulk_str("notes");
        out.bulk_str(ks.notes);
    }
    out.bulk_str("flags");
    names_of_bits(out, ks.flags, &KEY_FLAG_NAMES, "");
    out.bulk_str("begin_search");
    match ks.begin_search {
        BeginSearch::Index(i) => {
            out.map(2);
            out.bulk_str("type");
            out.bulk_str("index");
            out.bulk_str("spec");
            out.map(1);
            out.bulk_str("index");
            out.int(i as i64);
        }
        BeginSearch::Keyword { keyword, startfrom } => {
            out.map(2);
            out.bulk_str("type");
            out.bulk_str("keyword");
            out.bulk_str("spec");
            out.map(2);
            out.bulk_str("keyword");
            out.bulk_str(keyword);
            out.bulk_str("startfrom");
            out.int(startfrom as i64);
        }
        BeginSearch::Unknown => {
            out.map(2);
            out.bulk_str("type");
            out.bulk_str("unknown");
            out.bulk_str("spec");
            out.map(0);
        }
    }
    out.bulk_str("find_keys");
    match ks.find_keys {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            out.map(2);
            out.bulk_str("type");
            out.bulk_str("range");
            out.bulk_str("spec");
            out.map(3);
            out.bulk_str("lastkey");
            out.int(lastkey as i64);
            out.bulk_str("keystep");
            out.int(keystep as i64);
            out.bulk_str("limit");
            out.int(limit as i64);
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            out.map(2);
            out.bulk_str("type");
            out.bulk_str("keynum");
            out.bulk_str("spec");
            out.map(3);
            out.bulk_str("keynumidx");
            out.int(keynumidx as i64);
            out.bulk_str("firstkey");
            out.int(firstkey as i64);
            out.bulk_str("keystep");
            out.int(keystep as i64);
        }
        FindKeys::Unknown => {
            out.map(2);
            out.bulk_str("type");
            out.bulk_str("unknown");
            out.bulk_str("spec");
            out.map(0);
        }
    }
}

/// One COMMAND INFO entry (Redis 7 layout: 10 fields).
fn info_reply(out: &mut ReplyWriter, c: &CommandSpec) {
    out.array(10);
    out.bulk_str(c.name);
    out.int(c.arity as i64);
    names_of_bits(out, c.flags, &FLAG_NAMES, "");
    out.int(c.first_key as i64);
    out.int(c.last_key as i64);
    out.int(c.key_step as i64);
    names_of_bits(out, c.acl_categories, &ACL_CATEGORY_NAMES, "@");
    out.set(c.tips.len());
    for t in c.tips {
        out.bulk_str(t);
    }
    out.set(c.key_specs.len());
    for ks in c.key_specs {
        key_spec_reply(out, ks);
    }
    // Redis: an empty set without subcommands, else an array.
    if c.subcommands.is_empty() {
        out.set(0);
    } else {
        out.array(c.subcommands.len());
    }
    for s in c.subcommands {
        info_reply(out, s);
    }
}

fn arg_reply(out: &mut ReplyWriter, a: &Arg) {
    // Key arguments, and SORT's BY/GET patterns, carry their key spec.
    let is_key = a.key_spec_index >= 0;
    let n = 2
        + is_key as usize
        + a.token.is_some() as usize
        + a.summary.is_some() as usize
        + a.since.is_some() as usize
        + a.deprecated_since.is_some() as usize
        + a.display_text.is_some() as usize
        + (a.flags != 0) as usize
        + (!a.arguments.is_empty()) as usize;
    out.map(n);
    out.bulk_str("name");
    out.bulk_str(a.name);
    out.bulk_str("type");
    out.bulk_str(a.kind.name());
    if is_key {
        out.bulk_str("key_spec_index");
        out.int(a.key_spec_index as i64);
    }
    let opt = |out: &mut ReplyWriter, k: &str, v: Option<&str>| {
        if let Some(v) = v {
            out.bulk_str(k);
            out.bulk_str(v);
        }
    };
    opt(out, "token", a.token);
    opt(out, "summary", a.summary);
    opt(out, "since", a.since);
    opt(out, "deprecated_since", a.deprecated_since);
    opt(out, "display_text", a.display_text);
    if a.flags != 0 {
        out.bulk_str("flags");
        // Bit order of commands::arg_flag.
        names_of_bits(
            out,
            a.flags as u32,
            &["optional", "multiple", "multiple_token"],
            "",
        );
    }
    if !a.arguments.is_empty() {
        out.bulk_str("arguments");
        out.array(a.arguments.len());
        for sub in a.arguments {
            arg_reply(out, sub);
        }
    }
}

/// One COMMAND DOCS value (the map of a command's documentation).
fn docs_reply(out: &mut ReplyWriter, c: &CommandSpec) {
    // Like Redis, absent texts (empty here) are left out.
    let n = 1
        + !c.summary.is_empty() as usize
        + !c.since.is_empty() as usize
        + !c.complexity.is_empty() as usize
        + (c.doc_flags != 0) as usize
        + c.deprecated_since.is_some() as usize
        + c.replaced_by.is_some() as usize
        + (!c.history.is_empty()) as usize
        + (!c.arguments.is_empty()) as usize
        + (!c.subcommands.is_empty()) as usize;
    out.map(n);
    for (k, v) in [("summary", c.summary), ("since", c.since)] {
        if !v.is_empty() {
            out.bulk_str(k);
            out.bulk_str(v);
        }
    }
    out.bulk_str("group");
    out.bulk_str(c.group.name());
    if !c.complexity.is_empty() {
        out.bulk_str("complexity");
        out.bulk_str(c.complexity);
    }
    if c.doc_flags != 0 {
        out.bulk_str("doc_flags");
        // Bit order of commands::doc_flag.
        names_of_bits(out, c.doc_flags as u32, &["deprecated", "syscmd"], "");
    }
    if let Some(v) = c.deprecated_since {
        out.bulk_str("deprecated_since");
        out.bulk_str(v);
    }
    if let Some(v) = c.replaced_by {
        out.bulk_str("replaced_by");
        out.bulk_str(v);
    }
    if !c.history.is_empty() {
        out.bulk_str("history");
        out.set(c.history.len());
        for (v, d) in c.history {
            out.array(2);
            out.bulk_str(v);
            out.bulk_str(d);
        }
    }
    if !c.arguments.is_empty() {
        out.bulk_str("arguments");
        out.array(c.arguments.len());
        for a in c.arguments {
            arg_reply(out, a);
        }
    }
    if !c.subcommands.is_empty() {
        out.bulk_str("subcommands");
        out.map(c.subcommands.len());
        for s in c.subcommands {
            out.bulk_str(s.name);
            docs_reply(out, s);
        }
    }
}

fn command_all(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    ctx.out.array(commands::COMMANDS.len());
    for c in commands::COMMANDS {
        info_reply(&mut ctx.out, c);
    }
    Ok(())
}

fn command_count(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    ctx.out.int(commands::COMMANDS.len() as i64);
    Ok(())
}

/// A command or "container|sub" by its user-visible name.
fn find_by_name(name: &[u8]) -> Option<&'static CommandSpec> {
    let name = std::str::from_utf8(name).ok()?;
    commands::all().find(|c| c.name.eq_ignore_ascii_case(name))
}

fn command_info(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    if a.len() == 2 {
        return command_all(ctx, a);
    }
    ctx.out.array(a.len() - 2);
    for name in &a[2..] {
        match find_by_name(name) {
            Some(c) => info_reply(&mut ctx.out, c),
            // A plain null, as Redis's addReplyNull ($-1 in RESP2).
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn command_docs(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let found: Vec<&CommandSpec> = if a.len() == 2 {
        commands::COMMANDS.iter().collect()
    } else {
        a[2..].iter().filter_map(|n| find_by_name(n)).collect()
    };
    ctx.out.map(found.len());
    for c in found {
        ctx.out.bulk_str(c.name);
        docs_reply(&mut ctx.out, c);
    }
    Ok(())
}

fn command_list(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    enum Filter<'x> {
        All,
        Module,
        AclCat(Option<usize>),
        Pattern(&'x [u8]),
    }
    let filter = match a.len() {
        2 => Filter::All,
        5 if eq(a[2], "filterby") => {
            if eq(a[3], "module") {
                Filter::Module
            } else if eq(a[3], "aclcat") {
                let cat = text(a[4]).to_ascii_lowercase();
                Filter::AclCat(ACL_CATEGORY_NAMES.iter().position(|c| *c == cat))
            } else if eq(a[3], "pattern") {
                Filter::Pattern(a[4])
            } else {
                return Err(SYNTAX);
            }
        }
        _ => return Err(SYNTAX),
    };
    let names: Vec<&str> = commands::all()
        .filter(|c| match &filter {
            Filter::All => true,
            Filter::Module => false,
            Filter::AclCat(cat) => cat.is_some_and(|i| c.acl_categories & (1 << i) != 0),
            Filter::Pattern(p) => glob_match(p, c.name.as_bytes(), true),
        })
        .map(|c| c.name)
        .collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk_str(n);
    }
    Ok(())
}

/// The keys of a command line with their key-spec flags (COMMAND GETKEYS[ANDFLAGS]),
/// with Redis's errors.
fn getkeys<'x>(ctx: &Ctx, a: &[&'x [u8]]) -> Result<Vec<(&'x [u8], u32)>, CmdError> {
    let line: Vec<&[u8]> = a[2..].to_vec();
    let (spec, arity_ok) = match crate::dispatch::lookup(ctx.server, &line) {
        Ok(e) => (e.spec, true),
        Err(crate::dispatch::LookupError::Arity(spec)) => (spec, false),
        Err(_) => return Err(CmdError::new("ERR Invalid command specified")),
    };
    // Redis's order: the command, whether it has keys at all, then the arity.
    if !spec
        .key_specs
        .iter()
        .any(|k| k.flags & key_flag::NOT_KEY == 0)
    {
        return Err(CmdError::new("ERR The command has no key arguments"));
    }
    if !arity_ok {
        return Err(CmdError::new(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let keys = if spec.name == "sort" {
        sort_key_positions(&line)
    } else {
        key_positions(spec, &line).map_err(|e| CmdError::new(e.message()))?
    };
    if keys.is_empty() && !spec.has_flag(commands::flag::NO_MANDATORY_KEYS) {
        return Err(CmdError::new("ERR Invalid arguments specified for command"));
    }
    Ok(keys
        .into_iter()
        .map(|(i, f)| (line[i], resolve_variable_flags(spec, &line, f)))
        .collect())
}

/// SORT's keys (Redis's `sortGetKeys`): the sorted key, and the last STORE
/// target; LIMIT's two arguments and BY/GET patterns are skipped.
fn sort_key_positions(line: &[&[u8]]) -> Vec<(usize, u32)> {
    let mut keys = vec![(1, key_flag::RO | key_flag::ACCESS)];
    let mut store = None;
    let mut i = 2;
    while i < line.len() {
        if eq(line[i], "limit") {
            i += 2;
        } else if eq(line[i], "get") || eq(line[i], "by") {
            i += 1;
        } else if eq(line[i], "store") && i + 1 < line.len() {
            store = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    if let Some(s) = store {
        keys.push((s, key_flag::OW | key_flag::UPDATE));
    }
    keys
}

/// Commands whose key flags depend on their arguments (Redis's `*GetKeys`
/// procs for key specs flagged VARIABLE_FLAGS).
fn resolve_variable_flags(spec: &CommandSpec, line: &[&[u8]], flags: u32) -> u32 {
    if flags & key_flag::VARIABLE_FLAGS == 0 {
        return flags;
    }
    let has = |w: &str| line.iter().skip(3).any(|a| eq(a, w));
    match spec.name {
        "set" if has("get") => key_flag::RW | key_flag::ACCESS | key_flag::UPDATE,
        "set" => key_flag::OW | key_flag::UPDATE,
        _ => flags & !key_flag::VARIABLE_FLAGS,
    }
}

fn command_getkeys(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let keys = getkeys(ctx, a)?;
    ctx.out.array(keys.len());
    for (key, _) in keys {
        ctx.out.bulk(key);
    }
    Ok(())
}

fn command_getkeysandflags(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let keys = getkeys(ctx, a)?;
    ctx.out.array(keys.len());
    for (key, flags) in keys {
        ctx.out.array(2);
        ctx.out.bulk(key);
        names_of_bits(&mut ctx.out, flags, &KEY_FLAG_NAMES, "");
    }
    Ok(())
}

fn command_help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    )
}
