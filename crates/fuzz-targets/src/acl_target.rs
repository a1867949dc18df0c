//! `acl_rules`: ACL SETUSER rules through the command's real path
//! (`engine::execute` of `ACL SETUSER`, which applies each rule with
//! `acl::Perms::apply`), then the user's description (ACL GETUSER,
//! ACL LIST) and permission checks with its selectors (ACL DRYRUN).

use std::sync::{Arc, OnceLock};

use engine::{execute, now_ms, Client, ClientShared, Config, Server};

/// The node the rules are set on: one per process (its command table is
/// what `ACL SETUSER` resolves command rules against).
fn server() -> &'static Arc<Server> {
    static SERVER: OnceLock<Arc<Server>> = OnceLock::new();
    SERVER.get_or_init(|| Server::new(Config::new()))
}

/// The user each input configures, and the copy made from its ACL LIST line.
const USER: &[u8] = b"fuzz";
const COPY: &[u8] = b"fuzz-copy";

/// Command lines checked against the user with ACL DRYRUN: keys read and
/// written, channels and patterns, a first-argument rule, a subcommand.
const PROBES: &[&[&[u8]]] = &[
    &[b"get", b"key"],
    &[b"set", b"key", b"v"],
    &[b"mget", b"key", b"other:key"],
    &[b"copy", b"src", b"dst"],
    &[b"publish", b"chan", b"msg"],
    &[b"subscribe", b"chan", b"other"],
    &[b"psubscribe", b"ch*"],
    &[b"select", b"0"],
    &[b"config", b"get", b"port"],
    &[b"eval", b"return 1", b"1", b"key"],
];

/// A client of the node.
struct Session {
    server: &'static Arc<Server>,
    client: Client,
}

impl Session {
    fn new() -> Self {
        let server = server();
        let shared = Arc::new(ClientShared::new(
            server.clients.next_id(),
            "127.0.0.1:1".into(),
            "127.0.0.1:6379".into(),
            0,
            now_ms(),
        ));
        Session {
            server,
            client: Client::new(shared, true),
        }
    }

    fn run(&mut self, args: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        execute(self.server, &mut self.client, args, &mut out);
        out
    }

    /// `ACL SETUSER name rules...`: its reply.
    fn set_user(&mut self, name: &[u8], rules: &[Vec<u8>]) -> Vec<u8> {
        let mut args: Vec<&[u8]> = vec![b"ACL", b"SETUSER", name];
        args.extend(rules.iter().map(Vec::as_slice));
        self.run(&args)
    }

    /// The user's ACL LIST line after `user <name> `.
    fn described(&self, name: &[u8]) -> Option<Vec<u8>> {
        let prefix = [b"user ", name, b" "].concat();
        self.server
            .acl
            .list()
            .into_iter()
            .find_map(|line| line.strip_prefix(prefix.as_slice()).map(<[u8]>::to_vec))
    }
}

/// Splits `data` into rules at spaces. Like Redis's
/// `ACLMergeSelectorArguments` (ACL SETUSER, config `user` lines and ACL
/// files), a rule opening a selector with `(` runs to the first later one
/// that ends with `)`, so selectors of several rules can be written as in
/// an ACL file; an unclosed one takes the rest of the input.
fn split_rules(data: &[u8]) -> Vec<Vec<u8>> {
    let mut rules: Vec<Vec<u8>> = Vec::new();
    let mut open: Option<Vec<u8>> = None;
    for word in data.split(|&c| c == b' ') {
        match open.as_mut() {
            Some(selector) => {
                selector.push(b' ');
                selector.extend_from_slice(word);
                if word.last() == Some(&b')') {
                    rules.extend(open.take());
                }
            }
            None if word.first() == Some(&b'(') && word.last() != Some(&b')') => {
                open = Some(word.to_vec());
            }
            None => rules.push(word.to_vec()),
        }
    }
    rules.extend(open);
    rules
}

/// Can the user's ACL LIST line be split back into the same rules? Its
/// words hold no whitespace or control bytes (any other byte, UTF-8 or
/// not, is kept as it is); a selector's patterns may not hold parentheses
/// (Redis's merging of selector words has the same limit).
fn reloadable(rules: &[Vec<u8>]) -> bool {
    rules.iter().all(|rule| {
        let printable = rule.iter().all(|&c| c == b' ' || c > b' ' && c != 0x7f);
        let inner = match rule.first() {
            Some(b'(') if rule.len() >= 2 => &rule[1..rule.len() - 1],
            _ => &[][..],
        };
        printable && !inner.iter().any(|&c| c == b'(' || c == b')')
    })
}

/// `acl_rules`: the input, split into rules at spaces (selectors merged as
/// Redis does), is set on a new user. A refused SETUSER leaves no user
/// behind; an accepted one describes itself (GETUSER, LIST) and answers
/// DRYRUN for a few command lines; when its ACL LIST line can be split
/// back into rules, those rules give another user the same line (what ACL
/// SAVE and ACL LOAD rely on).
pub fn acl_rules(data: &[u8]) {
    let rules = split_rules(data);
    let mut s = Session::new();
    s.run(&[b"ACL", b"DELUSER", USER, COPY]);
    let reply = s.set_user(USER, &rules);
    if reply != b"+OK\r\n" {
        assert!(
            reply.starts_with(b"-ERR "),
            "SETUSER answered {:?}",
            String::from_utf8_lossy(&reply)
        );
        assert!(
            s.server.acl.user(USER).is_none(),
            "a refused SETUSER created the user"
        );
        return;
    }
    let user = s.server.acl.user(USER).expect("the user SETUSER created");
    let _ = engine::acl::describe_user(&user);
    s.run(&[b"ACL", b"GETUSER", USER]);
    for probe in PROBES {
        let mut args: Vec<&[u8]> = vec![b"ACL", b"DRYRUN", USER];
        args.extend_from_slice(probe);
        s.run(&args);
    }
    if !reloadable(&rules) {
        return;
    }
    let line = s.described(USER).expect("ACL LIST shows the user");
    let again = split_rules(&line);
    let reply = s.set_user(COPY, &again);
    assert_eq!(
        reply,
        b"+OK\r\n",
        "the rules of ACL LIST's line {:?} are refused: {}",
        String::from_utf8_lossy(&line),
        String::from_utf8_lossy(&reply)
    );
    assert_eq!(
        s.described(COPY).as_deref(),
        Some(line.as_slice()),
        "a user set from ACL LIST's line describes itself differently"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_merged() {
        let rules = split_rules(b"on (~a +get) (%R~b  +set) ~c (+x");
        let rules: Vec<&[u8]> = rules.iter().map(Vec::as_slice).collect();
        let want: Vec<&[u8]> = vec![b"on", b"(~a +get)", b"(%R~b  +set)", b"~c", b"(+x"];
        assert_eq!(rules, want);
    }
}
