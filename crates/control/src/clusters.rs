//! Cache clusters: CreateCacheCluster, DescribeCacheClusters,
//! ModifyCacheCluster (Memcached node count), RebootCacheCluster,
//! DeleteCacheCluster, and the XML a cluster is described with. The API
//! records the desired state; the reconciler (`reconcile.rs`) makes the
//! node processes follow it.

use std::collections::HashSet;

use crate::error::ApiError;
use crate::model::{self, Cluster, Engine, Node, PendingChanges};
use crate::query::Params;
use crate::xml::{timestamp, Xml};
use crate::{now_ms, Caller, Control};

/// The managed service's limit on nodes in a Memcached cluster.
const MAX_MEMCACHED_NODES: i64 = 60;

fn existing(ctl: &Control, id: &str) -> Result<Cluster, ApiError> {
    ctl.store
        .cluster(id)?
        .ok_or_else(|| ApiError::cluster_not_found(id))
}

/// Ports already given to nodes and endpoints.
pub(crate) fn used_ports(ctl: &Control) -> Result<HashSet<u16>, ApiError> {
    let mut used: HashSet<u16> = ctl
        .store
        .clusters()?
        .iter()
        .flat_map(|c| c.nodes.iter().map(|n| n.port))
        .collect();
    for g in ctl.store.groups()? {
        used.extend([g.primary_port, g.reader_port]);
    }
    Ok(used)
}

/// A free port of the node range, added to `used`.
pub(crate) fn take_port(ctl: &Control, used: &mut HashSet<u16>) -> Result<u16, ApiError> {
    let port = ctl.agent.free_port(used).ok_or_else(|| {
        ApiError::new(
            "InsufficientCacheClusterCapacity",
            400,
            "No free port left in the control plane's node port range (--node-ports).",
        )
    })?;
    used.insert(port);
    Ok(port)
}

/// New nodes `first..first+count` for `cluster`, each on a free port.
fn new_nodes(
    ctl: &Control,
    used: &mut HashSet<u16>,
    cluster: &str,
    first: usize,
    count: usize,
    now: u64,
) -> Result<Vec<Node>, ApiError> {
    (first..first + count)
        .map(|n| {
            let id = model::node_id(n);
            Ok(Node {
                dir: ctl.data_dir.join("nodes").join(cluster).join(&id),
                port: take_port(ctl, used)?,
                id,
                status: "creating".into(),
                created_ms: now,
                reboot_pending: false,
                acl_applied: None,
                params_applied: None,
                started_with: None,
            })
        })
        .collect()
}

