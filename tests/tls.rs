//! TLS end to end, on both engines: plain and TLS ports side by side, client
//! certificates required / optional / not asked for, certificates reloaded by
//! CONFIG SET, protocol versions, TLS ports opened and closed at runtime,
//! pipelines and big values over TLS, and startup errors. Real clients
//! (`redis-cli --tls`, `openssl s_client`) and a rustls client drive the
//! real binary; certificates are made with the `openssl` command.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{encode, ferrocache_startup_failure, free_port, spawn_ferrocache, Proc, TempDir};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A CA, a server certificate for localhost / 127.0.0.1, a second one (for
/// reloads), and a client certificate, all signed by the CA.
struct Certs {
    dir: TempDir,
}

fn openssl(dir: &TempDir, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(&dir.0)
        .output()
        .expect("openssl (Debian: apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    fn new() -> Certs {
        let dir = TempDir::new("tls");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let mut ca = vec![
            "req",
            "-x509",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=Test CA",
        ];
        ca.extend(ec);
        ca.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
        openssl(&dir, &ca);
        std::fs::write(
            dir.path("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .expect("write");
        std::fs::write(dir.path("client.ext"), "extendedKeyUsage=clientAuth\n").expect("write");
        for (name, cn, ext) in [
            ("server", "localhost", "server.ext"),
            ("reloaded", "reloaded", "server.ext"),
            ("client", "client", "client.ext"),
        ] {
            let (key, csr, crt) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.crt"),
            );
            let subj = format!("/CN={cn}");
            let mut req = vec!["req", "-nodes", "-subj", &subj];
            req.extend(ec);
            req.extend(["-keyout", &key, "-out", &csr]);
            openssl(&dir, &req);
            openssl(
                &dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "30",
                    "-extfile",
                    ext,
                    "-out",
                    &crt,
                ],
            );
        }
        Certs { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir
            .path(name)
            .to_str()
            .expect("utf-8 path")
            .to_string()
    }

    /// `--tls-*` arguments for a Redis-engine node.
    fn server_args(&self) -> Vec<String> {
        [
            ("--tls-cert-file", "server.crt"),
            ("--tls-key-file", "server.key"),
            ("--tls-ca-cert-file", "ca.crt"),
        ]
        .iter()
        .flat_map(|(flag, file)| [flag.to_string(), self.path(file)])
        .collect()
    }

    fn cert(&self, name: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(self.dir.path(name)).expect("certificate")
    }

    /// A rustls client configuration trusting the CA (with the client
    /// certificate or not, limited to `versions`).
    fn client_config(
        &self,
        with_cert: bool,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert("ca.crt")).expect("CA");
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots);
        let config = if with_cert {
            let key = PrivateKeyDer::from_pem_file(self.dir.path("client.key")).expect("key");
            builder
                .with_client_auth_cert(vec![self.cert("client.crt")], key)
                .expect("client certificate")
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(config)
    }
}

type TlsConn = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_connect_with(port: u16, config: Arc<rustls::ClientConfig>) -> TlsConn {
    let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let name = ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(config, name).expect("client");
    rustls::StreamOwned::new(conn, sock)
}

fn tls_connect(certs: &Certs, port: u16) -> TlsConn {
    tls_connect_with(port, certs.client_config(true, rustls::DEFAULT_VERSIONS))
}

/// Sends a command, reads one reply line (and a bulk body if any).
fn call(conn: &mut TlsConn, args: &[&[u8]]) -> std::io::Result<Vec<u8>> {
    conn.write_all(&encode(args))?;
    read_reply(conn)
}

fn read_reply(conn: &mut TlsConn) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if conn.read(&mut b)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        line.push(b[0]);
    }
    if line[0] == b'$' && line != b"$-1\r\n" {
        let len: usize = std::str::from_utf8(&line[1..line.len() - 2])
            .expect("length")
            .parse()
            .expect("length");
        let mut body = vec![0u8; len + 2];
        conn.read_exact(&mut body)?;
        line.extend_from_slice(&body);
    }
    Ok(line)
}

/// A Redis-engine node with a plain port and a TLS port: (node, TLS port).
fn start_tls_node(certs: &Certs, extra: &[&str]) -> (Proc, u16) {
    // Port 0 with a TLS port would mean TLS only (as in Redis): the plain
    // port is picked here too.
    let tls_port = free_port();
    let mut args: Vec<String> = vec!["--port".into(), free_port().to_string()];
    args.push("--tls-port".into());
    args.push(tls_port.to_string());
    args.extend(certs.server_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["--save".to_string(), String::new()]);
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    (spawn_ferrocache(&argv, &[]).0, tls_port)
}

