//! INFO: every section with real numbers from the running node.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::args::text;
use crate::error::CmdResult;
use crate::{Ctx, Server};

/// Sections INFO prints by default; "all" adds commandstats and latencystats.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

pub(crate) fn info(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let mut wanted: Vec<String> = Vec::new();
    for arg in &a[1..] {
        let s = text(arg).to_ascii_lowercase();
        match s.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string())),
            // No modules: "all" and "everything" are the same.
            "all" | "everything" => {
                wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
                wanted.push("commandstats".into());
                wanted.push("latencystats".into());
            }
            _ => wanted.push(s),
        }
    }
    if a.len() == 1 {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    let text = render(ctx.server, &wanted);
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / (1024.0 * 1024.0))
    } else if b < 1024.0f64.powi(4) {
        format!("{:.2}G", b / 1024.0f64.powi(3))
    } else {
        format!("{:.2}T", b / 1024.0f64.powi(4))
    }
}

/// Allocator statistics (jemalloc): allocated, active, resident.
pub(crate) fn allocator_stats() -> (u64, u64, u64) {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    (
        stats::allocated::read().unwrap_or(0) as u64,
        stats::active::read().unwrap_or(0) as u64,
        stats::resident::read().unwrap_or(0) as u64,
    )
}

pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// (user, system) CPU seconds of this process.
pub(crate) fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage only writes into the zeroed struct we pass it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF is valid and `ru` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime))
}

/// Every section, in the order Redis prints them whatever order they were asked in.
const SECTION_ORDER: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

fn render(server: &Server, wanted: &[String]) -> String {
    let mut out = String::new();
    let asked = |name: &str| {
        wanted
            .iter()
            .any(|w| w == name || (name == "modules" && w == "module_list"))
    };
    for section in SECTION_ORDER.iter().filter(|s| asked(s)) {
        let before = out.len();
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let start = out.len();
        write_section(server, section, &mut out);
        if out.len() == start {
            out.truncate(before);
        }
    }
    out
}

