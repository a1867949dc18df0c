//! Access control lists (Redis 7 ACLs): users, their rules, and the
//! permission check every command passes.
//!
//! A user holds [`Perms`]: whether it is enabled, its password hashes
//! (SHA-256, as Redis stores them) and selectors. A selector allows a set
//! of commands (one bit per command-table entry, subcommands included),
//! key patterns with read/write rights, and channel patterns. The root
//! selector comes first; a command is allowed when any selector allows it.
//!
//! Clients hold their user's `Arc<User>`. ACL SETUSER replaces the user's
//! `Perms` wholesale, so connected clients see new rules at their next
//! command. The default user as Redis starts it (every command, key and
//! channel) is marked unrestricted: its clients skip the check entirely.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use commands::{key_flag, CommandSpec, ACL_CATEGORY_NAMES};
use parking_lot::{Mutex, RwLock};

use crate::dispatch::CommandTable;

/// Why a command was refused (Redis's order: the highest wins across
/// selectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Command,
    Key,
    Channel,
}

/// A key pattern and the rights it grants.
#[derive(Debug, Clone, PartialEq)]
struct KeyPattern {
    pattern: Vec<u8>,
    read: bool,
    write: bool,
}

/// One selector: commands, keys and channels it allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// One bit per command-table entry.
    allowed: Vec<u64>,
    /// First arguments allowed for a command whose bit is not set
    /// (`+select|0`), by entry index.
    first_args: Vec<(usize, Vec<Vec<u8>>)>,
    /// The command rules as ACL GETUSER describes them, after "+@all" or
    /// "-@all" (`all_base`).
    all_base: bool,
    /// Kept as bytes, like key and channel patterns: rules are not text
    /// (`+select|\xfe`).
    rules: Vec<Vec<u8>>,
    all_keys: bool,
    keys: Vec<KeyPattern>,
    all_channels: bool,
    channels: Vec<Vec<u8>>,
}

impl Selector {
    /// Nothing allowed (a new user's root selector, or `reset`).
    fn none(table: &CommandTable) -> Selector {
        Selector {
            allowed: vec![0; table.entries.len().div_ceil(64)],
            first_args: Vec::new(),
            all_base: false,
            rules: Vec::new(),
            all_keys: false,
            keys: Vec::new(),
            all_channels: false,
            channels: Vec::new(),
        }
    }

    fn allows(&self, index: usize) -> bool {
        self.allowed[index / 64] & (1 << (index % 64)) != 0
    }

    fn set(&mut self, index: usize, on: bool) {
        self.first_args.retain(|(i, _)| *i != index);
        if on {
            self.allowed[index / 64] |= 1 << (index % 64);
        } else {
            self.allowed[index / 64] &= !(1 << (index % 64));
        }
    }

    /// Every command (`+@all` and no later rule), key and channel.
    fn everything(&self) -> bool {
        self.all_keys && self.all_channels && self.all_base && self.rules.is_empty()
    }

