//! Replication groups with cluster mode disabled: CreateReplicationGroup,
//! DescribeReplicationGroups, ModifyReplicationGroup, IncreaseReplicaCount,
//! DecreaseReplicaCount, TestFailover, DeleteReplicationGroup. A group is
//! one node group: a primary cache cluster and replica cache clusters of
//! one Redis node each (`<group>-001`, `-002`...), listed by
//! DescribeCacheClusters too. The reconciler wires replication, serves the
//! endpoints and fails over (`failover.rs`).

use std::collections::HashSet;

use crate::clusters::{self, take_port, used_ports, write_endpoint};
use crate::error::ApiError;
use crate::model::{self, Cluster, Engine, ReplicationGroup};
use crate::query::Params;
use crate::xml::{timestamp, Xml};
use crate::{now_ms, Caller, Control};

/// The managed service's limit: a primary and five replicas.
const MAX_REPLICAS: i64 = 5;

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        "ReplicationGroupNotFoundFault",
        404,
        format!("ReplicationGroup {id} not found."),
    )
}

fn invalid_state(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidReplicationGroupState", 400, message)
}

fn existing(ctl: &Control, id: &str) -> Result<ReplicationGroup, ApiError> {
    ctl.store.group(id)?.ok_or_else(|| not_found(id))
}

