//! Replication groups at run time, one reconciler pass over each: wiring
//! replicas to the primary, serving the endpoints, automatic failover when
//! the primary's process dies, promotions asked for by TestFailover or
//! ModifyReplicationGroup's PrimaryClusterId, and deletion. It runs before
//! the clusters' pass, so a dead primary is replaced by a replica before
//! its own process is started again (which then rejoins as a replica).

use std::time::{Duration, Instant};

use crate::agent::{info_field, Agent};
use crate::model::{Cluster, ReplicationGroup};
use crate::proxy::Targets;
use crate::Control;

/// How long a promotion waits for the replica to catch up with the
/// primary (writes are paused meanwhile).
const CATCH_UP: Duration = Duration::from_secs(2);

fn node_port(c: &Cluster) -> Option<u16> {
    c.nodes.first().map(|n| n.port)
}

fn replication_info(agent: &Agent, port: u16) -> Option<String> {
    agent.redis(port, &["INFO", "replication"])?.ok()
}

/// The replica with the highest replication offset among those that
/// answer (None: no replica can take over).
pub fn best_replica(agent: &Agent, g: &ReplicationGroup, members: &[Cluster]) -> Option<String> {
    members
        .iter()
        .filter(|c| c.id != g.primary && c.status != "deleting")
        .filter_map(|c| {
            let info = replication_info(agent, node_port(c)?)?;
            let offset = info_field(&info, "slave_repl_offset")
                .or_else(|| info_field(&info, "master_repl_offset"))?
                .parse::<i64>()
                .ok()?;
            Some((offset, c.id.clone()))
        })
        .max_by_key(|(offset, id)| (*offset, std::cmp::Reverse(id.clone())))
        .map(|(_, id)| id)
}

pub fn pass(ctl: &Control) {
    let Ok(groups) = ctl.store.groups() else {
        return;
    };
    for id in groups.iter().map(|g| &g.id) {
        let _guard = ctl.lock.lock();
        let Ok(Some(mut g)) = ctl.store.group(id) else {
            continue;
        };
        let before = g.clone();
        let mut events = Vec::new();
        let gone = step(ctl, &mut g, &mut events);
        let saved = if gone {
            events.push("Replication group deleted".to_string());
            let _ = ctl.store.put_tags(&g.arn(), &[]);
            ctl.store.remove_group(&g.id)
        } else if g != before {
            ctl.store.put_group(&g)
        } else {
            Ok(())
        };
        if let Err(e) = saved {
            tracing::warn!("control: cannot record group {}: {}", g.id, e.message);
        }
        for message in events {
            ctl.record_event(&g.id, "replication-group", message);
        }
    }
}