    /// Applies one rule (not a user-level one such as `on` or `>pass`).
    fn apply(&mut self, rule: &[u8], table: &CommandTable) -> Result<(), String> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_slice() {
            b"allkeys" | b"~*" => {
                self.all_keys = true;
                self.keys.clear();
                return Ok(());
            }
            b"resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
                return Ok(());
            }
            b"allchannels" | b"&*" => {
                self.all_channels = true;
                self.channels.clear();
                return Ok(());
            }
            b"resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
                return Ok(());
            }
            b"allcommands" | b"+@all" => {
                self.allowed.iter_mut().for_each(|w| *w = u64::MAX);
                self.first_args.clear();
                self.all_base = true;
                self.rules.clear();
                return Ok(());
            }
            b"nocommands" | b"-@all" => {
                self.allowed.iter_mut().for_each(|w| *w = 0);
                self.first_args.clear();
                self.all_base = false;
                self.rules.clear();
                return Ok(());
            }
            _ => {}
        }
        if let Some(pattern) = key_rule(rule)? {
            let KeyPattern {
                pattern,
                read,
                write,
            } = pattern;
            if self.all_keys {
                return Err("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns".into());
            }
            if read && write && pattern == b"*" {
                self.all_keys = true;
                self.keys.clear();
                return Ok(());
            }
            match self.keys.iter_mut().find(|k| k.pattern == pattern) {
                Some(k) => {
                    k.read |= read;
                    k.write |= write;
                }
                None => self.keys.push(KeyPattern {
                    pattern,
                    read,
                    write,
                }),
            }
            return Ok(());
        }
        if let Some(pattern) = rule.strip_prefix(b"&") {
            if self.all_channels {
                return Err("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels".into());
            }
            if !self.all_channels && !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            return Ok(());
        }
        let (allow, what) = match rule.first() {
            Some(b'+') => (true, &lower[1..]),
            Some(b'-') => (false, &lower[1..]),
            _ => return Err("Syntax error".into()),
        };
        if let Some(name) = what.strip_prefix(b"@") {
            let bit = ACL_CATEGORY_NAMES
                .iter()
                .position(|c| c.as_bytes() == name)
                .ok_or("Unknown command or category name in ACL")?;
            for e in &table.entries {
                if e.spec.acl_categories & (1 << bit) != 0 {
                    self.set(e.index, allow);
                }
            }
            self.rules.push(lower);
            return Ok(());
        }
        // Command names are ASCII: a rule that is not UTF-8 names none.
        let unknown = "Unknown command or category name in ACL";
        let what_text = std::str::from_utf8(what).map_err(|_| unknown)?;
        if let Some((command, first)) = what_text.split_once('|') {
            // `+cmd|arg` of a command without subcommands: that first
            // argument only.
            if let Some(entry) = table
                .get_original(command)
                .filter(|e| e.spec.subcommands.is_empty())
            {
                if !allow {
                    return Err("Allowing first-arg of a subcommand is not supported".into());
                }
                if !self.allows(entry.index) {
                    let index = entry.index;
                    let first = first.as_bytes().to_vec();
                    match self.first_args.iter_mut().find(|(i, _)| *i == index) {
                        Some((_, args)) if !args.contains(&first) => args.push(first),
                        Some(_) => {}
                        None => self.first_args.push((index, vec![first])),
                    }
                }
                self.rules.push(lower);
                return Ok(());
            }
        }
        let entry = table
            .get_original(what_text)
            .filter(|e| !e.spec.name.contains('|') || what_text.contains('|'))
            .ok_or(unknown)?;
        self.set(entry.index, allow);
        for sub in entry.spec.subcommands {
            if let Some(s) = table.get_original(sub.name) {
                self.set(s.index, allow);
            }
        }
        // A later rule on the same command replaces earlier ones.
        self.rules.retain(|r| &r[1..] != what);
        self.rules.push(lower);
        Ok(())
    }

    /// The command rules as ACL GETUSER prints them.
    fn commands(&self) -> Vec<u8> {
        let base: &[u8] = if self.all_base { b"+@all" } else { b"-@all" };
        let mut parts = vec![base];
        parts.extend(self.rules.iter().map(Vec::as_slice));
        parts.join(&b' ')
    }

    fn key_rules(&self) -> Vec<u8> {
        if self.all_keys {
            return b"~*".to_vec();
        }
        let parts: Vec<Vec<u8>> = self
            .keys
            .iter()
            .map(|k| {
                let rights: &[u8] = match (k.read, k.write) {
                    (true, true) => b"~",
                    (true, false) => b"%R~",
                    _ => b"%W~",
                };
                [rights, &k.pattern].concat()
            })
            .collect();
        parts.join(&b' ')
    }

    fn channel_rules(&self) -> Vec<u8> {
        if self.all_channels {
            return b"&*".to_vec();
        }
        let parts: Vec<Vec<u8>> = self
            .channels
            .iter()
            .map(|c| [b"&", c.as_slice()].concat())
            .collect();
        parts.join(&b' ')
    }

    /// The selector's whole description (ACL LIST, and selectors in
    /// parentheses).
    fn describe(&self) -> Vec<u8> {
        // Unlike GETUSER's field, the description starts the channels
        // from scratch ("resetchannels") unless all are allowed.
        let channels = match self.channel_rules() {
            c if self.all_channels => c,
            c if c.is_empty() => b"resetchannels".to_vec(),
            c => [b"resetchannels ", c.as_slice()].concat(),
        };
        let parts = [self.key_rules(), channels, self.commands()];
        let parts: Vec<&[u8]> = parts
            .iter()
            .map(Vec::as_slice)
            .filter(|s| !s.is_empty())
            .collect();
        parts.join(&b' ')
    }

    /// Checks one command line against this selector; a refusal names
    /// the argument refused (0 for the command).
    fn check(
        &self,
        entry_index: usize,
        spec: &CommandSpec,
        args: &[&[u8]],
    ) -> Result<(), (Denied, usize)> {
        if !self.allows(entry_index) {
            let first_ok = args.get(1).is_some_and(|first| {
                self.first_args.iter().any(|(i, allowed)| {
                    *i == entry_index && allowed.iter().any(|a| a.eq_ignore_ascii_case(first))
                })
            });
            if !first_ok {
                return Err((Denied::Command, 0));
            }
        }
        if !self.all_keys && !spec.key_specs.is_empty() {
            let positions = commands::keys::key_positions(spec, args).unwrap_or_default();
            for (i, flags) in positions {
                let read = flags & key_flag::ACCESS != 0;
                let write = flags & (key_flag::INSERT | key_flag::DELETE | key_flag::UPDATE) != 0;
                let ok = self.keys.iter().any(|k| {
                    (!read || k.read)
                        && (!write || k.write)
                        && keyspace::glob::glob_match(&k.pattern, args[i], false)
                });
                if !ok {
                    return Err((Denied::Key, i));
                }
            }
        }
        if !self.all_channels {
            let (channels, patterns) = channels_of(spec.name, args);
            for i in channels {
                let ok = self
                    .channels
                    .iter()
                    .any(|p| keyspace::glob::glob_match(p, args[i], false));
                if !ok {
                    return Err((Denied::Channel, i));
                }
            }
            // A subscription pattern must be allowed literally.
            for i in patterns {
                if !self.channels.iter().any(|c| c == args[i]) {
                    return Err((Denied::Channel, i));
                }
            }
        }
        Ok(())
    }
}

/// `~pattern`, `%R~pattern`, `%W~pattern`, `%RW~pattern`: the pattern and
/// its rights; None when `rule` is not a key rule.
fn key_rule(rule: &[u8]) -> Result<Option<KeyPattern>, String> {
    if let Some(p) = rule.strip_prefix(b"~") {
        return Ok(Some(KeyPattern {
            pattern: p.to_vec(),
            read: true,
            write: true,
        }));
    }
    let Some(rest) = rule.strip_prefix(b"%") else {
        return Ok(None);
    };
    let Some(tilde) = rest.iter().position(|&c| c == b'~') else {
        return Err("Syntax error".into());
    };
    let (mut read, mut write) = (false, false);
    for c in &rest[..tilde] {
        match c.to_ascii_uppercase() {
            b'R' => read = true,
            b'W' => write = true,
            _ => return Err("Syntax error".into()),
        }
    }
    if !read && !write {
        return Err("Syntax error".into());
    }
    Ok(Some(KeyPattern {
        pattern: rest[tilde + 1..].to_vec(),
        read,
        write,
    }))
}

/// The positions of the channels a command publishes or subscribes to,
/// and of the patterns it subscribes to (unsubscribing needs no
/// permission, as in Redis).
fn channels_of(name: &str, args: &[&[u8]]) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let rest = 1..args.len();
    match name {
        "publish" | "spublish" => (1..2.min(args.len()), 0..0),
        "subscribe" | "ssubscribe" => (rest, 0..0),
        "psubscribe" => (0..0, rest),
        _ => (0..0, 0..0),
    }
}