/// The member id after the highest one so far (`g-001`, `g-002`...).
fn next_member_id(g: &ReplicationGroup) -> String {
    let n = g
        .members
        .iter()
        .filter_map(|m| m.rsplit('-').next()?.parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    format!("{}-{:03}", g.id, n + 1)
}

/// Adds `count` new replica clusters to the group (not yet stored).
fn add_replicas(
    ctl: &Control,
    used: &mut HashSet<u16>,
    g: &mut ReplicationGroup,
    count: usize,
    caller: &Caller,
) -> Result<Vec<Cluster>, ApiError> {
    let mut added = Vec::new();
    for _ in 0..count {
        let id = next_member_id(g);
        let mut c = clusters::new_cluster(
            ctl,
            used,
            id.clone(),
            Engine::Redis,
            &g.node_type,
            1,
            caller,
        )?;
        c.replication_group = Some(g.id.clone());
        c.security.tls = g.security.tls;
        g.members.push(id);
        added.push(c);
    }
    Ok(added)
}

pub fn create(ctl: &Control, p: &Params, caller: &Caller) -> Result<Option<Xml>, ApiError> {
    let id = p.identifier("ReplicationGroupId", 40)?;
    let description = p.required("ReplicationGroupDescription")?;
    if let Some(engine) = p
        .get("Engine")
        .filter(|e| Engine::parse(e) != Some(Engine::Redis))
    {
        return Err(ApiError::invalid_value(format!(
            "Invalid value for Engine: {engine}. Replication groups are for the redis engine."
        )));
    }
    let cluster_mode = p.int("NumNodeGroups")?.unwrap_or(1) > 1
        || p.get("ClusterMode")
            .is_some_and(|m| !m.eq_ignore_ascii_case("disabled"))
        || p.structs("NodeGroupConfiguration", "NodeGroupConfiguration")
            .len()
            > 1;
    if cluster_mode {
        return Err(ApiError::invalid_combination(
            "Cluster mode enabled (NumNodeGroups > 1, ClusterMode, several NodeGroupConfiguration) \
             is not supported by this control plane yet: create a group with one node group.",
        ));
    }
    let unsupported = ["GlobalReplicationGroupId"]
        .into_iter()
        .find(|name| p.get(name).is_some())
        .or((!p.list("SnapshotArns", "SnapshotArn").is_empty()).then_some("SnapshotArns"));
    if let Some(name) = unsupported {
        return Err(ApiError::invalid_combination(format!(
            "{name} is not supported by this control plane yet."
        )));
    }
    let user_groups = p.list("UserGroupIds", "member");
    if user_groups.len() > 1 {
        return Err(ApiError::invalid_value(
            "A replication group has at most one user group.",
        ));
    }
    let user_group = user_groups.first().map(|u| u.to_ascii_lowercase());
    let mut security =
        crate::security::from_create(p, Engine::Redis, user_group.is_some(), now_ms())?;
    let automatic_failover = p.bool("AutomaticFailoverEnabled")?.unwrap_or(false);
    let multi_az = p.bool("MultiAZEnabled")?.unwrap_or(false);
    if multi_az && !automatic_failover {
        return Err(ApiError::invalid_combination(
            "Multi-AZ requires AutomaticFailoverEnabled.",
        ));
    }
    let primary_cluster = p.get("PrimaryClusterId").map(str::to_ascii_lowercase);
    let replicas = match (p.int("NumCacheClusters")?, p.int("ReplicasPerNodeGroup")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_combination(
                "NumCacheClusters and ReplicasPerNodeGroup cannot both be given.",
            ))
        }
        (Some(n), None) => n - 1,
        (None, Some(r)) => r,
        (None, None) => 0,
    };
    if !(0..=MAX_REPLICAS).contains(&replicas) {
        return Err(ApiError::invalid_value(format!(
            "A replication group has a primary and 0 to {MAX_REPLICAS} replicas \
             (NumCacheClusters 1 to {}).",
            MAX_REPLICAS + 1
        )));
    }
    if automatic_failover && replicas < 1 {
        return Err(ApiError::invalid_combination(
            "Automatic failover needs at least one replica (NumCacheClusters of 2 or more).",
        ));
    }
    let node_type_name = p.get("CacheNodeType").unwrap_or("cache.t3.micro");
    if model::node_type(node_type_name).is_none() {
        return Err(ApiError::invalid_value(format!(
            "Invalid value for CacheNodeType: {node_type_name}."
        )));
    }
    let tags = crate::tags::from_params(p)?;
    let parameter_group = p
        .get("CacheParameterGroupName")
        .map(str::to_ascii_lowercase);
    let _guard = ctl.lock.lock();
    if let Some(pg) = &parameter_group {
        crate::params::usable(ctl, pg, Engine::Redis)?;
    }
    if let Some(u) = &user_group {
        crate::users::attachable(ctl, u)?;
    }
    if ctl.store.group(&id)?.is_some() {
        return Err(ApiError::new(
            "ReplicationGroupAlreadyExists",
            400,
            format!("Replication group {id} already exists."),
        ));
    }
    // An existing standalone Redis cluster can become the primary.
    let adopted = match &primary_cluster {
        Some(cid) => {
            let c = ctl
                .store
                .cluster(cid)?
                .ok_or_else(|| ApiError::cluster_not_found(cid))?;
            if c.engine != Engine::Redis || c.replication_group.is_some() || c.status != "available"
            {
                return Err(ApiError::invalid_cluster_state(format!(
                    "Cache cluster {cid} must be an available Redis cluster in no replication group."
                )));
            }
            if c.security.tls != security.tls {
                return Err(ApiError::invalid_combination(format!(
                    "TransitEncryptionEnabled must match that of cache cluster {cid}."
                )));
            }
            // The group keeps the cluster's token unless given another.
            if p.get("AuthToken").is_none() && user_group.is_none() {
                security = c.security.clone();
            }
            Some(c)
        }
        None => None,
    };
    let mut used = used_ports(ctl)?;
    let mut g = ReplicationGroup {
        id: id.clone(),
        description: description.into(),
        status: "creating".into(),
        created_ms: now_ms(),
        region: caller.region.clone(),
        account: caller.account.clone(),
        node_type: adopted
            .as_ref()
            .map_or(node_type_name.to_string(), |c| c.node_type.clone()),
        automatic_failover,
        multi_az,
        members: Vec::new(),
        primary: String::new(),
        primary_port: take_port(ctl, &mut used)?,
        reader_port: take_port(ctl, &mut used)?,
        snapshot_retention_limit: p.int("SnapshotRetentionLimit")?.unwrap_or(0),
        snapshot_window: p.snapshot_window()?.unwrap_or_else(|| "05:00-06:00".into()),
        promote: None,
        retain_primary: false,
        user_group,
        security,
    };
    let mut members = Vec::new();
    match adopted {
        Some(mut c) => {
            c.replication_group = Some(id.clone());
            g.primary = c.id.clone();
            g.members.push(c.id.clone());
            members.push(c);
        }
        None => {
            let mut first = add_replicas(ctl, &mut used, &mut g, 1, caller)?;
            g.primary = g.members[0].clone();
            members.append(&mut first);
        }
    }
    if let Some(name) = p.get("SnapshotName") {
        if primary_cluster.is_some() {
            return Err(ApiError::invalid_combination(
                "SnapshotName and PrimaryClusterId cannot both be given.",
            ));
        }
        // The primary starts from the snapshot; replicas sync from it.
        crate::snapshots::restore_into(ctl, name, &members[0].nodes[0].dir)?;
    }
    members.extend(add_replicas(
        ctl,
        &mut used,
        &mut g,
        replicas as usize,
        caller,
    )?);
    let subnet_group = crate::subnets::chosen(ctl, p)?;
    for c in &mut members {
        if let Some(pg) = &parameter_group {
            c.parameter_group = pg.clone();
        }
        if subnet_group.is_some() {
            c.subnet_group = subnet_group.clone();
        }
        ctl.store.put_cluster(c)?;
    }
    ctl.store.put_group(&g)?;
    ctl.store.put_tags(&g.arn(), &tags)?;
    ctl.wake_reconciler();
    let members = member_clusters(ctl, &g)?;
    Ok(Some(one(&g, &members)))
}

