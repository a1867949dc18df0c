//! Parameter groups: the default group of each engine family, and
//! CreateCacheParameterGroup, DescribeCacheParameterGroups,
//! ModifyCacheParameterGroup, ResetCacheParameterGroup,
//! DeleteCacheParameterGroup, DescribeCacheParameters,
//! DescribeEngineDefaultParameters. The catalogue lists the parameters
//! Ferrocache's nodes honour, with the managed service's names, types,
//! allowed values and change types. `immediate` parameters reach running
//! Redis nodes with CONFIG SET (the reconciler, `apply_immediate`); the
//! others are given to nodes when they start, and a group change leaves
//! running nodes `pending-reboot`.

use std::collections::BTreeMap;

use crate::error::ApiError;
use crate::model::{Engine, ParameterGroup};
use crate::query::{check_identifier, Params};
use crate::xml::Xml;
use crate::Control;

#[derive(Clone, Copy, PartialEq)]
pub enum Change {
    Immediate,
    RequiresReboot,
}

/// One parameter of a family.
pub struct ParamDef {
    pub name: &'static str,
    pub default: &'static str,
    /// `integer`, `string` or `boolean`.
    pub data_type: &'static str,
    /// Integers: `min-max` (max may be empty); strings: `a,b,c` (empty: any).
    pub allowed: &'static str,
    pub change: Change,
    pub description: &'static str,
    /// Memcached: the command-line flag the value is given with (a
    /// boolean flag takes no value).
    pub flag: Option<&'static str>,
}

const fn p(
    name: &'static str,
    default: &'static str,
    data_type: &'static str,
    allowed: &'static str,
    change: Change,
    description: &'static str,
) -> ParamDef {
    ParamDef {
        name,
        default,
        data_type,
        allowed,
        change,
        description,
        flag: None,
    }
}

const YES_NO: &str = "yes,no";
use Change::{Immediate, RequiresReboot};

const REDIS7: &[ParamDef] = &[
    p("acllog-max-len", "128", "integer", "1-10000", Immediate, "The maximum number of entries in the ACL log."),
    p("active-expire-effort", "1", "integer", "1-10", Immediate, "How much effort active expiry spends on expired keys."),
    p("activerehashing", "yes", "string", YES_NO, RequiresReboot, "Incremental rehashing of the main dictionary."),
    p("client-query-buffer-limit", "1073741824", "integer", "1048576-1073741824", Immediate, "Max size of a single client query buffer."),
    p("databases", "16", "integer", "1-1200000", RequiresReboot, "Number of logical databases."),
    p("hash-max-listpack-entries", "128", "integer", "0-", Immediate, "Hashes up to this many fields use the compact encoding."),
    p("hash-max-listpack-value", "64", "integer", "0-", Immediate, "Hashes with values up to this size use the compact encoding."),
    p("latency-tracking", "yes", "string", YES_NO, Immediate, "Per-command latency percentiles (INFO latencystats)."),
    p("lazyfree-lazy-eviction", "no", "string", YES_NO, Immediate, "Free evicted keys in the background."),
    p("lazyfree-lazy-expire", "no", "string", YES_NO, Immediate, "Free expired keys in the background."),
    p("lazyfree-lazy-server-del", "no", "string", YES_NO, Immediate, "Free implicitly deleted keys in the background."),
    p("lazyfree-lazy-user-del", "no", "string", YES_NO, Immediate, "DEL frees in the background, as UNLINK."),
    p("lazyfree-lazy-user-flush", "no", "string", YES_NO, Immediate, "FLUSHDB/FLUSHALL free in the background by default."),
    p("lfu-decay-time", "1", "integer", "0-", Immediate, "Minutes for the LFU counter to decay."),
    p("lfu-log-factor", "10", "integer", "1-", Immediate, "The logarithmic factor of the LFU counter."),
    p("list-max-listpack-size", "-2", "integer", "-5-", Immediate, "Entries (or -1..-5: bytes) per list node."),
    p("maxmemory-policy", "volatile-lru", "string", "volatile-lru,allkeys-lru,volatile-lfu,allkeys-lfu,volatile-random,allkeys-random,volatile-ttl,noeviction", Immediate, "How keys are evicted when memory is full."),
    p("maxmemory-samples", "3", "integer", "1-", Immediate, "Keys sampled by the eviction algorithms."),
    p("notify-keyspace-events", "", "string", "", Immediate, "Keyspace notification classes."),
    p("proto-max-bulk-len", "536870912", "integer", "1048576-536870912", Immediate, "Max size of a single bulk string."),
    p("set-max-intset-entries", "512", "integer", "0-", Immediate, "Sets of integers up to this size use the intset encoding."),
    p("set-max-listpack-entries", "128", "integer", "0-", Immediate, "Sets up to this size use the compact encoding."),
    p("slowlog-log-slower-than", "10000", "integer", "-", Immediate, "Microseconds after which a command is logged in SLOWLOG."),
    p("slowlog-max-len", "128", "integer", "0-", Immediate, "Entries kept in SLOWLOG."),
    p("tcp-keepalive", "300", "integer", "0-", Immediate, "Seconds between TCP keepalive probes."),
    p("timeout", "0", "integer", "0-", Immediate, "Seconds after which an idle client is closed (0: never)."),
    p("zset-max-listpack-entries", "128", "integer", "0-", Immediate, "Sorted sets up to this size use the compact encoding."),
    p("zset-max-listpack-value", "64", "integer", "0-", Immediate, "Sorted sets with members up to this size use the compact encoding."),
];