/// A user's rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Perms {
    pub enabled: bool,
    pub nopass: bool,
    /// `sanitize-payload` (true) or `skip-sanitize-payload` (false) as
    /// last given, shown in the flags (payloads are always checked).
    sanitize: Option<bool>,
    /// SHA-256 of each password, in the order they were added.
    passwords: Vec<[u8; 32]>,
    root: Selector,
    selectors: Vec<Selector>,
}

impl Perms {
    /// A new user: off, no password, nothing allowed.
    fn new(table: &CommandTable) -> Perms {
        Perms {
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            root: Selector::none(table),
            selectors: Vec::new(),
        }
    }

    /// Applies one ACL SETUSER rule.
    pub fn apply(&mut self, rule: &[u8], table: &CommandTable) -> Result<(), String> {
        if rule.first() == Some(&b'(') {
            let inner = rule
                .strip_suffix(b")")
                .ok_or("Unmatched parenthesis in acl selector starting at '('.")?;
            let mut selector = Selector::none(table);
            for part in inner[1..].split(|&c| c == b' ').filter(|p| !p.is_empty()) {
                selector.apply(part, table)?;
            }
            self.selectors.push(selector);
            return Ok(());
        }
        match rule.to_ascii_lowercase().as_slice() {
            // An empty rule does nothing (as in Redis).
            b"" => {}
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"clearselectors" => self.selectors.clear(),
            b"reset" => {
                *self = Perms::new(table);
                self.sanitize = Some(true);
            }
            b"sanitize-payload" => self.sanitize = Some(true),
            b"skip-sanitize-payload" => self.sanitize = Some(false),
            _ => {
                match rule.first() {
                    Some(b'>') => {
                        let hash = sha256(&rule[1..]);
                        if !self.passwords.contains(&hash) {
                            self.passwords.push(hash);
                        }
                        self.nopass = false;
                    }
                    Some(b'<') => {
                        let hash = sha256(&rule[1..]);
                        if !self.passwords.contains(&hash) {
                            return Err("The password you are trying to remove from the user does not exist".into());
                        }
                        self.passwords.retain(|p| *p != hash);
                    }
                    Some(b'#') => {
                        let hash = parse_hash(&rule[1..])?;
                        if !self.passwords.contains(&hash) {
                            self.passwords.push(hash);
                        }
                        self.nopass = false;
                    }
                    Some(b'!') => {
                        let hash = parse_hash(&rule[1..])?;
                        if !self.passwords.contains(&hash) {
                            return Err("The password you are trying to remove from the user does not exist".into());
                        }
                        self.passwords.retain(|p| *p != hash);
                    }
                    _ => self.root.apply(rule, table)?,
                }
            }
        }
        Ok(())
    }

    /// May this password (or any, for a `nopass` user) log in?
    pub fn password_ok(&self, pass: &[u8]) -> bool {
        self.enabled && (self.nopass || self.passwords.contains(&sha256(pass)))
    }

    /// Everything allowed, as the default user starts.
    fn unrestricted(&self) -> bool {
        self.root.everything()
    }

    /// Checks a command line: Ok when some selector allows it, else the
    /// most specific refusal and the argument refused.
    pub fn check(
        &self,
        entry_index: usize,
        spec: &CommandSpec,
        args: &[&[u8]],
    ) -> Result<(), (Denied, usize)> {
        let mut worst = match self.root.check(entry_index, spec, args) {
            Ok(()) => return Ok(()),
            Err(d) => d,
        };
        for s in &self.selectors {
            match s.check(entry_index, spec, args) {
                Ok(()) => return Ok(()),
                Err(d) if d.0 > worst.0 => worst = d,
                Err(_) => {}
            }
        }
        Err(worst)
    }

    /// May the user stay subscribed to `name` (a pattern subscription
    /// when `pattern`)?
    pub fn channel_allowed(&self, name: &[u8], pattern: bool) -> bool {
        std::iter::once(&self.root).chain(&self.selectors).any(|s| {
            s.all_channels
                || s.channels.iter().any(|c| {
                    if pattern {
                        c == name
                    } else {
                        keyspace::glob::glob_match(c, name, false)
                    }
                })
        })
    }

    /// The user's flags as ACL GETUSER lists them.
    fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        match self.sanitize {
            Some(true) => flags.push("sanitize-payload"),
            Some(false) => flags.push("skip-sanitize-payload"),
            None => {}
        }
        flags
    }

    fn password_hexes(&self) -> Vec<String> {
        self.passwords.iter().map(|h| hex(h)).collect()
    }

    /// The user's ACL LIST line, after `user <name> `.
    fn describe(&self) -> Vec<u8> {
        let mut parts: Vec<Vec<u8>> = self.flags().iter().map(|f| f.as_bytes().to_vec()).collect();
        parts.extend(
            self.password_hexes()
                .into_iter()
                .map(|h| format!("#{h}").into_bytes()),
        );
        let root = self.root.describe();
        if !root.is_empty() {
            parts.push(root);
        }
        for s in &self.selectors {
            parts.push([b"(", s.describe().as_slice(), b")"].concat());
        }
        parts.join(&b' ')
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hash(text: &[u8]) -> Result<[u8; 32], String> {
    let bad = || {
        "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters".to_string()
    };
    if text.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        out[i] = digit(pair[0])
            .zip(digit(pair[1]))
            .map(|(h, l)| h << 4 | l)
            .ok_or_else(bad)?;
    }
    Ok(out)
}

/// A user: its name (any bytes but spaces and NUL, as in Redis) and
/// current rules.
#[derive(Debug)]
pub struct User {
    pub name: Vec<u8>,
    perms: RwLock<Arc<Perms>>,
    /// The rules allow everything: its clients skip the check.
    unrestricted: AtomicBool,
}

