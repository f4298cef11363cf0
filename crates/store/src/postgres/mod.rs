//! The shared store for several nodes: PostgreSQL.
//!
//! `AlertStore` is synchronous (callers in async code use a blocking thread), PostgreSQL's
//! driver is async (tokio-postgres with a deadpool pool): the store owns a small runtime that
//! runs the driver, and each call hands it one future and waits for the answer. That works from
//! any thread, with or without a runtime of the caller's.
//!
//! Event sequence numbers come from a counter row updated inside each event's transaction: the
//! row lock is held to commit, so every node's events are numbered in commit order.

mod data;
mod schema;

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use fightwatch_protocol::{AlertUpdate, ChatMessage, FightAlert, Role, ServerMessage};
use tokio_postgres::NoTls;

use crate::{
    AlertChange, AlertFilter, AlertRecord, AlertStore, Grouping, NewAlert, PushSubscription,
    RaiseOrGroup, SessionRecord, StoreError, UserRecord,
};

/// Connections per store (each node has one store).
const POOL_SIZE: usize = 16;
/// How long a connection attempt or a wait for a free connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The fightwatch database in PostgreSQL, shared by every node of a cluster.
pub struct PostgresStore {
    /// `host:port/database`, for messages (never the password).
    target: String,
    pool: Pool,
    /// Runs the driver; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

/// Why a query failed, before the database's name is attached.
pub(crate) enum Failure {
    Pg(tokio_postgres::Error),
    Pool(deadpool_postgres::PoolError),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Pg(e)
    }
}