fn redis_cli(port: u16, certs: &Certs, client_cert: bool, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("redis-cli");
    cmd.args([
        "-p",
        &port.to_string(),
        "--tls",
        "--cacert",
        &certs.path("ca.crt"),
    ]);
    if client_cert {
        cmd.args(["--cert", &certs.path("client.crt")]);
        cmd.args(["--key", &certs.path("client.key")]);
    }
    let out = cmd.args(args).output().expect("redis-cli");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (
        out.status.success() && !text.contains("Error"),
        text.trim().to_string(),
    )
}

#[test]
fn plain_and_tls_ports_serve_the_same_data() {
    let certs = Certs::new();
    let (node, tls_port) = start_tls_node(&certs, &[]);
    let mut tls = tls_connect(&certs, tls_port);
    assert_eq!(
        call(&mut tls, &[b"SET", b"k", b"over tls"]).unwrap(),
        b"+OK\r\n"
    );
    let mut plain = node.raw();
    assert_eq!(plain.call(&["GET", "k"]), b"$8\r\nover tls\r\n");

    // A pipeline of many commands, written at once, read back in order.
    let mut batch = Vec::new();
    for i in 0..20_000 {
        batch.extend(encode(&[b"INCR", b"counter"]));
        if i % 5000 == 0 {
            batch.extend(encode(&[b"PING"]));
        }
    }
    tls.write_all(&batch).unwrap();
    let mut last = Vec::new();
    for _ in 0..20_004 {
        last = read_reply(&mut tls).unwrap();
    }
    assert_eq!(last, b":20000\r\n");

    // A 4 MB value both ways: arrives in many TLS records.
    let big: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
    assert_eq!(call(&mut tls, &[b"SET", b"big", &big]).unwrap(), b"+OK\r\n");
    let reply = call(&mut tls, &[b"GET", b"big"]).unwrap();
    let header = format!("${}\r\n", big.len());
    assert_eq!(&reply[..header.len()], header.as_bytes());
    assert_eq!(&reply[header.len()..reply.len() - 2], &big[..]);
    assert_eq!(plain.call(&["STRLEN", "big"]), b":4194304\r\n");
}

#[test]
fn redis_cli_and_openssl_speak_to_the_tls_port() {
    let certs = Certs::new();
    let (_node, tls_port) = start_tls_node(&certs, &[]);
    assert_eq!(
        redis_cli(tls_port, &certs, true, &["SET", "greeting", "hello"]),
        (true, "OK".into())
    );
    assert_eq!(
        redis_cli(tls_port, &certs, true, &["GET", "greeting"]),
        (true, "hello".into())
    );
    let mut s_client = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect"])
        .arg(format!("127.0.0.1:{tls_port}"))
        .args(["-CAfile", &certs.path("ca.crt")])
        .args(["-cert", &certs.path("client.crt")])
        .args(["-key", &certs.path("client.key")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    let mut stdin = s_client.stdin.take().expect("stdin");
    stdin.write_all(b"GET greeting\r\nQUIT\r\n").unwrap();
    let mut out = String::new();
    s_client
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .unwrap();
    let _ = s_client.wait();
    assert_eq!(out, "$5\r\nhello\r\n+OK\r\n");
}

/// Whether a PING over TLS gets its PONG.
fn pings(port: u16, config: Arc<rustls::ClientConfig>) -> bool {
    let mut conn = tls_connect_with(port, config);
    matches!(call(&mut conn, &[b"PING"]), Ok(r) if r == b"+PONG\r\n")
}

#[test]
fn client_certificates_required_optional_or_not_asked_for() {
    let certs = Certs::new();
    let (node, tls_port) = start_tls_node(&certs, &[]);
    let with = || certs.client_config(true, rustls::DEFAULT_VERSIONS);
    let without = || certs.client_config(false, rustls::DEFAULT_VERSIONS);
    // Redis's default: tls-auth-clients yes.
    assert!(pings(tls_port, with()));
    assert!(!pings(tls_port, without()));
    assert!(!redis_cli(tls_port, &certs, false, &["PING"]).0);
    let mut admin = node.raw();
    for (mode, with_ok, without_ok) in [
        ("optional", true, true),
        ("no", true, true),
        ("yes", true, false),
    ] {
        assert_eq!(
            admin.call(&["CONFIG", "SET", "tls-auth-clients", mode]),
            b"+OK\r\n"
        );
        assert_eq!(
            pings(tls_port, with()),
            with_ok,
            "{mode} with a certificate"
        );
        assert_eq!(pings(tls_port, without()), without_ok, "{mode} without");
    }
    // A certificate its CA did not sign is refused.
    let other = Certs::new();
    assert!(!pings(tls_port, {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certs.cert("ca.crt")).unwrap();
        let key = PrivateKeyDer::from_pem_file(other.dir.path("client.key")).unwrap();
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![other.cert("client.crt")], key)
            .unwrap(),
        )
    }));
}