impl User {
    fn new(name: &[u8], perms: Perms) -> User {
        let unrestricted = perms.unrestricted();
        User {
            name: name.to_vec(),
            perms: RwLock::new(Arc::new(perms)),
            unrestricted: AtomicBool::new(unrestricted),
        }
    }

    pub fn perms(&self) -> Arc<Perms> {
        self.perms.read().clone()
    }

    fn set_perms(&self, perms: Perms) {
        self.unrestricted
            .store(perms.unrestricted(), Ordering::Release);
        *self.perms.write() = Arc::new(perms);
    }

    /// Does this user need no permission check?
    pub fn unrestricted(&self) -> bool {
        self.unrestricted.load(Ordering::Acquire)
    }
}

/// One ACL LOG entry.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub entry_id: u64,
    pub client_info: String,
}

/// The node's users and its ACL LOG.
pub struct Acl {
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    log: Mutex<VecDeque<LogEntry>>,
    next_entry_id: std::sync::atomic::AtomicU64,
}

/// Joins a selector split over several arguments (`"(~a" "+get)"`) into
/// one rule, as Redis 7 does for ACL SETUSER, `user` lines and ACL files.
/// The error is the index of a selector's opening rule that never closes.
fn merge_selector_arguments<'a>(rules: &[&'a [u8]]) -> Result<Vec<Cow<'a, [u8]>>, usize> {
    let mut out = Vec::with_capacity(rules.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, rule) in rules.iter().enumerate() {
        let closes = rule.last() == Some(&b')');
        if let Some((start, mut selector)) = open.take() {
            selector.push(b' ');
            selector.extend_from_slice(rule);
            if closes {
                out.push(Cow::Owned(selector));
            } else {
                open = Some((start, selector));
            }
        } else if rule.first() == Some(&b'(') && !closes {
            open = Some((i, rule.to_vec()));
        } else {
            out.push(Cow::Borrowed(*rule));
        }
    }
    match open {
        Some((start, _)) => Err(start),
        None => Ok(out),
    }
}

const UNMATCHED_SELECTOR: &str = "Unmatched parenthesis in acl selector starting at '{}'.";

impl Acl {
    /// The default user as Redis starts it: on, nopass, everything.
    pub fn new(table: &CommandTable) -> Acl {
        let mut perms = Perms::new(table);
        for rule in ["on", "nopass", "~*", "&*", "+@all"] {
            let _ = perms.apply(rule.as_bytes(), table);
        }
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), Arc::new(User::new(b"default", perms)));
        Acl {
            users: RwLock::new(users),
            log: Mutex::new(VecDeque::new()),
            next_entry_id: Default::default(),
        }
    }

    pub fn user(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    pub fn default_user(&self) -> Arc<User> {
        self.user(b"default")
            .expect("the default user always exists")
    }

    /// Do new connections start authenticated (as the default user)?
    pub fn default_open(&self) -> bool {
        let perms = self.default_user().perms();
        perms.enabled && perms.nopass
    }

    /// ACL SETUSER: applies every rule to a copy of the user (created if
    /// new); nothing changes when one fails. The error quotes the failing
    /// rule as it was sent (bytes).
    pub fn set_user(
        &self,
        name: &[u8],
        rules: &[&[u8]],
        table: &CommandTable,
    ) -> Result<(), Vec<u8>> {
        if !valid_username(name) {
            return Err(b"Usernames can't contain spaces or null characters".to_vec());
        }
        // Under the write lock: concurrent SETUSERs of a user apply in turn.
        let mut users = self.users.write();
        let rules = merge_selector_arguments(rules)
            .map_err(|start| crate::error::fill(UNMATCHED_SELECTOR, &[rules[start]]))?;
        let mut perms = match users.get(name) {
            Some(u) => (*u.perms()).clone(),
            None => Perms::new(table),
        };
        for rule in &rules {
            perms.apply(rule, table).map_err(|e| {
                crate::error::fill(
                    &format!("Error in ACL SETUSER modifier '{{}}': {e}"),
                    &[rule],
                )
            })?;
        }
        put_user(&mut users, name, perms);
        Ok(())
    }

    /// Sets the default user's password from `requirepass` (empty: nopass).
    pub fn set_requirepass(&self, pass: &[u8], table: &CommandTable) {
        let user = self.default_user();
        let mut perms = (*user.perms()).clone();
        let _ = perms.apply(b"resetpass", table);
        let rule = if pass.is_empty() {
            b"nopass".to_vec()
        } else {
            [b">".as_slice(), pass].concat()
        };
        let _ = perms.apply(&rule, table);
        user.set_perms(perms);
    }

    /// ACL DELUSER: removes the users; returns them (their clients must go).
    pub fn delete(&self, names: &[&[u8]]) -> Result<Vec<Arc<User>>, String> {
        if names.iter().any(|n| *n == b"default") {
            return Err("The 'default' user cannot be removed".into());
        }
        let mut users = self.users.write();
        let mut removed = Vec::new();
        for n in names {
            if let Some(u) = users.remove(*n) {
                removed.push(u);
            }
        }
        Ok(removed)
    }

    pub fn names(&self) -> Vec<Vec<u8>> {
        self.users.read().keys().cloned().collect()
    }

    /// ACL LIST lines.
    pub fn list(&self) -> Vec<Vec<u8>> {
        self.users
            .read()
            .values()
            .map(|u| [b"user ", u.name.as_slice(), b" ", &u.perms().describe()].concat())
            .collect()
    }

    /// Records a refusal in ACL LOG (grouped with an identical recent one,
    /// as Redis does within 60 seconds).
    pub fn log(
        &self,
        reason: &'static str,
        context: &'static str,
        object: &[u8],
        username: &[u8],
        client_info: String,
        max_len: usize,
    ) {
        let now = crate::now_ms();
        let mut log = self.log.lock();
        let similar = log.iter().position(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
                && now.saturating_sub(e.updated_ms) < 60_000
        });
        // A repeat counts in the existing entry, which becomes the newest.
        if let Some(mut e) = similar.and_then(|i| log.remove(i)) {
            e.count += 1;
            e.updated_ms = now;
            e.client_info = client_info;
            log.push_front(e);
            return;
        }
        let entry_id = self.next_entry_id.fetch_add(1, Ordering::Relaxed);
        log.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object: object.to_vec(),
            username: username.to_vec(),
            created_ms: now,
            updated_ms: now,
            entry_id,
            client_info,
        });
        log.truncate(max_len);
    }

    pub fn log_entries(&self, count: usize) -> Vec<LogEntry> {
        self.log.lock().iter().take(count).cloned().collect()
    }

    pub fn reset_log(&self) {
        self.log.lock().clear();
    }
}

