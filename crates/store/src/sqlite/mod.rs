//! The embedded default: one SQLite file.
//!
//! One connection behind a mutex: writes are serialised anyway, and an event's sequence number
//! is assigned in the same transaction as the row it describes.

mod alerts;
mod chat;
mod schema;
mod snapshots;
mod users;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fightwatch_protocol::{AlertUpdate, ChatMessage, FightAlert, Role, ServerMessage};
use rusqlite::{Connection, OptionalExtension};

use crate::{
    AlertChange, AlertFilter, AlertRecord, AlertStore, Grouping, NewAlert, PushSubscription,
    RaiseOrGroup, SessionRecord, StoreError, UserRecord,
};

/// The fightwatch database in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// Why a query failed, before the database's path is attached.
pub(crate) enum Failure {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// A row whose stored value cannot be what it claims to be (fail closed: an error, never a
/// guess).
pub(crate) fn unreadable(column: usize, why: impl Into<String>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        why.into().into(),
    )
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, upgrading its schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        private_file(path).map_err(|e| {
            err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(e.to_string()),
            ))
        })?;
        let mut conn = Connection::open(path).map_err(err)?;
        // Another process (`fightwatch user`, `fightwatch token`) may write while the server runs.
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        )
        .map_err(err)?;
        match schema::upgrade(&mut conn) {
            Ok(()) => {}
            Err(schema::UpgradeError::Sql(e)) => return Err(err(e)),
            Err(schema::UpgradeError::TooNew(found)) => {
                return Err(StoreError::TooNew {
                    path: path.to_path_buf(),
                    found,
                    known: schema::VERSION,
                });
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// Runs `f` on the connection, naming the database in its errors.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn).map_err(|failure| match failure {
            Failure::Sql(source) => StoreError::Sqlite {
                path: self.path.clone(),
                source,
            },
            Failure::Store(e) => e,
        })
    }

    /// Runs raw SQL (tests that damage rows on purpose).
    #[cfg(test)]
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), StoreError> {
        self.with(|c| Ok(c.execute_batch(sql)?))
    }
}

/// Creates the database file readable by its owner only (it holds password hashes and chat), or
/// narrows an existing one that others could read. SQLite gives its -wal and -shm files the
/// database file's mode.
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "Database was readable by others; set to 0600.");
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

impl AlertStore for SqliteStore {
    fn create_alert(&self, new: &NewAlert) -> Result<FightAlert, StoreError> {
        self.with(|c| alerts::create(c, new))
    }
    fn raise_or_group(
        &self,
        new: &NewAlert,
        grouping: &Grouping,
    ) -> Result<RaiseOrGroup, StoreError> {
        self.with(|c| alerts::raise_or_group(c, new, grouping))
    }
    fn update_alert(&self, id: &str, change: &AlertChange) -> Result<AlertUpdate, StoreError> {
        self.with(|c| alerts::update(c, id, change))
    }
    fn integration_cursor(&self, target: &str) -> Result<Option<u64>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT last_seq FROM integration_cursors WHERE target = ?1",
                [target],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|s| s as u64))
        })
    }
    fn put_push_subscription(&self, sub: &PushSubscription) -> Result<bool, StoreError> {
        self.with(|c| {
            let changed = c.execute(
                "INSERT INTO push_subscriptions (endpoint, user, p256dh, auth, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (endpoint) DO UPDATE SET
                    p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at
                 WHERE push_subscriptions.user = excluded.user",
                rusqlite::params![
                    sub.endpoint,
                    sub.user,
                    sub.p256dh,
                    sub.auth,
                    sub.created_at as i64
                ],
            )?;
            Ok(changed == 1)
        })
    }
    fn push_subscriptions(&self) -> Result<Vec<PushSubscription>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT endpoint, user, p256dh, auth, created_at FROM push_subscriptions
                 ORDER BY created_at, endpoint",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(PushSubscription {
                    endpoint: r.get(0)?,
                    user: r.get(1)?,
                    p256dh: r.get(2)?,
                    auth: r.get(3)?,
                    created_at: r.get::<_, i64>(4)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
    fn delete_push_subscription(&self, endpoint: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM push_subscriptions WHERE endpoint = ?1",
                [endpoint],
            )? > 0)
        })
    }
    fn set_integration_cursor(&self, target: &str, seq: u64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO integration_cursors (target, last_seq) VALUES (?1, ?2)
                 ON CONFLICT (target) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)",
                rusqlite::params![target, seq as i64],
            )?;
            Ok(())
        })
    }
    fn escalate_alert(
        &self,
        id: &str,
        level: u32,
        now_ms: u64,
    ) -> Result<Option<fightwatch_protocol::AlertEscalated>, StoreError> {
        self.with(|c| alerts::escalate(c, id, level, now_ms))
    }
    fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        self.with(|c| Ok(alerts::get(c, id)?))
    }
    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRecord>, StoreError> {
        self.with(|c| Ok(alerts::list(c, filter)?))
    }
    fn alert_events(&self, id: &str) -> Result<Vec<(u64, ServerMessage)>, StoreError> {
        self.with(|c| alerts::events_of(c, id))
    }
    fn events_after(&self, after_seq: u64, limit: usize) -> Result<Vec<ServerMessage>, StoreError> {
        self.with(|c| alerts::events_after(c, after_seq, limit))
    }
    fn last_seq(&self) -> Result<u64, StoreError> {
        self.with(|c| Ok(alerts::last_seq(c)?))
    }
    fn prune(&self, before_ms: u64) -> Result<Vec<String>, StoreError> {
        self.with(|c| Ok(snapshots::prune(c, before_ms)?))
    }
    fn oldest_media(&self, limit: usize) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        self.with(|c| Ok(snapshots::oldest(c, limit)?))
    }
    fn clear_media(&self, id: &str) -> Result<(), StoreError> {
        self.with(|c| Ok(snapshots::clear(c, id)?))
    }
    fn add_message(&self, room: &str, from: &str, text: &str) -> Result<ChatMessage, StoreError> {
        self.with(|c| chat::add(c, room, from, text))
    }
    fn messages(&self, room: &str, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        self.with(|c| Ok(chat::recent(c, room, limit)?))
    }
    fn put_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.with(|c| users::put(c, user))
    }
    fn create_first_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        self.with(|c| users::put_first(c, user))
    }
    fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.with(|c| Ok(users::get(c, name)?))
    }
    fn user_names(&self) -> Result<Vec<(String, Role)>, StoreError> {
        self.with(|c| Ok(users::names(c)?))
    }
    fn user_count(&self) -> Result<u64, StoreError> {
        self.with(|c| Ok(users::count(c)?))
    }
    fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        self.with(|c| Ok(users::delete(c, name)?))
    }
    fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.with(|c| Ok(users::create_session(c, session)?))
    }
    fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.with(|c| Ok(users::session(c, id)?))
    }
    fn revoke_session(&self, id: &str) -> Result<bool, StoreError> {
        self.with(|c| Ok(users::revoke(c, "id = ?1", id)? > 0))
    }
    fn revoke_user_sessions(&self, user: &str) -> Result<usize, StoreError> {
        self.with(|c| Ok(users::revoke(c, "user = ?1", user)?))
    }
    fn revocation_revision(&self) -> Result<u64, StoreError> {
        self.with(|c| Ok(users::revocation_revision(c)?))
    }
}

#[cfg(test)]
mod tests;