fn member_clusters(ctl: &Control, g: &ReplicationGroup) -> Result<Vec<Cluster>, ApiError> {
    let mut out = Vec::new();
    for m in &g.members {
        if let Some(c) = ctl.store.cluster(m)? {
            out.push(c);
        }
    }
    Ok(out)
}

pub fn describe(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let groups = ctl.store.groups()?;
    let (page, marker) = p.page(
        p.named(&groups, "ReplicationGroupId", |g| &g.id, not_found)?,
        |g| &g.id,
        (20, 100, 100),
    )?;
    let mut x = Xml::default();
    x.opt("Marker", marker);
    let mut described = Vec::new();
    for g in page {
        described.push((g, member_clusters(ctl, g)?));
    }
    x.node("ReplicationGroups", |x| {
        for (g, members) in &described {
            write_group(x, g, members);
        }
    });
    Ok(Some(x))
}

/// The group must be `available` for a change.
fn available(ctl: &Control, id: &str) -> Result<ReplicationGroup, ApiError> {
    let g = existing(ctl, id)?;
    if g.status != "available" {
        return Err(invalid_state(format!(
            "Replication group {id} is not in available state (it is {}).",
            g.status
        )));
    }
    Ok(g)
}

pub fn delete(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let id = p.identifier("ReplicationGroupId", 40)?;
    let _guard = ctl.lock.lock();
    let mut g = existing(ctl, &id)?;
    if g.status == "deleting" {
        return Err(invalid_state(format!(
            "Replication group {id} is already being deleted."
        )));
    }
    if let Some(name) = p.get("FinalSnapshotIdentifier") {
        let c = crate::snapshots::source_member(ctl, &g)?;
        let s = crate::snapshots::new_snapshot(ctl, name, "manual", &c, Some(&g))?;
        ctl.store.put_snapshot(&s)?;
    }
    g.retain_primary = p.bool("RetainPrimaryCluster")?.unwrap_or(false);
    g.status = "deleting".into();
    ctl.store.put_group(&g)?;
    ctl.wake_reconciler();
    let members = member_clusters(ctl, &g)?;
    Ok(Some(one(&g, &members)))
}