/// Gives the user `name` these rules (its clients see them at their next
/// command), creating it if needed.
fn put_user(users: &mut BTreeMap<Vec<u8>, Arc<User>>, name: &[u8], perms: Perms) {
    match users.get(name) {
        Some(u) => u.set_perms(perms),
        None => {
            users.insert(name.to_vec(), Arc::new(User::new(name, perms)));
        }
    }
}

/// Redis refuses only whitespace and NUL in a user name (not empty ones).
fn valid_username(name: &[u8]) -> bool {
    !name
        .iter()
        .any(|&c| c == 0 || c == b' ' || (b'\t'..=b'\r').contains(&c))
}

/// The user-facing parts of a user for ACL GETUSER: flags, password
/// hashes, and per selector (root first) commands, keys, channels.
pub struct Described {
    pub flags: Vec<&'static str>,
    pub passwords: Vec<String>,
    pub root: [Vec<u8>; 3],
    pub selectors: Vec<[Vec<u8>; 3]>,
}

pub fn describe_user(user: &User) -> Described {
    let p = user.perms();
    let parts = |s: &Selector| [s.commands(), s.key_rules(), s.channel_rules()];
    Described {
        flags: p.flags(),
        passwords: p.password_hexes(),
        root: parts(&p.root),
        selectors: p.selectors.iter().map(parts).collect(),
    }
}

/// The commands in a category (ACL CAT <category>); None for an unknown one.
pub fn commands_in(table: &CommandTable, name: &str) -> Option<Vec<&'static str>> {
    let bit = ACL_CATEGORY_NAMES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))?;
    Some(
        table
            .entries
            .iter()
            .filter(|e| e.spec.acl_categories & (1 << bit) != 0)
            .map(|e| e.spec.name)
            .collect(),
    )
}

/// Checks `user`'s permission to run a command line (see
/// [`Perms::check`]; no user: an internal client, allowed). A refusal is
/// logged in ACL LOG (in `context`, about `client`: for a script, its
/// caller) and answered with Redis's NOPERM error, returned.
pub(crate) fn check_command(
    server: &crate::Server,
    user: Option<&Arc<User>>,
    client: &crate::client::ClientShared,
    entry: &crate::dispatch::CommandEntry,
    args: &[&[u8]],
    context: &'static str,
) -> Result<(), (Denied, Vec<u8>)> {
    // AUTH and HELLO (no-auth commands) are always allowed, as in Redis.
    let Some(user) =
        user.filter(|u| !u.unrestricted() && !entry.spec.has_flag(commands::flag::NO_AUTH))
    else {
        return Ok(());
    };
    let Err((denied, arg)) = user.perms().check(entry.index, entry.spec, args) else {
        return Ok(());
    };
    let (reason, object, msg) = match denied {
        Denied::Command => (
            "command",
            entry.spec.name.as_bytes(),
            format!(
                "NOPERM this user has no permissions to run the '{}' command",
                entry.spec.name
            ),
        ),
        Denied::Key => (
            "key",
            args[arg],
            "NOPERM this user has no permissions to access one of the keys used as arguments"
                .to_string(),
        ),
        Denied::Channel => (
            "channel",
            args[arg],
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .to_string(),
        ),
    };
    // The client info names the refused command (a script's caller's
    // names the script's).
    if context != "lua" {
        *client.last_cmd.lock() = entry.spec.name;
    }
    log_refusal(server, client, reason, context, object, &user.name);
    Err((denied, msg.into_bytes()))
}

/// Adds an ACL LOG entry about `client`.
pub(crate) fn log_refusal(
    server: &crate::Server,
    client: &crate::client::ClientShared,
    reason: &'static str,
    context: &'static str,
    object: &[u8],
    username: &[u8],
) {
    let max_len = server.config.get_i64("acllog-max-len").max(0) as usize;
    let info = crate::connection::client_line(client, crate::now_ms());
    server
        .acl
        .log(reason, context, object, username, info, max_len);
}

// ---------------------------------------------------------------------------
// The ACL command family
// ---------------------------------------------------------------------------

use crate::args::{eq, text};
use crate::error::{CmdError, CmdResult};
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("acl|setuser", acl_setuser),
    ("acl|getuser", acl_getuser),
    ("acl|deluser", acl_deluser),
    ("acl|list", acl_list),
    ("acl|users", acl_users),
    ("acl|whoami", acl_whoami),
    ("acl|cat", acl_cat),
    ("acl|genpass", acl_genpass),
    ("acl|log", acl_log),
    ("acl|dryrun", acl_dryrun),
    ("acl|load", acl_load),
    ("acl|save", acl_save),
    ("acl|help", acl_help),
];

fn acl_setuser(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    ctx.server
        .acl
        .set_user(a[2], &a[3..], &ctx.server.commands)
        .map_err(|e| CmdError::from_bytes([b"ERR ".as_slice(), &e].concat()))?;
    // As Redis 7: subscriptions the user may no longer hold end with
    // their connections.
    if let Some(user) = ctx.server.acl.user(a[2]) {
        let perms = user.perms();
        ctx.server
            .pubsub
            .close_revoked(&user.name, |name, pattern| {
                perms.channel_allowed(name, pattern)
            });
    }
    ctx.out.ok();
    Ok(())
}

