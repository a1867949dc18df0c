//! Latency introspection: the latency monitor (events that took at least
//! `latency-monitor-threshold` ms: LATENCY LATEST, HISTORY, RESET, GRAPH,
//! DOCTOR) and the per-command latency histograms behind LATENCY HISTOGRAM
//! and INFO latencystats.
//!
//! A histogram is recorded on every command, on every worker thread, so it
//! is a fixed array of relaxed atomic counters per command-table entry and
//! per thread stripe, allocated the first time that thread runs that
//! command: no lock and no allocation afterwards. Buckets are log-linear in
//! microseconds: exact below 256 µs, then 128 per doubling up to 1 s (where
//! Redis clamps too), the resolution of Redis's hdr_histogram with two
//! significant digits. Reported values are converted to what Redis's
//! nanosecond hdr_histogram prints for them, so below 256 µs the numbers are
//! Redis's own.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::args::text;
use crate::dispatch::CommandEntry;
use crate::error::{CmdError, CmdResult};
use crate::{Ctx, Handler, Server};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("latency|latest", latest),
    ("latency|history", history),
    ("latency|reset", reset),
    ("latency|graph", graph),
    ("latency|doctor", doctor),
    ("latency|histogram", histogram),
    ("latency|help", help),
];

// ---------------------------------------------------------------------------
// Per-command histograms
// ---------------------------------------------------------------------------

/// Durations below this many µs have a bucket each.
const EXACT: u64 = 256;
/// Buckets per doubling above [`EXACT`].
const PER_DOUBLING: u64 = 128;
/// Longer durations are recorded as this (Redis's LATENCY_HISTOGRAM_MAX_VALUE, 1 s).
const MAX_US: u64 = 1_000_000;
/// Buckets up to the one of [`MAX_US`].
const BUCKETS: usize = bucket_of(MAX_US) + 1;
/// Thread stripes: threads running the same command do not share counters.
const STRIPES: usize = 4;

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
}