pub fn test_failover(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let id = p.identifier("ReplicationGroupId", 40)?;
    let node_group = p.required("NodeGroupId")?;
    let _guard = ctl.lock.lock();
    let mut g = available(ctl, &id)?;
    if node_group != "0001" {
        return Err(ApiError::new(
            "NodeGroupNotFoundFault",
            404,
            format!("NodeGroup {node_group} not found."),
        ));
    }
    if !g.automatic_failover {
        return Err(ApiError::new(
            "TestFailoverNotAvailableFault",
            400,
            format!("Automatic failover is not enabled for replication group {id}."),
        ));
    }
    let replica = failover_target(ctl, &g)?;
    g.promote = Some(replica);
    g.status = "modifying".into();
    ctl.store.put_group(&g)?;
    ctl.record_event(
        &g.id,
        "replication-group",
        format!("Test Failover API called for node group {node_group}"),
    );
    ctl.wake_reconciler();
    let members = member_clusters(ctl, &g)?;
    Ok(Some(one(&g, &members)))
}

/// The replica a requested failover promotes: the one with the highest
/// replication offset.
fn failover_target(ctl: &Control, g: &ReplicationGroup) -> Result<String, ApiError> {
    let members = member_clusters(ctl, g)?;
    crate::failover::best_replica(&ctl.agent, g, &members).ok_or_else(|| {
        ApiError::new(
            "TestFailoverNotAvailableFault",
            400,
            format!(
                "Replication group {} has no available replica to fail over to.",
                g.id
            ),
        )
    })
}

pub fn modify(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let id = p.identifier("ReplicationGroupId", 40)?;
    for unsupported in ["EngineVersion", "SnapshottingClusterId"] {
        if p.get(unsupported).is_some() {
            return Err(ApiError::invalid_combination(format!(
                "Modifying {unsupported} is not supported by this control plane yet."
            )));
        }
    }
    let _guard = ctl.lock.lock();
    let mut g = existing(ctl, &id)?;
    let failover = p
        .bool("AutomaticFailoverEnabled")?
        .unwrap_or(g.automatic_failover);
    let multi_az = p.bool("MultiAZEnabled")?.unwrap_or(g.multi_az && failover);
    if multi_az && !failover {
        return Err(ApiError::invalid_combination(
            "Multi-AZ requires AutomaticFailoverEnabled.",
        ));
    }
    if failover && g.members.len() < 2 {
        return Err(ApiError::invalid_combination(
            "Automatic failover needs at least one replica.",
        ));
    }
    if let Some(primary) = p.get("PrimaryClusterId").map(str::to_ascii_lowercase) {
        if !g.members.contains(&primary) {
            return Err(ApiError::invalid_value(format!(
                "Cache cluster {primary} is not a member of replication group {id}."
            )));
        }
        if primary != g.primary {
            if g.status != "available" {
                return Err(invalid_state(format!(
                    "Replication group {id} is not in available state (it is {}).",
                    g.status
                )));
            }
            g.promote = Some(primary);
            g.status = "modifying".into();
        }
    }
    let add = p.list("UserGroupIdsToAdd", "member");
    let remove = p.list("UserGroupIdsToRemove", "member");
    if p.bool("RemoveUserGroups")?.unwrap_or(false) || !remove.is_empty() {
        if let Some(r) = remove
            .iter()
            .find(|r| g.user_group.as_deref() != Some(r.to_ascii_lowercase().as_str()))
        {
            return Err(ApiError::invalid_value(format!(
                "User group {r} is not attached to replication group {id}."
            )));
        }
        g.user_group = None;
        g.status = "modifying".into();
    }
    match add.as_slice() {
        [] => {}
        [one] => {
            let one = one.to_ascii_lowercase();
            if g.user_group.as_ref().is_some_and(|u| *u != one) {
                return Err(ApiError::invalid_value(
                    "A replication group has at most one user group: remove the current one.",
                ));
            }
            crate::users::attachable(ctl, &one)?;
            g.user_group = Some(one);
            g.status = "modifying".into();
        }
        _ => {
            return Err(ApiError::invalid_value(
                "A replication group has at most one user group.",
            ))
        }
    }
    if crate::security::modify(p, &mut g.security, g.user_group.is_some(), now_ms())? {
        g.status = "modifying".into();
    }
    let parameter_group = p
        .get("CacheParameterGroupName")
        .map(str::to_ascii_lowercase);
    if let Some(pg) = &parameter_group {
        crate::params::usable(ctl, pg, Engine::Redis)?;
    }
    let window = clusters::maintenance_window(p)?;
    let mut members = member_clusters(ctl, &g)?;
    let asked = p
        .get("CacheNodeType")
        .map(|t| clusters::check_node_type(&members, t))
        .transpose()?;
    // A node type change waits for the members' maintenance window unless
    // ApplyImmediately, which also applies one that was waiting.
    let apply_now = p.bool("ApplyImmediately")?.unwrap_or(false);
    let waiting = members.iter().find_map(|c| c.pending.node_type.clone());
    for c in &mut members {
        if let Some(pg) = &parameter_group {
            c.parameter_group = pg.clone();
        }
        if let Some(w) = &window {
            c.maintenance_window = w.clone();
        }
        if apply_now {
            c.pending.node_type = None;
        } else if asked.is_some() {
            c.pending.node_type = asked.clone();
        }
    }
    if let Some(node_type) = asked.or(waiting).filter(|_| apply_now) {
        g.node_type = clusters::change_node_type(ctl, &members, &node_type)?;
        for c in &mut members {
            c.node_type = g.node_type.clone();
        }
    }
    for c in &members {
        ctl.store.put_cluster(c)?;
    }
    g.automatic_failover = failover;
    g.multi_az = multi_az;
    if let Some(d) = p.get("ReplicationGroupDescription") {
        g.description = d.into();
    }
    if let Some(limit) = p.int("SnapshotRetentionLimit")? {
        g.snapshot_retention_limit = limit;
    }
    if let Some(w) = p.snapshot_window()? {
        g.snapshot_window = w;
    }
    ctl.store.put_group(&g)?;
    ctl.wake_reconciler();
    let members = member_clusters(ctl, &g)?;
    Ok(Some(one(&g, &members)))
}

