//! The `ferrocache` binary: `ferrocache` (or `ferrocache control`) runs the control
//! plane (the ElastiCache API and the nodes it manages); `ferrocache server [options]`
//! runs a Redis-engine node; `ferrocache server --engine memcached [memcached flags]`
//! runs a memcached-engine node.

mod memcached_cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use engine::Config;

#[global_allocator]
static GLOBAL: engine::memory::Counting<tikv_jemallocator::Jemalloc> =
    engine::memory::Counting(tikv_jemallocator::Jemalloc);

#[derive(Parser)]
#[command(
    name = "ferrocache",
    version,
    about = "Self-hosted in-memory cache service"
)]
struct Cli {
    /// Without a subcommand: `control` with its defaults.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a cache node (Redis engine; `--engine memcached` for a memcached node).
    Server(ServerArgs),
    /// Run the control plane: the ElastiCache API, and the nodes it creates (the default).
    Control(ControlArgs),
}

#[derive(clap::Args, Default)]
struct ControlArgs {
    /// Address of the ElastiCache API (HTTP).
    #[arg(long, default_value = control::DEFAULT_LISTEN)]
    listen: Option<std::net::SocketAddr>,
    /// Where the state store and the nodes' data live
    /// (default: $XDG_DATA_HOME/ferrocache, or ~/.local/share/ferrocache).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Loopback ports the nodes get, as FIRST-LAST.
    #[arg(long, value_name = "FIRST-LAST", value_parser = parse_port_range)]
    node_ports: Option<std::ops::RangeInclusive<u16>>,
    /// Region of resources created by unsigned requests (signed ones name theirs).
    #[arg(long, default_value = "us-east-1")]
    region: Option<String>,
    /// Require SigV4-signed requests by these credentials: a file in the AWS shared
    /// credentials format (`aws_access_key_id`, `aws_secret_access_key` per profile).
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
}

fn parse_port_range(text: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let bad = || format!("'{text}' is not a port range like 40000-40999");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (a, b) = (
        a.parse::<u16>().map_err(|_| bad())?,
        b.parse::<u16>().map_err(|_| bad())?,
    );
    if a == 0 || a > b {
        return Err(bad());
    }
    Ok(a..=b)
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Protocol engine: redis (default) or memcached (then memcached's own flags follow:
    /// `ferrocache server --engine memcached -h` lists them).
    #[arg(long, value_parser = ["redis", "memcached"])]
    engine: Option<String>,
    /// redis.conf-style configuration file (`key value` lines, `include`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// TCP port (0 picks a free one).
    #[arg(long)]
    port: Option<u16>,
    /// Addresses to listen on (space separated).
    #[arg(long)]
    bind: Option<String>,
    /// Worker threads (default: number of cores).
    #[arg(long)]
    threads: Option<u32>,
    /// Number of databases.
    #[arg(long)]
    databases: Option<u32>,
    /// Password of the default user.
    #[arg(long)]
    requirepass: Option<String>,
    /// Maximum number of connected clients.
    #[arg(long)]
    maxclients: Option<u32>,
    /// Also serve Prometheus metrics over HTTP (`GET /metrics`) on this port of the
    /// same addresses (off by default; 0 picks a free port).
    #[arg(long, value_name = "PORT")]
    metrics_port: Option<u16>,
    /// Any other configuration parameter, Redis style: `--name value`.
    #[arg(
        allow_hyphen_values = true,
        trailing_var_arg = true,
        value_name = "--PARAM VALUE"
    )]
    params: Vec<String>,
}