fn acl_getuser(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let Some(user) = ctx.server.acl.user(a[2]) else {
        ctx.out.null();
        return Ok(());
    };
    let d = describe_user(&user);
    ctx.out.map(6);
    ctx.out.bulk_str("flags");
    ctx.out.set(d.flags.len());
    d.flags.iter().for_each(|f| ctx.out.bulk_str(f));
    ctx.out.bulk_str("passwords");
    ctx.out.array(d.passwords.len());
    d.passwords.iter().for_each(|p| ctx.out.bulk_str(p));
    for (name, value) in ["commands", "keys", "channels"].iter().zip(&d.root) {
        ctx.out.bulk_str(name);
        ctx.out.bulk(value);
    }
    ctx.out.bulk_str("selectors");
    ctx.out.array(d.selectors.len());
    for s in &d.selectors {
        ctx.out.map(3);
        for (name, value) in ["commands", "keys", "channels"].iter().zip(s) {
            ctx.out.bulk_str(name);
            ctx.out.bulk(value);
        }
    }
    Ok(())
}

fn acl_deluser(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let removed = ctx
        .server
        .acl
        .delete(&a[2..])
        .map_err(|e| CmdError::new(format!("ERR {e}")))?;
    close_deleted_users(ctx);
    ctx.out.int(removed.len() as i64);
    Ok(())
}

/// Closes the connections of deleted users (the caller's own after this
/// reply).
fn close_deleted_users(ctx: &mut Ctx) {
    for c in ctx.server.clients.all() {
        let Some(name) = c.names.lock().user.clone() else {
            continue;
        };
        if ctx.server.acl.user(&name).is_some() {
            continue;
        }
        if c.id == ctx.client.id() {
            ctx.client.close_after_reply = true;
        } else {
            c.kill();
        }
    }
}

fn acl_list(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let lines = ctx.server.acl.list();
    ctx.out.array(lines.len());
    lines.iter().for_each(|l| ctx.out.bulk(l));
    Ok(())
}

fn acl_users(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let names = ctx.server.acl.names();
    ctx.out.array(names.len());
    names.iter().for_each(|n| ctx.out.bulk(n));
    Ok(())
}

fn acl_whoami(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let name = ctx.client.shared.names.lock().user().to_vec();
    ctx.out.bulk(&name);
    Ok(())
}

fn acl_cat(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    if a.len() > 3 {
        return Err(CmdError::new(
            "ERR unknown subcommand or wrong number of arguments for 'CAT'. Try ACL HELP.",
        ));
    }
    let names: Vec<&str> = match a.get(2) {
        None => ACL_CATEGORY_NAMES.to_vec(),
        Some(cat) => commands_in(&ctx.server.commands, &text(cat))
            .ok_or_else(|| CmdError::quoting("ERR Unknown category '{}'", &[cat]))?,
    };
    ctx.out.array(names.len());
    names.iter().for_each(|n| ctx.out.bulk_str(n));
    Ok(())
}

fn acl_genpass(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let bits = match a.get(2) {
        None => 256,
        Some(b) => crate::args::parse_i64(b)
            .ok_or_else(|| CmdError::new("ERR value is not an integer or out of range"))
            .map(Some)?
            .filter(|b| (1..=4096).contains(b))
            .ok_or_else(|| CmdError::new("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"))?,
    };
    let chars = (bits as usize).div_ceil(4);
    let pass: String = (0..chars)
        .map(|_| char::from_digit(rand::random::<u32>() % 16, 16).unwrap_or('0'))
        .collect();
    ctx.out.bulk_str(&pass);
    Ok(())
}

fn acl_log(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let count = match a.get(2) {
        None => 10,
        Some(arg) if eq(arg, "reset") => {
            ctx.server.acl.reset_log();
            ctx.out.ok();
            return Ok(());
        }
        Some(arg) => crate::args::parse_i64(arg)
            .ok_or_else(|| CmdError::new("ERR value is not an integer or out of range"))?
            .max(0) as usize,
    };
    let now = crate::now_ms();
    let entries = ctx.server.acl.log_entries(count);
    ctx.out.array(entries.len());
    for e in &entries {
        ctx.out.map(10);
        ctx.out.bulk_str("count");
        ctx.out.int(e.count as i64);
        ctx.out.bulk_str("reason");
        ctx.out.bulk_str(e.reason);
        ctx.out.bulk_str("context");
        ctx.out.bulk_str(e.context);
        ctx.out.bulk_str("object");
        ctx.out.bulk(&e.object);
        ctx.out.bulk_str("username");
        ctx.out.bulk(&e.username);
        ctx.out.bulk_str("age-seconds");
        ctx.out
            .double(now.saturating_sub(e.created_ms) as f64 / 1000.0);
        ctx.out.bulk_str("client-info");
        ctx.out.bulk_str(&e.client_info);
        ctx.out.bulk_str("entry-id");
        ctx.out.int(e.entry_id as i64);
        ctx.out.bulk_str("timestamp-created");
        ctx.out.int(e.created_ms as i64);
        ctx.out.bulk_str("timestamp-last-updated");
        ctx.out.int(e.updated_ms as i64);
    }
    Ok(())
}

