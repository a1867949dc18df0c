//! Ferrocache's control plane: the ElastiCache API (AWS Query protocol:
//! form-encoded requests, XML answers) over HTTP, a durable state store
//! (redb, in the data directory), and an embedded agent that runs the
//! cache nodes as `ferrocache server` processes on loopback ports.
//!
//! A request is parsed (`query`), handled by its operation's module
//! (`clusters`, `groups`, `events`), which records the desired state in the
//! store and answers with XML (`xml`); the reconciler (`reconcile`,
//! `failover`) then makes the node processes (`agent`) and the replication
//! group endpoints (`proxy`) follow the store.

pub mod agent;
mod clusters;
mod engines;
pub mod error;
mod events;
mod failover;
mod groups;
mod metrics;
pub mod model;
mod params;
mod proxy;
pub mod query;
mod reconcile;
mod security;
pub mod sigv4;
mod snapshots;
pub mod store;
mod subnets;
mod tags;
mod tls;
mod users;
pub mod xml;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::{Condvar, Mutex};

use error::ApiError;
use query::Params;
use xml::Xml;

/// The documented default address of the API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9736";
/// The documented default port range of the nodes.
pub const DEFAULT_NODE_PORTS: RangeInclusive<u16> = 40000..=40999;
/// Requests larger than this are refused (the API's own inputs are small).
const MAX_BODY: usize = 1 << 20;
pub(crate) const ACCOUNT: &str = "000000000000";

/// How to run the control plane.
pub struct ControlConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub node_ports: RangeInclusive<u16>,
    /// Region for unsigned requests (signed ones name theirs).
    pub region: String,
    /// The `ferrocache` binary that nodes run.
    pub binary: PathBuf,
    /// Access key id → secret access key. When there are any, every
    /// request must carry a valid SigV4 signature by one of them.
    pub credentials: Vec<(String, String)>,
}

/// Reads credentials in the AWS shared credentials file's format
/// (`[profile]` sections with `aws_access_key_id` and
/// `aws_secret_access_key`); every complete section is one credential.
pub fn read_credentials(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let (mut id, mut secret) = (None, None);
    let mut flush = |id: &mut Option<String>, secret: &mut Option<String>| {
        if let (Some(i), Some(s)) = (id.take(), secret.take()) {
            out.push((i, s));
        }
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            flush(&mut id, &mut secret);
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {}: expected `name = value`", n + 1));
        };
        match k.trim() {
            "aws_access_key_id" => id = Some(v.trim().to_string()),
            "aws_secret_access_key" => secret = Some(v.trim().to_string()),
            _ => {}
        }
    }
    flush(&mut id, &mut secret);
    if out.is_empty() {
        return Err("no aws_access_key_id / aws_secret_access_key pair found".into());
    }
    Ok(out)
}

/// The control plane's shared state.
pub struct Control {
    store: store::Store,
    agent: agent::Agent,
    endpoints: proxy::Endpoints,
    data_dir: PathBuf,
    region: String,
    credentials: Vec<(String, String)>,
    /// Serializes read-modify-write of records (API and reconciler).
    lock: Mutex<()>,
    work: (Mutex<bool>, Condvar),
    stopping: AtomicBool,
}

/// Who asks: the region and account resources are created in.
pub struct Caller {
    pub region: String,
    pub account: String,
}

impl Control {
    fn wake_reconciler(&self) {
        *self.work.0.lock() = true;
        self.work.1.notify_all();
    }

    fn wait_for_work(&self, period: Duration) {
        let mut pending = self.work.0.lock();
        if !*pending {
            self.work.1.wait_for(&mut pending, period);
        }
        *pending = false;
    }

