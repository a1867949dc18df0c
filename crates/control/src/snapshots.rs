//! Snapshots: CreateSnapshot, DescribeSnapshots, CopySnapshot,
//! DeleteSnapshot, final snapshots on delete, and restores (a new cluster or
//! replication group created with `SnapshotName`). A snapshot is the RDB
//! file of one Redis node (a replica when the group has one), taken with
//! BGSAVE — fork-free on Ferrocache — and copied into the backup directory
//! (`<data-dir>/snapshots`); the reconciler takes it (`pass`).

use std::path::{Path, PathBuf};

use crate::agent::info_field;
use crate::error::ApiError;
use crate::model::{Cluster, Engine, Snapshot};
use crate::query::{check_identifier, Params};
use crate::xml::{timestamp, Xml};
use crate::{now_ms, Control};

pub fn not_found(name: &str) -> ApiError {
    ApiError::new(
        "SnapshotNotFoundFault",
        404,
        format!("Snapshot {name} not found."),
    )
}

pub fn snapshot_dir(ctl: &Control) -> PathBuf {
    ctl.data_dir.join("snapshots")
}

/// A new snapshot record of `cluster` (one of `group`'s members, or a
/// standalone cluster), to be taken by the reconciler. The caller holds
/// the lock and stores it.
pub fn new_snapshot(
    ctl: &Control,
    name: &str,
    source: &str,
    cluster: &Cluster,
    group: Option<&crate::model::ReplicationGroup>,
) -> Result<Snapshot, ApiError> {
    check_identifier("SnapshotName", name, 255)?;
    new_snapshot_named(ctl, name, source, cluster, group)
}

/// [`new_snapshot`] without the check of the name (automatic snapshots
/// are named `automatic.<id>-<date>`).
fn new_snapshot_named(
    ctl: &Control,
    name: &str,
    source: &str,
    cluster: &Cluster,
    group: Option<&crate::model::ReplicationGroup>,
) -> Result<Snapshot, ApiError> {
    if ctl.store.snapshot(name)?.is_some() {
        return Err(ApiError::new(
            "SnapshotAlreadyExistsFault",
            400,
            format!("Snapshot {name} already exists."),
        ));
    }
    if cluster.engine != Engine::Redis {
        return Err(ApiError::new(
            "SnapshotFeatureNotSupportedFault",
            400,
            "Snapshots are supported for the redis engine only.",
        ));
    }
    let node = cluster.nodes.first();
    Ok(Snapshot {
        name: name.to_string(),
        status: "creating".into(),
        source: source.into(),
        created_ms: now_ms(),
        cluster_id: group.is_none().then(|| cluster.id.clone()),
        group_id: group.map(|g| g.id.clone()),
        group_description: group.map(|g| g.description.clone()),
        automatic_failover: group.is_some_and(|g| g.automatic_failover),
        node_cluster: cluster.id.clone(),
        node_created_ms: node.map_or(0, |n| n.created_ms),
        engine_version: cluster.engine_version.clone(),
        node_type: cluster.node_type.clone(),
        region: cluster.region.clone(),
        account: cluster.account.clone(),
        file: snapshot_dir(ctl).join(format!("{name}.rdb")),
        size: 0,
        saves_before: None,
        copy_of: None,
    })
}

/// The member of a replication group a snapshot is taken from: a replica
/// when there is one, as the managed service does.
pub fn source_member(
    ctl: &Control,
    g: &crate::model::ReplicationGroup,
) -> Result<Cluster, ApiError> {
    let member = g
        .members
        .iter()
        .find(|m| **m != g.primary)
        .unwrap_or(&g.primary);
    ctl.store
        .cluster(member)?
        .ok_or_else(|| ApiError::cluster_not_found(member))
}

