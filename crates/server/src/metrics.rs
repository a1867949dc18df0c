//! The HTTP side of `--metrics-port`: `GET /metrics` answers the node's
//! Prometheus page (rendered by `engine::metrics`), every other path 404.
//!
//! It runs on a thread of its own with a single-threaded runtime, so a scrape
//! (or a slow or hostile HTTP client) never runs on a command worker. HTTP is
//! hyper's (HTTP/1.1 with keep-alive, as Prometheus scrapes), with a header
//! read timeout and a cap on open connections, since the port may be reachable
//! by more than the scraper.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use engine::memcached::Memcached;
use engine::metrics::{render_memcached, render_redis, CpuSampler, CONTENT_TYPE};
use engine::Server;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::StartError;

/// The only path served.
const PATH: &str = "/metrics";
/// Open HTTP connections at most; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 32;
/// A client must send its request headers within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Whose state the page shows.
pub(crate) enum Source {
    Redis(Arc<Server>),
    Memcached(Arc<Memcached>),
}

/// What the request handler needs.
struct Page {
    source: Source,
    cpu: CpuSampler,
}

impl Page {
    fn render(&self) -> String {
        match &self.source {
            Source::Redis(s) => render_redis(s, &self.cpu),
            Source::Memcached(mc) => render_memcached(mc, &self.cpu),
        }
    }
}

/// Binds `port` on every address of `binds` (synchronously, so a busy port
/// fails the start) and serves there on a new thread until the node shuts
/// down. Returns the bound addresses and the thread.
pub(crate) fn start(
    source: Source,
    server: Arc<Server>,
    binds: &[String],
    port: u16,
) -> Result<(Vec<SocketAddr>, std::thread::JoinHandle<()>), StartError> {
    let bind = |binds: &[String], port| {
        crate::bind_all(binds, port, 128).map_err(|e| StartError(format!("metrics port: {e}")))
    };
    // Port 0: the first address picks a free port and the others take the
    // same one, so the endpoint has one port whatever the address.
    let listeners = match (port, binds.split_first()) {
        (0, Some((first, rest))) if !rest.is_empty() => {
            let mut listeners = bind(std::slice::from_ref(first), 0)?;
            let chosen = listeners
                .first()
                .and_then(|l| l.local_addr().ok())
                .map_or(0, |a| a.port());
            listeners.extend(bind(rest, chosen)?);
            listeners
        }
        _ => bind(binds, port)?,
    };
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StartError(format!("runtime: {e}")))?;
    let page = Arc::new(Page {
        source,
        cpu: CpuSampler::new(server.started, 0.0),
    });
    let thread = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || rt.block_on(serve(server, page, listeners)))
        .map_err(|e| StartError(format!("thread: {e}")))?;
    Ok((addrs, thread))
}

async fn serve(server: Arc<Server>, page: Arc<Page>, listeners: Vec<std::net::TcpListener>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    for l in listeners {
        let Ok(listener) = TcpListener::from_std(l) else {
            continue;
        };
        tokio::spawn(accept_loop(listener, page.clone(), slots.clone()));
    }
    while !server.shutdown.load(Ordering::Acquire) {
        let notified = server.shutdown_notify.notified();
        if server.shutdown.load(Ordering::Acquire) {
            break;
        }
        notified.await;
    }
    // Returning drops the runtime, and with it the accept loops and any
    // scrape still in flight.
}

async fn accept_loop(listener: TcpListener, page: Arc<Page>, slots: Arc<tokio::sync::Semaphore>) {
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let page = page.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let page = page.clone();
                async move { Ok::<_, Infallible>(respond(&page, &req)) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!("metrics: connection ended: {e}");
            }
            drop(slot);
        });
    }
}

/// The reply to one request.
fn respond(page: &Page, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() != PATH {
        return plain(StatusCode::NOT_FOUND, "404 page not found\n");
    }
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
    };
    let text = page.render();
    let len = text.len();
    let mut r = Response::new(Full::new(if head {
        Bytes::new()
    } else {
        Bytes::from(text)
    }));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE),
    );
    if head {
        r.headers_mut()
            .insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    r
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