pub fn create(ctl: &Control, p: &Params, caller: &Caller) -> Result<Option<Xml>, ApiError> {
    let id = p.identifier("CacheClusterId", 50)?;
    if let Some(group) = p.get("ReplicationGroupId") {
        return Err(ApiError::new(
            "ReplicationGroupNotFoundFault",
            404,
            format!("ReplicationGroup {group} not found."),
        ));
    }
    let engine_name = p.get("Engine").unwrap_or("redis");
    let engine = Engine::parse(engine_name).ok_or_else(|| {
        ApiError::invalid_value(format!(
            "Invalid value for Engine: {engine_name}. Valid values are redis and memcached."
        ))
    })?;
    if let Some(v) = p.get("EngineVersion") {
        let major = engine.version().split('.').next().unwrap_or_default();
        if v.split('.').next() != Some(major) {
            return Err(ApiError::invalid_value(format!(
                "Invalid value for EngineVersion: {v}. This Ferrocache implements {} {}.",
                engine.name(),
                engine.version()
            )));
        }
    }
    let node_type_name = p.get("CacheNodeType").unwrap_or("cache.t3.micro");
    let node_type = model::node_type(node_type_name).ok_or_else(|| {
        ApiError::invalid_value(format!(
            "Invalid value for CacheNodeType: {node_type_name}."
        ))
    })?;
    let count = p.int("NumCacheNodes")?.unwrap_or(1);
    match engine {
        Engine::Redis if count != 1 => {
            return Err(ApiError::invalid_value(
                "Cannot create a Redis cluster with a NumCacheNodes parameter greater than 1.",
            ))
        }
        Engine::Memcached if !(1..=MAX_MEMCACHED_NODES).contains(&count) => {
            return Err(ApiError::invalid_value(format!(
                "NumCacheNodes must be between 1 and {MAX_MEMCACHED_NODES}."
            )))
        }
        _ => {}
    }
    let security = crate::security::from_create(p, engine, false, now_ms())?;
    if !p.list("SnapshotArns", "SnapshotArn").is_empty() {
        return Err(ApiError::invalid_combination(
            "SnapshotArns is not supported by this control plane yet: restore with SnapshotName.",
        ));
    }
    let tags = crate::tags::from_params(p)?;
    let _guard = ctl.lock.lock();
    if ctl.store.cluster(&id)?.is_some() {
        return Err(ApiError::new(
            "CacheClusterAlreadyExists",
            400,
            format!("Cache cluster {id} already exists."),
        ));
    }
    let mut used = used_ports(ctl)?;
    let mut cluster = new_cluster(
        ctl,
        &mut used,
        id,
        engine,
        node_type.name,
        count as usize,
        caller,
    )?;
    cluster.security = security;
    cluster.snapshot_retention_limit = p.int("SnapshotRetentionLimit")?.unwrap_or(0);
    if let Some(w) = p.snapshot_window()? {
        cluster.snapshot_window = w;
    }
    if let Some(w) = maintenance_window(p)? {
        cluster.maintenance_window = w;
    }
    cluster.auto_minor_version_upgrade = p.bool("AutoMinorVersionUpgrade")?.unwrap_or(true);
    cluster.subnet_group = crate::subnets::chosen(ctl, p)?;
    if let Some(pg) = p.get("CacheParameterGroupName") {
        crate::params::usable(ctl, &pg.to_ascii_lowercase(), engine)?;
        cluster.parameter_group = pg.to_ascii_lowercase();
    }
    if let Some(name) = p.get("SnapshotName") {
        if engine != Engine::Redis {
            return Err(ApiError::invalid_combination(
                "SnapshotName is for the redis engine.",
            ));
        }
        crate::snapshots::restore_into(ctl, name, &cluster.nodes[0].dir)?;
    }
    ctl.store.put_cluster(&cluster)?;
    ctl.store.put_tags(&cluster.arn(), &tags)?;
    ctl.wake_reconciler();
    Ok(Some(one(ctl, &cluster, false)))
}

pub fn describe(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let show_nodes = p.bool("ShowCacheNodeInfo")?.unwrap_or(false);
    let clusters = ctl.store.clusters()?;
    // The marker is the last id of the previous page (ids sort).
    let (page, marker) = p.page(
        p.named(
            &clusters,
            "CacheClusterId",
            |c| &c.id,
            ApiError::cluster_not_found,
        )?,
        |c| &c.id,
        (20, 100, 100),
    )?;
    let mut x = Xml::default();
    x.opt("Marker", marker);
    x.node("CacheClusters", |x| {
        for c in page {
            write_cluster(x, ctl, c, show_nodes);
        }
    });
    Ok(Some(x))
}

pub fn delete(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let id = p.identifier("CacheClusterId", 50)?;
    let _guard = ctl.lock.lock();
    let mut c = existing(ctl, &id)?;
    if let Some(group) = &c.replication_group {
        return Err(ApiError::invalid_cluster_state(format!(
            "Cache cluster {id} is a member of replication group {group}: use DecreaseReplicaCount \
             or DeleteReplicationGroup."
        )));
    }
    if c.status == "deleting" {
        return Err(ApiError::invalid_cluster_state(format!(
            "Cache cluster {id} is not in a valid state to be deleted."
        )));
    }
    if let Some(name) = p.get("FinalSnapshotIdentifier") {
        if c.status != "available" {
            return Err(ApiError::invalid_cluster_state(format!(
                "Cache cluster {id} must be available for a final snapshot."
            )));
        }
        let s = crate::snapshots::new_snapshot(ctl, name, "manual", &c, None)?;
        ctl.store.put_snapshot(&s)?;
    }
    c.status = "deleting".into();
    ctl.store.put_cluster(&c)?;
    ctl.wake_reconciler();
    Ok(Some(one(ctl, &c, false)))
}

