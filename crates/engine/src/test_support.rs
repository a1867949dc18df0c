//! In-process test helpers: a server and `run(&["SET","k","v"])`.

use std::sync::Arc;

use crate::{execute, now_ms, Client, ClientShared, Config, Server};

pub fn server() -> Arc<Server> {
    Server::new(Config::new())
}

/// A client session keeping its state (db, protocol) across commands.
pub struct Session {
    server: Arc<Server>,
    client: Client,
}

impl Session {
    pub fn new(server: &Arc<Server>) -> Self {
        let id = server.clients.next_id();
        let shared = Arc::new(ClientShared::new(
            id,
            "127.0.0.1:1".into(),
            "127.0.0.1:6379".into(),
            0,
            now_ms(),
        ));
        Session {
            server: server.clone(),
            client: Client::new(shared, true),
        }
    }

    pub fn run(&mut self, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let mut out = Vec::new();
        execute(&self.server, &mut self.client, &args, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Runs one command on a fresh client (db 0, RESP2).
pub fn run(server: &Arc<Server>, args: &[&str]) -> String {
    Session::new(server).run(args)
}

/// Runs each `(command, expected reply)` on one session, in order.
pub fn check(s: &mut Session, cases: &[(&[&str], &str)]) {
    for (cmd, want) in cases {
        assert_eq!(s.run(cmd), *want, "{cmd:?}");
    }
}
