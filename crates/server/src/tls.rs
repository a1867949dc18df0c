//! TLS for both engines, with rustls: the server's TLS settings built from
//! the `tls-*` parameters (a memcached node's `-Z -o ssl_*` flags map onto
//! the same parameters), and [`Transport`], the plain or encrypted stream a
//! connection reads and writes through in its worker's event loop.
//!
//! Settings are rebuilt whenever a `tls-*` parameter changes (CONFIG SET
//! reloads certificates, as Redis does); connections accepted afterwards
//! get the new ones, established connections keep theirs.

use std::io::{Read, Write};
use std::sync::Arc;

use bytes::BytesMut;
use engine::Config;
use parking_lot::{Mutex, RwLock};
use rustls::crypto::CryptoProvider;
use rustls::server::{ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{CipherSuite, RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Output buffer capacity kept between replies; more is given back.
const KEEP_OUT: usize = 64 * 1024;

/// The TLS settings new connections get: None until TLS is configured.
#[derive(Default)]
pub(crate) struct TlsContext {
    config: RwLock<Option<Arc<ServerConfig>>>,
}

impl TlsContext {
    /// Rebuilds the settings from the `tls-*` parameters; on error the
    /// current settings stay.
    pub(crate) fn reload(&self, config: &Config) -> Result<(), String> {
        let built = server_config(config)?;
        *self.config.write() = Some(built);
        Ok(())
    }

    /// Starts the server side of a TLS session for an accepted socket.
    pub(crate) fn accept(&self, sock: mio::net::TcpStream) -> std::io::Result<Transport> {
        let config = self
            .config
            .read()
            .clone()
            .ok_or_else(|| std::io::Error::other("TLS is not configured"))?;
        let tls = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
        Ok(Transport::Tls(Box::new(TlsStream {
            sock,
            tls,
            eof: false,
        })))
    }
}

/// Whether a parameter change concerns the TLS settings.
pub(crate) fn is_tls_param(name: &str) -> bool {
    name.starts_with("tls-") && name != "tls-port"
}

/// OpenSSL's names of the cipher suites rustls offers (Redis's
/// `tls-ciphers` and `tls-ciphersuites` take OpenSSL's names).
const OPENSSL_NAMES: &[(CipherSuite, &str)] = &[
    (
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_128_GCM_SHA256",
    ),
    (
        CipherSuite::TLS13_AES_256_GCM_SHA384,
        "TLS_AES_256_GCM_SHA384",
    ),
    (
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-RSA-AES256-GCM-SHA384",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
];

/// A suite named as OpenSSL or IANA names it.
fn suite_named(name: &str, suites: &[SupportedCipherSuite]) -> Option<SupportedCipherSuite> {
    suites.iter().copied().find(|s| {
        let id = s.suite();
        OPENSSL_NAMES
            .iter()
            .any(|(cs, n)| *cs == id && n.eq_ignore_ascii_case(name))
            || id
                .as_str()
                .is_some_and(|iana| iana.eq_ignore_ascii_case(name))
    })
}

/// Picks the suites of one protocol version from an OpenSSL-style list
/// (`a:b:c`; `DEFAULT`, `ALL` and `HIGH` mean every suite; `!x` and `-x`
/// remove one, and are ignored for suites rustls does not have at all).
fn pick_suites(
    param: &str,
    list: &str,
    suites: &[SupportedCipherSuite],
) -> Result<Vec<SupportedCipherSuite>, String> {
    if list.trim().is_empty() {
        return Ok(suites.to_vec());
    }
    let mut picked: Vec<SupportedCipherSuite> = Vec::new();
    for token in list.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        if let Some(removed) = token.strip_prefix(['!', '-']) {
            if let Some(s) = suite_named(removed, suites) {
                picked.retain(|p| p.suite() != s.suite());
            }
            continue;
        }
        if token.starts_with('@') {
            continue;
        }
        if ["DEFAULT", "ALL", "HIGH"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(token))
        {
            for s in suites {
                if !picked.iter().any(|p| p.suite() == s.suite()) {
                    picked.push(*s);
                }
            }
            continue;
        }
        let known: Vec<&str> = suites
            .iter()
            .filter_map(|s| OPENSSL_NAMES.iter().find(|(cs, _)| *cs == s.suite()))
            .map(|(_, n)| *n)
            .collect();
        let s = suite_named(token, suites).ok_or_else(|| {
            format!(
                "{param}: cipher '{token}' is not available (available: {})",
                known.join(":")
            )
        })?;
        if !picked.iter().any(|p| p.suite() == s.suite()) {
            picked.push(s);
        }
    }
    if picked.is_empty() {
        return Err(format!("{param}: no cipher left in '{list}'"));
    }
    Ok(picked)
}

/// `tls-protocols`: "TLSv1.2 TLSv1.3" (empty: both). rustls has neither
/// TLSv1 nor TLSv1.1; they are skipped with a warning.
fn protocol_versions(list: &str) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    if list.trim().is_empty() {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    }
    let mut out = Vec::new();
    for p in list.split_whitespace() {
        match p.to_ascii_lowercase().as_str() {
            "tlsv1.2" => out.push(&rustls::version::TLS12),
            "tlsv1.3" => out.push(&rustls::version::TLS13),
            "tlsv1" | "tlsv1.1" => {
                tracing::warn!("tls-protocols: {p} is not supported (only TLSv1.2 and TLSv1.3)")
            }
            _ => return Err(format!("Invalid tls-protocols specified: '{p}'")),
        }
    }
    if out.is_empty() {
        return Err(format!(
            "tls-protocols '{list}' names no supported protocol (TLSv1.2 and TLSv1.3 are)"
        ));
    }
    Ok(out)
}

/// The crypto provider with the suites `tls-ciphers` (TLS 1.2) and
/// `tls-ciphersuites` (TLS 1.3) allow.
fn provider(config: &Config) -> Result<Arc<CryptoProvider>, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    let (tls13, tls12): (Vec<_>, Vec<_>) = provider
        .cipher_suites
        .iter()
        .copied()
        .partition(|s| s.version() == &rustls::version::TLS13);
    let mut suites = pick_suites("tls-ciphersuites", &config.get("tls-ciphersuites"), &tls13)?;
    suites.extend(pick_suites(
        "tls-ciphers",
        &config.get("tls-ciphers"),
        &tls12,
    )?);
    provider.cipher_suites = suites;
    Ok(Arc::new(provider))
}

