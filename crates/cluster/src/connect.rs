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
pub(crate) async fn open(url: &str) -> Result<Opened, ClusterError> {
    let target = describe(url);
    let err = |source| ClusterError::Redis {
        target: target.clone(),
        source,
    };
    let client = redis::Client::open(url).map_err(err)?;
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

/// `redis://host:port/db` without credentials.
pub(crate) fn describe(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{host}")
        }
        None => "(the Redis URL)".into(),
    }
}