fn acl_dryrun(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let Some(user) = ctx.server.acl.user(a[2]) else {
        return Err(CmdError::quoting("ERR User '{}' not found", &[a[2]]));
    };
    let args = &a[3..];
    let entry = match crate::dispatch::lookup(ctx.server, args) {
        Ok(e) => e,
        Err(crate::dispatch::LookupError::Arity(spec)) => {
            return Err(CmdError::new(format!(
                "ERR wrong number of arguments for '{}' command",
                spec.name
            )))
        }
        Err(_) => return Err(CmdError::quoting("ERR Command '{}' not found", &[args[0]])),
    };
    match user.perms().check(entry.index, entry.spec, args) {
        Ok(()) => ctx.out.ok(),
        Err((Denied::Command, _)) => ctx.out.bulk_str(&format!(
            "This user has no permissions to run the '{}' command",
            entry.spec.name
        )),
        Err((Denied::Key, i)) => ctx.out.bulk(&crate::error::fill(
            "This user has no permissions to access the '{}' key",
            &[args[i]],
        )),
        Err((Denied::Channel, i)) => ctx.out.bulk(&crate::error::fill(
            "This user has no permissions to access the '{}' channel",
            &[args[i]],
        )),
    }
    Ok(())
}

/// The ACL file's path, or Redis's error when there is none.
fn acl_file(ctx: &Ctx) -> Result<String, CmdError> {
    let path = ctx.server.config.get("aclfile");
    if path.is_empty() {
        return Err(CmdError::new(
            "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.",
        ));
    }
    Ok(path)
}

fn acl_load(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let path = acl_file(ctx)?;
    ctx.server
        .acl
        .load_file(&path, &ctx.server.commands)
        .map_err(|e| CmdError::new(format!("ERR {e}")))?;
    close_deleted_users(ctx);
    ctx.out.ok();
    Ok(())
}

fn acl_save(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let path = acl_file(ctx)?;
    ctx.server
        .acl
        .save_file(&path)
        .map_err(|e| CmdError::new(format!("ERR {e}")))?;
    ctx.out.ok();
    Ok(())
}

fn acl_help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    const LINES: &[&str] = &[
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
        "HELP",
        "    Print this help.",
    ];
    ctx.out.array(LINES.len());
    LINES.iter().for_each(|l| ctx.out.simple(l));
    Ok(())
}

// ---------------------------------------------------------------------------
// Users from files: `user` directives of the configuration, and the ACL
// file (`aclfile`, ACL LOAD / ACL SAVE)
// ---------------------------------------------------------------------------

/// Checks a `user <name> <rules...>` declaration (`words` after `user`).
pub(crate) fn check_declaration(words: &[String]) -> Result<(), String> {
    // The configuration is read before the node (and its table) exists.
    static TABLE: std::sync::OnceLock<CommandTable> = std::sync::OnceLock::new();
    let words: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    parse_declaration(&words, TABLE.get_or_init(CommandTable::build)).map(|_| ())
}

/// The user a declaration describes.
fn parse_declaration(words: &[&[u8]], table: &CommandTable) -> Result<(Vec<u8>, Perms), String> {
    let Some((name, rules)) = words.split_first() else {
        return Err("Error in user declaration: the user name is missing".into());
    };
    let error = |e: String| {
        format!(
            "Error in user declaration '{}': {e}",
            String::from_utf8_lossy(name)
        )
    };
    let rules = merge_selector_arguments(rules).map_err(|start| {
        error(
            String::from_utf8_lossy(&crate::error::fill(UNMATCHED_SELECTOR, &[rules[start]]))
                .into_owned(),
        )
    })?;
    let mut perms = Perms::new(table);
    for rule in &rules {
        perms.apply(rule, table).map_err(error)?;
    }
    Ok((name.to_vec(), perms))
}

impl Acl {
    /// Replaces every user with `declared` (the default user is kept as it
    /// is unless declared); all or nothing.
    fn replace_users(&self, declared: Vec<(Vec<u8>, Perms)>, table: &CommandTable) {
        let mut users = self.users.write();
        let mut fresh = BTreeMap::new();
        let default = users
            .remove(b"default".as_slice())
            .unwrap_or_else(|| Arc::new(User::new(b"default", Perms::new(table))));
        fresh.insert(b"default".to_vec(), default);
        for (name, perms) in declared {
            match (fresh.get(&name), users.get(&name)) {
                (Some(u), _) | (None, Some(u)) => {
                    u.set_perms(perms);
                    fresh.insert(name, u.clone());
                }
                (None, None) => {
                    fresh.insert(name.clone(), Arc::new(User::new(&name, perms)));
                }
            }
        }
        // Users not declared again are gone (the caller closes their
        // connections).
        *users = fresh;
    }

    /// Applies the configuration's `user` directives (checked when read).
    pub fn load_declarations(
        &self,
        declarations: &[Vec<String>],
        table: &CommandTable,
    ) -> Result<(), String> {
        let mut users = self.users.write();
        for words in declarations {
            let words: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
            let (name, perms) = parse_declaration(&words, table)?;
            put_user(&mut users, &name, perms);
        }
        Ok(())
    }