    /// Records an event about a resource (a failure to is logged: the
    /// change it describes has happened).
    fn record_event(&self, source_id: &str, source_type: &str, message: String) {
        let event = model::Event {
            source_id: source_id.to_string(),
            source_type: source_type.to_string(),
            message,
            date_ms: now_ms(),
        };
        if let Err(e) = self.store.add_event(&event) {
            tracing::warn!("control: cannot record an event: {}", e.message);
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Who sent the request. With credentials configured, its SigV4
    /// signature must verify; without, any request is accepted and the
    /// region comes from its credential scope
    /// (`Credential=AKID/20261128/us-west-2/elasticache/aws4_request`).
    fn authenticate(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Caller, ApiError> {
        let region = if self.credentials.is_empty() {
            headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .and_then(|(_, a)| a.split("Credential=").nth(1))
                .and_then(|c| c.split('/').nth(2))
                .map(str::to_string)
        } else {
            let signed = sigv4::Signed {
                method,
                path,
                query,
                headers,
                body,
            };
            let secret_of = |id: &str| {
                self.credentials
                    .iter()
                    .find(|(k, _)| k == id)
                    .map(|(_, s)| s.clone())
            };
            Some(sigv4::verify(&signed, secret_of, (now_ms() / 1000) as i64)?)
        };
        let region = region
            .filter(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or_else(|| self.region.clone());
        Ok(Caller {
            region,
            account: ACCOUNT.to_string(),
        })
    }
}

/// A running control plane.
pub struct Running {
    pub addr: SocketAddr,
    pub control: Arc<Control>,
    reconciler: Option<std::thread::JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Running {
    /// Serves until SIGINT or SIGTERM, then stops (see [`Running::stop`]).
    pub fn wait_for_signal(mut self) {
        if let Some(rt) = &self.runtime {
            rt.block_on(async {
                let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                else {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            });
        }
        self.stop_in_place();
    }

    /// Stops the API and the reconciler; the nodes keep running (a
    /// control plane started later adopts them).
    pub fn stop(mut self) {
        self.stop_in_place();
    }

    fn stop_in_place(&mut self) {
        self.control.stopping.store(true, Ordering::Release);
        self.control.wake_reconciler();
        if let Some(t) = self.reconciler.take() {
            let _ = t.join();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// Opens the store, binds the API and starts serving and reconciling.
pub fn start(config: ControlConfig) -> Result<Running, String> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        format!(
            "cannot create the data directory {}: {e}",
            config.data_dir.display()
        )
    })?;
    let store = store::Store::open(&config.data_dir.join("control.redb"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("control-api")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let control = Arc::new(Control {
        store,
        agent: agent::Agent::new(
            config.binary,
            config.node_ports,
            admin_password(&config.data_dir)?,
            tls::TlsFiles::ensure(&config.data_dir)?,
        ),
        endpoints: proxy::Endpoints::new(runtime.handle().clone()),
        data_dir: config.data_dir,
        region: config.region,
        credentials: config.credentials,
        lock: Mutex::new(()),
        work: (Mutex::new(false), Condvar::new()),
        stopping: AtomicBool::new(false),
    });
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let api = control.clone();
    runtime.spawn(async move {
        match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => accept_loop(l, api).await,
            Err(e) => tracing::error!("control: cannot serve the API: {e}"),
        }
    });
    let rc = control.clone();
    let reconciler = std::thread::Builder::new()
        .name("reconciler".into())
        .spawn(move || reconcile::run(&rc))
        .map_err(|e| e.to_string())?;
    Ok(Running {
        addr,
        control,
        reconciler: Some(reconciler),
        runtime: Some(runtime),
    })
}

async fn accept_loop(listener: tokio::net::TcpListener, ctl: Arc<Control>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("control: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ctl = ctl.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let ctl = ctl.clone();
                async move { Ok::<_, Infallible>(serve(ctl, req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!("control: connection ended: {e}");
            }
        });
    }
}

/// One HTTP request: its parameters (URL query and form body), handled on
/// a blocking thread (the store writes to disk).
async fn serve(ctl: Arc<Control>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    if method == "GET" && path == "/metrics" {
        let text = tokio::task::spawn_blocking(move || metrics::render(&ctl))
            .await
            .unwrap_or_default();
        let mut r = Response::new(Full::new(Bytes::from(text)));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        return r;
    }
    let request_id = request_id();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let e = ApiError::invalid_value(format!(
                "The request body is too large or was cut off (at most {MAX_BODY} bytes)."
            ));
            return reply(e.status, xml::error_response(&e, &request_id));
        }
    };
    let answer = tokio::task::spawn_blocking(move || {
        let caller = match ctl.authenticate(&method, &path, &query, &headers, &body) {
            Ok(c) => c,
            Err(e) => return (e.status, xml::error_response(&e, &request_id)),
        };
        let params = Params::parse(Some(query.as_str()), &body);
        handle(&ctl, &params, &caller, &request_id)
    })
    .await;
    match answer {
        Ok((status, text)) => reply(status, text),
        Err(e) => {
            let e = ApiError::internal(e);
            reply(e.status, xml::error_response(&e, "internal"))
        }
    }
}

fn reply(status: u16, text: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    r
}

/// Operations of the model this control plane does not implement yet:
/// named as such rather than as unknown actions.
const NOT_YET: &[&str] = &[
    "CreateGlobalReplicationGroup",
    "DecreaseNodeGroupsInGlobalReplicationGroup",
    "DeleteGlobalReplicationGroup",
    "DescribeGlobalReplicationGroups",
    "DisassociateGlobalReplicationGroup",
    "FailoverGlobalReplicationGroup",
    "IncreaseNodeGroupsInGlobalReplicationGroup",
    "ModifyGlobalReplicationGroup",
    "RebalanceSlotsInGlobalReplicationGroup",
    "CompleteMigration",
    "StartMigration",
    "TestMigration",
    "ModifyReplicationGroupShardConfiguration",
    "DescribeReservedCacheNodes",
    "DescribeReservedCacheNodesOfferings",
    "PurchaseReservedCacheNodesOffering",
    "AuthorizeCacheSecurityGroupIngress",
    "CreateCacheSecurityGroup",
    "DeleteCacheSecurityGroup",
    "DescribeCacheSecurityGroups",
    "RevokeCacheSecurityGroupIngress",
    "CopyServerlessCacheSnapshot",
    "CreateServerlessCache",
    "CreateServerlessCacheSnapshot",
    "DeleteServerlessCache",
    "DeleteServerlessCacheSnapshot",
    "DescribeServerlessCacheSnapshots",
    "DescribeServerlessCaches",
    "ExportServerlessCacheSnapshot",
    "ModifyServerlessCache",
    "PrepareMigration",
    "StopMigration",
    "BatchApplyUpdateAction",
    "BatchStopUpdateAction",
    "DescribeServiceUpdates",
    "DescribeUpdateActions",
];

/// Runs one API action: (HTTP status, XML document).
pub fn handle(ctl: &Control, p: &Params, caller: &Caller, request_id: &str) -> (u16, String) {
    let action = p.get("Action").unwrap_or("");
    let result: Result<Option<Xml>, ApiError> = match action {
        "" => Err(ApiError::new(
            "MissingAction",
            400,
            "The request must contain the parameter Action.",
        )),
        _ if p.get("Version").is_some_and(|v| v != "2015-02-02") => Err(ApiError::invalid_value(
            "Invalid value for Version: this API is version 2015-02-02.",
        )),
        "CreateCacheCluster" => clusters::create(ctl, p, caller),
        "DescribeCacheClusters" => clusters::describe(ctl, p),
        "ModifyCacheCluster" => clusters::modify(ctl, p),
        "RebootCacheCluster" => clusters::reboot(ctl, p),
        "DeleteCacheCluster" => clusters::delete(ctl, p),
        "DescribeEvents" => events::describe(ctl, p),
        "CreateReplicationGroup" => groups::create(ctl, p, caller),
        "DescribeReplicationGroups" => groups::describe(ctl, p),
        "ModifyReplicationGroup" => groups::modify(ctl, p),
        "IncreaseReplicaCount" => groups::change_replicas(ctl, p, caller, true),
        "DecreaseReplicaCount" => groups::change_replicas(ctl, p, caller, false),
        "TestFailover" => groups::test_failover(ctl, p),
        "DeleteReplicationGroup" => groups::delete(ctl, p),
        "CreateSnapshot" => snapshots::create(ctl, p),
        "CopySnapshot" => snapshots::copy(ctl, p),
        "DeleteSnapshot" => snapshots::delete(ctl, p),
        "DescribeSnapshots" => snapshots::describe(ctl, p),
        "DescribeCacheEngineVersions" => engines::describe_versions(ctl, p),
        "ListAllowedNodeTypeModifications" => engines::allowed_node_types(ctl, p),
        "CreateCacheParameterGroup" => params::create(ctl, p),
        "DescribeCacheParameterGroups" => params::describe_groups(ctl, p),
        "ModifyCacheParameterGroup" => params::modify(ctl, p),
        "ResetCacheParameterGroup" => params::reset(ctl, p),
        "DeleteCacheParameterGroup" => params::delete(ctl, p),
        "DescribeCacheParameters" => params::describe_parameters(ctl, p),
        "DescribeEngineDefaultParameters" => params::describe_engine_defaults(ctl, p),
        "CreateCacheSubnetGroup" => subnets::create(ctl, p),
        "DescribeCacheSubnetGroups" => subnets::describe(ctl, p),
        "ModifyCacheSubnetGroup" => subnets::modify(ctl, p),
        "DeleteCacheSubnetGroup" => subnets::delete(ctl, p),
        "AddTagsToResource" => tags::add(ctl, p),
        "ListTagsForResource" => tags::list(ctl, p),
        "RemoveTagsFromResource" => tags::remove(ctl, p),
        "CreateUser" => users::create_user(ctl, p),
        "DescribeUsers" => users::describe_users(ctl, p),
        "ModifyUser" => users::modify_user(ctl, p),
        "DeleteUser" => users::delete_user(ctl, p),
        "CreateUserGroup" => users::create_user_group(ctl, p),
        "DescribeUserGroups" => users::describe_user_groups(ctl, p),
        "ModifyUserGroup" => users::modify_user_group(ctl, p),
        "DeleteUserGroup" => users::delete_user_group(ctl, p),
        a if NOT_YET.contains(&a) => Err(ApiError::new(
            "UnsupportedOperation",
            400,
            format!("The action {a} is not supported by this Ferrocache control plane yet."),
        )),
        a => Err(ApiError::new(
            "InvalidAction",
            400,
            format!("The action {a} is not valid for this web service."),
        )),
    };
    match result {
        Ok(x) => (200, xml::response(action, request_id, x)),
        Err(e) => (e.status, xml::error_response(&e, request_id)),
    }
}

/// The password of the control plane's user on its Redis nodes: made once,
/// kept (owner-only) in the data directory so restarts keep access.
fn admin_password(data_dir: &std::path::Path) -> Result<String, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("control.secret");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if !text.trim().is_empty() {
            return Ok(text.trim().to_string());
        }
    }
    let bytes: [u8; 24] = rand::random();
    let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(password.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(password)
}

/// A request id in the managed service's form (a random UUID).
fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[16..20],
        &h[20..]
    )
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_files() {
        let text = "# ops\n[default]\naws_access_key_id = AKID1\naws_secret_access_key=s/1+x\n\n\
                    [other]\naws_access_key_id=AKID2\nregion = eu-west-1\n[third]\n\
                    aws_access_key_id=AKID3\naws_secret_access_key=s3\n";
        assert_eq!(
            read_credentials(text).unwrap(),
            [
                ("AKID1".to_string(), "s/1+x".to_string()),
                ("AKID3".to_string(), "s3".to_string())
            ]
        );
        assert!(read_credentials("[x]\nregion=a\n").is_err());
        assert!(read_credentials("garbage line\n").is_err());
    }

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert_ne!(id, request_id());
    }
}
