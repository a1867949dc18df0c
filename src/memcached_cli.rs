//! `ferrocache server --engine memcached [memcached flags]`: memcached 1.6's command line
//! (`-p -U -l -m -c -t -I -M -v -vv -d -P -o ...`, getopt style, plus its common long
//! options), so that existing init scripts start a Ferrocache node unchanged.
//!
//! Flags that only tune memcached's slab allocator or threads internals are accepted and
//! have no effect (Ferrocache has no slabs); flags for features Ferrocache does not have
//! (UDP, unix sockets, binary-only mode, external storage) are refused
//! with a message instead of being ignored.

use engine::memcached::{McProtocol, McSettings};
use engine::Config;

/// Everything the memcached command line decides.
#[derive(Debug)]
pub struct McOptions {
    pub settings: McSettings,
    pub listen: Vec<String>,
    pub daemonize: bool,
    pub pid_file: Option<String>,
    /// `--metrics-port` (Ferrocache's own): serve Prometheus metrics on this port.
    pub metrics_port: Option<u16>,
    /// `-Z`: every connection speaks TLS.
    pub tls: bool,
    /// The `-o ssl_*` options, as the node's `tls-*` parameters.
    pub tls_params: Vec<(&'static str, String)>,
    /// `-o worker_placement=` (Ferrocache's own): `elastic` (the default)
    /// or `spread`, as the Redis engine's `worker-placement`.
    pub worker_placement: Option<&'static str>,
    /// `-o worker_spin_us=` (Ferrocache's own): the node's `worker-spin-us`.
    pub worker_spin_us: Option<String>,
}

/// What to do after parsing.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<McOptions>),
    /// `-h`, `-V`, `-i`: print this and exit successfully.
    Print(String),
}

/// Flags taking an argument (getopt's `x:`).
const WITH_ARG: &[u8] = b"pUsalmcPfnDtRbBIoueY";