pub fn create(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let name = p.required("SnapshotName")?;
    let tags = crate::tags::from_params(p)?;
    let _guard = ctl.lock.lock();
    let (cluster, group) = match (p.get("CacheClusterId"), p.get("ReplicationGroupId")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_combination(
                "Give either CacheClusterId or ReplicationGroupId, not both.",
            ))
        }
        (Some(id), None) => {
            let id = id.to_ascii_lowercase();
            let c = ctl
                .store
                .cluster(&id)?
                .ok_or_else(|| ApiError::cluster_not_found(&id))?;
            (c, None)
        }
        (None, Some(id)) => {
            let id = id.to_ascii_lowercase();
            let g = ctl.store.group(&id)?.ok_or_else(|| {
                ApiError::new(
                    "ReplicationGroupNotFoundFault",
                    404,
                    format!("ReplicationGroup {id} not found."),
                )
            })?;
            if g.status != "available" {
                return Err(ApiError::new(
                    "InvalidReplicationGroupState",
                    400,
                    format!("Replication group {id} is not in available state."),
                ));
            }
            (source_member(ctl, &g)?, Some(g))
        }
        (None, None) => {
            return Err(ApiError::invalid_combination(
                "Give CacheClusterId or ReplicationGroupId.",
            ))
        }
    };
    if cluster.status != "available" {
        return Err(ApiError::invalid_cluster_state(format!(
            "Cache cluster {} is not in available state.",
            cluster.id
        )));
    }
    let s = new_snapshot(ctl, name, "manual", &cluster, group.as_ref())?;
    ctl.store.put_snapshot(&s)?;
    ctl.store.put_tags(&s.arn(), &tags)?;
    ctl.wake_reconciler();
    Ok(Some(one(&s)))
}

pub fn copy(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let source = p.required("SourceSnapshotName")?;
    let target = p.required("TargetSnapshotName")?;
    if p.get("TargetBucket").is_some() {
        return Err(ApiError::invalid_combination(
            "TargetBucket (export to S3) is not supported by this control plane.",
        ));
    }
    check_identifier("TargetSnapshotName", target, 255)?;
    let _guard = ctl.lock.lock();
    let src = ctl
        .store
        .snapshot(source)?
        .ok_or_else(|| not_found(source))?;
    if src.status != "available" {
        return Err(ApiError::new(
            "InvalidSnapshotState",
            400,
            format!("Snapshot {source} is not available."),
        ));
    }
    if ctl.store.snapshot(target)?.is_some() {
        return Err(ApiError::new(
            "SnapshotAlreadyExistsFault",
            400,
            format!("Snapshot {target} already exists."),
        ));
    }
    let mut s = src.clone();
    s.name = target.to_string();
    s.status = "creating".into();
    s.source = "manual".into();
    s.file = snapshot_dir(ctl).join(format!("{target}.rdb"));
    s.copy_of = Some(src.file.clone());
    ctl.store.put_snapshot(&s)?;
    ctl.store
        .put_tags(&s.arn(), &crate::tags::from_params(p)?)?;
    ctl.wake_reconciler();
    Ok(Some(one(&s)))
}

pub fn delete(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let name = p.required("SnapshotName")?;
    let _guard = ctl.lock.lock();
    let mut s = ctl.store.snapshot(name)?.ok_or_else(|| not_found(name))?;
    if s.status == "creating" {
        return Err(ApiError::new(
            "InvalidSnapshotState",
            400,
            format!("Snapshot {name} is being created and cannot be deleted yet."),
        ));
    }
    let _ = std::fs::remove_file(&s.file);
    ctl.store.remove_snapshot(name)?;
    ctl.store.put_tags(&s.arn(), &[])?;
    s.status = "deleting".into();
    Ok(Some(one(&s)))
}

pub fn describe(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let name = p.get("SnapshotName");
    let cluster = p.get("CacheClusterId").map(str::to_ascii_lowercase);
    let group = p.get("ReplicationGroupId").map(str::to_ascii_lowercase);
    let source = p.get("SnapshotSource");
    let show_node_groups = p.bool("ShowNodeGroupConfig")?.unwrap_or(false);
    let all = ctl.store.snapshots()?;
    if let Some(n) = name {
        if !all.iter().any(|s| s.name == n) {
            return Err(not_found(n));
        }
    }
    let matching = all
        .iter()
        .filter(|s| name.is_none_or(|n| s.name == n))
        .filter(|s| {
            cluster
                .as_deref()
                .is_none_or(|c| s.node_cluster == c || s.cluster_id.as_deref() == Some(c))
        })
        .filter(|s| {
            group
                .as_deref()
                .is_none_or(|g| s.group_id.as_deref() == Some(g))
        })
        .filter(|s| source.is_none_or(|src| s.source == src));
    let (page, marker) = p.page(matching, |s| &s.name, (20, 50, 50))?;
    let mut x = Xml::default();
    x.opt("Marker", marker);
    x.node("Snapshots", |x| {
        for s in page {
            write_snapshot(x, s, show_node_groups);
        }
    });
    Ok(Some(x))
}