fn load_certs(path: &str, param: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect())
        .map_err(|e| format!("{param}: can't read certificates from {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{param}: no PEM certificate in {path}"));
    }
    Ok(certs)
}

fn load_key(path: &str, pass: &str, param: &str) -> Result<PrivateKeyDer<'static>, String> {
    if !pass.is_empty() {
        return Err(format!(
            "{param}: encrypted private keys are not supported; decrypt it once \
             (openssl pkey -in {path} -out plain.key) and point {param} at the result"
        ));
    }
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("{param}: can't read a PEM private key from {path}: {e}"))
}

/// The CA certificates of `tls-ca-cert-file` and every file of
/// `tls-ca-cert-dir` (files that hold no certificate are skipped).
fn load_roots(config: &Config) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let file = config.get("tls-ca-cert-file");
    if !file.is_empty() {
        for c in load_certs(&file, "tls-ca-cert-file")? {
            roots
                .add(c)
                .map_err(|e| format!("tls-ca-cert-file: {file}: {e}"))?;
        }
    }
    let dir = config.get("tls-ca-cert-dir");
    if !dir.is_empty() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("tls-ca-cert-dir: {dir}: {e}"))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(iter) = CertificateDer::pem_file_iter(&path) else {
                continue;
            };
            for c in iter.flatten() {
                let _ = roots.add(c);
            }
        }
    }
    Ok(roots)
}