/// IncreaseReplicaCount / DecreaseReplicaCount.
pub fn change_replicas(
    ctl: &Control,
    p: &Params,
    caller: &Caller,
    increase: bool,
) -> Result<Option<Xml>, ApiError> {
    let id = p.identifier("ReplicationGroupId", 40)?;
    if p.bool("ApplyImmediately")? != Some(true) {
        return Err(ApiError::invalid_value(
            "ApplyImmediately must be true: replica counts change immediately.",
        ));
    }
    if !p
        .structs("ReplicaConfiguration", "ConfigureShard")
        .is_empty()
    {
        return Err(ApiError::invalid_combination(
            "ReplicaConfiguration is for cluster mode enabled groups; use NewReplicaCount.",
        ));
    }
    let _guard = ctl.lock.lock();
    let mut g = available(ctl, &id)?;
    let current = g.members.len() as i64 - 1;
    let to_remove: Vec<String> = p
        .list("ReplicasToRemove", "member")
        .iter()
        .map(|r| r.to_ascii_lowercase())
        .collect();
    let target = match p.int("NewReplicaCount")? {
        Some(n) => n,
        None if !increase && !to_remove.is_empty() => current - to_remove.len() as i64,
        None => return Err(ApiError::missing("NewReplicaCount")),
    };
    if !(0..=MAX_REPLICAS).contains(&target) {
        return Err(ApiError::invalid_value(format!(
            "NewReplicaCount must be between 0 and {MAX_REPLICAS}."
        )));
    }
    if (increase && target <= current) || (!increase && target >= current) {
        return Err(ApiError::new(
            "NoOperationFault",
            400,
            format!(
                "The replication group {id} has {current} replicas; NewReplicaCount {target} does not {} it.",
                if increase { "increase" } else { "decrease" }
            ),
        ));
    }
    if g.automatic_failover && target < 1 {
        return Err(ApiError::invalid_combination(
            "A group with automatic failover keeps at least one replica.",
        ));
    }
    if increase {
        let mut used = used_ports(ctl)?;
        let primary = ctl.store.cluster(&g.primary)?;
        for mut c in add_replicas(ctl, &mut used, &mut g, (target - current) as usize, caller)? {
            if let Some(primary) = &primary {
                c.parameter_group = primary.parameter_group.clone();
                c.subnet_group = primary.subnet_group.clone();
            }
            ctl.store.put_cluster(&c)?;
        }
    } else {
        // The listed replicas, else the newest ones.
        let mut removing = to_remove.clone();
        if removing.is_empty() {
            removing = g
                .members
                .iter()
                .rev()
                .filter(|m| **m != g.primary)
                .take((current - target) as usize)
                .cloned()
                .collect();
        }
        if removing.len() as i64 != current - target {
            return Err(ApiError::invalid_value(format!(
                "ReplicasToRemove must list {} replica(s).",
                current - target
            )));
        }
        for r in &removing {
            if *r == g.primary || !g.members.contains(r) {
                return Err(ApiError::invalid_value(format!(
                    "{r} is not a replica of replication group {id}."
                )));
            }
        }
        for r in &removing {
            if let Some(mut c) = ctl.store.cluster(r)? {
                c.status = "deleting".into();
                ctl.store.put_cluster(&c)?;
            }
        }
        g.members.retain(|m| !removing.contains(m));
    }
    g.status = "modifying".into();
    ctl.store.put_group(&g)?;
    ctl.wake_reconciler();
    let members = member_clusters(ctl, &g)?;
    Ok(Some(one(&g, &members)))
}