/// The certificate the server presents to a new connection.
fn presented_certificate(certs: &Certs, port: u16) -> CertificateDer<'static> {
    let mut conn = tls_connect(certs, port);
    call(&mut conn, &[b"PING"]).expect("ping");
    conn.conn.peer_certificates().expect("certificates")[0].clone()
}

#[test]
fn config_set_reloads_certificates_for_new_connections() {
    let certs = Certs::new();
    let (node, tls_port) = start_tls_node(&certs, &[]);
    let mut established = tls_connect(&certs, tls_port);
    call(&mut established, &[b"PING"]).unwrap();
    assert_eq!(
        presented_certificate(&certs, tls_port),
        certs.cert("server.crt")
    );
    let mut admin = node.raw();
    let (crt, key) = (certs.path("reloaded.crt"), certs.path("reloaded.key"));
    assert_eq!(
        admin.call(&["CONFIG", "SET", "tls-cert-file", &crt, "tls-key-file", &key]),
        b"+OK\r\n"
    );
    assert_eq!(
        presented_certificate(&certs, tls_port),
        certs.cert("reloaded.crt")
    );
    // Established connections keep working.
    assert_eq!(call(&mut established, &[b"PING"]).unwrap(), b"+PONG\r\n");

    // A broken file is refused; the settings in force stay.
    let reply =
        String::from_utf8(admin.call(&["CONFIG", "SET", "tls-cert-file", "/nonexistent.crt"]))
            .unwrap();
    assert!(
        reply.starts_with("-ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration"),
        "{reply}"
    );
    let expected = format!("*2\r\n$13\r\ntls-cert-file\r\n${}\r\n{crt}\r\n", crt.len());
    assert_eq!(
        admin.call(&["CONFIG", "GET", "tls-cert-file"]),
        expected.as_bytes()
    );
    // A key that does not match the certificate is refused too.
    let reply = String::from_utf8(admin.call(&[
        "CONFIG",
        "SET",
        "tls-key-file",
        &certs.path("server.key"),
    ]))
    .unwrap();
    assert!(
        reply.contains("Unable to update TLS configuration"),
        "{reply}"
    );
    assert_eq!(
        presented_certificate(&certs, tls_port),
        certs.cert("reloaded.crt")
    );
}