/// Builds the server's TLS settings from the `tls-*` parameters.
pub(crate) fn server_config(config: &Config) -> Result<Arc<ServerConfig>, String> {
    let cert_file = config.get("tls-cert-file");
    let key_file = config.get("tls-key-file");
    if cert_file.is_empty() || key_file.is_empty() {
        return Err("TLS needs tls-cert-file and tls-key-file (PEM files)".into());
    }
    let certs = load_certs(&cert_file, "tls-cert-file")?;
    let key = load_key(&key_file, &config.get("tls-key-file-pass"), "tls-key-file")?;
    let provider = provider(config)?;
    let versions = protocol_versions(&config.get("tls-protocols"))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls-protocols / tls-ciphers: {e}"))?;
    let auth = config.get("tls-auth-clients");
    let builder = if auth == "no" {
        builder.with_no_client_auth()
    } else {
        let roots = load_roots(config)?;
        if roots.is_empty() {
            return Err(format!(
                "tls-auth-clients is '{auth}': set tls-ca-cert-file or tls-ca-cert-dir to the \
                 CA that signs client certificates (or set tls-auth-clients no)"
            ));
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if auth == "optional" {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        builder.with_client_cert_verifier(
            verifier
                .build()
                .map_err(|e| format!("tls-ca-cert-file: {e}"))?,
        )
    };
    let mut server = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls-cert-file / tls-key-file: {e}"))?;
    server.ignore_client_order = config.get_bool("tls-prefer-server-ciphers");
    let cache_size = config.get_i64("tls-session-cache-size").max(0) as usize;
    if config.get_bool("tls-session-caching") && cache_size > 0 {
        server.session_storage = ServerSessionMemoryCache::new(cache_size);
    } else {
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        server.send_tls13_tickets = 0;
    }
    Ok(Arc::new(server))
}

/// The stream of a client connection: plain TCP or TLS over TCP. Both read
/// and write without blocking (the socket is in its worker's epoll loop).
pub(crate) enum Transport {
    Plain(mio::net::TcpStream),
    Tls(Box<TlsStream>),
}

pub(crate) struct TlsStream {
    sock: mio::net::TcpStream,
    tls: rustls::ServerConnection,
    /// The socket reached end of input.
    eof: bool,
}

impl Transport {
    /// The transport of an accepted socket: TLS when it came through a TLS
    /// port (`tls`). None when the TLS session cannot start (logged).
    pub(crate) fn for_accepted(
        stream: std::net::TcpStream,
        tls: Option<&TlsContext>,
    ) -> Option<Transport> {
        let stream = mio::net::TcpStream::from_std(stream);
        match tls {
            None => Some(Transport::Plain(stream)),
            Some(tls) => tls
                .accept(stream)
                .map_err(|e| tracing::warn!("TLS connection refused: {e}"))
                .ok(),
        }
    }

    /// The socket, for the event loop's registration.
    pub(crate) fn socket(&mut self) -> &mut mio::net::TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.sock,
        }
    }

    /// Reads what has arrived into the spare capacity of `buf`. As with a
    /// plain socket, fewer bytes than the room given means nothing more is
    /// waiting (the socket said it would block), Ok(0) the end of input.
    pub(crate) fn read_some(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        match self {
            Transport::Plain(s) => read_plain(s, buf),
            Transport::Tls(t) => t.read_some(buf),
        }
    }

    /// Writes `out[*written..]`, at most [`MAX_WRITE_PER_TURN`] bytes of it.
    /// Ok(Some(n)): all of `out` (n bytes) is written, and `out` is emptied
    /// (a big buffer is given back); Ok(None): `written` says how far it
    /// got, and `turn_over` is set when the turn's share (not a full
    /// socket) stopped it: the connection then needs another turn, after
    /// the other connections of its worker.
    pub(crate) fn write_out(
        &mut self,
        out: &mut Vec<u8>,
        written: &mut usize,
        turn_over: &mut bool,
    ) -> std::io::Result<Option<usize>> {
        let progress = match self {
            Transport::Plain(s) => write_plain(s, out, written)?,
            Transport::Tls(t) => t.write_out(out, written)?,
        };
        match progress {
            Progress::Done => {}
            Progress::Full => return Ok(None),
            Progress::TurnOver => {
                *turn_over = true;
                return Ok(None);
            }
        }
        let n = out.len();
        *written = 0;
        if out.capacity() > KEEP_OUT {
            *out = Vec::new();
        } else {
            out.clear();
        }
        Ok(Some(n))
    }

    /// Encrypted bytes (a handshake message, say) wait for the socket.
    pub(crate) fn has_pending_output(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.tls.wants_write(),
        }
    }

    /// Ends the sending side (after a TLS close_notify).
    pub(crate) fn shutdown_write(&mut self) {
        if let Transport::Tls(t) = self {
            t.tls.send_close_notify();
            while t.tls.wants_write() {
                if t.tls.write_tls(&mut t.sock).is_err() {
                    break;
                }
            }
        }
        let _ = self.socket().shutdown(std::net::Shutdown::Write);
    }
}