impl From<deadpool_postgres::PoolError> for Failure {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Pool(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Whether `url` asks for TLS, and the URL as the driver reads it: `sslmode=verify-ca` and
/// `verify-full` (libpq's names, which the driver does not know) become `require`, and a CA
/// file without an sslmode asks for TLS too.
fn tls_mode(url: &str, has_ca_file: bool) -> (String, bool) {
    let mut tls = false;
    let mut saw_mode = false;
    let url = match url.split_once('?') {
        Some((base, query)) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some(("sslmode", mode)) => {
                        saw_mode = true;
                        let mode = match mode {
                            "verify-ca" | "verify-full" => "require",
                            other => other,
                        };
                        tls = mode == "require";
                        format!("sslmode={mode}")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{base}?{}", pairs.join("&"))
        }
        None => url.to_string(),
    };
    if has_ca_file && !saw_mode {
        let joiner = if url.contains('?') { '&' } else { '?' };
        return (format!("{url}{joiner}sslmode=require"), true);
    }
    (url, tls)
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`), upgrading the
    /// schema. Fails within a few seconds, naming the server, when it cannot be reached.
    ///
    /// `sslmode=require`, `verify-ca` or `verify-full` (or a CA file named by
    /// `sslrootcert=FILE`) connects over TLS only, the server's certificate and host name
    /// verified against the CA file or the system's roots (stricter than libpq's `require`,
    /// which checks nothing without a root file); a server without TLS is refused.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let bad_url = |message: String| StoreError::Postgres {
            target: "(the database URL)".into(),
            message,
        };
        let (url, ca_file) = fightwatch_tls::split_ca(url).map_err(|e| bad_url(e.to_string()))?;
        let (url, tls) = tls_mode(&url, ca_file.is_some());
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| bad_url(format!("not a PostgreSQL URL: {e}")))?;
        let target = describe(&config);
        let mut config = config;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("fightwatch");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fw-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Postgres {
                target: target.clone(),
                message: format!("starting the driver's runtime: {e}"),
            })?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if tls {
            let client = fightwatch_tls::client_config(ca_file.as_deref()).map_err(|e| {
                StoreError::Postgres {
                    target: target.clone(),
                    message: e.to_string(),
                }
            })?;
            let connector = tokio_postgres_rustls::MakeRustlsConnect::new((*client).clone());
            Manager::from_config(config, connector, manager_config)
        } else {
            Manager::from_config(config, NoTls, manager_config)
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Postgres {
                target: target.clone(),
                message: e.to_string(),
            })?;
        let store = Self {
            target: target.clone(),
            pool,
            runtime: Some(runtime),
        };
        store.call(move |pool| async move {
            let mut client = pool.get().await?;
            schema::upgrade(&mut client, &target).await
        })?;
        Ok(store)
    }

    /// Runs the future `make` builds on the driver's runtime and waits for its result.
    fn call<T, F>(&self, make: impl FnOnce(Pool) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Failure>> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let future = make(self.pool.clone());
        let Some(runtime) = &self.runtime else {
            return Err(self.stopped());
        };
        runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        match rx.recv() {
            Ok(result) => result.map_err(|f| self.error(f)),
            Err(_) => Err(self.stopped()),
        }
    }

    fn stopped(&self) -> StoreError {
        StoreError::Postgres {
            target: self.target.clone(),
            message: "the store is shutting down".into(),
        }
    }

    fn error(&self, failure: Failure) -> StoreError {
        let message = match failure {
            Failure::Store(e) => return e,
            Failure::Pg(e) => pg_message(&e),
            Failure::Pool(deadpool_postgres::PoolError::Backend(e)) => pg_message(&e),
            Failure::Pool(e) => e.to_string(),
        };
        StoreError::Postgres {
            target: self.target.clone(),
            message,
        }
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside async code: let it wind down alone.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// `host:port/database` from a parsed URL.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("(default)");
    format!("postgres://{host}:{port}/{db}")
}

/// The server's own words for a database error; the cause chain for the rest.
fn pg_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

impl AlertStore for PostgresStore {
    fn create_alert(&self, new: &NewAlert) -> Result<FightAlert, StoreError> {
        let new = new.clone();
        self.call(move |pool| async move { data::create_alert(&mut pool.get().await?, new).await })
    }

    fn integration_cursor(&self, target: &str) -> Result<Option<u64>, StoreError> {
        let target = target.to_string();
        self.call(move |pool| async move {
            let row = pool
                .get()
                .await?
                .query_opt(
                    "SELECT last_seq FROM integration_cursors WHERE target = $1",
                    &[&target],
                )
                .await?;
            Ok(row.map(|r| r.get::<_, i64>(0) as u64))
        })
    }
    fn put_push_subscription(&self, sub: &PushSubscription) -> Result<bool, StoreError> {
        let sub = sub.clone();
        self.call(move |pool| async move {
            let changed = pool
                .get()
                .await?
                .execute(
                    "INSERT INTO push_subscriptions (endpoint, username, p256dh, auth, created_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (endpoint) DO UPDATE SET
                        p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at
                     WHERE push_subscriptions.username = excluded.username",
                    &[&sub.endpoint, &sub.user, &sub.p256dh, &sub.auth, &(sub.created_at as i64)],
                )
                .await?;
            Ok(changed == 1)
        })
    }
    fn push_subscriptions(&self) -> Result<Vec<PushSubscription>, StoreError> {
        self.call(move |pool| async move {
            let rows = pool
                .get()
                .await?
                .query(
                    "SELECT endpoint, username, p256dh, auth, created_at FROM push_subscriptions
                     ORDER BY created_at, endpoint",
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| PushSubscription {
                    endpoint: r.get(0),
                    user: r.get(1),
                    p256dh: r.get(2),
                    auth: r.get(3),
                    created_at: r.get::<_, i64>(4) as u64,
                })
                .collect())
        })
    }
    fn delete_push_subscription(&self, endpoint: &str) -> Result<bool, StoreError> {
        let endpoint = endpoint.to_string();
        self.call(move |pool| async move {
            Ok(pool
                .get()
                .await?
                .execute(
                    "DELETE FROM push_subscriptions WHERE endpoint = $1",
                    &[&endpoint],
                )
                .await?
                > 0)
        })
    }
    fn set_integration_cursor(&self, target: &str, seq: u64) -> Result<(), StoreError> {
        let target = target.to_string();
        self.call(move |pool| async move {
            pool.get()
                .await?
                .execute(
                    "INSERT INTO integration_cursors (target, last_seq) VALUES ($1, $2)
                     ON CONFLICT (target) DO UPDATE SET last_seq = GREATEST(integration_cursors.last_seq, excluded.last_seq)",
                    &[&target, &(seq as i64)],
                )
                .await?;
            Ok(())
        })
    }
    fn escalate_alert(
        &self,
        id: &str,
        level: u32,
        now_ms: u64,
    ) -> Result<Option<fightwatch_protocol::AlertEscalated>, StoreError> {
        let id = id.to_string();
        self.call(move |pool| async move {
            data::escalate_alert(&mut pool.get().await?, &id, level, now_ms).await
        })
    }
    fn raise_or_group(
        &self,
        new: &NewAlert,
        grouping: &Grouping,
    ) -> Result<RaiseOrGroup, StoreError> {
        let (new, grouping) = (new.clone(), *grouping);
        self.call(move |pool| async move {
            data::raise_or_group(&mut pool.get().await?, new, grouping).await
        })
    }

    fn update_alert(&self, id: &str, change: &AlertChange) -> Result<AlertUpdate, StoreError> {
        let (id, change) = (id.to_string(), change.clone());
        self.call(move |pool| async move {
            data::update_alert(&mut pool.get().await?, &id, change).await
        })
    }

    fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        let id = id.to_string();
        self.call(move |pool| async move { data::alert(&pool.get().await?, &id).await })
    }

    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRecord>, StoreError> {
        let filter = filter.clone();
        self.call(move |pool| async move { data::alerts(&pool.get().await?, filter).await })
    }

    fn alert_events(&self, id: &str) -> Result<Vec<(u64, ServerMessage)>, StoreError> {
        let id = id.to_string();
        self.call(move |pool| async move { data::alert_events(&pool.get().await?, &id).await })
    }

    fn events_after(&self, after_seq: u64, limit: usize) -> Result<Vec<ServerMessage>, StoreError> {
        self.call(move |pool| async move {
            data::events_after(&pool.get().await?, after_seq, limit).await
        })
    }

    fn last_seq(&self) -> Result<u64, StoreError> {
        self.call(|pool| async move { data::last_seq(&pool.get().await?).await })
    }

    fn prune(&self, before_ms: u64) -> Result<Vec<String>, StoreError> {
        self.call(move |pool| async move { data::prune(&mut pool.get().await?, before_ms).await })
    }

    fn oldest_media(&self, limit: usize) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        self.call(move |pool| async move { data::oldest_media(&pool.get().await?, limit).await })
    }

    fn clear_media(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_string();
        self.call(move |pool| async move { data::clear_media(&pool.get().await?, &id).await })
    }

    fn add_message(&self, room: &str, from: &str, text: &str) -> Result<ChatMessage, StoreError> {
        let (room, from, text) = (room.to_string(), from.to_string(), text.to_string());
        self.call(move |pool| async move {
            data::add_message(&mut pool.get().await?, &room, &from, &text).await
        })
    }

    fn messages(&self, room: &str, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        let room = room.to_string();
        self.call(move |pool| async move { data::messages(&pool.get().await?, &room, limit).await })
    }

    fn put_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let user = user.clone();
        self.call(move |pool| async move { data::put_user(&mut pool.get().await?, user).await })
    }

    fn create_first_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let user = user.clone();
        self.call(
            move |pool| async move { data::create_first_user(&mut pool.get().await?, user).await },
        )
    }

    fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let name = name.to_string();
        self.call(move |pool| async move { data::user(&pool.get().await?, &name).await })
    }

    fn user_names(&self) -> Result<Vec<(String, Role)>, StoreError> {
        self.call(|pool| async move { data::user_names(&pool.get().await?).await })
    }

    fn user_count(&self) -> Result<u64, StoreError> {
        self.call(|pool| async move { data::user_count(&pool.get().await?).await })
    }

    fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.call(move |pool| async move { data::delete_user(&mut pool.get().await?, &name).await })
    }

    fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let session = session.clone();
        self.call(
            move |pool| async move { data::create_session(&pool.get().await?, session).await },
        )
    }

    fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let id = id.to_string();
        self.call(move |pool| async move { data::session(&pool.get().await?, &id).await })
    }

    fn revoke_session(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.call(move |pool| async move {
            Ok(data::revoke(&mut pool.get().await?, "id = $1", &id).await? > 0)
        })
    }

    fn revoke_user_sessions(&self, user: &str) -> Result<usize, StoreError> {
        let user = user.to_string();
        self.call(move |pool| async move {
            data::revoke(&mut pool.get().await?, "username = $1", &user).await
        })
    }

    fn revocation_revision(&self) -> Result<u64, StoreError> {
        self.call(|pool| async move { data::revocation_revision(&pool.get().await?).await })
    }
}

#[cfg(test)]
mod tests;