const USAGE: &str = "ferrocache server --engine memcached [options] (memcached 1.6 flags)
-p, --port=<num>          TCP port to listen on (default: 11211)
-U, --udp-port=<num>      UDP port (only 0: UDP is not supported)
-l, --listen=<addr>       interface to listen on (default: all); may repeat or be comma separated
-d, --daemon              run as a daemon
-u, --user=<user>         accepted; privileges are not dropped (refused when run as root)
-m, --memory-limit=<num>  item memory in megabytes (default: 64)
-M, --disable-evictions   return error on memory exhausted instead of evicting
-c, --conn-limit=<num>    max simultaneous connections (default: 1024)
-v, --verbose             verbose (-vv, -vvv: more)
-P, --pidfile=<file>      save PID in <file>
-t, --threads=<num>       number of threads to use (default: 4)
-I, --max-item-size=<num> max item size (default: 1m; k and m suffixes)
-C, --disable-cas         disable use of CAS
-A, --enable-shutdown     enable the shutdown command
-B, --protocol=<name>     ascii, binary or auto (default: auto-negotiate)
-o, --extended=<opts>     comma separated extended options (slab and LRU tuning accepted, no effect;
                          ssl_chain_cert, ssl_key, ssl_ca_cert, ssl_verify_mode, ssl_min_version,
                          ssl_ciphers, ssl_session_cache for -Z; worker_placement=elastic|spread:
                          connections on as few threads as the load needs (default), or on all;
                          worker_spin_us=N: a thread polls N µs for more requests before it
                          sleeps (default 0: never)
-S, --enable-sasl         binary protocol SASL PLAIN (users from $MEMCACHED_SASL_PWDB)
-Y, --auth-file=<file>    text protocol authentication (user:password lines)
-Z, --enable-ssl          every connection speaks TLS (certificates from -o ssl_*)
-f -n -D -R -b -L -r -X -W -k: accepted for compatibility, no effect
-h, -V, -i                help, version, license
--metrics-port=<num>      also serve Prometheus metrics (GET /metrics) over HTTP on this port";

fn long_to_short(name: &str) -> Option<u8> {
    Some(match name {
        "port" => b'p',
        "udp-port" => b'U',
        "unix-socket" => b's',
        "unix-mask" => b'a',
        "listen" => b'l',
        "daemon" => b'd',
        "user" => b'u',
        "memory-limit" => b'm',
        "disable-evictions" => b'M',
        "conn-limit" => b'c',
        "verbose" => b'v',
        "pidfile" => b'P',
        "threads" => b't',
        "max-item-size" => b'I',
        "disable-cas" => b'C',
        "enable-shutdown" => b'A',
        "protocol" => b'B',
        "extended" => b'o',
        "slab-growth-factor" => b'f',
        "slab-min-size" => b'n',
        "max-reqs-per-event" => b'R',
        "listen-backlog" => b'b',
        "enable-sasl" => b'S',
        "enable-ssl" => b'Z',
        "auth-file" => b'Y',
        "disable-flush-all" => b'F',
        "disable-dumping" => b'X',
        "disable-watch" => b'W',
        "lock-memory" => b'k',
        "enable-largepages" => b'L',
        "enable-coredumps" => b'r',
        "help" => b'h',
        "version" => b'V',
        "license" => b'i',
        _ => return None,
    })
}

/// memcached's size arguments: a number with an optional k/m/g suffix.
fn parse_size(text: &str, flag: char) -> Result<u64, String> {
    let t = text.trim();
    let (digits, mult) = match t.as_bytes().last() {
        Some(b'k' | b'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some(b'm' | b'M') => (&t[..t.len() - 1], 1 << 20),
        Some(b'g' | b'G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("-{flag}: invalid size '{text}'"))
}

fn parse_num<T: std::str::FromStr>(text: &str, flag: char) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("-{flag}: invalid number '{text}'"))
}

/// The `-o` options memcached 1.6 knows that only tune its own internals.
const EXTENDED_NO_EFFECT: &[&str] = &[
    "maxconns_fast",
    "no_maxconns_fast",
    "hashpower",
    "tail_repair_time",
    "hash_algorithm",
    "lru_crawler",
    "no_lru_crawler",
    "lru_crawler_sleep",
    "lru_crawler_tocrawl",
    "lru_maintainer",
    "no_lru_maintainer",
    "hot_lru_pct",
    "warm_lru_pct",
    "hot_max_factor",
    "warm_max_factor",
    "temporary_ttl",
    "idle_timeout",
    "watcher_logbuf_size",
    "worker_logbuf_size",
    "track_sizes",
    "no_inline_ascii_resp",
    "modern",
    "no_modern",
    "slab_reassign",
    "no_slab_reassign",
    "slab_automove",
    "slab_automove_ratio",
    "slab_automove_window",
    "slab_chunk_max",
    "slab_sizes",
    "large_memory_pages",
    "read_buf_mem_limit",
    "no_hashexpand",
    "drop_privileges",
    "no_drop_privileges",
    "resp_obj_mem_limit",
    "ext_item_size",
    "meta_response_old",
];

fn extended(
    opts: &str,
    s: &mut McSettings,
    tls: &mut Vec<(&'static str, String)>,
    placement: &mut Option<&'static str>,
    spin_us: &mut Option<String>,
) -> Result<(), String> {
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        let (name, value) = opt.split_once('=').unwrap_or((opt, ""));
        let mut tls_param = |param: &'static str, v: &str| tls.push((param, v.to_string()));
        match name {
            "item_size_max" => s.limits.item_size_max = parse_size(value, 'o')? as usize,
            "worker_placement" => {
                *placement = Some(match value {
                    "elastic" => "elastic",
                    "spread" => "spread",
                    _ => {
                        return Err(format!(
                            "-o worker_placement={value}: valid values are elastic and spread"
                        ))
                    }
                })
            }
            "worker_spin_us" => *spin_us = Some(value.to_string()),
            "ssl_chain_cert" => tls_param("tls-cert-file", value),
            "ssl_key" => tls_param("tls-key-file", value),
            "ssl_ca_cert" => tls_param("tls-ca-cert-file", value),
            "ssl_ciphers" => tls_param("tls-ciphers", value),
            "ssl_verify_mode" => match value {
                "0" => tls_param("tls-auth-clients", "no"),
                "1" => tls_param("tls-auth-clients", "optional"),
                "2" | "3" => tls_param("tls-auth-clients", "yes"),
                _ => {
                    return Err(format!(
                        "-o ssl_verify_mode={value}: valid values are 0 to 3"
                    ))
                }
            },
            "ssl_min_version" => match value.to_ascii_lowercase().as_str() {
                // rustls has neither TLS 1.0 nor 1.1: 1.2 is the floor.
                "0" | "1" | "2" | "tlsv1.0" | "tlsv1.1" | "tlsv1.2" => {
                    tls_param("tls-protocols", "TLSv1.2 TLSv1.3")
                }
                "3" | "tlsv1.3" => tls_param("tls-protocols", "TLSv1.3"),
                _ => {
                    return Err(format!(
                        "-o ssl_min_version={value}: valid values are 0 to 3"
                    ))
                }
            },
            "ssl_session_cache" => tls_param("tls-session-caching", "yes"),
            "ssl_keyformat" if value.eq_ignore_ascii_case("pem") => {}
            "ssl_keyformat" => {
                return Err(format!(
                    "-o ssl_keyformat={value}: only PEM keys are supported by ferrocache"
                ))
            }
            // Buffer sizing and kernel offload: nothing to tune here.
            "ssl_wbuf_size" | "ssl_kernel_tls" => {}
            n if EXTENDED_NO_EFFECT.contains(&n) => {}
            n if n.starts_with("ext_") => {
                return Err(format!(
                    "-o {n}: external storage (extstore) is not supported by ferrocache"
                ))
            }
            n => return Err(format!("-o {n}: unknown or unsupported extended option")),
        }
    }
    Ok(())
}

/// `-S`: reads the password file named by `MEMCACHED_SASL_PWDB` (memcached's variable),
/// `user:password` per line. Only the PLAIN mechanism is offered.
fn sasl_password_file() -> Result<Vec<(String, String)>, String> {
    let path = std::env::var("MEMCACHED_SASL_PWDB").map_err(|_| {
        "-S: set MEMCACHED_SASL_PWDB to a file of user:password lines \
         (ferrocache offers the PLAIN mechanism from that file only)"
            .to_string()
    })?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("-S: {path}: {e}"))?;
    let users: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(u, p)| (u.to_string(), p.trim_end_matches('\r').to_string()))
        .collect();
    if users.is_empty() {
        return Err(format!("-S: no user:password line in {path}"));
    }
    Ok(users)
}