fn one(g: &ReplicationGroup, members: &[Cluster]) -> Xml {
    let mut x = Xml::default();
    write_group(&mut x, g, members);
    x
}

fn write_group(x: &mut Xml, g: &ReplicationGroup, members: &[Cluster]) {
    let az = format!("{}a", g.region);
    let enabled = |on: bool| if on { "enabled" } else { "disabled" };
    x.node("ReplicationGroup", |x| {
        x.field("ReplicationGroupId", &g.id);
        x.field("Description", &g.description);
        x.field("Status", &g.status);
        x.node("PendingModifiedValues", |x| {
            x.opt("PrimaryClusterId", g.promote.as_deref());
        });
        x.node("MemberClusters", |x| {
            for m in &g.members {
                x.field("ClusterId", m);
            }
        });
        x.node("NodeGroups", |x| {
            x.node("NodeGroup", |x| {
                x.field("NodeGroupId", "0001");
                x.field(
                    "Status",
                    if g.status == "creating" {
                        "creating"
                    } else {
                        "available"
                    },
                );
                write_endpoint(x, "PrimaryEndpoint", g.primary_port);
                write_endpoint(x, "ReaderEndpoint", g.reader_port);
                x.node("NodeGroupMembers", |x| {
                    for c in members {
                        let Some(n) = c.nodes.first() else { continue };
                        x.node("NodeGroupMember", |x| {
                            x.field("CacheClusterId", &c.id);
                            x.field("CacheNodeId", &n.id);
                            write_endpoint(x, "ReadEndpoint", n.port);
                            x.field("PreferredAvailabilityZone", &az);
                            let role = if c.id == g.primary {
                                "primary"
                            } else {
                                "replica"
                            };
                            x.field("CurrentRole", role);
                        });
                    }
                });
            });
        });
        x.field("AutomaticFailover", enabled(g.automatic_failover));
        x.field("MultiAZ", enabled(g.multi_az));
        x.field("SnapshotRetentionLimit", g.snapshot_retention_limit);
        x.field("SnapshotWindow", &g.snapshot_window);
        x.field("ClusterEnabled", false);
        x.field("CacheNodeType", &g.node_type);
        crate::security::write(x, &g.security);
        x.field("ARN", g.arn());
        x.node("UserGroupIds", |x| {
            if let Some(u) = &g.user_group {
                x.field("member", u);
            }
        });
        x.empty("LogDeliveryConfigurations");
        x.field("ReplicationGroupCreateTime", timestamp(g.created_ms));
        x.field("DataTiering", "disabled");
        x.field("AutoMinorVersionUpgrade", true);
        x.field("NetworkType", "ipv4");
        x.field("IpDiscovery", "ipv4");
        x.field("ClusterMode", "disabled");
        x.field("Engine", "redis");
    });
}
