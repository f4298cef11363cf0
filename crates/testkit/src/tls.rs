//! Certificates for tests of TLS: a CA of their own and a server certificate it signed, for
//! `localhost` and `127.0.0.1`, written as PEM files the servers and clients read.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A test CA and one server certificate, in a temp dir (deleted on drop).
pub struct TestCerts {
    dir: tempfile::TempDir,
}

impl TestCerts {
    /// Makes a fresh CA (`ca.pem`) and a server certificate for localhost and 127.0.0.1
    /// (`server.pem`, `server.key`) signed by it.
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("fw-tls-").tempdir()?;
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "fightwatch test CA");
        let ca = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &issuer)?;
        let write = |name: &str, text: String| {
            std::fs::write(dir.path().join(name), text).with_context(|| format!("writing {name}"))
        };
        write("ca.pem", ca.pem())?;
        write("server.pem", cert.pem())?;
        write("server.key", key.serialize_pem())?;
        Ok(Self { dir })
    }

    /// The CA's certificate (what clients trust).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server's certificate.
    pub fn cert_file(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// The server's private key.
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// The folder holding the three files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