/// Parses memcached's arguments (without `server` and `--engine memcached`).
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut o = McOptions {
        settings: McSettings::default(),
        listen: Vec::new(),
        daemonize: false,
        pid_file: None,
        metrics_port: None,
        tls: false,
        tls_params: Vec::new(),
        worker_placement: None,
        worker_spin_us: None,
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        // (flag, inline value) pairs of this argument.
        let mut flags: Vec<(u8, Option<String>)> = Vec::new();
        if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            // Ferrocache's own option: no memcached short form to map it to.
            if name == "metrics-port" {
                let v = match value {
                    Some(v) => v,
                    None => {
                        let v = args
                            .get(i)
                            .cloned()
                            .ok_or("option --metrics-port requires an argument")?;
                        i += 1;
                        v
                    }
                };
                o.metrics_port = Some(
                    v.parse()
                        .map_err(|_| format!("--metrics-port: invalid port '{v}'"))?,
                );
                continue;
            }
            let f = long_to_short(name).ok_or_else(|| format!("unknown option --{name}"))?;
            flags.push((f, value));
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            let bytes = short.as_bytes();
            let mut j = 0;
            while j < bytes.len() {
                let f = bytes[j];
                j += 1;
                if WITH_ARG.contains(&f) {
                    let rest = &short[j..];
                    flags.push((f, (!rest.is_empty()).then(|| rest.to_string())));
                    break;
                }
                flags.push((f, None));
            }
        } else {
            return Err(format!("unexpected argument '{arg}'\n\n{USAGE}"));
        }
        for (f, inline) in flags {
            let flag = char::from(f);
            let mut value = || -> Result<String, String> {
                if let Some(v) = inline.clone() {
                    return Ok(v);
                }
                let v = args
                    .get(i)
                    .cloned()
                    .ok_or_else(|| format!("option -{flag} requires an argument"))?;
                i += 1;
                Ok(v)
            };
            let s = &mut o.settings;
            match f {
                b'p' => s.tcp_port = parse_num(&value()?, flag)?,
                b'U' => {
                    s.udp_port = parse_num(&value()?, flag)?;
                    if s.udp_port != 0 {
                        return Err("-U: UDP is not supported by ferrocache (use -U 0)".into());
                    }
                }
                b'l' => o.listen.extend(
                    value()?
                        .split(',')
                        .filter(|a| !a.is_empty())
                        .map(|a| a.to_string()),
                ),
                b'd' => o.daemonize = true,
                b'u' => {
                    value()?;
                }
                b'm' => {
                    let v = value()?;
                    // A bare number is megabytes; a suffix gives the unit.
                    s.max_bytes = if v.trim().bytes().all(|b| b.is_ascii_digit()) {
                        parse_num::<u64>(&v, flag)? << 20
                    } else {
                        parse_size(&v, flag)?
                    };
                }
                b'M' => s.no_evict = true,
                b'c' => s.max_conns = parse_num(&value()?, flag)?,
                b'v' => s.verbosity += 1,
                b'P' => o.pid_file = Some(value()?),
                b't' => {
                    s.threads = parse_num(&value()?, flag)?;
                    if s.threads == 0 {
                        return Err("Number of threads must be greater than 0".into());
                    }
                }
                b'I' => {
                    let size = parse_size(&value()?, flag)?;
                    if size < 1024 {
                        return Err("Item max size cannot be less than 1024 bytes.".into());
                    }
                    if size > 1 << 30 {
                        return Err("Cannot set item size limit higher than 1 gigabytes.".into());
                    }
                    s.limits.item_size_max = size as usize;
                }
                b'C' => s.cas_disabled = true,
                b'A' => s.shutdown_enabled = true,
                b'B' => {
                    s.protocol = match value()?.as_str() {
                        "auto" => McProtocol::Auto,
                        "ascii" => McProtocol::Ascii,
                        "binary" => McProtocol::Binary,
                        other => {
                            return Err(format!("Invalid value for binding protocol: {other}"))
                        }
                    }
                }
                b'o' => extended(
                    &value()?,
                    s,
                    &mut o.tls_params,
                    &mut o.worker_placement,
                    &mut o.worker_spin_us,
                )?,
                b'Z' => o.tls = true,
                b'f' | b'n' | b'D' | b'R' | b'b' => {
                    value()?;
                }
                b'L' | b'r' | b'X' | b'W' | b'k' => {}
                b's' | b'a' => {
                    return Err(format!(
                        "-{flag}: unix sockets are not supported by ferrocache's memcached engine"
                    ))
                }
                b'S' => s.sasl_users = Some(sasl_password_file()?),
                b'Y' => {
                    let path = value()?;
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("Could not load authfile {path}: {e}"))?;
                    let users = memcache::auth::parse_authfile(&text);
                    if users.is_empty() {
                        return Err(format!("-Y: no user:password line in {path}"));
                    }
                    s.ascii_auth_users = Some(users);
                }
                b'e' => return Err("-e: memory files are not supported by ferrocache".into()),
                b'F' => {
                    return Err("-F: disabling flush_all is not supported by ferrocache yet".into())
                }
                b'h' => return Ok(Parsed::Print(USAGE.to_string())),
                b'V' => {
                    return Ok(Parsed::Print(format!(
                        "memcached {} (ferrocache {})",
                        engine::memcached::VERSION,
                        env!("CARGO_PKG_VERSION")
                    )))
                }
                b'i' => return Ok(Parsed::Print("ferrocache: see the LICENSE file".into())),
                _ => return Err(format!("illegal option -- {flag}\n\n{USAGE}")),
            }
        }
    }
    Ok(Parsed::Run(Box::new(o)))
}