fn load_config(args: &ServerArgs) -> Result<Config, String> {
    let mut config = Config::new();
    if let Some(path) = &args.config {
        config.load_file(path).map_err(|e| e.to_string())?;
    }
    let set = |name: &str, value: String| {
        config
            .set_startup(name, value.as_bytes())
            .map_err(|e| format!("invalid value for --{name} '{value}': {e}"))
    };
    if let Some(v) = args.port {
        set("port", v.to_string())?;
    }
    if let Some(v) = &args.bind {
        set("bind", v.clone())?;
    }
    if let Some(v) = args.threads {
        set("io-threads", v.to_string())?;
    }
    if let Some(v) = args.databases {
        set("databases", v.to_string())?;
    }
    if let Some(v) = &args.requirepass {
        set("requirepass", v.clone())?;
    }
    if let Some(v) = args.maxclients {
        set("maxclients", v.to_string())?;
    }
    let mut rest = args.params.iter().peekable();
    while let Some(flag) = rest.next() {
        let Some(name) = flag.strip_prefix("--") else {
            return Err(format!(
                "unexpected argument '{flag}': options look like --name value"
            ));
        };
        // Like redis-server, a value runs until the next --option (`--save 900 1`).
        let mut words: Vec<&str> = Vec::new();
        while let Some(w) = rest.next_if(|w| !w.starts_with("--")) {
            words.push(w);
        }
        let mut value = words.join(" ");
        // The named options may also follow a Redis-style parameter
        // (`--save '' --threads 1`); `--threads` is io-threads there.
        let name = if name == "threads" {
            "io-threads"
        } else {
            name
        };
        if ["engine", "config", "metrics-port"].contains(&name) {
            return Err(format!(
                "--{name} must come before the Redis-style parameters (here after {})",
                args.params[0]
            ));
        }
        let param =
            engine::config::find_param(name).ok_or_else(|| format!("unknown option --{name}"))?;
        if param.name == "save" {
            value = config.save_directive(&value);
        }
        set(name, value)?;
    }
    Ok(config)
}

fn main() -> ExitCode {
    engine::memory::enable();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr a closed pipe) is
        // dropped: reporting it would print to stderr again, and Rust's
        // eprintln! panics there, killing whichever thread logged.
        .log_internal_errors(false)
        .init();
    if let Some(mc_args) = memcached_args() {
        return run_memcached(&mc_args);
    }
    let cli = Cli::parse();
    match cli.command {
        None => run_control(ControlArgs::default()),
        Some(Command::Control(args)) => run_control(args),
        Some(Command::Server(args)) => {
            let config = match load_config(&args) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            match server::start(config) {
                Ok(mut node) => {
                    if let Err(e) = serve_metrics(&mut node, args.metrics_port) {
                        eprintln!("ferrocache: {e}");
                        return ExitCode::from(1);
                    }
                    for a in &node.addrs {
                        tracing::info!(
                            "Ferrocache {} ready to accept connections on {a}",
                            env!("CARGO_PKG_VERSION")
                        );
                    }
                    for a in &node.tls_addrs {
                        tracing::info!(
                            "Ferrocache {} ready to accept TLS connections on {a}",
                            env!("CARGO_PKG_VERSION")
                        );
                    }
                    node.wait();
                    tracing::info!("Ferrocache is now ready to exit, bye bye...");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ferrocache: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// The default data directory of the control plane.
fn default_data_dir() -> PathBuf {
    match (std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
        (Some(d), _) if !d.is_empty() => PathBuf::from(d).join("ferrocache"),
        (_, Some(h)) if !h.is_empty() => PathBuf::from(h).join(".local/share/ferrocache"),
        _ => PathBuf::from("ferrocache-data"),
    }
}

fn run_control(args: ControlArgs) -> ExitCode {
    let binary = match std::env::current_exe() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("ferrocache: cannot find this binary to run nodes with: {e}");
            return ExitCode::from(1);
        }
    };
    let listen = args.listen.unwrap_or_else(|| {
        control::DEFAULT_LISTEN
            .parse()
            .expect("a valid default address")
    });
    let credentials = match &args.credentials {
        None => Vec::new(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| control::read_credentials(&t))
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ferrocache: credentials file {}: {e}", path.display());
                return ExitCode::from(1);
            }
        },
    };
    let config = control::ControlConfig {
        credentials,
        listen,
        data_dir: args.data_dir.unwrap_or_else(default_data_dir),
        node_ports: args.node_ports.unwrap_or(control::DEFAULT_NODE_PORTS),
        region: args.region.unwrap_or_else(|| "us-east-1".into()),
        binary,
    };
    let data_dir = config.data_dir.clone();
    let running = match control::start(config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferrocache: {e}");
            return ExitCode::from(1);
        }
    };
    let url = format!("http://{}", running.addr);
    println!("Ferrocache control plane: the ElastiCache API on {url}");
    println!("State and node data in {}", data_dir.display());
    println!(
        "Clusters with encryption in transit: clients trust {}",
        data_dir.join("tls").join("ca.pem").display()
    );
    println!("Try:");
    println!(
        "  aws elasticache create-cache-cluster --endpoint-url {url} --region us-east-1 \\\n    \
         --no-sign-request --cache-cluster-id demo --engine redis --cache-node-type cache.t3.micro --num-cache-nodes 1"
    );
    running.wait_for_signal();
    println!("Ferrocache control plane stopped; its nodes keep running and are adopted at the next start.");
    ExitCode::SUCCESS
}

