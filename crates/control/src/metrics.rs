//! The nodes' metrics as one Prometheus endpoint (`GET /metrics` on the API
//! address): on each scrape, every available node is asked (Redis: INFO;
//! Memcached: `stats`) and its numbers are served under the managed
//! service's metric names, labelled with cluster, node, engine and
//! replication group.

use std::fmt::Write;

use crate::model::Engine;
use crate::Control;

/// (metric, type, help, Redis INFO field, memcached stats field).
const METRICS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "ferrocache_curr_connections",
        "gauge",
        "Client connections (CurrConnections).",
        "connected_clients",
        "curr_connections",
    ),
    (
        "ferrocache_cache_hits_total",
        "counter",
        "Successful key lookups (CacheHits).",
        "keyspace_hits",
        "get_hits",
    ),
    (
        "ferrocache_cache_misses_total",
        "counter",
        "Unsuccessful key lookups (CacheMisses).",
        "keyspace_misses",
        "get_misses",
    ),
    (
        "ferrocache_evictions_total",
        "counter",
        "Keys evicted for memory (Evictions).",
        "evicted_keys",
        "evictions",
    ),
    (
        "ferrocache_bytes_used_for_cache",
        "gauge",
        "Memory used for data (BytesUsedForCache).",
        "used_memory",
        "bytes",
    ),
    (
        "ferrocache_network_bytes_in_total",
        "counter",
        "Bytes read from clients (NetworkBytesIn).",
        "total_net_input_bytes",
        "bytes_read",
    ),
    (
        "ferrocache_network_bytes_out_total",
        "counter",
        "Bytes written to clients (NetworkBytesOut).",
        "total_net_output_bytes",
        "bytes_written",
    ),
    (
        "ferrocache_commands_processed_total",
        "counter",
        "Commands processed.",
        "total_commands_processed",
        "cmd_get",
    ),
    (
        "ferrocache_curr_items",
        "gauge",
        "Items stored (CurrItems).",
        "keys",
        "curr_items",
    ),
    (
        "ferrocache_engine_cpu_seconds_total",
        "counter",
        "CPU time of the node's process (EngineCPUUtilization's source).",
        "cpu",
        "cpu",
    ),
    (
        "ferrocache_is_master",
        "gauge",
        "1 on a primary, 0 on a replica (IsMaster).",
        "is_master",
        "",
    ),
    (
        "ferrocache_replication_lag_bytes",
        "gauge",
        "Replication stream bytes a replica is behind its primary (ReplicationLag).",
        "lag",
        "",
    ),
];

/// `name:value` (INFO) or `STAT name value` (stats) pairs.
fn fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            match l.strip_prefix("STAT ") {
                Some(rest) => rest.split_once(' '),
                None => l.split_once(':'),
            }
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        })
        .collect()
}

fn get<'a>(f: &'a [(String, String)], name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn num(f: &[(String, String)], name: &str) -> Option<f64> {
    get(f, name)?.parse().ok()
}

/// One node's values, by Redis field name (derived ones computed).
fn redis_values(info: &str) -> Vec<(&'static str, f64)> {
    let f = fields(info);
    let mut out = Vec::new();
    for (_, _, _, field, _) in METRICS {
        let v = match *field {
            "keys" => Some(
                f.iter()
                    .filter(|(k, _)| k.starts_with("db"))
                    .filter_map(|(_, v)| {
                        v.split(',')
                            .next()?
                            .strip_prefix("keys=")?
                            .parse::<f64>()
                            .ok()
                    })
                    .sum(),
            ),
            "cpu" => Some(
                num(&f, "used_cpu_sys").unwrap_or(0.0) + num(&f, "used_cpu_user").unwrap_or(0.0),
            ),
            "is_master" => Some(if get(&f, "role") == Some("master") {
                1.0
            } else {
                0.0
            }),
            // A replica's lag comes from its primary's INFO (replica_lags).
            "lag" => None,
            name => num(&f, name),
        };
        if let Some(v) = v {
            out.push((*field, v));
        }
    }
    out
}