    /// Loads the ACL file (`user <name> <rules...>` lines, any bytes but
    /// whitespace in names and rules): every user is replaced, or nothing
    /// changes when a line is wrong.
    pub fn load_file(&self, path: &str, table: &CommandTable) -> Result<(), String> {
        let text = std::fs::read(path)
            .map_err(|e| format!("Error loading ACLs, opening file '{path}': {e}"))?;
        let mut declared: Vec<(Vec<u8>, Perms)> = Vec::new();
        for (i, line) in text.split(|&c| c == b'\n').enumerate() {
            let line = line.trim_ascii();
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let words: Vec<&[u8]> = line
                .split(|c| c.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
                .collect();
            if words.first() != Some(&b"user".as_slice()) || words.len() < 2 {
                return Err(format!(
                    "{path}:{}: line should start with user keyword. ",
                    i + 1
                ));
            }
            let (name, perms) = parse_declaration(&words[1..], table)
                .map_err(|e| format!("{path}:{}: {e}. ", i + 1))?;
            if declared.iter().any(|(n, _)| *n == name) {
                return Err(format!(
                    "{path}:{}: Duplicate user '{}' found. ",
                    i + 1,
                    String::from_utf8_lossy(&name)
                ));
            }
            declared.push((name, perms));
        }
        self.replace_users(declared, table);
        Ok(())
    }

    /// Writes every user to the ACL file (through a temporary file).
    pub fn save_file(&self, path: &str) -> Result<(), String> {
        let mut text = self.list().join(&b'\n');
        text.push(b'\n');
        let tmp = format!("{path}.tmp-{}", std::process::id());
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("There was an error trying to save the ACLs. Please check the server logs for more information ({e})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(table: &CommandTable, rules: &[&str]) -> Result<Perms, String> {
        let mut p = Perms::new(table);
        for r in rules {
            p.apply(r.as_bytes(), table)?;
        }
        Ok(p)
    }

    fn check(table: &CommandTable, p: &Perms, line: &[&str]) -> Result<(), Denied> {
        let args: Vec<&[u8]> = line.iter().map(|a| a.as_bytes()).collect();
        let Ok(entry) = crate::dispatch::lookup_in(table, &args) else {
            panic!("unknown command {line:?}")
        };
        p.check(entry.index, entry.spec, &args).map_err(|(d, _)| d)
    }

    #[test]
    fn rules_describe_as_redis_lists_them() {
        let t = CommandTable::build();
        let p = user(
            &t,
            &[
                "on", ">p1", "~foo*", "%R~ro*", "&news*", "+@read", "-get", "+get",
            ],
        )
        .unwrap();
        assert_eq!(
            p.describe(),
            b"on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~foo* %R~ro* resetchannels &news* -@all +@read +get"
        );
        let p = user(
            &t,
            &[
                "reset",
                "nopass",
                "allkeys",
                "allchannels",
                "allcommands",
                "-debug",
            ],
        )
        .unwrap();
        assert_eq!(
            p.describe(),
            b"off nopass sanitize-payload ~* &* +@all -debug"
        );
        assert!(!p.unrestricted());
        let p = user(&t, &["on", "nopass", "~*", "&*", "+@all"]).unwrap();
        assert!(p.unrestricted());
    }

    #[test]
    fn bad_rules_are_refused() {
        let t = CommandTable::build();
        for bad in ["+nosuch", "+@nosuch", "#abc", "%X~k", "bogus", "(+get"] {
            assert!(user(&t, &[bad]).is_err(), "{bad} accepted");
        }
        let hash = "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a";
        let p = user(&t, &["on", &format!("#{hash}")]).unwrap();
        assert!(p.password_ok(b"p1"));
        assert!(!p.password_ok(b"p2"));
        assert!(user(&t, &[&format!("!{hash}")]).is_err());
        let p = user(&t, &["on", ">a", ">b", "<a"]).unwrap();
        assert!(!p.password_ok(b"a") && p.password_ok(b"b"));
        let off = user(&t, &[">a"]).unwrap();
        assert!(!off.password_ok(b"a"), "a disabled user cannot log in");
    }

    #[test]
    fn commands_keys_and_channels_are_checked() {
        let t = CommandTable::build();
        let p = user(
            &t,
            &[
                "on",
                "~foo*",
                "%R~ro*",
                "&news*",
                "+@read",
                "+set",
                "+publish",
                "+config|get",
            ],
        )
        .unwrap();
        assert_eq!(check(&t, &p, &["get", "foo1"]), Ok(()));
        assert_eq!(check(&t, &p, &["get", "ro1"]), Ok(()));
        assert_eq!(check(&t, &p, &["set", "ro1", "v"]), Err(Denied::Key));
        assert_eq!(check(&t, &p, &["get", "bar"]), Err(Denied::Key));
        assert_eq!(check(&t, &p, &["del", "foo1"]), Err(Denied::Command));
        assert_eq!(check(&t, &p, &["publish", "news1", "m"]), Ok(()));
        assert_eq!(
            check(&t, &p, &["publish", "other", "m"]),
            Err(Denied::Channel)
        );
        assert_eq!(check(&t, &p, &["config", "get", "x"]), Ok(()));
        assert_eq!(
            check(&t, &p, &["config", "set", "x", "y"]),
            Err(Denied::Command)
        );
        // A selector adds what the root selector lacks.
        let p = user(&t, &["on", "~a*", "+get", "(~b* +set)"]).unwrap();
        assert_eq!(check(&t, &p, &["get", "a1"]), Ok(()));
        assert_eq!(check(&t, &p, &["set", "b1", "v"]), Ok(()));
        assert_eq!(check(&t, &p, &["set", "a1", "v"]), Err(Denied::Key));
        assert!(p.describe().ends_with(b"(~b* resetchannels -@all +set)"));
    }

    /// Patterns are bytes: one that is not UTF-8 grants exactly the keys
    /// and channels that start with its bytes (not U+FFFD look-alikes).
    #[test]
    fn patterns_that_are_not_utf8_match_bytes() {
        let t = CommandTable::build();
        let mut p = Perms::new(&t);
        for rule in [&b"on"[..], b"~\xfe*", b"&\xfe*", b"+@all"] {
            p.apply(rule, &t).unwrap();
        }
        let run = |args: &[&[u8]]| {
            let Ok(entry) = crate::dispatch::lookup_in(&t, args) else {
                panic!("unknown command")
            };
            p.check(entry.index, entry.spec, args).map_err(|(d, _)| d)
        };
        assert_eq!(run(&[b"get", b"\xfekey"]), Ok(()));
        assert_eq!(run(&[b"get", b"\xef\xbf\xbdkey"]), Err(Denied::Key));
        assert_eq!(run(&[b"publish", b"\xfech", b"m"]), Ok(()));
        assert_eq!(
            run(&[b"publish", b"\xef\xbf\xbdch", b"m"]),
            Err(Denied::Channel)
        );
        assert!(p.describe().starts_with(b"on ~\xfe* resetchannels &\xfe* "));
        assert!(valid_username(b"u\xfe") && valid_username(b""));
        assert!(!valid_username(b"a b") && !valid_username(b"a\0") && !valid_username(b"a\tb"));
    }
}