impl TlsStream {
    fn read_some(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        let mut total = 0;
        // The last socket read was short: nothing more is waiting, so no
        // second read (and its EAGAIN) is needed to know it.
        let mut drained = false;
        loop {
            let state = match self.tls.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    // The alert that says why goes out before the close.
                    let _ = self.tls.write_tls(&mut self.sock);
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
                }
            };
            let available = state.plaintext_bytes_to_read();
            let peer_closed = state.peer_has_closed();
            if available > 0 {
                let start = buf.len();
                let take = available.min(buf.capacity() - start);
                buf.resize(start + take, 0);
                let n = self.tls.reader().read(&mut buf[start..])?;
                buf.truncate(start + n);
                total += n;
                if buf.len() == buf.capacity() {
                    return Ok(total);
                }
            }
            // Handshake messages (and alerts) go out as soon as they exist;
            // what the socket does not take now goes with the next write.
            while self.tls.wants_write() {
                match self.tls.write_tls(&mut self.sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if self.eof || peer_closed {
                return Ok(total);
            }
            if drained {
                return if total > 0 {
                    Ok(total)
                } else {
                    Err(std::io::ErrorKind::WouldBlock.into())
                };
            }
            let mut probe = ShortReadProbe {
                sock: &self.sock,
                short: false,
            };
            match self.tls.read_tls(&mut probe) {
                Ok(0) => self.eof = true,
                Ok(_) => drained = probe.short,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return if total > 0 { Ok(total) } else { Err(e) };
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Encrypts and sends `out[*written..]` (this turn's share of it).
    fn write_out(&mut self, out: &[u8], written: &mut usize) -> std::io::Result<Progress> {
        let start = *written;
        loop {
            while self.tls.wants_write() {
                match self.tls.write_tls(&mut self.sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        return Ok(Progress::Full)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if *written >= out.len() {
                return Ok(Progress::Done);
            }
            if *written - start >= MAX_WRITE_PER_TURN {
                return Ok(Progress::TurnOver);
            }
            let n = self.tls.writer().write(&out[*written..])?;
            if n == 0 {
                // Buffered until the handshake completes.
                return Ok(Progress::Full);
            }
            *written += n;
        }
    }
}

/// The socket as rustls reads it, noting whether a read returned less
/// than asked for.
struct ShortReadProbe<'a> {
    sock: &'a mio::net::TcpStream,
    short: bool,
}

impl Read for ShortReadProbe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (&*self.sock).read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

/// Writes `out[*written..]` (this turn's share of it) to a plain socket.
fn write_plain(
    stream: &mut mio::net::TcpStream,
    out: &[u8],
    written: &mut usize,
) -> std::io::Result<Progress> {
    let start = *written;
    while *written < out.len() {
        if *written - start >= MAX_WRITE_PER_TURN {
            return Ok(Progress::TurnOver);
        }
        let end = out.len().min(*written + MAX_WRITE_PER_TURN);
        match stream.write(&out[*written..end]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => *written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(Progress::Full),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Progress::Done)
}

/// The most a connection writes in one turn: a reader as fast as the
/// server keeps the socket from filling up, and without a cap one big
/// reply would hold the worker (and its other connections) until all of it
/// is sent. Redis caps a turn at 64 KB (`NET_MAX_WRITES_PER_EVENT`).
const MAX_WRITE_PER_TURN: usize = 1 << 20;

/// What a turn of writing got done.
enum Progress {
    Done,
    Full,
    TurnOver,
}

/// Reads what a plain socket has into the spare capacity of `buf`.
fn read_plain(stream: &mio::net::TcpStream, buf: &mut BytesMut) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let spare = buf.spare_capacity_mut();
    loop {
        // SAFETY: `recv` writes at most `spare.len()` bytes into the spare
        // capacity, which `buf` owns; the length is extended by what it
        // wrote, so no uninitialized byte becomes readable. Exercised by
        // every end-to-end test (all plain input arrives this way).
        let n = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                spare.as_mut_ptr().cast(),
                spare.len(),
                0,
            )
        };
        if n >= 0 {
            let n = n as usize;
            // SAFETY: the kernel initialized these `n` bytes (see above).
            unsafe { buf.set_len(buf.len() + n) };
            return Ok(n);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The client side of `tls-replication`: a replica connecting to its
/// primary. Like Redis, it checks the primary's certificate chain against
/// the CA (`tls-ca-cert-file` / `-dir`) but not the host name, and presents
/// `tls-client-cert-file` (or else `tls-cert-file`) when one is set.
pub(crate) fn client_config(config: &Config) -> Result<Arc<rustls::ClientConfig>, String> {
    let roots = load_roots(config)?;
    if roots.is_empty() {
        return Err(
            "tls-replication: set tls-ca-cert-file or tls-ca-cert-dir to the CA that signs \
             the primary's certificate"
                .into(),
        );
    }
    let provider = provider(config)?;
    let versions = protocol_versions(&config.get("tls-protocols"))?;
    let chain = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| format!("tls-ca-cert-file: {e}"))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls-protocols / tls-ciphers: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ChainOnly(chain)));
    let (cert_param, key_param, pass_param) = if config.get("tls-client-cert-file").is_empty() {
        ("tls-cert-file", "tls-key-file", "tls-key-file-pass")
    } else {
        (
            "tls-client-cert-file",
            "tls-client-key-file",
            "tls-client-key-file-pass",
        )
    };
    let cert_file = config.get(cert_param);
    let client = if cert_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let certs = load_certs(&cert_file, cert_param)?;
        let key = load_key(&config.get(key_param), &config.get(pass_param), key_param)?;
        builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("{cert_param} / {key_param}: {e}"))?
    };
    Ok(Arc::new(client))
}

/// Verifies a server's certificate chain, not the name it is reached by
/// (Redis's replicas do the same: a primary is often reached by address).
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                NotValidForName | NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A TLS session used from two threads with blocking sockets, as a
/// replica's feed is: one thread sends the stream, another reads the
/// replica's acknowledgements. The session is locked only to encrypt or
/// decrypt; socket I/O happens outside that lock.
pub(crate) struct SharedTls {
    session: Mutex<rustls::ServerConnection>,
    sock: std::net::TcpStream,
    /// Encrypted bytes the socket has not taken yet (one writer at a time).
    unsent: Mutex<Vec<u8>>,
}

impl SharedTls {
    pub(crate) fn socket(&self) -> &std::net::TcpStream {
        &self.sock
    }
}

impl TlsStream {
    /// The socket and the session, for a connection that leaves the event
    /// loop (a replica after PSYNC).
    pub(crate) fn into_shared(self) -> Arc<SharedTls> {
        Arc::new(SharedTls {
            session: Mutex::new(self.tls),
            sock: self.sock.into(),
            unsent: Mutex::new(Vec::new()),
        })
    }
}

/// The sending side of a [`SharedTls`]. `write` may leave encrypted bytes
/// queued when the socket times out; `flush` sends them.
#[derive(Clone)]
pub(crate) struct SharedTlsWriter(pub(crate) Arc<SharedTls>);

fn send_unsent(mut sock: &std::net::TcpStream, unsent: &mut Vec<u8>) -> std::io::Result<()> {
    while !unsent.is_empty() {
        match sock.write(unsent) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                unsent.drain(..n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Write for SharedTlsWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let shared = &self.0;
        let mut unsent = shared.unsent.lock();
        // Earlier bytes first; a timeout here takes nothing new.
        send_unsent(&shared.sock, &mut unsent)?;
        let n = {
            let mut session = shared.session.lock();
            let n = session.writer().write(buf)?;
            while session.wants_write() {
                session.write_tls(&mut *unsent)?;
            }
            n
        };
        match send_unsent(&shared.sock, &mut unsent) {
            Err(e)
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(e)
            }
            // Taken: what the socket did not send goes with the next
            // write or flush.
            _ => Ok(n),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        send_unsent(&self.0.sock, &mut self.0.unsent.lock())
    }
}

/// The receiving side of a [`SharedTls`] (blocking reads).
pub(crate) struct SharedTlsReader {
    shared: Arc<SharedTls>,
    sock: std::net::TcpStream,
    plain: Vec<u8>,
}

impl SharedTlsReader {
    pub(crate) fn new(shared: Arc<SharedTls>) -> std::io::Result<SharedTlsReader> {
        let sock = shared.sock.try_clone()?;
        Ok(SharedTlsReader {
            shared,
            sock,
            plain: Vec::new(),
        })
    }
}

impl Read for SharedTlsReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut raw = [0u8; 4096];
        while self.plain.is_empty() {
            let n = self.sock.read(&mut raw)?;
            if n == 0 {
                return Ok(0);
            }
            let mut session = self.shared.session.lock();
            let mut input = &raw[..n];
            while !input.is_empty() {
                session.read_tls(&mut input)?;
                session
                    .process_new_packets()
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                match session.reader().read_to_end(&mut self.plain) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let n = buf.len().min(self.plain.len());
        buf[..n].copy_from_slice(&self.plain[..n]);
        self.plain.drain(..n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_lists_take_openssl_and_iana_names() {
        let p = rustls::crypto::ring::default_provider();
        let tls12: Vec<_> = p
            .cipher_suites
            .iter()
            .copied()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .collect();
        let picked = pick_suites(
            "tls-ciphers",
            "ECDHE-RSA-AES128-GCM-SHA256:TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            &tls12,
        )
        .unwrap();
        assert_eq!(picked.len(), 2);
        let all_but_one = pick_suites(
            "tls-ciphers",
            "DEFAULT:!ECDHE-RSA-AES128-GCM-SHA256:!MD5",
            &tls12,
        )
        .unwrap();
        assert_eq!(all_but_one.len(), tls12.len() - 1);
        let err = pick_suites("tls-ciphers", "RC4-SHA", &tls12).unwrap_err();
        assert!(err.contains("'RC4-SHA' is not available"), "{err}");
        assert!(pick_suites("tls-ciphers", "!ECDHE-RSA-AES128-GCM-SHA256", &tls12).is_err());
    }

    #[test]
    fn protocols_are_checked() {
        assert_eq!(protocol_versions("").unwrap().len(), 2);
        assert_eq!(protocol_versions("TLSv1.2").unwrap().len(), 1);
        assert_eq!(protocol_versions("tlsv1.1 TLSv1.3").unwrap().len(), 1);
        assert!(protocol_versions("TLSv1.1").is_err());
        assert!(protocol_versions("SSLv3").is_err());
    }
}
