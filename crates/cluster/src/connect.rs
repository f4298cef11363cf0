//! Opening Redis the one way every part of the cluster does.

use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::ClusterError;

/// An opened Redis: the client (for connections of their own), a connection that reconnects by
/// itself, and the server's name for messages.
pub(crate) struct Opened {
    pub(crate) client: redis::Client,
    pub(crate) conn: ConnectionManager,
    pub(crate) target: String,
}

impl Opened {
    /// Turns a Redis error into one that names the server.
    pub(crate) fn error(&self, source: redis::RedisError) -> ClusterError {
        ClusterError::Redis {
            target: self.target.clone(),
            source,
        }
    }
}

/// Connects to `url` within a few seconds, or says which server could not be reached.
///
/// `rediss://` is TLS only: the server's certificate and host name are verified against the
/// CA file the URL names (`?sslrootcert=FILE`) or the system's roots, and a server that does
/// not speak TLS is refused. A CA file on a plaintext `redis://` URL is an error, not ignored.
pub(crate) async fn open(url: &str) -> Result<Opened, ClusterError> {
    let target = describe(url);
    let err = |source| ClusterError::Redis {
        target: target.clone(),
        source,
    };
    let tls_error =
        |e: fightwatch_tls::TlsError| ClusterError::Config(format!("Redis {target}: {e}"));
    let (url, ca_file) = fightwatch_tls::split_ca(url).map_err(tls_error)?;
    let client = if url.starts_with("rediss://") {
        fightwatch_tls::install_provider();
        let root_cert = ca_file
            .as_deref()
            .map(fightwatch_tls::read_ca_pem)
            .transpose()
            .map_err(tls_error)?;
        let certs = redis::TlsCertificates {
            client_tls: None,
            root_cert,
        };
        redis::Client::build_with_tls(url.as_str(), certs).map_err(err)?
    } else if ca_file.is_some() {
        return Err(ClusterError::Config(format!(
            "Redis {target}: a CA file (sslrootcert) was given for a plaintext redis:// URL; use rediss:// for TLS"
        )));
    } else {
        redis::Client::open(url.as_str()).map_err(err)?
    };
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_secs(3)))
        .set_number_of_retries(1);
    let conn = client
        .get_connection_manager_with_config(config)
        .await
        .map_err(err)?;
    Ok(Opened {
        client,
        conn,
        target,
    })
}

/// `redis://host:port/db` without credentials or query.
pub(crate) fn describe(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.split(['?', '#']).next().unwrap_or(rest);
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{host}")
        }
        None => "(the Redis URL)".into(),
    }
}
