//! Replication group endpoints, served by the control plane: the primary
//! endpoint forwards each connection to the group's current primary node,
//! the reader endpoint spreads connections over the replicas (the primary
//! when there are none). A failover changes the targets and closes the
//! connections still forwarded to the node that stopped being primary, so
//! clients reconnect to the new one, as the managed service's DNS switch
//! makes them do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where a group's endpoints lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub primary: u16,
    pub replicas: Vec<u16>,
}

struct GroupEndpoints {
    ports: (u16, u16),
    targets: watch::Sender<Targets>,
    tasks: Vec<JoinHandle<()>>,
}

pub struct Endpoints {
    runtime: tokio::runtime::Handle,
    groups: Mutex<HashMap<String, GroupEndpoints>>,
}

impl Endpoints {
    pub fn new(runtime: tokio::runtime::Handle) -> Endpoints {
        Endpoints {
            runtime,
            groups: Mutex::new(HashMap::new()),
        }
    }

    /// Serves the group's endpoints on these ports (binding them the first
    /// time) and points them at `targets`.
    pub fn ensure(&self, group: &str, ports: (u16, u16), targets: Targets) -> std::io::Result<()> {
        let mut groups = self.groups.lock();
        if let Some(g) = groups.get(group).filter(|g| g.ports == ports) {
            g.targets.send_if_modified(|t| {
                let changed = *t != targets;
                *t = targets;
                changed
            });
            return Ok(());
        }
        if let Some(old) = groups.remove(group) {
            old.tasks.iter().for_each(JoinHandle::abort);
        }
        let (tx, rx) = watch::channel(targets);
        let mut tasks = Vec::new();
        for (port, reader) in [(ports.0, false), (ports.1, true)] {
            let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
            listener.set_nonblocking(true)?;
            let rx = rx.clone();
            tasks.push(self.runtime.spawn(async move {
                match TcpListener::from_std(listener) {
                    Ok(l) => serve(l, rx, reader).await,
                    Err(e) => tracing::warn!("control: endpoint on port {port}: {e}"),
                }
            }));
        }
        groups.insert(
            group.to_string(),
            GroupEndpoints {
                ports,
                targets: tx,
                tasks,
            },
        );
        Ok(())
    }

    /// Stops serving a deleted group's endpoints.
    pub fn remove(&self, group: &str) {
        if let Some(g) = self.groups.lock().remove(group) {
            g.tasks.iter().for_each(JoinHandle::abort);
        }
    }
}

async fn serve(listener: TcpListener, targets: watch::Receiver<Targets>, reader: bool) {
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let mut rx = targets.clone();
        let target = {
            let t = rx.borrow_and_update();
            match (reader, t.replicas.len()) {
                (true, n) if n > 0 => t.replicas[next.fetch_add(1, Ordering::Relaxed) % n],
                _ => t.primary,
            }
        };
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            let Ok(mut node) = TcpStream::connect(("127.0.0.1", target)).await else {
                return;
            };
            let _ = node.set_nodelay(true);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut node) => {}
                _ = retired(&mut rx, target, reader) => {}
            }
        });
    }
}

/// Resolves when `target` stops being what this endpoint leads to: no
/// longer the primary (primary endpoint), or no longer in the group
/// (reader endpoint).
async fn retired(rx: &mut watch::Receiver<Targets>, target: u16, reader: bool) {
    loop {
        if rx.changed().await.is_err() {
            // The group's endpoints are gone; the task is aborted with them.
            std::future::pending::<()>().await;
        }
        let t = rx.borrow();
        let kept = t.primary == target || (reader && t.replicas.contains(&target));
        if !kept {
            return;
        }
    }
}