/// Starts the node's metrics endpoint when `--metrics-port` was given, and logs
/// where it listens (before the "ready" lines, so a supervisor reading the log
/// learns the port first). A failure shuts the node down again.
fn serve_metrics(node: &mut server::Node, port: Option<u16>) -> Result<(), server::StartError> {
    let Some(port) = port else { return Ok(()) };
    match node.serve_metrics(port) {
        Ok(addrs) => {
            for a in addrs {
                tracing::info!("metrics endpoint on http://{a}/metrics");
            }
            Ok(())
        }
        Err(e) => {
            node.server.request_shutdown();
            Err(e)
        }
    }
}

/// The arguments after `server --engine memcached` (the engine may be named anywhere
/// among the options), or `None` for a Redis-engine invocation.
fn memcached_args() -> Option<Vec<String>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("server") {
        return None;
    }
    let rest = &args[1..];
    for (i, a) in rest.iter().enumerate() {
        let skip = if a == "--engine" && rest.get(i + 1).map(String::as_str) == Some("memcached") {
            2
        } else if a == "--engine=memcached" {
            1
        } else {
            continue;
        };
        let mut out = rest[..i].to_vec();
        out.extend_from_slice(&rest[i + skip..]);
        return Some(out);
    }
    None
}

fn run_memcached(args: &[String]) -> ExitCode {
    let options = match memcached_cli::parse(args) {
        Ok(memcached_cli::Parsed::Run(o)) => o,
        Ok(memcached_cli::Parsed::Print(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ferrocache: {e}");
            return ExitCode::from(64);
        }
    };
    if options.daemonize {
        return match memcached_cli::daemonize() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ferrocache: {e}");
                ExitCode::from(1)
            }
        };
    }
    let config = match memcached_cli::node_config(&options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferrocache: {e}");
            return ExitCode::from(64);
        }
    };
    if let Some(path) = &options.pid_file {
        if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
            eprintln!("ferrocache: could not write pid file {path}: {e}");
            return ExitCode::from(1);
        }
    }
    if options.settings.verbosity > 0 {
        tracing::info!("memcached engine settings: {:?}", options.settings);
    }
    let pid_file = options.pid_file.clone();
    let code = match server::start_memcached(config, options.settings) {
        Ok(mut node) => {
            if let Err(e) = serve_metrics(&mut node, options.metrics_port) {
                eprintln!("ferrocache: {e}");
                return ExitCode::from(1);
            }
            for a in node.addrs.iter().chain(&node.tls_addrs) {
                tracing::info!(
                    "Ferrocache {} (memcached engine) ready to accept connections on {a}",
                    env!("CARGO_PKG_VERSION")
                );
            }
            node.wait();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferrocache: {e}");
            ExitCode::from(1)
        }
    };
    if let Some(path) = pid_file {
        let _ = std::fs::remove_file(path);
    }
    code
}