/// One group; returns true when it is gone.
fn step(ctl: &Control, g: &mut ReplicationGroup, events: &mut Vec<String>) -> bool {
    let mut members: Vec<Cluster> = g
        .members
        .iter()
        .filter_map(|m| ctl.store.cluster(m).ok().flatten())
        .collect();
    if g.status == "deleting" {
        ctl.endpoints.remove(&g.id);
        for mut c in members {
            if g.retain_primary && c.id == g.primary {
                c.replication_group = None;
                c.security = g.security.clone();
            } else {
                c.status = "deleting".into();
            }
            let _ = ctl.store.put_cluster(&c);
        }
        return true;
    }
    let Some(primary) = members.iter().find(|c| c.id == g.primary).cloned() else {
        return false;
    };
    let Some(primary_port) = node_port(&primary) else {
        return false;
    };
    let primary_dead = primary.status == "available"
        && !primary.nodes.iter().all(|n| {
            ctl.agent.running(&n.dir) || ctl.agent.adopt(&n.dir, n.port, primary.security.tls)
        });
    if primary_dead && g.automatic_failover {
        let promoted = best_replica(&ctl.agent, g, &members).filter(|new| {
            members
                .iter()
                .find(|c| c.id == *new)
                .and_then(node_port)
                .and_then(|port| ctl.agent.redis(port, &["REPLICAOF", "NO", "ONE"]))
                .is_some_and(|r| r.is_ok())
        });
        match promoted {
            Some(new) => {
                events.push(format!(
                    "Failover from primary node {} to replica node {new} completed",
                    g.primary
                ));
                g.primary = new;
            }
            None => events.push(format!(
                "Failover from primary node {} not possible: no replica answers; restarting it",
                g.primary
            )),
        }
        // The clusters' pass starts the dead node again: as a replica of
        // the new primary, or as the primary when none could take over.
        mark_rebooting(ctl, &primary);
    }
    if let Some(target) = g.promote.clone() {
        if members.iter().all(|c| c.status == "available") {
            if let Some(port) = members.iter().find(|c| c.id == target).and_then(node_port) {
                if promote(&ctl.agent, primary_port, port) {
                    events.push(format!(
                        "Failover from primary node {} to replica node {target} completed",
                        g.primary
                    ));
                    g.primary = target;
                }
            }
            g.promote = None;
        }
    }
    // Wire replication: the primary is a primary, every replica follows it.
    let Some(primary_port) = members
        .iter()
        .find(|c| c.id == g.primary)
        .and_then(node_port)
    else {
        return false;
    };
    let mut linked = true;
    let mut replicas = Vec::new();
    for c in &members {
        let Some(port) = node_port(c) else { continue };
        if c.status == "deleting" || c.nodes.iter().any(|n| n.status != "available") {
            linked = false;
            continue;
        }
        let Some(info) = replication_info(&ctl.agent, port) else {
            linked = false;
            continue;
        };
        let role = info_field(&info, "role").unwrap_or("");
        if c.id == g.primary {
            if role != "master" {
                let _ = ctl.agent.redis(port, &["REPLICAOF", "NO", "ONE"]);
            }
            continue;
        }
        let following = role == "slave"
            && info_field(&info, "master_port") == Some(primary_port.to_string().as_str());
        if !following {
            let _ = ctl
                .agent
                .redis(port, &["REPLICAOF", "127.0.0.1", &primary_port.to_string()]);
            linked = false;
        } else if info_field(&info, "master_link_status") != Some("up") {
            linked = false;
        } else {
            replicas.push(port);
        }
    }
    // RBAC: every node gets the user group's users (or the open default
    // user when there is none), again after each of its starts.
    let acl = crate::users::acl_rules(ctl, g.user_group.as_deref(), &g.security);
    let digest = crate::users::acl_digest(&acl);
    for c in &mut members {
        let Some(n) = c.nodes.first_mut() else {
            continue;
        };
        if c.status == "deleting" || n.status != "available" {
            continue;
        }
        if n.acl_applied.as_deref() == Some(digest.as_str()) {
            continue;
        }
        if crate::users::apply_acl(&ctl.agent, n.port, &acl) {
            n.acl_applied = Some(digest.clone());
            // Record it on the stored cluster (this step may have changed
            // it since `members` was read).
            if let Ok(Some(mut fresh)) = ctl.store.cluster(&c.id) {
                if let Some(f) = fresh.nodes.first_mut().filter(|f| f.port == n.port) {
                    f.acl_applied = Some(digest.clone());
                    let _ = ctl.store.put_cluster(&fresh);
                }
            }
        } else {
            linked = false;
        }
    }
    let targets = Targets {
        primary: primary_port,
        replicas,
    };
    if let Err(e) = ctl
        .endpoints
        .ensure(&g.id, (g.primary_port, g.reader_port), targets)
    {
        tracing::warn!("control: cannot serve the endpoints of {}: {e}", g.id);
        return false;
    }
    members.retain(|c| c.status != "deleting");
    let settled = linked && g.promote.is_none() && members.iter().all(|c| c.status == "available");
    if settled && g.status != "available" {
        events.push(match g.status.as_str() {
            "creating" => "Replication group created".to_string(),
            _ => "Replication group modified".to_string(),
        });
        g.status = "available".into();
    }
    false
}

/// The dead node is being replaced: its status says so until it answers.
fn mark_rebooting(ctl: &Control, c: &Cluster) {
    let mut c = c.clone();
    for n in &mut c.nodes {
        n.status = "rebooting".into();
    }
    let _ = ctl.store.put_cluster(&c);
}

/// Makes the replica on `new` the primary and the primary on `old` its
/// replica, losing no acknowledged write: writes on the old primary are
/// paused until the replica has caught up.
fn promote(agent: &Agent, old: u16, new: u16) -> bool {
    let pause_ms = (CATCH_UP.as_millis() * 2).to_string();
    if agent
        .redis(old, &["CLIENT", "PAUSE", &pause_ms, "WRITE"])
        .is_none()
    {
        return false;
    }
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let offset = |port, field| {
            replication_info(agent, port)
                .and_then(|i| info_field(&i, field).and_then(|v| v.parse::<i64>().ok()))
        };
        let caught_up = matches!(
            (offset(old, "master_repl_offset"), offset(new, "slave_repl_offset")),
            (Some(a), Some(b)) if b >= a
        );
        if caught_up || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let promoted = agent
        .redis(new, &["REPLICAOF", "NO", "ONE"])
        .is_some_and(|r| r.is_ok());
    if promoted {
        let _ = agent.redis(old, &["REPLICAOF", "127.0.0.1", &new.to_string()]);
    }
    let _ = agent.redis(old, &["CLIENT", "UNPAUSE"]);
    promoted
}