/// Puts the snapshot's data where a new node will load it (its data
/// directory's dump.rdb). Checked before anything is recorded.
pub fn restore_into(ctl: &Control, name: &str, dir: &Path) -> Result<(), ApiError> {
    let s = ctl.store.snapshot(name)?.ok_or_else(|| not_found(name))?;
    if s.status != "available" {
        return Err(ApiError::new(
            "InvalidSnapshotState",
            400,
            format!("Snapshot {name} is not available."),
        ));
    }
    copy_file(&s.file, &dir.join("dump.rdb"))
        .map(|_| ())
        .map_err(|e| ApiError::internal(format!("restoring snapshot {name}: {e}")))
}

/// Snapshots being taken from `cluster` (its nodes must stay until then).
pub fn pending_for(ctl: &Control, cluster: &str) -> bool {
    ctl.store.snapshots().is_ok_and(|all| {
        all.iter()
            .any(|s| s.status == "creating" && s.copy_of.is_none() && s.node_cluster == cluster)
    })
}

/// The reconciler's pass: takes the snapshots being created.
pub fn pass(ctl: &Control) {
    automatic(ctl);
    let Ok(all) = ctl.store.snapshots() else {
        return;
    };
    for s in all.into_iter().filter(|s| s.status == "creating") {
        let _guard = ctl.lock.lock();
        let mut s = s;
        let before = s.clone();
        let outcome = step(ctl, &mut s);
        if s != before {
            let _ = ctl.store.put_snapshot(&s);
        }
        if let Some(message) = outcome {
            match &s.group_id {
                Some(g) => ctl.record_event(g, "replication-group", message),
                None => ctl.record_event(&s.node_cluster, "cache-cluster", message),
            }
        }
    }
}

/// A day, in milliseconds.
const DAY_MS: u64 = 24 * 3600 * 1000;

/// Is `window` a time window (`hh:mm-hh:mm`, UTC)?
pub fn valid_window(window: &str) -> bool {
    (0..1440).any(|m| in_window(window, m * 60_000))
}

/// Is the time of day of `now_ms` (UTC) inside `window` (`hh:mm-hh:mm`,
/// which may wrap past midnight)?
pub fn in_window(window: &str, now_ms: u64) -> bool {
    let minutes = |t: &str| -> Option<u64> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m) = (h.parse::<u64>().ok()?, m.parse::<u64>().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let Some((start, end)) = window
        .split_once('-')
        .and_then(|(a, b)| Some((minutes(a)?, minutes(b)?)))
    else {
        return false;
    };
    let now = now_ms % DAY_MS / 60_000;
    if start <= end {
        (start..end).contains(&now)
    } else {
        now >= start || now < end
    }
}