/// The bucket of a duration of `us` microseconds.
#[inline]
const fn bucket_of(us: u64) -> usize {
    let v = if us < MAX_US { us } else { MAX_US };
    if v < EXACT {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros() as u64;
    let shift = exp - 7;
    (EXACT + (exp - 8) * PER_DOUBLING + ((v >> shift) - PER_DOUBLING)) as usize
}

/// The lowest and highest durations (µs) that fall in bucket `i`.
fn bucket_range(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < EXACT {
        return (i, i);
    }
    let k = i - EXACT;
    let shift = 1 + k / PER_DOUBLING;
    let lo = (PER_DOUBLING + k % PER_DOUBLING) << shift;
    (lo, lo + (1 << shift) - 1)
}

/// Redis's hdr_histogram (1 ns .. 1 s, 2 significant digits: 256
/// sub-buckets) groups nanosecond values in ranges; this is the range of
/// `ns`.
fn hdr_range(ns: u64) -> (u64, u64) {
    if ns < 256 {
        return (ns, ns);
    }
    let width = 1u64 << (63 - ns.leading_zeros() as u64 - 7);
    let lo = ns & !(width - 1);
    (lo, lo + width - 1)
}

/// A duration in µs as Redis records it: in ns, at least 1, at most 1 s.
fn as_ns(us: u64) -> u64 {
    (us * 1000).clamp(1, MAX_US * 1000)
}

/// One command's latency histogram.
#[derive(Default)]
pub struct Histogram {
    stripes: [OnceLock<Box<[AtomicU64]>>; STRIPES],
}

impl Histogram {
    /// Counts one call that took `us` microseconds.
    #[inline]
    pub fn record(&self, us: u64) {
        let stripe = STRIPE.try_with(|s| *s).unwrap_or(0);
        let counts =
            self.stripes[stripe].get_or_init(|| (0..BUCKETS).map(|_| AtomicU64::new(0)).collect());
        counts[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for counts in self.stripes.iter().filter_map(OnceLock::get) {
            for c in counts.iter() {
                c.store(0, Ordering::Relaxed);
            }
        }
    }

    /// The counts summed over the stripes, or None when nothing was recorded
    /// (Redis has no histogram for a command that did not run).
    fn snapshot(&self) -> Option<Snapshot> {
        let mut counts = vec![0u64; BUCKETS];
        let mut any = false;
        for stripe in self.stripes.iter().filter_map(OnceLock::get) {
            for (sum, c) in counts.iter_mut().zip(stripe.iter()) {
                *sum += c.load(Ordering::Relaxed);
            }
            any = true;
        }
        let total = counts.iter().sum();
        (any && total > 0).then_some(Snapshot { counts, total })
    }
}

/// A histogram's counts at one moment.
struct Snapshot {
    counts: Vec<u64>,
    total: u64,
}

impl Snapshot {
    /// The latency at `percentile` in µs, as Redis's `hdr_value_at_percentile`
    /// reports it (ns / 1000).
    fn percentile_us(&self, percentile: f64) -> f64 {
        let p = percentile.min(100.0);
        let wanted = (((p / 100.0) * self.total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        let mut bucket = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            bucket = i;
            if seen >= wanted {
                break;
            }
        }
        let (lo, hi) = bucket_range(bucket);
        let ns = if percentile == 0.0 {
            hdr_range(as_ns(lo)).0
        } else {
            hdr_range(as_ns(hi)).1
        };
        ns as f64 / 1000.0
    }

    /// LATENCY HISTOGRAM's buckets: (µs, cumulative calls) at each power of
    /// two from 1024 ns, as Redis's logarithmic hdr iterator reports them
    /// (a bucket's key is the top of its range; empty steps are left out).
    fn cumulative(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut seen = 0;
        let mut i = 0;
        for level in 10..30 {
            let top = hdr_range(1u64 << level).1;
            while i < BUCKETS && as_ns(bucket_range(i).0) <= top {
                seen += self.counts[i];
                i += 1;
            }
            if seen > out.last().map_or(0, |l| l.1) {
                out.push((top / 1000, seen));
            }
        }
        if self.total > seen {
            // Past the last power of two: Redis's iterator ends on the top
            // of its last range (2^30 - 1 ns).
            out.push((((1u64 << 30) - 1) / 1000, self.total));
        }
        out
    }
}

/// `%f` with trailing zeros (and a trailing dot) removed, as Redis prints a
/// percentile (`trimDoubleString`).
pub(crate) fn percentile_name(p: f64) -> String {
    let s = format!("{p:.6}");
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

/// Checks `latency-tracking-info-percentiles` (space separated, each 0..=100;
/// empty for none) and returns its canonical text.
pub(crate) fn check_percentiles(v: &str) -> Result<String, String> {
    let mut names = Vec::new();
    for word in v.split_whitespace() {
        let p: f64 = word
            .parse()
            .ok()
            .filter(|p: &f64| !p.is_nan())
            .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
        if !(0.0..=100.0).contains(&p) {
            return Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .into(),
            );
        }
        names.push(percentile_name(p));
    }
    Ok(names.join(" "))
}

/// Records what a finished command contributes: a latency-monitor sample
/// when it took at least the threshold, and (unless it only blocked) a
/// histogram count.
#[inline]
pub(crate) fn after_command(server: &Server, entry: &CommandEntry, us: u64, counted: bool) {
    let event = if entry.spec.has_flag(commands::flag::FAST) {
        "fast-command"
    } else {
        "command"
    };
    sample_if_needed(server, event, us / 1000);
    if counted && server.config.hot.latency_tracking.load(Ordering::Relaxed) {
        entry.latency.record(us);
    }
}

/// Redis's `latencyAddSampleIfNeeded`: records `event` when it took at
/// least `latency-monitor-threshold` ms (and the monitor is on). Any code
/// path that times an event (an expiry or eviction cycle) reports it here.
#[inline]
pub(crate) fn sample_if_needed(server: &Server, event: &str, ms: u64) {
    let threshold = server
        .config
        .hot
        .latency_monitor_threshold
        .load(Ordering::Relaxed);
    if threshold > 0 && ms >= threshold {
        server.latency.add_sample(event, ms);
    }
}

/// INFO latencystats: one line per command that ran.
pub(crate) fn write_info(server: &Server, o: &mut String) {
    let percentiles: Vec<f64> = server
        .config
        .get("latency-tracking-info-percentiles")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    for e in &server.commands.entries {
        let Some(snap) = e.latency.snapshot() else {
            continue;
        };
        let _ = write!(o, "latency_percentiles_usec_{}:", e.spec.name);
        for (i, p) in percentiles.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(o, "p{}={:.3}", percentile_name(*p), snap.percentile_us(*p));
        }
        o.push_str("\r\n");
    }
}

// ---------------------------------------------------------------------------
// The latency monitor
// ---------------------------------------------------------------------------

/// Samples kept per event (Redis's LATENCY_TS_LEN).
const HISTORY_LEN: usize = 160;

/// One event's recent samples: (unix seconds, ms); time 0 = unused slot.
struct Series {
    next: usize,
    max: u64,
    samples: [(u64, u64); HISTORY_LEN],
}

impl Series {
    fn last(&self) -> (u64, u64) {
        self.samples[(self.next + HISTORY_LEN - 1) % HISTORY_LEN]
    }

    /// The used samples, oldest first.
    fn in_order(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (0..HISTORY_LEN)
            .map(|j| self.samples[(self.next + j) % HISTORY_LEN])
            .filter(|s| s.0 != 0)
    }
}

/// Latency events, in the order they first happened.
#[derive(Default)]
pub struct Monitor {
    events: Mutex<Vec<(String, Box<Series>)>>,
}

impl Monitor {
    /// Redis's `latencyAddSample`: one sample per event per second (the
    /// highest), and the all-time maximum.
    pub fn add_sample(&self, event: &str, ms: u64) {
        let now = crate::now_ms() / 1000;
        let mut events = self.events.lock();
        let pos = match events.iter().position(|(n, _)| n == event) {
            Some(p) => p,
            None => {
                events.push((
                    event.to_string(),
                    Box::new(Series {
                        next: 0,
                        max: 0,
                        samples: [(0, 0); HISTORY_LEN],
                    }),
                ));
                events.len() - 1
            }
        };
        let ts = &mut events[pos].1;
        ts.max = ts.max.max(ms);
        let prev = (ts.next + HISTORY_LEN - 1) % HISTORY_LEN;
        if ts.samples[prev].0 == now {
            ts.samples[prev].1 = ts.samples[prev].1.max(ms);
            return;
        }
        ts.samples[ts.next] = (now, ms);
        ts.next = (ts.next + 1) % HISTORY_LEN;
    }

    /// Drops the events named `event` (case-insensitively), or all; returns how many.
    fn reset(&self, event: Option<&[u8]>) -> usize {
        let mut events = self.events.lock();
        let before = events.len();
        events.retain(|(n, _)| event.is_some_and(|e| !n.as_bytes().eq_ignore_ascii_case(e)));
        before - events.len()
    }
}

fn latest(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let rows: Vec<(String, (u64, u64), u64)> = ctx
        .server
        .latency
        .events
        .lock()
        .iter()
        .map(|(n, s)| (n.clone(), s.last(), s.max))
        .collect();
    ctx.out.array(rows.len());
    for (name, (time, ms), max) in rows {
        ctx.out.array(4);
        ctx.out.bulk_str(&name);
        ctx.out.int(time as i64);
        ctx.out.int(ms as i64);
        ctx.out.int(max as i64);
    }
    Ok(())
}

fn history(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // Event names match exactly here, as in Redis (RESET ignores case).
    let samples: Vec<(u64, u64)> = ctx
        .server
        .latency
        .events
        .lock()
        .iter()
        .find(|(n, _)| n.as_bytes() == a[2])
        .map(|(_, s)| s.in_order().collect())
        .unwrap_or_default();
    ctx.out.array(samples.len());
    for (time, ms) in samples {
        ctx.out.array(2);
        ctx.out.int(time as i64);
        ctx.out.int(ms as i64);
    }
    Ok(())
}

fn reset(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let monitor = &ctx.server.latency;
    let n = if a.len() == 2 {
        monitor.reset(None)
    } else {
        a[2..].iter().map(|e| monitor.reset(Some(e))).sum()
    };
    ctx.out.int(n as i64);
    Ok(())
}

fn graph(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let now = crate::now_ms() / 1000;
    let text = {
        let events = ctx.server.latency.events.lock();
        let Some((name, series)) = events.iter().find(|(n, _)| n.as_bytes() == a[2]) else {
            return Err(CmdError::quoting(
                "ERR No samples available for event '{}'",
                &[a[2]],
            ));
        };
        sparkline_graph(name, series, now)
    };
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// LATENCY GRAPH's text: a header and Redis's sparkline of the samples,
/// each labelled with how long ago it happened.
fn sparkline_graph(event: &str, ts: &Series, now: u64) -> String {
    let samples: Vec<(f64, String)> = ts
        .in_order()
        .map(|(time, ms)| {
            let elapsed = now.saturating_sub(time);
            let label = if elapsed < 60 {
                format!("{elapsed}s")
            } else if elapsed < 3600 {
                format!("{}m", elapsed / 60)
            } else if elapsed < 86400 {
                format!("{}h", elapsed / 3600)
            } else {
                format!("{}d", elapsed / 86400)
            };
            (ms as f64, label)
        })
        .collect();
    let low = samples.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let high = samples.iter().map(|s| s.0).fold(0.0, f64::max);
    let low = if samples.is_empty() { 0.0 } else { low };
    let mut out = format!(
        "{event} - high {} ms, low {} ms (all time high {} ms)\n{}\n",
        high as u64,
        low as u64,
        ts.max,
        "-".repeat(80)
    );
    for (n, chunk) in samples.chunks(80).enumerate() {
        if n > 0 {
            out.push('\n');
        }
        render_sparkline(&mut out, chunk, low, high, 4);
    }
    out
}

/// Redis's `sparklineRenderRange` with SPARKLINE_FILL: `rows` rows of
/// `_o#|`, then the labels written vertically under a blank line.
fn render_sparkline(out: &mut String, samples: &[(f64, String)], min: f64, max: f64, rows: i64) {
    const FILL: &[u8] = b"_o#";
    let charset_len = FILL.len() as i64;
    let steps = charset_len * rows;
    let relmax = if max - min == 0.0 { 1.0 } else { max - min };
    let mut row = 0i64;
    loop {
        let mut chars = vec![b' '; samples.len()];
        let mut more = false;
        for (j, (value, label)) in samples.iter().enumerate() {
            // As in C: the product is truncated before the division.
            let step = ((((value - min) * steps as f64) as i64) as f64 / relmax) as i64;
            let step = step.clamp(0, steps - 1);
            if row < rows {
                let idx = step - (rows - row - 1) * charset_len;
                more = true;
                if (0..charset_len).contains(&idx) {
                    chars[j] = FILL[idx as usize];
                } else if idx >= charset_len {
                    chars[j] = b'|';
                }
            } else {
                // One blank line between the graph and the labels.
                if row - rows < 1 {
                    more = true;
                    break;
                }
                let at = (row - rows - 1) as usize;
                if let Some(&c) = label.as_bytes().get(at) {
                    more = true;
                    chars[j] = c;
                }
            }
        }
        if !more {
            break;
        }
        row += 1;
        out.push_str(&String::from_utf8_lossy(&chars));
        out.push('\n');
    }
}

/// Bytes of transparent huge pages the process uses (AnonHugePages in smaps).
fn anon_huge_pages() -> u64 {
    std::fs::read_to_string("/proc/self/smaps")
        .map(|s| {
            s.lines()
                .filter_map(|l| l.strip_prefix("AnonHugePages:"))
                .filter_map(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .sum::<u64>()
                * 1024
        })
        .unwrap_or(0)
}

/// What LATENCY DOCTOR knows about one event's samples.
struct EventStats {
    samples: u64,
    avg: u64,
    mad: u64,
    period: u64,
}

fn analyze(ts: &Series, now: u64) -> EventStats {
    let samples: Vec<(u64, u64)> = ts.in_order().collect();
    let n = samples.len() as u64;
    if n == 0 {
        return EventStats {
            samples: 0,
            avg: 0,
            mad: 0,
            period: 0,
        };
    }
    let avg = samples.iter().map(|s| s.1).sum::<u64>() / n;
    let oldest = samples.iter().map(|s| s.0).min().unwrap_or(now);
    let period = now.saturating_sub(oldest).max(1);
    let mad = samples.iter().map(|s| s.1.abs_diff(avg)).sum::<u64>() / n;
    EventStats {
        samples: n,
        avg,
        mad,
        period,
    }
}

/// Redis's `createLatencyReport`, for the events this server records.
fn doctor_report(server: &Server) -> String {
    let threshold = server
        .config
        .hot
        .latency_monitor_threshold
        .load(Ordering::Relaxed);
    let events = server.latency.events.lock();
    if events.is_empty() && threshold == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    let now = crate::now_ms() / 1000;
    let slowlog = server
        .config
        .hot
        .slowlog_slower_than
        .load(Ordering::Relaxed);
    let mut report = String::new();
    let mut advices = 0;
    let (mut slowlog_enabled, mut slowlog_tuning, mut slowlog_inspect) = (false, false, false);
    let (mut scheduler, mut hz, mut large_objects, mut mass_eviction) =
        (false, false, false, false);
    for (i, (event, ts)) in events.iter().enumerate() {
        if i == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let st = analyze(ts, now);
        let _ = write!(
            report,
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            i + 1,
            event,
            st.samples,
            st.avg,
            st.mad,
            st.period as f64 / st.samples.max(1) as f64,
            ts.max
        );
        let is = |name: &str| event.eq_ignore_ascii_case(name);
        if is("command") {
            if slowlog < 0 {
                slowlog_enabled = true;
                advices += 1;
            } else if slowlog as u64 / 1000 > threshold {
                slowlog_tuning = true;
                advices += 1;
            }
            slowlog_inspect = true;
            large_objects = true;
            advices += 2;
        }
        if is("fast-command") {
            scheduler = true;
            advices += 1;
        }
        if is("expire-cycle") {
            hz = true;
            large_objects = true;
            advices += 2;
        }
        if is("eviction-del") {
            large_objects = true;
            advices += 1;
        }
        if is("eviction-cycle") {
            mass_eviction = true;
            advices += 1;
        }
        report.push('\n');
    }
    let thp = anon_huge_pages() > 0;
    if thp {
        advices += 1;
    }
    if events.is_empty() && advices == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
        return report;
    }
    if advices == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        return report;
    }
    report.push_str("\nI have a few advices for you:\n\n");
    if slowlog_enabled {
        let _ = writeln!(report, "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.", threshold * 1000);
    }
    if slowlog_tuning {
        let _ = writeln!(report, "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.", threshold * 1000);
    }
    if slowlog_inspect {
        report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
    }
    if scheduler {
        report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
    }
    if hz && server.config.hot.hz.load(Ordering::Relaxed) < 100 {
        report.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
    }
    if large_objects {
        report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
    if mass_eviction {
        report.push_str("- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n");
    }
    if thp {
        report.push_str("- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n");
    }
    report
}

fn doctor(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let report = doctor_report(ctx.server);
    ctx.out.verbatim("txt", report.as_bytes());
    Ok(())
}

/// One command's LATENCY HISTOGRAM entry (name, then its map).
fn histogram_entry(ctx: &mut Ctx, name: &str, snap: &Snapshot) {
    let buckets = snap.cumulative();
    ctx.out.bulk_str(name);
    ctx.out.map(2);
    ctx.out.bulk_str("calls");
    ctx.out.int(snap.total as i64);
    ctx.out.bulk_str("histogram_usec");
    ctx.out.map(buckets.len());
    for (us, count) in buckets {
        ctx.out.int(us as i64);
        ctx.out.int(count as i64);
    }
}

fn histogram(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let server = ctx.server.clone();
    let table = &server.commands;
    // Which entries: every command that ran, or the ones named (a container
    // stands for its subcommands; unknown names are skipped).
    let mut chosen: Vec<&CommandEntry> = Vec::new();
    if a.len() == 2 {
        chosen.extend(table.entries.iter());
    } else {
        for name in &a[2..] {
            let Some(entry) = table.get(&text(name).to_ascii_lowercase()) else {
                continue;
            };
            chosen.push(entry);
            chosen.extend(
                entry
                    .spec
                    .subcommands
                    .iter()
                    .filter_map(|sub| table.get(sub.name)),
            );
        }
    }
    let with_data: Vec<(&str, Snapshot)> = chosen
        .into_iter()
        .filter_map(|e| e.latency.snapshot().map(|s| (e.spec.name, s)))
        .collect();
    ctx.out.map(with_data.len());
    for (name, snap) in &with_data {
        histogram_entry(ctx, name, snap);
    }
    Ok(())
}

fn help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    crate::generic::help(
        ctx,
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_the_range_in_order() {
        let mut prev_hi = None;
        for i in 0..BUCKETS {
            let (lo, hi) = bucket_range(i);
            assert!(lo <= hi);
            if let Some(p) = prev_hi {
                assert_eq!(lo, p + 1, "bucket {i}");
            }
            prev_hi = Some(hi);
            assert_eq!(bucket_of(lo), i);
            assert_eq!(bucket_of(hi), i);
        }
        assert_eq!(bucket_of(MAX_US), bucket_of(u64::MAX));
        assert!(bucket_range(bucket_of(MAX_US)).1 >= MAX_US);
        // Two significant digits: a bucket is at most 1/128 of its values wide.
        for i in EXACT as usize..BUCKETS {
            let (lo, hi) = bucket_range(i);
            assert!((hi - lo + 1) * 128 <= lo, "bucket {i}: {lo}..{hi}");
        }
    }

    #[test]
    fn percentiles_match_redis_hdr_values() {
        // Redis prints 1 µs as 1.003, 6 µs as 6.015, 41 µs as 41.215, 72 µs
        // as 72.191 and 0 µs as 0.001 (its histogram is in ns).
        let h = Histogram::default();
        for us in [0, 1, 6, 41, 72] {
            h.record(us);
        }
        let s = h.snapshot().unwrap();
        let fmt = |p| format!("{:.3}", s.percentile_us(p));
        assert_eq!(fmt(0.0), "0.001");
        assert_eq!(fmt(20.0), "0.001");
        assert_eq!(fmt(40.0), "1.003");
        assert_eq!(fmt(50.0), "6.015");
        assert_eq!(fmt(80.0), "41.215");
        assert_eq!(fmt(100.0), "72.191");
        h.reset();
        assert!(h.snapshot().is_none());
    }

    #[test]
    fn percentiles_are_within_one_percent() {
        let h = Histogram::default();
        for us in 1..=100_000u64 {
            h.record(us);
        }
        let s = h.snapshot().unwrap();
        for (p, want) in [(50.0, 50_000.0), (99.0, 99_000.0), (99.9, 99_900.0)] {
            let got = s.percentile_us(p);
            assert!((got - want).abs() / want < 0.01, "p{p}: {got} vs {want}");
        }
    }

    #[test]
    fn cumulative_buckets_like_redis() {
        // Redis, after SET calls of 1, 2 and 3 µs and one of 40 ms:
        // histogram_usec 1 1 2 2 4 3 ... 33 ... with its keys at the tops
        // of the power-of-two ranges (1031 ns -> 1, 2063 -> 2, 4127 -> 4).
        let h = Histogram::default();
        for us in [1, 2, 3, 40_000] {
            h.record(us);
        }
        let s = h.snapshot().unwrap();
        assert_eq!(s.cumulative(), vec![(1, 1), (2, 2), (4, 3), (67633, 4)]);
        let h = Histogram::default();
        h.record(5_000_000);
        assert_eq!(h.snapshot().unwrap().cumulative(), vec![(1073741, 1)]);
    }

    #[test]
    fn percentile_names_and_validation() {
        assert_eq!(check_percentiles("50 99 99.9").unwrap(), "50 99 99.9");
        assert_eq!(check_percentiles("0.0 50.0 100.0").unwrap(), "0 50 100");
        assert_eq!(check_percentiles("").unwrap(), "");
        assert!(check_percentiles("10.0 50.0 a")
            .unwrap_err()
            .starts_with("Invalid"));
        assert!(check_percentiles("10 101")
            .unwrap_err()
            .contains("[0.0,100.0]"));
        assert!(check_percentiles("nan").is_err());
    }

    #[test]
    fn monitor_keeps_one_sample_per_second_and_the_max() {
        let m = Monitor::default();
        m.add_sample("command", 300);
        m.add_sample("command", 500);
        m.add_sample("command", 100);
        let events = m.events.lock();
        let s = &events[0].1;
        assert_eq!(s.in_order().count(), 1);
        assert_eq!(s.last().1, 500);
        assert_eq!(s.max, 500);
        drop(events);
        assert_eq!(m.reset(Some(b"COMMAND")), 1);
        assert_eq!(m.reset(None), 0);
    }

    #[test]
    fn sparkline_like_redis() {
        let mut ts = Series {
            next: 0,
            max: 500,
            samples: [(0, 0); HISTORY_LEN],
        };
        ts.samples[0] = (100, 300);
        ts.samples[1] = (101, 400);
        ts.samples[2] = (102, 500);
        ts.next = 3;
        let g = sparkline_graph("command", &ts, 102);
        let want = format!(
            "command - high 500 ms, low 300 ms (all time high 500 ms)\n{}\n  #\n _|\n ||\n_||\n   \n210\nsss\n",
            "-".repeat(80)
        );
        assert_eq!(g, want);
    }
}