const MEMCACHED16: &[ParamDef] = &[
    ParamDef {
        flag: Some("-b"),
        ..p(
            "backlog_queue_limit",
            "1024",
            "integer",
            "1-10000",
            RequiresReboot,
            "The backlog queue limit.",
        )
    },
    ParamDef {
        flag: Some("-C"),
        ..p(
            "cas_disabled",
            "0",
            "boolean",
            "0,1",
            RequiresReboot,
            "If 1, CAS operations are disabled.",
        )
    },
    ParamDef {
        flag: Some("-M"),
        ..p(
            "error_on_memory_exhausted",
            "0",
            "boolean",
            "0,1",
            RequiresReboot,
            "If 1, return errors instead of evicting when memory is full.",
        )
    },
    ParamDef {
        flag: Some("-I"),
        ..p(
            "max_item_size",
            "1048576",
            "integer",
            "1024-134217728",
            RequiresReboot,
            "The largest item, in bytes.",
        )
    },
    ParamDef {
        flag: Some("-c"),
        ..p(
            "max_simultaneous_connections",
            "1024",
            "integer",
            "3-65000",
            RequiresReboot,
            "The maximum number of simultaneous connections.",
        )
    },
];

/// The engine family of a parameter group, and its catalogue.
pub fn family(name: &str) -> Option<(Engine, &'static [ParamDef])> {
    match name {
        "redis7" => Some((Engine::Redis, REDIS7)),
        "memcached1.6" => Some((Engine::Memcached, MEMCACHED16)),
        _ => None,
    }
}

pub fn family_of(engine: Engine) -> &'static str {
    match engine {
        Engine::Redis => "redis7",
        Engine::Memcached => "memcached1.6",
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        "CacheParameterGroupNotFound",
        404,
        format!("CacheParameterGroup {name} not found."),
    )
}

fn default_group(ctl: &Control, engine: Engine) -> ParameterGroup {
    ParameterGroup {
        name: engine.parameter_group().into(),
        family: family_of(engine).into(),
        description: format!("Default parameter group for {}", family_of(engine)),
        values: BTreeMap::new(),
        region: ctl.region.clone(),
        account: crate::ACCOUNT.into(),
    }
}