/// The node configuration (port, addresses, threads) for these options.
pub fn node_config(o: &McOptions) -> Result<Config, String> {
    let config = Config::new();
    let set = |name: &str, value: String| {
        config
            .set_startup(name, value.as_bytes())
            .map_err(|e| format!("invalid value for {name} '{value}': {e}"))
    };
    set("port", o.settings.tcp_port.to_string())?;
    let bind = if o.listen.is_empty() {
        "0.0.0.0".to_string()
    } else {
        o.listen.join(" ")
    };
    set("bind", bind)?;
    set("io-threads", o.settings.threads.to_string())?;
    set("databases", "1".to_string())?;
    if let Some(placement) = o.worker_placement {
        set("worker-placement", placement.to_string())?;
    }
    if let Some(us) = &o.worker_spin_us {
        set("worker-spin-us", us.clone())?;
    }
    if o.tls {
        // memcached's defaults: no client certificates, no session cache;
        // the key may sit in the certificate chain's file.
        set("tls-auth-clients", "no".into())?;
        set("tls-session-caching", "no".into())?;
        for (param, value) in &o.tls_params {
            set(param, value.clone())?;
        }
        if config.get("tls-key-file").is_empty() {
            set("tls-key-file", config.get("tls-cert-file"))?;
        }
        if config.get("tls-cert-file").is_empty() {
            return Err("-Z: set the certificate with -o ssl_chain_cert=FILE".into());
        }
        // All listeners speak TLS, as memcached's do with -Z.
        set("tls-port", o.settings.tcp_port.to_string())?;
        set("port", "0".into())?;
    }
    Ok(config)
}