pub fn reboot(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let id = p.identifier("CacheClusterId", 50)?;
    let ids = p.list("CacheNodeIdsToReboot", "CacheNodeId");
    if ids.is_empty() {
        return Err(ApiError::missing("CacheNodeIdsToReboot"));
    }
    let _guard = ctl.lock.lock();
    let mut c = existing(ctl, &id)?;
    if c.status != "available" {
        return Err(ApiError::invalid_cluster_state(format!(
            "Cache cluster {id} is not in available state (it is {}).",
            c.status
        )));
    }
    for wanted in &ids {
        if !c.nodes.iter().any(|n| n.id == *wanted) {
            return Err(ApiError::invalid_value(format!(
                "Cache node {wanted} does not exist in cache cluster {id}."
            )));
        }
    }
    for n in c.nodes.iter_mut().filter(|n| ids.contains(&n.id.as_str())) {
        n.status = "rebooting".into();
        n.reboot_pending = true;
    }
    c.status = "rebooting cache cluster nodes".into();
    ctl.store.put_cluster(&c)?;
    ctl.wake_reconciler();
    Ok(Some(one(ctl, &c, false)))
}

/// ModifyCacheCluster: the Memcached node count (nodes added, or the
/// listed `CacheNodeIdsToRemove` removed). Other changes are refused
/// rather than accepted and ignored.
pub fn modify(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let id = p.identifier("CacheClusterId", 50)?;
    let _guard = ctl.lock.lock();
    let mut c = existing(ctl, &id)?;
    if p.get("EngineVersion").is_some() {
        return Err(ApiError::invalid_combination(
            "Modifying EngineVersion is not supported by this control plane yet.",
        ));
    }
    let security_change = [
        "AuthToken",
        "AuthTokenUpdateStrategy",
        "TransitEncryptionEnabled",
    ]
    .iter()
    .any(|name| p.get(name).is_some());
    if security_change && c.replication_group.is_some() {
        return Err(ApiError::invalid_combination(
            "The AUTH token of a replication group's member changes with ModifyReplicationGroup.",
        ));
    }
    crate::security::modify(p, &mut c.security, false, now_ms())?;
    if let Some(pg) = p.get("CacheParameterGroupName") {
        let pg = pg.to_ascii_lowercase();
        crate::params::usable(ctl, &pg, c.engine)?;
        c.parameter_group = pg;
    }
    if let Some(w) = maintenance_window(p)? {
        c.maintenance_window = w;
    }
    if let Some(limit) = p.int("SnapshotRetentionLimit")? {
        if !(0..=35).contains(&limit) {
            return Err(ApiError::invalid_value(
                "SnapshotRetentionLimit must be between 0 and 35 days.",
            ));
        }
        c.snapshot_retention_limit = limit;
    }
    if let Some(w) = p.snapshot_window()? {
        c.snapshot_window = w;
    }
    // Node count and type wait for the maintenance window unless
    // ApplyImmediately, which also applies what was waiting.
    let mut asked = PendingChanges::default();
    if let Some(node_type) = p.get("CacheNodeType") {
        if c.replication_group.is_some() {
            return Err(ApiError::invalid_combination(
                "The node type of a replication group's member changes with ModifyReplicationGroup.",
            ));
        }
        asked.node_type = Some(check_node_type(std::slice::from_ref(&c), node_type)?);
    }
    if let Some(count) = p.int("NumCacheNodes")? {
        let remove: Vec<String> = p
            .list("CacheNodeIdsToRemove", "CacheNodeId")
            .into_iter()
            .map(str::to_string)
            .collect();
        check_resize(&c, count, &remove)?;
        if count != c.nodes.len() as i64 {
            asked.num_cache_nodes = Some(count);
            asked.node_ids_to_remove = remove;
        }
    }
    if p.bool("ApplyImmediately")?.unwrap_or(false) {
        let changes = std::mem::take(&mut c.pending).overlaid(asked);
        apply(ctl, &mut c, changes)?;
    } else if !asked.is_empty() {
        c.pending = std::mem::take(&mut c.pending).overlaid(asked);
    }
    // Recorded once, when every part of the request is valid.
    ctl.store.put_cluster(&c)?;
    ctl.wake_reconciler();
    Ok(Some(one(ctl, &c, false)))
}