/// Every parameter group, the defaults included, by name.
pub fn all_groups(ctl: &Control) -> Result<Vec<ParameterGroup>, ApiError> {
    let mut groups = ctl.store.parameter_groups()?;
    for e in [Engine::Redis, Engine::Memcached] {
        groups.push(default_group(ctl, e));
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(groups)
}

pub fn group(ctl: &Control, name: &str) -> Result<ParameterGroup, ApiError> {
    all_groups(ctl)?
        .into_iter()
        .find(|g| g.name == name)
        .ok_or_else(|| not_found(name))
}

fn is_default(name: &str) -> bool {
    name.starts_with("default.")
}

/// A group clusters of `engine` can use.
pub fn usable(ctl: &Control, name: &str, engine: Engine) -> Result<(), ApiError> {
    let g = group(ctl, name)?;
    if family(&g.family).map(|(e, _)| e) != Some(engine) {
        return Err(ApiError::invalid_combination(format!(
            "Parameter group {name} is for the {} family, not {}.",
            g.family,
            engine.name()
        )));
    }
    Ok(())
}

/// The value of every parameter of the group (defaults, then its values).
pub fn effective(g: &ParameterGroup) -> Vec<(&'static ParamDef, String)> {
    let defs = family(&g.family).map_or(&[][..], |(_, defs)| defs);
    defs.iter()
        .map(|d| {
            let v = g
                .values
                .get(d.name)
                .cloned()
                .unwrap_or_else(|| d.default.to_string());
            (d, v)
        })
        .collect()
}

/// A digest of the group's values of one change type (what a node has
/// applied, or started with).
pub fn digest(g: &ParameterGroup, change: Change) -> String {
    effective(g)
        .iter()
        .filter(|(d, _)| d.change == change)
        .map(|(d, v)| format!("{}={v};", d.name))
        .collect()
}

/// Command-line arguments for a node starting with this group: every
/// value that is not the default.
pub fn start_args(g: &ParameterGroup) -> Vec<String> {
    let mut args = Vec::new();
    for (d, v) in effective(g) {
        if v == d.default {
            continue;
        }
        match d.flag {
            Some(flag) if d.data_type == "boolean" => {
                if v == "1" {
                    args.push(flag.to_string());
                }
            }
            Some(flag) => args.extend([flag.to_string(), v]),
            None => args.extend([format!("--{}", d.name), v]),
        }
    }
    args
}

/// Sets the group's immediate parameters on a running Redis node (one
/// atomic CONFIG SET).
pub fn apply_immediate(ctl: &Control, port: u16, g: &ParameterGroup) -> bool {
    let values = effective(g);
    let mut args = vec!["CONFIG", "SET"];
    for (d, v) in &values {
        if d.change == Change::Immediate {
            args.push(d.name);
            args.push(v);
        }
    }
    match ctl.agent.redis(port, &args) {
        Some(Ok(_)) => true,
        Some(Err(e)) => {
            tracing::warn!("control: parameters on port {port}: {e}");
            false
        }
        None => false,
    }
}

/// Nodes of the cluster that started with other `requires-reboot` values
/// than its parameter group has now (RebootCacheCluster applies them).
pub fn nodes_to_reboot(ctl: &Control, c: &crate::model::Cluster) -> Vec<String> {
    let Ok(g) = group(ctl, &c.parameter_group) else {
        return Vec::new();
    };
    let now = digest(&g, Change::RequiresReboot);
    c.nodes
        .iter()
        .filter(|n| n.started_with.as_ref().is_some_and(|s| *s != now))
        .map(|n| n.id.clone())
        .collect()
}

fn check_value(d: &ParamDef, v: &str) -> Result<(), ApiError> {
    let bad = || {
        ApiError::invalid_value(format!(
            "Invalid value {v} for parameter {}: allowed {}.",
            d.name,
            if d.allowed.is_empty() {
                "any string"
            } else {
                d.allowed
            }
        ))
    };
    if d.data_type == "integer" {
        let n: i64 = v.parse().map_err(|_| bad())?;
        // `min-max`, where min may be negative and either may be empty.
        let (min, max) = match d.allowed.strip_prefix('-') {
            Some(rest) => match rest.split_once('-') {
                Some((a, b)) => (format!("-{a}"), b.to_string()),
                None => (String::new(), String::new()),
            },
            None => d
                .allowed
                .split_once('-')
                .map_or((String::new(), String::new()), |(a, b)| {
                    (a.into(), b.into())
                }),
        };
        if min.parse::<i64>().is_ok_and(|m| n < m) || max.parse::<i64>().is_ok_and(|m| n > m) {
            return Err(bad());
        }
    } else if !d.allowed.is_empty() && !d.allowed.split(',').any(|a| a == v) {
        return Err(bad());
    }
    Ok(())
}

fn name_values(p: &Params) -> Vec<(String, Option<String>)> {
    p.structs("ParameterNameValues", "ParameterNameValue")
        .into_iter()
        .map(|nv| {
            (
                nv.get("ParameterName").cloned().unwrap_or_default(),
                nv.get("ParameterValue").cloned(),
            )
        })
        .collect()
}

pub fn create(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let name = p.required("CacheParameterGroupName")?.to_ascii_lowercase();
    let fam = p.required("CacheParameterGroupFamily")?;
    let description = p.required("Description")?;
    check_identifier("CacheParameterGroupName", &name, 255)?;
    if family(fam).is_none() {
        return Err(ApiError::invalid_value(format!(
            "Invalid value for CacheParameterGroupFamily: {fam}. Families: redis7, memcached1.6."
        )));
    }
    let tags = crate::tags::from_params(p)?;
    let _guard = ctl.lock.lock();
    if all_groups(ctl)?.iter().any(|g| g.name == name) {
        return Err(ApiError::new(
            "CacheParameterGroupAlreadyExists",
            400,
            format!("Parameter group {name} already exists."),
        ));
    }
    let g = ParameterGroup {
        name,
        family: fam.into(),
        description: description.into(),
        values: BTreeMap::new(),
        region: ctl.region.clone(),
        account: crate::ACCOUNT.into(),
    };
    ctl.store.put_parameter_group(&g)?;
    ctl.store.put_tags(&g.arn(), &tags)?;
    let mut x = Xml::default();
    write_group(&mut x, &g);
    Ok(Some(x))
}

fn modifiable(ctl: &Control, name: &str) -> Result<ParameterGroup, ApiError> {
    let g = group(ctl, name)?;
    if is_default(name) {
        return Err(ApiError::new(
            "InvalidCacheParameterGroupState",
            400,
            format!("Parameter group {name} is a default group and cannot be modified."),
        ));
    }
    Ok(g)
}

pub fn modify(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let name = p.required("CacheParameterGroupName")?.to_ascii_lowercase();
    let changes = name_values(p);
    if changes.is_empty() || changes.len() > 20 {
        return Err(ApiError::invalid_value(
            "ParameterNameValues must list 1 to 20 parameters.",
        ));
    }
    let _guard = ctl.lock.lock();
    let mut g = modifiable(ctl, &name)?;
    let defs = family(&g.family).map_or(&[][..], |(_, d)| d);
    for (pname, value) in &changes {
        let d = defs.iter().find(|d| d.name == pname).ok_or_else(|| {
            ApiError::invalid_value(format!(
                "Unknown parameter {pname} for family {} (or not supported by Ferrocache).",
                g.family
            ))
        })?;
        let value = value.as_deref().unwrap_or("");
        check_value(d, value)?;
        g.values.insert(d.name.to_string(), value.to_string());
    }
    ctl.store.put_parameter_group(&g)?;
    ctl.wake_reconciler();
    let mut x = Xml::default();
    x.field("CacheParameterGroupName", &g.name);
    Ok(Some(x))
}

pub fn reset(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let name = p.required("CacheParameterGroupName")?.to_ascii_lowercase();
    let all = p.bool("ResetAllParameters")?.unwrap_or(false);
    let names: Vec<String> = name_values(p).into_iter().map(|(n, _)| n).collect();
    if all != names.is_empty() {
        return Err(ApiError::invalid_combination(
            "Give either ResetAllParameters or ParameterNameValues.",
        ));
    }
    let _guard = ctl.lock.lock();
    let mut g = modifiable(ctl, &name)?;
    if all {
        g.values.clear();
    } else {
        for n in &names {
            g.values.remove(n);
        }
    }
    ctl.store.put_parameter_group(&g)?;
    ctl.wake_reconciler();
    let mut x = Xml::default();
    x.field("CacheParameterGroupName", &g.name);
    Ok(Some(x))
}

pub fn delete(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let name = p.required("CacheParameterGroupName")?.to_ascii_lowercase();
    let _guard = ctl.lock.lock();
    let g = modifiable(ctl, &name)?;
    if let Some(c) = ctl
        .store
        .clusters()?
        .into_iter()
        .find(|c| c.parameter_group == name)
    {
        return Err(ApiError::new(
            "InvalidCacheParameterGroupState",
            400,
            format!(
                "Parameter group {name} is in use by cache cluster {}.",
                c.id
            ),
        ));
    }
    ctl.store.remove_parameter_group(&name)?;
    ctl.store.put_tags(&g.arn(), &[])?;
    Ok(None)
}

pub fn describe_groups(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let groups = all_groups(ctl)?;
    let (page, marker) = p.page(
        p.named(&groups, "CacheParameterGroupName", |g| &g.name, not_found)?,
        |g| &g.name,
        (20, 100, 100),
    )?;
    let mut x = Xml::default();
    x.opt("Marker", marker);
    x.node("CacheParameterGroups", |x| {
        for g in page {
            write_group(x, g);
        }
    });
    Ok(Some(x))
}

pub fn describe_parameters(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let name = p.required("CacheParameterGroupName")?.to_ascii_lowercase();
    let g = group(ctl, &name)?;
    let source = p.get("Source");
    let values: Vec<(&ParamDef, String, &str)> = effective(&g)
        .into_iter()
        .map(|(d, v)| {
            let src = if g.values.contains_key(d.name) {
                "user"
            } else {
                "system"
            };
            (d, v, src)
        })
        .filter(|(_, _, src)| source.is_none_or(|s| s == *src))
        .collect();
    let (page, marker) = p.page(&values, |(d, _, _)| d.name, (20, 100, 100))?;
    let mut x = Xml::default();
    x.opt("Marker", marker);
    x.node("Parameters", |x| {
        for (d, v, src) in page {
            write_parameter(x, d, v, src);
        }
    });
    x.empty("CacheNodeTypeSpecificParameters");
    Ok(Some(x))
}

pub fn describe_engine_defaults(_ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let fam = p.required("CacheParameterGroupFamily")?;
    let (_, defs) = family(fam).ok_or_else(|| {
        ApiError::invalid_value(format!(
            "Invalid value for CacheParameterGroupFamily: {fam}."
        ))
    })?;
    let (page, marker) = p.page(defs, |d| d.name, (20, 100, 100))?;
    let mut x = Xml::default();
    x.node("EngineDefaults", |x| {
        x.field("CacheParameterGroupFamily", fam);
        x.opt("Marker", marker);
        x.node("Parameters", |x| {
            for d in page {
                write_parameter(x, d, d.default, "system");
            }
        });
        x.empty("CacheNodeTypeSpecificParameters");
    });
    Ok(Some(x))
}

fn write_parameter(x: &mut Xml, d: &ParamDef, value: &str, source: &str) {
    x.node("Parameter", |x| {
        x.field("ParameterName", d.name);
        x.field("ParameterValue", value);
        x.field("Description", d.description);
        x.field("Source", source);
        x.field("DataType", d.data_type);
        x.field("AllowedValues", d.allowed);
        x.field("IsModifiable", true);
        x.field(
            "MinimumEngineVersion",
            if d.flag.is_some() { "1.4.5" } else { "7.0.0" },
        );
        x.field(
            "ChangeType",
            match d.change {
                Change::Immediate => "immediate",
                Change::RequiresReboot => "requires-reboot",
            },
        );
    });
}

fn write_group(x: &mut Xml, g: &ParameterGroup) {
    x.node("CacheParameterGroup", |x| {
        x.field("CacheParameterGroupName", &g.name);
        x.field("CacheParameterGroupFamily", &g.family);
        x.field("Description", &g.description);
        x.field("IsGlobal", false);
        x.field("ARN", g.arn());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str) -> &'static ParamDef {
        REDIS7
            .iter()
            .chain(MEMCACHED16)
            .find(|d| d.name == name)
            .unwrap()
    }

    /// Pages of parameters follow their names.
    #[test]
    fn catalogues_are_sorted_by_name() {
        for defs in [REDIS7, MEMCACHED16] {
            assert!(defs.windows(2).all(|w| w[0].name < w[1].name));
        }
    }

    #[test]
    fn values_are_checked_against_the_catalogue() {
        assert!(check_value(def("maxmemory-samples"), "5").is_ok());
        assert!(check_value(def("maxmemory-samples"), "0").is_err());
        assert!(check_value(def("maxmemory-samples"), "x").is_err());
        assert!(check_value(def("list-max-listpack-size"), "-5").is_ok());
        assert!(check_value(def("list-max-listpack-size"), "-6").is_err());
        assert!(check_value(def("slowlog-log-slower-than"), "-1").is_ok());
        assert!(check_value(def("maxmemory-policy"), "allkeys-lfu").is_ok());
        assert!(check_value(def("maxmemory-policy"), "random").is_err());
        assert!(check_value(def("notify-keyspace-events"), "KEA").is_ok());
        assert!(check_value(def("max_item_size"), "134217729").is_err());
    }

    #[test]
    fn start_arguments_carry_what_differs_from_the_defaults() {
        let mut g = ParameterGroup {
            name: "g".into(),
            family: "memcached1.6".into(),
            description: String::new(),
            values: BTreeMap::new(),
            region: "r".into(),
            account: "a".into(),
        };
        assert!(start_args(&g).is_empty());
        g.values.insert("max_item_size".into(), "2097152".into());
        g.values.insert("cas_disabled".into(), "1".into());
        g.values
            .insert("error_on_memory_exhausted".into(), "0".into());
        assert_eq!(start_args(&g), ["-C", "-I", "2097152"]);
        g.family = "redis7".into();
        g.values.clear();
        g.values.insert("databases".into(), "32".into());
        assert_eq!(start_args(&g), ["--databases", "32"]);
        assert!(digest(&g, Change::RequiresReboot).contains("databases=32;"));
    }
}
