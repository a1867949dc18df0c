//! The reconciler: a loop (every quarter second, or at once when the API
//! records a change) that makes node processes follow the recorded
//! clusters. It starts missing nodes, adopts nodes an earlier control
//! plane started, restarts dead ones, reboots, stops and removes deleted
//! ones, marks clusters available once every node answers, and tells
//! Memcached nodes their cluster's node list (auto-discovery).

use std::time::Duration;

use crate::agent::NodeSpec;
use crate::model::{self, Cluster, Engine};
use crate::Control;

const PERIOD: Duration = Duration::from_millis(250);
/// How long a node gets to save and stop on SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

pub fn run(ctl: &Control) {
    while !ctl.stopping() {
        // Groups first: a dead primary is replaced before its process is
        // started again.
        crate::failover::pass(ctl);
        crate::snapshots::pass(ctl);
        pass(ctl);
        ctl.wait_for_work(PERIOD);
    }
}

/// One look at every cluster.
pub fn pass(ctl: &Control) {
    let Ok(clusters) = ctl.store.clusters() else {
        return;
    };
    for id in clusters.iter().map(|c| &c.id) {
        let _guard = ctl.lock.lock();
        // Read again under the lock: the API may have changed it.
        let Ok(Some(mut c)) = ctl.store.cluster(id) else {
            continue;
        };
        let before = c.clone();
        let mut events = Vec::new();
        let role = group_role(ctl, &c);
        step(ctl, &mut c, role, &mut events);
        if c.status == "available"
            && !c.pending.is_empty()
            && crate::clusters::in_maintenance_window(&c.maintenance_window, crate::now_ms())
        {
            apply_pending(ctl, &mut c, &mut events);
        }
        let saved = if c.status == "deleting" && c.nodes.is_empty() {
            events.push("Cache cluster deleted".to_string());
            let _ = ctl.store.put_tags(&c.arn(), &[]);
            ctl.store.remove_cluster(&c.id)
        } else if c != before {
            ctl.store.put_cluster(&c)
        } else {
            Ok(())
        };
        if let Err(e) = saved {
            tracing::warn!("control: cannot record cluster {}: {}", c.id, e.message);
        }
        for message in events {
            ctl.record_event(&c.id, "cache-cluster", message);
        }
    }
}

/// Makes the changes that waited for the maintenance window.
fn apply_pending(ctl: &Control, c: &mut Cluster, events: &mut Vec<String>) {
    let changes = std::mem::take(&mut c.pending);
    let new_type = changes.node_type.clone();
    match crate::clusters::apply(ctl, c, changes) {
        Ok(()) => events.push("Pending modifications applied in the maintenance window".into()),
        Err(e) => events.push(format!("Pending modifications failed: {}", e.message)),
    }
    // A group's members change type together; the group follows the first.
    if let (Some(t), Some(id)) = (new_type, &c.replication_group) {
        if let Ok(Some(mut g)) = ctl.store.group(id) {
            if c.node_type == t && g.node_type != t {
                g.node_type = t;
                let _ = ctl.store.put_group(&g);
            }
        }
    }
}

/// What a replication group member's node must be when it is started.
#[derive(Clone, Copy, Default)]
struct GroupRole {
    /// A replica: the primary's port, to follow from its first moment
    /// (never a primary with stale data, even briefly).
    replica_of: Option<u16>,
    /// The primary of a group with automatic failover: when its process
    /// dies, the groups' pass promotes a replica first; starting it again
    /// here would bring back a primary with stale data that the replicas
    /// would resync from.
    failover_first: bool,
}

fn group_role(ctl: &Control, c: &Cluster) -> GroupRole {
    let Some(g) = c
        .replication_group
        .as_deref()
        .and_then(|g| ctl.store.group(g).ok().flatten())
    else {
        return GroupRole::default();
    };
    if g.primary == c.id {
        return GroupRole {
            replica_of: None,
            failover_first: g.automatic_failover && g.members.len() > 1,
        };
    }
    let primary_port = ctl
        .store
        .cluster(&g.primary)
        .ok()
        .flatten()
        .and_then(|p| p.nodes.first().map(|n| n.port));
    GroupRole {
        replica_of: primary_port,
        failover_first: false,
    }
}