#[test]
fn tls_protocols_and_ciphers_restrict_what_is_negotiated() {
    let certs = Certs::new();
    let (node, tls_port) = start_tls_node(&certs, &["--tls-protocols", "TLSv1.3"]);
    let only = |v: &'static rustls::SupportedProtocolVersion| certs.client_config(true, &[v]);
    assert!(pings(tls_port, only(&rustls::version::TLS13)));
    assert!(!pings(tls_port, only(&rustls::version::TLS12)));
    let mut admin = node.raw();
    assert_eq!(
        admin.call(&["CONFIG", "SET", "tls-protocols", "TLSv1.2"]),
        b"+OK\r\n"
    );
    assert!(pings(tls_port, only(&rustls::version::TLS12)));
    assert!(!pings(tls_port, only(&rustls::version::TLS13)));
    let reply =
        String::from_utf8(admin.call(&["CONFIG", "SET", "tls-protocols", "SSLv3"])).unwrap();
    assert!(reply.contains("Invalid tls-protocols specified"), "{reply}");
    let reply =
        String::from_utf8(admin.call(&["CONFIG", "SET", "tls-ciphers", "RC4-MD5"])).unwrap();
    assert!(
        reply.contains("cipher 'RC4-MD5' is not available"),
        "{reply}"
    );
    assert_eq!(
        admin.call(&[
            "CONFIG",
            "SET",
            "tls-protocols",
            "",
            "tls-ciphersuites",
            "TLS_CHACHA20_POLY1305_SHA256"
        ]),
        b"+OK\r\n"
    );
    let mut conn = tls_connect(&certs, tls_port);
    call(&mut conn, &[b"PING"]).unwrap();
    assert_eq!(
        conn.conn.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
}

#[test]
fn tls_port_opens_and_closes_at_runtime() {
    let certs = Certs::new();
    let mut args: Vec<String> = vec!["--port".into(), "0".into()];
    args.extend(certs.server_args());
    args.extend(["--save".to_string(), String::new()]);
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let node = spawn_ferrocache(&argv, &[]).0;
    let tls_port = free_port();
    let mut admin = node.raw();
    assert_eq!(
        admin.call(&["CONFIG", "SET", "tls-port", &tls_port.to_string()]),
        b"+OK\r\n"
    );
    assert!(pings(
        tls_port,
        certs.client_config(true, rustls::DEFAULT_VERSIONS)
    ));
    assert_eq!(admin.call(&["CONFIG", "SET", "tls-port", "0"]), b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(200));
    assert!(TcpStream::connect(("127.0.0.1", tls_port)).is_err());
    assert_eq!(admin.call(&["PING"]), b"+PONG\r\n");
}

#[test]
fn a_tls_port_needs_certificates_at_startup() {
    let port = free_port().to_string();
    let (status, stderr) = ferrocache_startup_failure(&["--port", "0", "--tls-port", &port]);
    assert!(!status.success());
    assert!(
        stderr.contains("Failed to configure TLS: TLS needs tls-cert-file and tls-key-file"),
        "{stderr}"
    );
    let (status, stderr) = ferrocache_startup_failure(&[
        "--port",
        "0",
        "--tls-port",
        &port,
        "--tls-cert-file",
        "/nonexistent.crt",
        "--tls-key-file",
        "/nonexistent.key",
    ]);
    assert!(!status.success());
    assert!(stderr.contains("/nonexistent.crt"), "{stderr}");
}

#[test]
fn plaintext_or_garbage_on_the_tls_port_is_dropped() {
    let certs = Certs::new();
    let (node, tls_port) = start_tls_node(&certs, &[]);
    for junk in [
        &b"PING\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0][..],
        &[0u8; 4096][..],
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(junk);
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        // At most a TLS alert record, never a Redis reply.
        assert!(!got.starts_with(b"+") && !got.starts_with(b"-"), "{got:?}");
    }
    assert!(pings(
        tls_port,
        certs.client_config(true, rustls::DEFAULT_VERSIONS)
    ));
    assert_eq!(node.raw().call(&["PING"]), b"+PONG\r\n");
}

/// A memcached-engine node with -Z (every connection TLS).
fn start_mc_tls(certs: &Certs, extra: &str) -> Proc {
    let opts = format!(
        "ssl_chain_cert={},ssl_key={}{extra}",
        certs.path("server.crt"),
        certs.path("server.key")
    );
    let port = free_port().to_string();
    let args = [
        "--engine",
        "memcached",
        "-p",
        &port,
        "-l",
        "127.0.0.1",
        "-U",
        "0",
        "-Z",
        "-o",
        &opts,
    ];
    spawn_ferrocache(&args, &[]).0
}

fn mc_exchange(conn: &mut TlsConn, request: &[u8], until: &[u8]) -> std::io::Result<Vec<u8>> {
    conn.write_all(request)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(until) {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Ok(out)
}

#[test]
fn memcached_engine_serves_tls_with_z() {
    let certs = Certs::new();
    let node = start_mc_tls(&certs, "");
    // memcached's default: no client certificate asked for.
    let mut conn = tls_connect_with(
        node.port,
        certs.client_config(false, rustls::DEFAULT_VERSIONS),
    );
    let big = vec![b'x'; 500_000];
    let mut request = format!("set big 5 0 {}\r\n", big.len()).into_bytes();
    request.extend_from_slice(&big);
    request.extend_from_slice(b"\r\nget big\r\nmn\r\n");
    let reply = mc_exchange(&mut conn, &request, b"MN\r\n").unwrap();
    assert!(reply.starts_with(b"STORED\r\nVALUE big 5 500000\r\nxxx"));
    assert!(reply.ends_with(b"\r\nEND\r\nMN\r\n"));
    // Plaintext is not served on a -Z port.
    let mut plain = TcpStream::connect(("127.0.0.1", node.port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain.write_all(b"version\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = plain.read(&mut buf).unwrap_or(0);
    assert!(!buf[..n].starts_with(b"VERSION"));

    // ssl_verify_mode=2: a client certificate signed by ssl_ca_cert is required.
    let strict = start_mc_tls(
        &certs,
        &format!(",ssl_verify_mode=2,ssl_ca_cert={}", certs.path("ca.crt")),
    );
    let mut with = tls_connect_with(
        strict.port,
        certs.client_config(true, rustls::DEFAULT_VERSIONS),
    );
    assert_eq!(
        mc_exchange(&mut with, b"mn\r\n", b"MN\r\n").unwrap(),
        b"MN\r\n"
    );
    let mut without = tls_connect_with(
        strict.port,
        certs.client_config(false, rustls::DEFAULT_VERSIONS),
    );
    assert!(!matches!(mc_exchange(&mut without, b"mn\r\n", b"MN\r\n"), Ok(r) if r == b"MN\r\n"));
}

/// Polls `GET key` on `port` (plain) until it answers `want`.
fn wait_for_value(port: u16, key: &str, want: &[u8]) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.write_all(&encode(&[b"GET", key.as_bytes()]));
            let mut buf = [0u8; 256];
            if let Ok(n) = s.read(&mut buf) {
                if &buf[..n] == want {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn replication_over_tls_interoperates_with_redis() {
    let certs = Certs::new();
    // Snapshots go out at once (no wait for more replicas).
    let no_delay = ["--repl-diskless-sync-delay", "0"];
    let (primary, primary_tls) = start_tls_node(&certs, &no_delay);
    let replica_args = |tls_port: u16| -> Vec<String> {
        let mut args = vec![
            "--tls-replication".to_string(),
            "yes".into(),
            "--replicaof".into(),
            "127.0.0.1".into(),
            tls_port.to_string(),
        ];
        args.extend(certs.server_args());
        args
    };
    // Ferrocache replica of a Ferrocache primary, over TLS.
    let args = replica_args(primary_tls);
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let replica = common::start_ferrocache(&[&argv[..], &["--save", ""]].concat());
    let mut p = primary.raw();
    assert_eq!(p.call(&["SET", "k1", "first"]), b"+OK\r\n");
    assert!(wait_for_value(replica.port, "k1", b"$5\r\nfirst\r\n"));
    // Past the snapshot: the stream flows over TLS too.
    assert_eq!(p.call(&["SET", "k2", "streamed"]), b"+OK\r\n");
    assert!(wait_for_value(replica.port, "k2", b"$8\r\nstreamed\r\n"));

    // redis-server as the replica of a Ferrocache primary, over TLS.
    let redis_replica = common::start_redis_with(None, &argv);
    assert!(wait_for_value(
        redis_replica.port,
        "k2",
        b"$8\r\nstreamed\r\n"
    ));
    assert_eq!(p.call(&["SET", "k3", "to-redis"]), b"+OK\r\n");
    assert!(wait_for_value(
        redis_replica.port,
        "k3",
        b"$8\r\nto-redis\r\n"
    ));

    // A Ferrocache replica of a redis-server primary, over TLS.
    let redis_tls = free_port();
    let mut primary_args = vec!["--tls-port".to_string(), redis_tls.to_string()];
    primary_args.extend(certs.server_args());
    let argv: Vec<&str> = primary_args.iter().map(|s| s.as_str()).collect();
    let argv = [&argv[..], &no_delay].concat();
    let redis_primary = common::start_redis_with(None, &argv);
    let mut rp = redis_primary.raw();
    assert_eq!(rp.call(&["SET", "from-redis", "yes"]), b"+OK\r\n");
    let args = replica_args(redis_tls);
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let follower = common::start_ferrocache(&[&argv[..], &["--save", ""]].concat());
    assert!(wait_for_value(
        follower.port,
        "from-redis",
        b"$3\r\nyes\r\n"
    ));
    assert_eq!(rp.call(&["SET", "later", "streamed"]), b"+OK\r\n");
    assert!(wait_for_value(
        follower.port,
        "later",
        b"$8\r\nstreamed\r\n"
    ));
}