/// Checks a change of a cluster's node count to `count`, removing the
/// nodes `remove` names when it shrinks.
fn check_resize(c: &Cluster, count: i64, remove: &[String]) -> Result<(), ApiError> {
    if c.engine == Engine::Redis && count != 1 {
        return Err(ApiError::invalid_value(
            "Cannot modify a Redis cluster to have a NumCacheNodes parameter greater than 1.",
        ));
    }
    if !(1..=MAX_MEMCACHED_NODES).contains(&count) {
        return Err(ApiError::invalid_value(format!(
            "NumCacheNodes must be between 1 and {MAX_MEMCACHED_NODES}."
        )));
    }
    let current = c.nodes.len() as i64;
    if count >= current {
        if !remove.is_empty() {
            return Err(ApiError::invalid_combination(
                "CacheNodeIdsToRemove is only for removing nodes.",
            ));
        }
        return Ok(());
    }
    if remove.len() as i64 != current - count {
        return Err(ApiError::invalid_value(format!(
            "Explicitly specify {} cache node(s) to remove with CacheNodeIdsToRemove.",
            current - count
        )));
    }
    if let Some(r) = remove.iter().find(|r| !c.nodes.iter().any(|n| n.id == **r)) {
        return Err(ApiError::invalid_value(format!(
            "Cache node {r} does not exist in cache cluster {}.",
            c.id
        )));
    }
    Ok(())
}