/// Restarts this program in the background without `-d` (memcached's `-d`): the parent
/// returns once the child is running. Re-executing avoids forking a process that may
/// already have threads.
pub fn daemonize() -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| format!("-d: {e}"))?;
    let all: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<String> = all
        .iter()
        .filter(|a| *a != "-d" && *a != "--daemon")
        .cloned()
        .collect();
    if args.len() == all.len() {
        return Err("-d must be given on its own (not combined with other flags)".into());
    }
    std::process::Command::new(exe)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("-d: could not start the daemon: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<McOptions, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args)? {
            Parsed::Run(o) => Ok(*o),
            Parsed::Print(p) => Err(p),
        }
    }

    #[test]
    fn getopt_style_flags() {
        let o = run(&[
            "-p",
            "7000",
            "-U",
            "0",
            "-l",
            "127.0.0.1",
            "-m128",
            "-vv",
            "-t",
            "2",
            "-I",
            "2m",
            "-M",
            "-c",
            "10",
        ])
        .expect("valid");
        assert_eq!(o.settings.tcp_port, 7000);
        assert_eq!(o.listen, vec!["127.0.0.1"]);
        assert_eq!(o.settings.max_bytes, 128 << 20);
        assert_eq!(o.settings.verbosity, 2);
        assert_eq!(o.settings.threads, 2);
        assert_eq!(o.settings.limits.item_size_max, 2 << 20);
        assert!(o.settings.no_evict);
        assert_eq!(o.settings.max_conns, 10);
        let o = run(&[
            "--port=7001",
            "--memory-limit=64",
            "-o",
            "modern,slab_reassign,hashpower=20",
        ])
        .expect("valid");
        assert_eq!(o.settings.tcp_port, 7001);
        assert_eq!(o.metrics_port, None);
    }

    #[test]
    fn metrics_port_in_both_long_forms() {
        let o = run(&["--metrics-port", "9150", "-p", "7002"]).expect("valid");
        assert_eq!((o.metrics_port, o.settings.tcp_port), (Some(9150), 7002));
        let o = run(&["--metrics-port=9151"]).expect("valid");
        assert_eq!(o.metrics_port, Some(9151));
        assert!(run(&["--metrics-port"]).is_err());
        assert!(run(&["--metrics-port", "http"]).is_err());
    }

    #[test]
    fn tls_flags_map_onto_tls_parameters() {
        let o = run(&[
            "-Z",
            "-p",
            "11300",
            "-o",
            "ssl_chain_cert=/c.pem,ssl_verify_mode=2,ssl_ca_cert=/ca.pem,ssl_min_version=3",
        ])
        .unwrap();
        let config = node_config(&o).unwrap();
        assert_eq!(config.get("tls-port"), "11300");
        assert_eq!(config.get("port"), "0");
        assert_eq!(config.get("tls-cert-file"), "/c.pem");
        // The key may sit in the chain's file, as memcached allows.
        assert_eq!(config.get("tls-key-file"), "/c.pem");
        assert_eq!(config.get("tls-auth-clients"), "yes");
        assert_eq!(config.get("tls-ca-cert-file"), "/ca.pem");
        assert_eq!(config.get("tls-protocols"), "TLSv1.3");
        assert!(node_config(&run(&["-Z"]).unwrap()).is_err());
        assert!(run(&["-o", "ssl_verify_mode=9"]).is_err());
        assert!(run(&["-o", "ssl_keyformat=DER"]).is_err());
        // Without -Z, plain as before.
        let plain = node_config(&run(&["-o", "ssl_chain_cert=/c.pem"]).unwrap()).unwrap();
        assert_eq!(plain.get("tls-port"), "0");
    }

    #[test]
    fn worker_placement_and_spin_are_extended_options() {
        let config = |args: &[&str]| node_config(&run(args).unwrap()).unwrap();
        assert_eq!(config(&[]).get("worker-placement"), "elastic");
        let spread = config(&["-o", "worker_placement=spread,hashpower=20"]);
        assert_eq!(spread.get("worker-placement"), "spread");
        assert!(run(&["-o", "worker_placement=all"]).is_err());
        assert_eq!(config(&[]).get("worker-spin-us"), "0");
        assert_eq!(
            config(&["-o", "worker_spin_us=10"]).get("worker-spin-us"),
            "10"
        );
        assert!(node_config(&run(&["-o", "worker_spin_us=fast"]).unwrap()).is_err());
    }

    #[test]
    fn unsupported_flags_are_refused() {
        assert!(run(&["-U", "11211"]).is_err());
        assert!(run(&["-s", "/tmp/sock"]).is_err());
        assert!(run(&["-o", "nonsense"]).is_err());
        assert!(run(&["-B", "udp"]).is_err());
        assert!(run(&["-p"]).is_err());
        assert!(run(&["stray"]).is_err());
    }
}
