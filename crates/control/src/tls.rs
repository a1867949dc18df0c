//! Encryption in transit: the control plane's own certificate authority,
//! made once in `<data-dir>/tls/`, and the certificate it signs for the
//! nodes of clusters created with `TransitEncryptionEnabled` (valid for
//! `127.0.0.1` and `localhost`, where nodes and endpoints listen). Clients
//! trust `ca.pem`; the agent itself talks to such nodes over TLS too.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

/// The files nodes are started with.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    client: Arc<rustls::ClientConfig>,
}

impl TlsFiles {
    /// Loads the authority and node certificate, making them first if any
    /// file is missing.
    pub fn ensure(data_dir: &Path) -> Result<TlsFiles, String> {
        let dir = data_dir.join("tls");
        let files = TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("node.pem"),
            key: dir.join("node.key"),
            client: Arc::new(client_config(&[])?),
        };
        if !(files.ca.exists() && files.cert.exists() && files.key.exists()) {
            make(&dir, &files).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        }
        let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.ca)
            .and_then(|certs| certs.collect())
            .map_err(|e| format!("cannot read {}: {e}", files.ca.display()))?;
        if roots.is_empty() {
            return Err(format!("{}: no certificate in it", files.ca.display()));
        }
        Ok(TlsFiles {
            client: Arc::new(client_config(&roots)?),
            ..files
        })
    }

    /// The arguments that make a Redis node serve TLS only, on `port`
    /// (clients need no certificate of their own, as on the managed
    /// service), and replicate over TLS.
    pub fn node_args(&self, port: u16) -> Vec<String> {
        let path = |p: &PathBuf| p.display().to_string();
        [
            "--port".to_string(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            path(&self.cert),
            "--tls-key-file".into(),
            path(&self.key),
            "--tls-ca-cert-file".into(),
            path(&self.ca),
            "--tls-auth-clients".into(),
            "no".into(),
            "--tls-replication".into(),
            "yes".into(),
        ]
        .to_vec()
    }

    /// The flags that make a Memcached node serve TLS only.
    pub fn memcached_args(&self) -> Vec<String> {
        vec![
            "-Z".into(),
            "-o".into(),
            format!(
                "ssl_chain_cert={},ssl_key={}",
                self.cert.display(),
                self.key.display()
            ),
        ]
    }

    /// A TLS connection to a node on `stream`, handshake done.
    pub fn connect(
        &self,
        stream: TcpStream,
    ) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
        let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
        let conn = rustls::ClientConnection::new(self.client.clone(), name)
            .map_err(std::io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, stream);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(tls)
    }
}

fn client_config(roots: &[CertificateDer<'static>]) -> Result<rustls::ClientConfig, String> {
    let mut store = rustls::RootCertStore::empty();
    for cert in roots {
        store.add(cert.clone()).map_err(|e| e.to_string())?;
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())
        .map(|b| b.with_root_certificates(store).with_no_client_auth())
}

/// Makes the authority and the node certificate it signs; the keys are
/// owner-only.
fn make(dir: &Path, files: &TlsFiles) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Ferrocache control plane CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key)?;
    let node_key = KeyPair::generate()?;
    let mut node_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".into()])?;
    node_params
        .distinguished_name
        .push(DnType::CommonName, "Ferrocache node");
    let node = node_params.signed_by(&node_key, &ca, &ca_key)?;
    write_private(&dir.join("ca.key"), &ca_key.serialize_pem())?;
    write_private(&files.key, &node_key.serialize_pem())?;
    std::fs::write(&files.cert, node.pem())?;
    std::fs::write(&files.ca, ca.pem())?;
    Ok(())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files are made once and load again; the keys are owner-only.
    /// (The e2e tests connect to nodes serving them.)
    #[test]
    fn makes_and_loads_the_authority() {
        let dir = std::env::temp_dir().join(format!("ferrocache-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = TlsFiles::ensure(&dir).expect("make");
        let ca = std::fs::read(&first.ca).expect("ca");
        let again = TlsFiles::ensure(&dir).expect("load");
        assert_eq!(std::fs::read(&again.ca).expect("ca"), ca, "not made twice");
        let key_mode = std::fs::metadata(&again.key).expect("key").permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&key_mode) & 0o077,
            0
        );
        assert!(again
            .node_args(40001)
            .windows(2)
            .any(|w| w == ["--tls-port", "40001"]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