fn step(ctl: &Control, c: &mut Cluster, role: GroupRole, events: &mut Vec<String>) {
    let node_type = model::node_type(&c.node_type).unwrap_or(&model::NODE_TYPES[0]);
    // Nodes to remove: every node of a deleted cluster, or those a
    // ModifyCacheCluster took away.
    let removing = |status: &str| c.status == "deleting" || status == "deleting";
    // A final snapshot is taken before the nodes go.
    if c.status == "deleting" && crate::snapshots::pending_for(ctl, &c.id) {
        return;
    }
    let (gone, kept): (Vec<_>, Vec<_>) = c.nodes.drain(..).partition(|n| removing(&n.status));
    for n in &gone {
        ctl.agent.stop(&n.dir, STOP_GRACE);
        let _ = std::fs::remove_dir_all(&n.dir);
        if c.status != "deleting" {
            events.push(format!("Removed cache node {}", n.id));
        }
    }
    c.nodes = kept;
    if c.status == "deleting" {
        let _ = std::fs::remove_dir(ctl.data_dir.join("nodes").join(&c.id));
        return;
    }
    let az = format!("{}a", c.region);
    let pg = crate::params::group(ctl, &c.parameter_group).ok();
    let reboot_digest = pg
        .as_ref()
        .map(|g| crate::params::digest(g, crate::params::Change::RequiresReboot))
        .unwrap_or_default();
    let immediate_digest = pg
        .as_ref()
        .map(|g| crate::params::digest(g, crate::params::Change::Immediate));
    let start_params = pg
        .as_ref()
        .map(crate::params::start_args)
        .unwrap_or_default();
    let acl = match c.engine {
        Engine::Redis => crate::users::node_acl(ctl, c),
        Engine::Memcached => Vec::new(),
    };
    let acl_digest = crate::users::acl_digest(&acl);
    // A group's pass applies its members' users (with replication).
    let standalone_redis = c.engine == Engine::Redis && c.replication_group.is_none();
    // A Memcached process started anew knows no node list: push it again.
    let mut started_any = false;
    for n in &mut c.nodes {
        let spec = NodeSpec {
            engine: c.engine,
            port: n.port,
            dir: &n.dir,
            node_type,
            replica_of: role.replica_of,
            params: start_params.clone(),
            tls: c.security.tls,
            users: &acl,
        };
        if n.reboot_pending {
            ctl.agent.stop(&n.dir, STOP_GRACE);
            n.reboot_pending = false;
            n.acl_applied = None;
            n.params_applied = None;
            n.started_with = Some(reboot_digest.clone());
            start(ctl, &spec);
            started_any = true;
            events.push(format!("Cache node {} restarted", n.id));
            continue;
        }
        if !ctl.agent.running(&n.dir) && !ctl.agent.adopt(&n.dir, n.port, spec.tls) {
            if role.failover_first && n.status == "available" {
                continue;
            }
            match n.status.as_str() {
                "creating" => events.push(format!(
                    "Added cache node {} in availability zone {az}",
                    n.id
                )),
                _ => {
                    // It died: replace the process (a Redis node reloads
                    // its data directory's snapshot).
                    n.status = "rebooting".into();
                    events.push(format!("Cache node {} restarted", n.id));
                }
            }
            n.acl_applied = None;
            n.params_applied = None;
            n.started_with = Some(reboot_digest.clone());
            start(ctl, &spec);
            started_any = true;
        }
        if n.status != "available" && ctl.agent.answers(c.engine, n.port) {
            n.status = "available".into();
        }
        // A node adopted from an earlier control plane started with what
        // its group had then, which this one cannot know: assume current.
        if n.started_with.is_none() {
            n.started_with = Some(reboot_digest.clone());
        }
        if let (Engine::Redis, Some(g), Some(want)) = (c.engine, &pg, &immediate_digest) {
            if n.status == "available"
                && n.params_applied.as_ref() != Some(want)
                && crate::params::apply_immediate(ctl, n.port, g)
            {
                n.params_applied = Some(want.clone());
            }
        }
        if standalone_redis
            && n.status == "available"
            && n.acl_applied.as_deref() != Some(acl_digest.as_str())
            && crate::users::apply_acl(&ctl.agent, n.port, &acl)
        {
            n.acl_applied = Some(acl_digest.clone());
        }
    }
    if started_any {
        c.discovery_pushed = 0;
    }
    if c.nodes.iter().any(|n| n.status != "available") {
        return;
    }
    if c.engine == Engine::Memcached && c.discovery_pushed < c.discovery_version {
        let ports: Vec<u16> = c.nodes.iter().map(|n| n.port).collect();
        if ports
            .iter()
            .all(|&p| ctl.agent.push_discovery(p, c.discovery_version, &ports))
        {
            c.discovery_pushed = c.discovery_version;
        } else {
            return;
        }
    }
    let done = match c.status.as_str() {
        "creating" => Some("Cache cluster created"),
        "modifying" => Some("Cache cluster modified"),
        "rebooting cache cluster nodes" => Some("Cache cluster rebooted"),
        _ => None,
    };
    if let Some(message) = done {
        events.push(message.into());
        c.status = "available".into();
    }
}

fn start(ctl: &Control, spec: &NodeSpec) {
    if let Err(e) = ctl.agent.start(spec) {
        tracing::warn!(
            "control: cannot start the node in {}: {e}",
            spec.dir.display()
        );
    }
}