fn memcached_values(stats: &str) -> Vec<(&'static str, f64)> {
    let f = fields(stats);
    METRICS
        .iter()
        .filter(|m| !m.4.is_empty())
        .filter_map(|(_, _, _, redis_field, mc)| {
            let v = match *mc {
                "cpu" => {
                    num(&f, "rusage_user").unwrap_or(0.0) + num(&f, "rusage_system").unwrap_or(0.0)
                }
                name => num(&f, name)?,
            };
            Some((*redis_field, v))
        })
        .collect()
}

/// The primary's view of its replicas' lag: `slaveN:...,port=P,offset=O`
/// lines against its `master_repl_offset`, by replica port.
fn replica_lags(info: &str) -> Vec<(u16, f64)> {
    let f = fields(info);
    let Some(primary) = num(&f, "master_repl_offset") else {
        return Vec::new();
    };
    f.iter()
        .filter(|(k, _)| k.starts_with("slave") && k[5..].chars().all(|c| c.is_ascii_digit()))
        .filter_map(|(_, v)| {
            let part = |name: &str| {
                v.split(',')
                    .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
            };
            let port = part("port")?.parse().ok()?;
            let offset: f64 = part("offset")?.parse().ok()?;
            Some((port, (primary - offset).max(0.0)))
        })
        .collect()
}

/// The Prometheus text of every node's metrics.
pub fn render(ctl: &Control) -> String {
    let clusters = ctl.store.clusters().unwrap_or_default();
    let mut samples: Vec<(String, &'static str, f64)> = Vec::new();
    let mut lags: Vec<(u16, f64)> = Vec::new();
    let mut ports: Vec<(u16, String)> = Vec::new();
    for c in &clusters {
        for n in c.nodes.iter().filter(|n| n.status == "available") {
            let labels = format!(
                "cluster=\"{}\",node=\"{}\",engine=\"{}\",replication_group=\"{}\"",
                c.id,
                n.id,
                c.engine.name(),
                c.replication_group.as_deref().unwrap_or("")
            );
            let values = match c.engine {
                Engine::Redis => match ctl.agent.redis(n.port, &["INFO", "all"]) {
                    Some(Ok(info)) => {
                        lags.extend(replica_lags(&info));
                        redis_values(&info)
                    }
                    _ => continue,
                },
                Engine::Memcached => match ctl.agent.memcached_stats(n.port) {
                    Some(stats) => memcached_values(&stats),
                    None => continue,
                },
            };
            ports.push((n.port, labels.clone()));
            samples.extend(
                values
                    .into_iter()
                    .map(|(field, v)| (labels.clone(), field, v)),
            );
        }
    }
    for (port, lag) in lags {
        if let Some((_, labels)) = ports.iter().find(|(p, _)| *p == port) {
            samples.push((labels.clone(), "lag", lag));
        }
    }
    let mut out = String::new();
    for (name, kind, help, field, _) in METRICS {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, _, v) in samples.iter().filter(|(_, f, _)| f == field) {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_and_stats_become_metrics() {
        let info = "# Clients\r\nconnected_clients:3\r\n# Stats\r\nkeyspace_hits:10\r\n\
                    used_cpu_sys:1.5\r\nused_cpu_user:0.5\r\nrole:master\r\n\
                    master_repl_offset:1000\r\nslave0:ip=127.0.0.1,port=40002,state=online,offset=900,lag=0\r\n\
                    # Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\ndb3:keys=2,expires=1,avg_ttl=9\r\n";
        let v = redis_values(info);
        let get = |f: &str| v.iter().find(|(k, _)| *k == f).map(|(_, x)| *x);
        assert_eq!(get("connected_clients"), Some(3.0));
        assert_eq!(get("keyspace_hits"), Some(10.0));
        assert_eq!(get("keys"), Some(7.0));
        assert_eq!(get("cpu"), Some(2.0));
        assert_eq!(get("is_master"), Some(1.0));
        assert_eq!(replica_lags(info), [(40002, 100.0)]);
        let stats = "STAT curr_connections 2\r\nSTAT get_hits 4\r\nSTAT curr_items 9\r\n\
                     STAT rusage_user 0.25\r\nSTAT rusage_system 0.25\r\nEND\r\n";
        let m = memcached_values(stats);
        assert!(m.contains(&("connected_clients", 2.0)));
        assert!(m.contains(&("keyspace_hits", 4.0)));
        assert!(m.contains(&("keys", 9.0)));
        assert!(m.contains(&("cpu", 0.5)));
    }
}