/// Automatic snapshots: one a day in the window of each Redis cluster or
/// replication group with a retention limit, kept that many days, and
/// dropped with their source.
fn automatic(ctl: &Control) {
    let now = now_ms();
    let (Ok(clusters), Ok(groups), Ok(snapshots)) = (
        ctl.store.clusters(),
        ctl.store.groups(),
        ctl.store.snapshots(),
    ) else {
        return;
    };
    let automated: Vec<&Snapshot> = snapshots
        .iter()
        .filter(|s| s.source == "automated")
        .collect();
    // Sources: (cluster or group id, is a group, retention days, window).
    let mut sources: Vec<(String, bool, i64, String)> = clusters
        .iter()
        .filter(|c| c.engine == Engine::Redis && c.replication_group.is_none())
        .map(|c| {
            (
                c.id.clone(),
                false,
                c.snapshot_retention_limit,
                c.snapshot_window.clone(),
            )
        })
        .collect();
    sources.extend(groups.iter().map(|g| {
        (
            g.id.clone(),
            true,
            g.snapshot_retention_limit,
            g.snapshot_window.clone(),
        )
    }));
    let of = |s: &Snapshot, id: &str, group: bool| {
        if group {
            s.group_id.as_deref() == Some(id)
        } else {
            s.cluster_id.as_deref() == Some(id)
        }
    };
    for s in &automated {
        let source = sources.iter().find(|(id, group, _, _)| of(s, id, *group));
        let expired = match source {
            None => true,
            Some((_, _, days, _)) => s.created_ms + (*days).max(0) as u64 * DAY_MS < now,
        };
        if expired && s.status != "creating" {
            let _guard = ctl.lock.lock();
            let _ = std::fs::remove_file(&s.file);
            let _ = ctl.store.remove_snapshot(&s.name);
            let _ = ctl.store.put_tags(&s.arn(), &[]);
        }
    }
    for (id, group, days, window) in sources {
        if days <= 0 || !in_window(&window, now) {
            continue;
        }
        let recent = automated
            .iter()
            .any(|s| of(s, &id, group) && s.created_ms + DAY_MS - 3_600_000 > now);
        if recent {
            continue;
        }
        let _guard = ctl.lock.lock();
        let made = if group {
            ctl.store
                .group(&id)
                .ok()
                .flatten()
                .filter(|g| g.status == "available")
                .and_then(|g| {
                    let c = source_member(ctl, &g).ok()?;
                    Some((c, Some(g)))
                })
        } else {
            ctl.store
                .cluster(&id)
                .ok()
                .flatten()
                .filter(|c| c.status == "available")
                .map(|c| (c, None))
        };
        let Some((cluster, g)) = made else { continue };
        let stamp = crate::xml::timestamp(now);
        // automatic.<id>-YYYY-MM-DD-HH-MM, as the managed service names them.
        let name = format!(
            "automatic.{id}-{}-{}",
            &stamp[..10],
            stamp[11..16].replace(':', "-")
        );
        match new_snapshot_named(ctl, &name, "automated", &cluster, g.as_ref()) {
            Ok(s) => {
                let _ = ctl.store.put_snapshot(&s);
            }
            Err(e) => tracing::warn!("control: automatic snapshot of {id}: {}", e.message),
        }
    }
}

/// Advances one snapshot; returns an event's message when it ends.
fn step(ctl: &Control, s: &mut Snapshot) -> Option<String> {
    let fail = |s: &mut Snapshot, why: String| {
        s.status = "failed".into();
        Some(format!(
            "Snapshot failed for snapshot with ID '{}': {why}",
            s.name
        ))
    };
    if let Some(src) = s.copy_of.clone() {
        return match copy_file(&src, &s.file) {
            Ok(size) => {
                s.size = size;
                s.status = "available".into();
                s.copy_of = None;
                None
            }
            Err(e) => fail(s, e.to_string()),
        };
    }
    let cluster = ctl.store.cluster(&s.node_cluster).ok().flatten();
    let Some(node) = cluster.as_ref().and_then(|c| c.nodes.first()) else {
        return fail(s, format!("cache cluster {} is gone", s.node_cluster));
    };
    let info = ctl.agent.redis(node.port, &["INFO", "persistence"])?.ok()?;
    let saves = info_field(&info, "rdb_saves")?.parse::<u64>().ok()?;
    let Some(before) = s.saves_before else {
        match ctl.agent.redis(node.port, &["BGSAVE"])? {
            Ok(_) => s.saves_before = Some(saves),
            Err(e) if e.contains("already in progress") => {}
            Err(e) => return fail(s, e),
        }
        return None;
    };
    if info_field(&info, "rdb_bgsave_in_progress") != Some("0") || saves <= before {
        return None;
    }
    if info_field(&info, "rdb_last_bgsave_status") != Some("ok") {
        return fail(s, "the node could not save its data".into());
    }
    match copy_file(&node.dir.join("dump.rdb"), &s.file) {
        Ok(size) => {
            s.size = size;
            s.status = "available".into();
            let of = match (&s.group_id, &s.cluster_id) {
                (Some(g), _) => format!("replication group with ID '{g}'"),
                _ => format!("cache cluster with ID '{}'", s.node_cluster),
            };
            Some(format!(
                "Snapshot succeeded for snapshot with ID '{}' of {of}",
                s.name
            ))
        }
        Err(e) => fail(s, e.to_string()),
    }
}

