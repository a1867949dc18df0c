//! DescribeCacheEngineVersions and ListAllowedNodeTypeModifications: what
//! this control plane runs, and the node types a cluster or replication
//! group can move to.

use crate::error::ApiError;
use crate::model::{self, Engine, NODE_TYPES};
use crate::query::Params;
use crate::xml::Xml;
use crate::Control;

/// (engine, parameter group family, description), by family (the order
/// pages follow).
const VERSIONS: &[(Engine, &str, &str)] = &[
    (
        Engine::Memcached,
        "memcached1.6",
        "memcached 1.6 text, meta and binary protocols, on Ferrocache",
    ),
    (
        Engine::Redis,
        "redis7",
        "Redis 7.2 commands and protocol (RESP2/RESP3), on Ferrocache",
    ),
];

pub fn describe_versions(_ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let engine = p.get("Engine").map(str::to_ascii_lowercase);
    let version = p.get("EngineVersion");
    let family = p.get("CacheParameterGroupFamily");
    if let Some(f) = family.filter(|f| !VERSIONS.iter().any(|(_, fam, _)| fam == f)) {
        return Err(ApiError::invalid_value(format!(
            "Invalid value for CacheParameterGroupFamily: {f}."
        )));
    }
    let wanted = VERSIONS.iter().filter(|(e, fam, _)| {
        engine.as_deref().is_none_or(|n| n == e.name())
            && version.is_none_or(|v| e.version().starts_with(v))
            && family.is_none_or(|f| f == *fam)
    });
    // The marker is the family of the last version listed.
    let (page, marker) = p.page(wanted, |(_, fam, _)| fam, (20, 100, 100))?;
    let mut x = Xml::default();
    x.opt("Marker", marker);
    x.node("CacheEngineVersions", |x| {
        for (e, fam, description) in page {
            x.node("CacheEngineVersion", |x| {
                x.field("Engine", e.name());
                x.field("EngineVersion", e.version());
                x.field("CacheParameterGroupFamily", fam);
                x.field("CacheEngineDescription", e.name());
                x.field("CacheEngineVersionDescription", description);
            });
        }
    });
    Ok(Some(x))
}

pub fn allowed_node_types(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let current = match (p.get("CacheClusterId"), p.get("ReplicationGroupId")) {
        (Some(id), None) => {
            let c = ctl
                .store
                .cluster(&id.to_ascii_lowercase())?
                .ok_or_else(|| ApiError::cluster_not_found(id))?;
            if c.engine == Engine::Memcached {
                // Memcached nodes keep their type (a new cluster is made).
                return Ok(Some(lists(&[], &[])));
            }
            c.node_type
        }
        (None, Some(id)) => {
            ctl.store
                .group(&id.to_ascii_lowercase())?
                .ok_or_else(|| {
                    ApiError::new(
                        "ReplicationGroupNotFoundFault",
                        404,
                        format!("ReplicationGroup {id} not found."),
                    )
                })?
                .node_type
        }
        _ => {
            return Err(ApiError::invalid_combination(
                "Give either CacheClusterId or ReplicationGroupId.",
            ))
        }
    };
    let memory = model::node_type(&current).map_or(0, |t| t.memory_mib);
    let up: Vec<&str> = NODE_TYPES
        .iter()
        .filter(|t| t.memory_mib > memory)
        .map(|t| t.name)
        .collect();
    let down: Vec<&str> = NODE_TYPES
        .iter()
        .filter(|t| t.memory_mib < memory)
        .map(|t| t.name)
        .collect();
    Ok(Some(lists(&up, &down)))
}

fn lists(up: &[&str], down: &[&str]) -> Xml {
    let mut x = Xml::default();
    for (tag, types) in [
        ("ScaleUpModifications", up),
        ("ScaleDownModifications", down),
    ] {
        x.node(tag, |x| {
            for t in types {
                x.field("member", t);
            }
        });
    }
    x
}
