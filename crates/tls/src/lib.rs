/*!
TLS to the servers a fightwatch node talks to: PostgreSQL (`sslmode=require`), Redis
(`rediss://`) and MQTT brokers (`mqtts://`). One rustls client configuration for all of them,
with ring as the crypto provider (pure Rust and assembly: no C toolchain or cmake), the
system's root certificates or a CA file, and the server's certificate and host name always
verified: a node never talks to an unverified server once TLS was asked for.

The CA file is named in the server's URL as `sslrootcert=FILE` (PostgreSQL's own name for it,
used alike for every server); [`split_ca`] takes it out before the URL reaches the driver.

```
let (url, ca) = fightwatch_tls::split_ca("rediss://cache:6380/0?sslrootcert=/etc/fw/ca.pem")?;
assert_eq!(url, "rediss://cache:6380/0");
assert_eq!(ca.as_deref(), Some(std::path::Path::new("/etc/fw/ca.pem")));
// With no CA file the system's roots are trusted.
let config = fightwatch_tls::client_config(None)?;
assert!(config.alpn_protocols.is_empty());
# Ok::<(), fightwatch_tls::TlsError>(())
```
*/

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// What went wrong setting TLS up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The CA file could not be read or holds no usable certificate.
    #[error("CA file {path}: {message}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No root certificate could be loaded from the system (and no CA file was given).
    #[error("no system root certificates ({0}); name a CA file with sslrootcert=FILE")]
    NoRoots(String),
    /// A URL's `sslrootcert` parameter is malformed.
    #[error("{0}")]
    Url(String),
    /// The crypto provider cannot make a client configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Makes ring the process's rustls crypto provider (once; later calls do nothing). Libraries
/// that build their own rustls configuration (the Redis client, the HTTP client) find it there.
pub fn install_provider() {
    // Fails only when a provider is already installed: then that one stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The root certificates: those of `ca_file` (PEM, one or more), or the system's.
pub fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad = |message: String| TlsError::CaFile {
                path: path.to_path_buf(),
                message,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate in it".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| bad(e.to_string()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map_or("none found".to_string(), ToString::to_string);
                return Err(TlsError::NoRoots(why));
            }
        }
    }
    Ok(roots)
}

/// The CA file's certificates as PEM text (for clients that take PEM, such as Redis's).
pub fn read_ca_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    // Parsed first, so a wrong file is named here and not deep inside a driver.
    roots(Some(path))?;
    std::fs::read(path).map_err(|e| TlsError::CaFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// A client configuration that verifies servers against [`roots`] (`ca_file`, or the system's).
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    install_provider();
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots(ca_file)?)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `url` without its `sslrootcert=FILE` query parameter, and that file. Other parameters stay
/// in their order; a URL without one comes back unchanged.
pub fn split_ca(url: &str) -> Result<(String, Option<PathBuf>), TlsError> {
    let Some((base, rest)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let (query, fragment) = match rest.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (rest, None),
    };
    let mut ca = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslrootcert", file)) => {
                if file.is_empty() || ca.is_some() {
                    return Err(TlsError::Url(
                        "sslrootcert must name one file (sslrootcert=/path/ca.pem)".into(),
                    ));
                }
                ca = Some(PathBuf::from(percent_decode(file)?));
            }
            _ => kept.push(pair),
        }
    }
    let mut out = base.to_string();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    Ok((out, ca))
}

/// `%XX` escapes decoded (a path with spaces or `&` in a URL).
fn percent_decode(text: &str) -> Result<String, TlsError> {
    let bad = || TlsError::Url(format!("sslrootcert: bad escape in {text:?}"));
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_file_parameter_is_taken_out_of_a_url() {
        let split = |url: &str| split_ca(url).unwrap();
        assert_eq!(split("redis://h:1/0"), ("redis://h:1/0".into(), None));
        assert_eq!(
            split("postgres://u@h/db?sslmode=require&sslrootcert=/ca%20dir/ca.pem&x=1"),
            (
                "postgres://u@h/db?sslmode=require&x=1".into(),
                Some(PathBuf::from("/ca dir/ca.pem"))
            )
        );
        assert_eq!(
            split("mqtts://b:8883?sslrootcert=ca.pem#frag"),
            ("mqtts://b:8883#frag".into(), Some(PathBuf::from("ca.pem")))
        );
        for bad in [
            "rediss://h?sslrootcert=",
            "rediss://h?sslrootcert=a&sslrootcert=b",
            "rediss://h?sslrootcert=%zz",
        ] {
            assert!(split_ca(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("fw-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = client_config(Some(&empty)).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
        let missing = dir.join("missing.pem");
        assert!(client_config(Some(&missing)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