/// Puts `from`'s bytes at `to`, whole or not at all. A hard link when both
/// are on one file system: nodes and snapshots never write an RDB file in
/// place (a node saves to a temporary file and renames it over its
/// dump.rdb), so the shared bytes never change. Else a copy through a
/// temporary file.
fn copy_file(from: &Path, to: &Path) -> std::io::Result<u64> {
    let dir = to.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = to.with_extension("rdb.tmp");
    let _ = std::fs::remove_file(&tmp);
    let size = match std::fs::hard_link(from, &tmp) {
        Ok(()) => std::fs::metadata(&tmp)?.len(),
        Err(_) => {
            let size = std::fs::copy(from, &tmp)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            size
        }
    };
    std::fs::rename(&tmp, to)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(size)
}

fn one(s: &Snapshot) -> Xml {
    let mut x = Xml::default();
    write_snapshot(&mut x, s, false);
    x
}

/// `<Snapshot>`; `show_node_groups` adds each node snapshot's shard
/// (`ShowNodeGroupConfig`: one shard holding every slot).
fn write_snapshot(x: &mut Xml, s: &Snapshot, show_node_groups: bool) {
    x.node("Snapshot", |x| {
        x.field("SnapshotName", &s.name);
        x.opt("ReplicationGroupId", s.group_id.as_deref());
        x.opt(
            "ReplicationGroupDescription",
            s.group_description.as_deref(),
        );
        x.opt("CacheClusterId", s.cluster_id.as_deref());
        x.field("SnapshotStatus", &s.status);
        x.field("SnapshotSource", &s.source);
        x.field("CacheNodeType", &s.node_type);
        x.field("Engine", "redis");
        x.field("EngineVersion", &s.engine_version);
        if s.group_id.is_none() {
            x.field("NumCacheNodes", 1);
            x.field("PreferredAvailabilityZone", format!("{}a", s.region));
            x.field("CacheClusterCreateTime", timestamp(s.node_created_ms));
        }
        x.field("Port", 6379);
        x.field("CacheParameterGroupName", Engine::Redis.parameter_group());
        x.field("AutoMinorVersionUpgrade", true);
        x.field("SnapshotRetentionLimit", 0);
        x.field("SnapshotWindow", "05:00-06:00");
        if s.group_id.is_some() {
            x.field("NumNodeGroups", 1);
            x.field(
                "AutomaticFailover",
                if s.automatic_failover {
                    "enabled"
                } else {
                    "disabled"
                },
            );
        }
        x.node("NodeSnapshots", |x| {
            x.node("NodeSnapshot", |x| {
                x.field("CacheClusterId", &s.node_cluster);
                if s.group_id.is_some() {
                    x.field("NodeGroupId", "0001");
                }
                x.field("CacheNodeId", "0001");
                if show_node_groups && s.group_id.is_some() {
                    x.node("NodeGroupConfiguration", |x| {
                        x.field("NodeGroupId", "0001");
                        x.field("Slots", "0-16383");
                        x.field("PrimaryAvailabilityZone", format!("{}a", s.region));
                    });
                }
                // Megabytes, as the managed service writes it.
                x.field("CacheSize", format!("{} MB", s.size.div_ceil(1 << 20)));
                x.field("CacheNodeCreateTime", timestamp(s.node_created_ms));
                x.field("SnapshotCreateTime", timestamp(s.created_ms));
            });
        });
        x.field("ARN", s.arn());
        x.field("DataTiering", "disabled");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_windows() {
        let at = |h: u64, m: u64| 1_795_824_000_000 + (h * 60 + m) * 60_000; // 2026-11-28
        assert!(in_window("05:00-06:00", at(5, 0)));
        assert!(in_window("05:00-06:00", at(5, 59)));
        assert!(!in_window("05:00-06:00", at(6, 0)));
        assert!(in_window("23:30-00:30", at(23, 45)));
        assert!(in_window("23:30-00:30", at(0, 10)));
        assert!(!in_window("23:30-00:30", at(12, 0)));
        assert!(!in_window("bad", at(5, 0)));
        assert!(!in_window("25:00-26:00", at(5, 0)));
    }
}