/// Makes `changes` to an available cluster now (the caller records it).
pub(crate) fn apply(
    ctl: &Control,
    c: &mut Cluster,
    changes: PendingChanges,
) -> Result<(), ApiError> {
    if changes.is_empty() {
        return Ok(());
    }
    if c.status != "available" {
        return Err(ApiError::invalid_cluster_state(format!(
            "Cache cluster {} is not in available state (it is {}).",
            c.id, c.status
        )));
    }
    // Checked again: nodes may have changed since the change was asked for.
    if let Some(count) = changes.num_cache_nodes {
        check_resize(c, count, &changes.node_ids_to_remove)?;
    }
    if let Some(node_type) = &changes.node_type {
        c.node_type = change_node_type(ctl, std::slice::from_ref(c), node_type)?;
    }
    let Some(count) = changes.num_cache_nodes else {
        return Ok(());
    };
    let current = c.nodes.len() as i64;
    if count > current {
        let next = c
            .nodes
            .iter()
            .filter_map(|n| n.id.parse::<usize>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let mut used = used_ports(ctl)?;
        let added = new_nodes(
            ctl,
            &mut used,
            &c.id,
            next,
            (count - current) as usize,
            now_ms(),
        )?;
        c.nodes.extend(added);
    } else {
        for n in &mut c.nodes {
            if changes.node_ids_to_remove.contains(&n.id) {
                n.status = "deleting".into();
            }
        }
    }
    c.status = "modifying".into();
    c.discovery_version += 1;
    Ok(())
}

/// `PreferredMaintenanceWindow` (`ddd:hh:mm-ddd:hh:mm`, UTC), checked.
pub(crate) fn maintenance_window(p: &Params) -> Result<Option<String>, ApiError> {
    match p.get("PreferredMaintenanceWindow") {
        Some(w) if week_window(w).is_none() => Err(ApiError::invalid_value(format!(
            "Invalid value for PreferredMaintenanceWindow: {w}. It looks like \
             sun:23:00-mon:01:30 (UTC)."
        ))),
        w => Ok(w.map(str::to_ascii_lowercase)),
    }
}

/// A weekly window's start and end in minutes since Sunday 00:00.
fn week_window(window: &str) -> Option<(u64, u64)> {
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let minute = |t: &str| -> Option<u64> {
        let mut parts = t.split(':');
        let day = parts.next()?.to_ascii_lowercase();
        let day = DAYS.iter().position(|d| *d == day)? as u64;
        let h: u64 = parts.next()?.parse().ok()?;
        let m: u64 = parts.next()?.parse().ok()?;
        (h < 24 && m < 60 && parts.next().is_none()).then_some(day * 1440 + h * 60 + m)
    };
    let (start, end) = window.split_once('-')?;
    let (start, end) = (minute(start)?, minute(end)?);
    (start != end).then_some((start, end))
}

/// Is `now_ms` inside the weekly `window` (which may wrap past Saturday)?
pub(crate) fn in_maintenance_window(window: &str, now_ms: u64) -> bool {
    let Some((start, end)) = week_window(window) else {
        return false;
    };
    // 1970-01-01 was a Thursday.
    let minutes = now_ms / 60_000;
    let now = (minutes + 4 * 1440) % (7 * 1440);
    if start < end {
        (start..end).contains(&now)
    } else {
        now >= start || now < end
    }
}

/// The name of the node type `name`, if `clusters` can change to it.
pub(crate) fn check_node_type(clusters: &[Cluster], name: &str) -> Result<String, ApiError> {
    let t = model::node_type(name).ok_or_else(|| {
        ApiError::invalid_value(format!("Invalid value for CacheNodeType: {name}."))
    })?;
    if clusters.iter().any(|c| c.engine != Engine::Redis) {
        return Err(ApiError::invalid_combination(
            "The node type of a Memcached cluster cannot change: create a new cluster.",
        ));
    }
    Ok(t.name.to_string())
}

/// Scales Redis nodes to another node type in place: the memory limit
/// changes at once (`CONFIG SET maxmemory`); a node that is down gets it
/// when it starts. Returns the type's name.
pub(crate) fn change_node_type(
    ctl: &Control,
    clusters: &[Cluster],
    name: &str,
) -> Result<String, ApiError> {
    let name = check_node_type(clusters, name)?;
    let t = model::node_type(&name).unwrap_or(&model::NODE_TYPES[0]);
    let memory = format!("{}mb", t.memory_mib);
    for n in clusters.iter().flat_map(|c| &c.nodes) {
        if let Some(Err(e)) = ctl
            .agent
            .redis(n.port, &["CONFIG", "SET", "maxmemory", &memory])
        {
            return Err(ApiError::internal(format!("node on port {}: {e}", n.port)));
        }
    }
    Ok(t.name.to_string())
}

/// A new cluster record of `count` nodes with the service's defaults.
pub(crate) fn new_cluster(
    ctl: &Control,
    used: &mut HashSet<u16>,
    id: String,
    engine: Engine,
    node_type: &str,
    count: usize,
    caller: &Caller,
) -> Result<Cluster, ApiError> {
    let now = now_ms();
    Ok(Cluster {
        nodes: new_nodes(ctl, used, &id, 1, count, now)?,
        id,
        engine,
        engine_version: engine.version().into(),
        node_type: node_type.into(),
        status: "creating".into(),
        created_ms: now,
        region: caller.region.clone(),
        account: caller.account.clone(),
        parameter_group: engine.parameter_group().into(),
        snapshot_retention_limit: 0,
        snapshot_window: "05:00-06:00".into(),
        maintenance_window: "sun:23:00-mon:01:30".into(),
        auto_minor_version_upgrade: true,
        discovery_version: 1,
        discovery_pushed: 0,
        replication_group: None,
        subnet_group: None,
        security: Default::default(),
        pending: Default::default(),
    })
}

/// `<CacheCluster>` alone (the result of the single-cluster operations).
fn one(ctl: &Control, c: &Cluster, show_nodes: bool) -> Xml {
    let mut x = Xml::default();
    write_cluster(&mut x, ctl, c, show_nodes);
    x
}

pub(crate) fn write_endpoint(x: &mut Xml, tag: &str, port: u16) {
    x.node(tag, |x| {
        x.field("Address", "127.0.0.1");
        x.field("Port", port);
    });
}

fn write_cluster(x: &mut Xml, ctl: &Control, c: &Cluster, show_nodes: bool) {
    let az = format!("{}a", c.region);
    x.node("CacheCluster", |x| {
        x.field("CacheClusterId", &c.id);
        if c.engine == Engine::Memcached {
            if let Some(first) = c.nodes.first() {
                write_endpoint(x, "ConfigurationEndpoint", first.port);
            }
        }
        x.field(
            "ClientDownloadLandingPage",
            "https://console.aws.amazon.com/elasticache/home#client-download:",
        );
        x.field("CacheNodeType", &c.node_type);
        x.field("Engine", c.engine.name());
        x.field("EngineVersion", &c.engine_version);
        x.field("CacheClusterStatus", &c.status);
        x.field(
            "NumCacheNodes",
            c.nodes.iter().filter(|n| n.status != "deleting").count(),
        );
        x.field("PreferredAvailabilityZone", &az);
        x.field("CacheClusterCreateTime", timestamp(c.created_ms));
        x.field("PreferredMaintenanceWindow", &c.maintenance_window);
        x.node("PendingModifiedValues", |x| {
            x.opt("NumCacheNodes", c.pending.num_cache_nodes);
            if !c.pending.node_ids_to_remove.is_empty() {
                x.node("CacheNodeIdsToRemove", |x| {
                    for id in &c.pending.node_ids_to_remove {
                        x.field("CacheNodeId", id);
                    }
                });
            }
            x.opt("CacheNodeType", c.pending.node_type.as_deref());
        });
        x.empty("CacheSecurityGroups");
        let to_reboot = crate::params::nodes_to_reboot(ctl, c);
        x.node("CacheParameterGroup", |x| {
            x.field("CacheParameterGroupName", &c.parameter_group);
            let status = if to_reboot.is_empty() {
                "in-sync"
            } else {
                "pending-reboot"
            };
            x.field("ParameterApplyStatus", status);
            x.node("CacheNodeIdsToReboot", |x| {
                for id in &to_reboot {
                    x.field("CacheNodeId", id);
                }
            });
        });
        if show_nodes {
            x.node("CacheNodes", |x| {
                for n in &c.nodes {
                    x.node("CacheNode", |x| {
                        x.field("CacheNodeId", &n.id);
                        x.field("CacheNodeStatus", &n.status);
                        x.field("CacheNodeCreateTime", timestamp(n.created_ms));
                        write_endpoint(x, "Endpoint", n.port);
                        x.field("ParameterGroupStatus", "in-sync");
                        x.field("CustomerAvailabilityZone", &az);
                    });
                }
            });
        }
        x.field("AutoMinorVersionUpgrade", c.auto_minor_version_upgrade);
        x.opt("CacheSubnetGroupName", c.subnet_group.as_deref());
        x.opt("ReplicationGroupId", c.replication_group.as_deref());
        if c.engine == Engine::Redis {
            x.field("SnapshotRetentionLimit", c.snapshot_retention_limit);
            x.field("SnapshotWindow", &c.snapshot_window);
        }
        // A group member's token is the group's.
        let group = c
            .replication_group
            .as_deref()
            .and_then(|g| ctl.store.group(g).ok().flatten());
        crate::security::write(x, group.as_ref().map_or(&c.security, |g| &g.security));
        x.field("ARN", c.arn());
        x.field("ReplicationGroupLogDeliveryEnabled", false);
        x.empty("LogDeliveryConfigurations");
        x.field("NetworkType", "ipv4");
        x.field("IpDiscovery", "ipv4");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_windows() {
        // Sunday 2026-11-29 00:00 UTC.
        let sunday = 1_795_910_400_000u64;
        let at = |day: u64, h: u64, m: u64| sunday + ((day * 24 + h) * 60 + m) * 60_000;
        let window = "sun:23:00-mon:01:30";
        assert!(!in_maintenance_window(window, at(0, 22, 59)));
        assert!(in_maintenance_window(window, at(0, 23, 0)));
        assert!(in_maintenance_window(window, at(1, 1, 29)));
        assert!(!in_maintenance_window(window, at(1, 1, 30)));
        assert!(!in_maintenance_window(window, at(7, 22, 0)));
        // Wrapping past Saturday.
        let wrapping = "Sat:22:00-sun:02:00";
        assert!(in_maintenance_window(wrapping, at(6, 23, 0)));
        assert!(in_maintenance_window(wrapping, at(7, 1, 0)));
        assert!(!in_maintenance_window(wrapping, at(3, 1, 0)));
        for bad in [
            "sun:23:00",
            "sun:24:00-mon:01:00",
            "xyz:01:00-sun:02:00",
            "sun:01:00-sun:01:00",
            "",
        ] {
            assert!(week_window(bad).is_none(), "{bad}");
            assert!(!in_maintenance_window(bad, at(0, 1, 0)));
        }
    }
}