fn write_section(s: &Server, section: &str, o: &mut String) {
    let uptime = s.started.elapsed().as_secs();
    let st = &s.stats;
    match section {
        "server" => {
            let _ = write!(
                o,
                "# Server\r\nredis_version:{}\r\nferrocache_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:{}\r\nferrocache_worker_threads:{}\r\nferrocache_active_workers:{}\r\n",
                crate::REDIS_VERSION,
                crate::FERROCACHE_VERSION,
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                s.run_id,
                s.tcp_port.load(Ordering::Relaxed),
                crate::now_us(),
                uptime,
                uptime / 86400,
                s.config.hot.hz.load(Ordering::Relaxed),
                s.config.get("hz"),
                keyspace::lru_clock() & 0xff_ffff,
                s.executable,
                s.config
                    .file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                (s.active_workers.load(Ordering::Relaxed) > 1) as u8,
                s.worker_threads,
                s.active_workers.load(Ordering::Relaxed),
            );
        }
        "clients" => {
            let clients = s.clients.all();
            let blocked = clients
                .iter()
                .filter(|c| c.blocked_since.load(Ordering::Relaxed) != 0)
                .count();
            let max_in = clients
                .iter()
                .map(|c| c.qbuf.load(Ordering::Relaxed))
                .max()
                .unwrap_or(0);
            let max_out = clients
                .iter()
                .map(|c| c.omem.load(Ordering::Relaxed))
                .max()
                .unwrap_or(0);
            let _ = write!(
                o,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{}\r\nclient_recent_max_output_buffer:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:{}\r\n",
                clients.len(),
                s.config.hot.maxclients.load(Ordering::Relaxed),
                max_in,
                max_out,
                blocked,
                s.tracking.clients(),
                blocked,
            );
        }
        "memory" => {
            // The same measures as MEMORY STATS, so the two always agree.
            let m = crate::server::Overhead::measure(s);
            let maxmemory = s.config.get_i64("maxmemory").max(0) as u64;
            let sysmem = total_system_memory();
            let (scripts, scripts_bytes, vm) = s.scripts.counts();
            let (libs, funcs, lib_bytes) = s.functions.counts();
            let (allocated, rss, peak, startup) = (m.total, m.rss, m.peak, m.startup);
            let ratio = crate::server::Overhead::ratio;
            let (alloc_frag, alloc_frag_bytes) = ratio(m.active, m.allocated);
            let (alloc_rss, alloc_rss_bytes) = ratio(m.resident, m.active);
            let (rss_extra, rss_extra_bytes) = ratio(m.rss, m.resident);
            let (frag, frag_bytes) = ratio(m.rss, m.total);
            let _ = write!(
                o,
                "# Memory\r\nused_memory:{allocated}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{}\r\nused_memory_startup:{startup}\r\nused_memory_dataset:{}\r\nused_memory_dataset_perc:{:.2}%\r\nallocator_allocated:{}\r\nallocator_active:{}\r\nallocator_resident:{}\r\ntotal_system_memory:{sysmem}\r\ntotal_system_memory_human:{}\r\nused_memory_lua:{vm}\r\nused_memory_vm_eval:{vm}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:{scripts_bytes}\r\nnumber_of_cached_scripts:{scripts}\r\nnumber_of_functions:{funcs}\r\nnumber_of_libraries:{libs}\r\nused_memory_vm_functions:0\r\nused_memory_vm_total:{vm}\r\nused_memory_vm_total_human:{}\r\nused_memory_functions:{lib_bytes}\r\nused_memory_scripts:{}\r\nused_memory_scripts_human:{}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nallocator_frag_ratio:{alloc_frag:.2}\r\nallocator_frag_bytes:{alloc_frag_bytes}\r\nallocator_rss_ratio:{alloc_rss:.2}\r\nallocator_rss_bytes:{alloc_rss_bytes}\r\nrss_overhead_ratio:{rss_extra:.2}\r\nrss_overhead_bytes:{rss_extra_bytes}\r\nmem_fragmentation_ratio:{frag:.2}\r\nmem_fragmentation_bytes:{frag_bytes}\r\nmem_not_counted_for_evict:0\r\nmem_replication_backlog:0\r\nmem_total_replication_buffers:0\r\nmem_clients_slaves:0\r\nmem_clients_normal:{}\r\nmem_cluster_links:0\r\nmem_aof_buffer:0\r\nmem_allocator:jemalloc-5.3.0\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:{}\r\nlazyfreed_objects:{}\r\n",
                human(allocated),
                human(rss),
                human(peak),
                m.peak_perc,
                m.overhead_total,
                m.dataset,
                m.dataset_perc,
                m.allocated,
                m.active,
                m.resident,
                human(sysmem),
                human(vm),
                human(vm),
                scripts_bytes + lib_bytes,
                human(scripts_bytes as u64 + lib_bytes as u64),
                human(maxmemory),
                s.config.get("maxmemory-policy"),
                m.clients_normal,
                crate::lazyfree::counts().0,
                crate::lazyfree::counts().1,
            );
        }
        "persistence" => {
            let p = &s.persistence;
            let started = p.started_ms.load(Ordering::Relaxed);
            // The snapshot slot is shared with AOF rewrites.
            let rewriting = s.aof.rewrite_in_progress.load(Ordering::Acquire);
            let running = p.in_progress.load(Ordering::Acquire) && !rewriting;
            let current_secs = if running && started > 0 {
                (crate::now_ms().saturating_sub(started) / 1000) as i64
            } else {
                -1
            };
            let (processed, total) = if running {
                (
                    p.keys_processed.load(Ordering::Relaxed),
                    p.keys_total.load(Ordering::Relaxed),
                )
            } else {
                (0, 0)
            };
            let _ = write!(
                o,
                "# Persistence\r\nloading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:{processed}\r\ncurrent_save_keys_total:{total}\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{current_secs}\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n",
                u8::from(s.persistence.loading.load(Ordering::Relaxed)),
                p.changes_since_save(s),
                running as u8,
                s.lastsave.load(Ordering::Relaxed),
                if p.last_ok.load(Ordering::Relaxed) { "ok" } else { "err" },
                p.last_duration_secs.load(Ordering::Relaxed),
                p.saves.load(Ordering::Relaxed),
                p.last_load_expired.load(Ordering::Relaxed),
                p.last_load_keys.load(Ordering::Relaxed),
            );
            crate::aof::info(s, o);
        }
        "stats" => {
            let ks = &s.keyspace.stats;
            let (ops, in_kbps, out_kbps) = s.instantaneous();
            let _ = write!(
                o,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nevicted_clients:0\r\ntotal_eviction_exceeded_time:{}\r\ncurrent_eviction_exceeded_time:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\nunexpected_error_replies:{}\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:{}\r\ntotal_writes_processed:{}\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nclient_query_buffer_limit_disconnections:{}\r\nclient_output_buffer_limit_disconnections:{}\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n",
                st.connections_received.get(),
                st.commands_processed.get(),
                ops,
                st.net_input_bytes.get(),
                st.net_output_bytes.get(),
                in_kbps,
                out_kbps,
                st.rejected_connections.get(),
                s.replication.sync_full.load(Ordering::Relaxed),
                s.replication.sync_partial_ok.load(Ordering::Relaxed),
                s.replication.sync_partial_err.load(Ordering::Relaxed),
                ks.expired_keys.get(),
                ks.expire_cycle_cpu_us.get() / 1000,
                st.evicted_keys.get(),
                crate::evict::exceeded_ms().0,
                crate::evict::exceeded_ms().1,
                ks.keyspace_hits.get(),
                ks.keyspace_misses.get(),
                s.pubsub.count(crate::pubsub::Kind::Channel),
                s.pubsub.count(crate::pubsub::Kind::Pattern),
                s.pubsub.count(crate::pubsub::Kind::Shard),
                s.keyspace.tracking_counts().0,
                s.keyspace.tracking_counts().1,
                s.tracking.prefixes(),
                st.unexpected_error_replies.get(),
                st.error_replies.get(),
                st.total_reads.get(),
                st.total_writes.get(),
                st.client_query_buffer_limit_disconnections.get(),
                st.client_output_buffer_limit_disconnections.get(),
            );
        }
        "replication" => crate::replication::info(s, o),
        "cpu" => {
            let (user, sys) = cpu_times();
            let _ = write!(
                o,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n"
            );
        }
        "modules" => o.push_str("# Modules\r\n"),
        "cluster" => o.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "errorstats" => {
            o.push_str("# Errorstats\r\n");
            for (code, n) in s.errorstats.lock().iter() {
                let _ = write!(o, "errorstat_{code}:count={n}\r\n");
            }
        }
        "commandstats" => {
            o.push_str("# Commandstats\r\n");
            use crate::dispatch::{CALLS, FAILED, REJECTED, USEC};
            for e in &s.commands.entries {
                let calls = e.stats.get(CALLS);
                let rejected = e.stats.get(REJECTED);
                let failed = e.stats.get(FAILED);
                if calls == 0 && rejected == 0 && failed == 0 {
                    continue;
                }
                let usec = e.stats.get(USEC);
                let per = if calls > 0 {
                    usec as f64 / calls as f64
                } else {
                    0.0
                };
                let _ = write!(
                    o,
                    "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
                    e.spec.name
                );
            }
        }
        "latencystats" => {
            o.push_str("# Latencystats\r\n");
            if s.config.hot.latency_tracking.load(Ordering::Relaxed) {
                crate::latency::write_info(s, o);
            }
        }
        "keyspace" => {
            o.push_str("# Keyspace\r\n");
            for (db, (keys, expires)) in s.keyspace.db_counts().into_iter().enumerate() {
                if keys > 0 {
                    let _ = write!(o, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
                }
            }
        }
        _ => {}
    }
}
