use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fightwatch_protocol::{AlertStatus, AlertUpdate, ChatMessage, FightAlert, ServerMessage};
use rusqlite::{Connection, OptionalExtension, params};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed (disk full, corrupt file, locked by another process, ...).
    #[error("database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// No alert with this id.
    #[error("no alert {0}")]
    NoSuchAlert(String),
    /// A stored event could not be read back (written by an incompatible version).
    #[error("stored event {seq} is unreadable: {message}")]
    BadEvent {
        /// The event.
        seq: u64,
        /// Why.
        message: String,
    },
}

/// An alert to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    /// Camera name.
    pub camera: String,
    /// Site.
    pub site: String,
    /// Label (`fight`).
    pub label: String,
    /// Score at start.
    pub score: f32,
    /// When the fight started, ms since the epoch.
    pub started_at: u64,
    /// Snapshot file name inside the data dir, if any.
    pub snapshot: Option<String>,
    /// `pipeline` or the detector's user name.
    pub source: String,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertRecord {
    /// Alert id.
    pub id: String,
    /// Sequence number of its creation.
    pub seq: u64,
    /// Camera.
    pub camera: String,
    /// Site.
    pub site: String,
    /// Label.
    pub label: String,
    /// Score at start.
    pub score: f32,
    /// Highest score.
    pub peak_score: f32,
    /// Status.
    pub status: AlertStatus,
    /// Start, ms since the epoch.
    pub started_at: u64,
    /// End, ms since the epoch.
    pub ended_at: Option<u64>,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// Acknowledgement note.
    pub note: Option<String>,
    /// Snapshot file name, if any.
    pub snapshot: Option<String>,
    /// Who raised it.
    pub source: String,
}

/// Filters for [`Store::alerts`].
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only this camera.
    pub camera: Option<String>,
    /// Only this status.
    pub status: Option<AlertStatus>,
    /// Only alerts started at or after this, ms since the epoch.
    pub since: Option<u64>,
    /// Only alerts started before this, ms since the epoch (with `since`: a date range).
    pub until: Option<u64>,
    /// Only alerts with seq below this (paging: pass the last seq of the previous page).
    pub before_seq: Option<u64>,
    /// At most this many (newest first).
    pub limit: usize,
}

/// The fightwatch database.
pub struct Store {
    path: PathBuf,
    // One connection behind a mutex: writes are serialised anyway, and the event sequence must be
    // assigned in the same transaction as the row it describes.
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    camera TEXT,
    body TEXT NOT NULL,
    alert_id TEXT
);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    camera TEXT NOT NULL,
    site TEXT NOT NULL,
    label TEXT NOT NULL,
    score REAL NOT NULL,
    peak_score REAL NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    acked_by TEXT,
    note TEXT,
    snapshot TEXT,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_camera ON alerts (camera, seq);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    room TEXT NOT NULL,
    sender TEXT NOT NULL,
    text TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_room ON messages (room, seq);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    cameras TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
";

/// Upgrades a database made by an earlier version to `SCHEMA_VERSION` (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

fn migrate(conn: &Connection) -> Result<(), rusqlite::Error> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 1 {
        // Version 1: events know their alert, so an alert's timeline and a camera's events are
        // index lookups instead of scans of the whole log.
        let has_alert_id = conn
            .prepare("SELECT 1 FROM pragma_table_info('events') WHERE name = 'alert_id'")?
            .exists([])?;
        let tx = conn.unchecked_transaction()?;
        if !has_alert_id {
            tx.execute_batch(
                "ALTER TABLE events ADD COLUMN alert_id TEXT;
                 UPDATE events SET alert_id = json_extract(body, '$.id')
                 WHERE json_extract(body, '$.type') IN ('fight_alert', 'alert_update');",
            )?;
        }
        tx.execute_batch(
            "CREATE INDEX IF NOT EXISTS events_alert ON events (alert_id, seq);
             CREATE INDEX IF NOT EXISTS events_camera ON events (camera, seq);",
        )?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
    }
    Ok(())
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

/// A user account (the password is stored only as an argon2 hash, made by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    /// Login name.
    pub name: String,
    /// Role name (`viewer`, `operator`, `admin`, `detector`).
    pub role: String,
    /// PHC-format password hash.
    pub password_hash: String,
    /// Cameras the user may see; `None`: all.
    pub cameras: Option<Vec<String>>,
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
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
        let conn = Connection::open(path).map_err(err)?;
        // Another process (`fightwatch user`, `fightwatch token`) may write while the server runs.
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        )
        .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        migrate(&conn).map_err(err)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an event inside `tx`; `make` builds the message from its sequence number.
    fn append(
        &self,
        tx: &rusqlite::Transaction<'_>,
        camera: Option<&str>,
        make: impl FnOnce(u64) -> ServerMessage,
    ) -> Result<(u64, ServerMessage), StoreError> {
        tx.execute(
            "INSERT INTO events (at_ms, camera, body) VALUES (?1, ?2, '')",
            params![now_ms() as i64, camera],
        )
        .map_err(|e| self.err(e))?;
        let seq = tx.last_insert_rowid() as u64;
        let msg = make(seq);
        let alert_id = match &msg {
            ServerMessage::FightAlert(a) => Some(a.id.as_str()),
            ServerMessage::AlertUpdate(u) => Some(u.id.as_str()),
            _ => None,
        };
        let body = serde_json::to_string(&msg).map_err(|e| StoreError::BadEvent {
            seq,
            message: e.to_string(),
        })?;
        tx.execute(
            "UPDATE events SET body = ?1, alert_id = ?3 WHERE seq = ?2",
            params![body, seq as i64, alert_id],
        )
        .map_err(|e| self.err(e))?;
        Ok((seq, msg))
    }

    /// Creates an alert and its `fight_alert` event, in one transaction.
    pub fn create_alert(&self, new: &NewAlert) -> Result<FightAlert, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let mut alert = None;
        let (seq, _) = self.append(&tx, Some(&new.camera), |seq| {
            let a = FightAlert {
                id: format!("a{seq}"),
                seq,
                camera: new.camera.clone(),
                site: new.site.clone(),
                label: new.label.clone(),
                score: new.score,
                started_at: new.started_at,
                snapshot_url: new
                    .snapshot
                    .as_ref()
                    .map(|_| format!("/api/alerts/a{seq}/snapshot.jpg")),
                source: new.source.clone(),
            };
            alert = Some(a.clone());
            ServerMessage::FightAlert(a)
        })?;
        tx.execute(
            "INSERT INTO alerts (id, seq, camera, site, label, score, peak_score, status, started_at, snapshot, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 'active', ?7, ?8, ?9)",
            params![
                format!("a{seq}"),
                seq as i64,
                new.camera,
                new.site,
                new.label,
                f64::from(new.score),
                new.started_at as i64,
                new.snapshot,
                new.source
            ],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        alert.ok_or_else(|| StoreError::BadEvent {
            seq,
            message: "alert not built".into(),
        })
    }

    /// Applies a change to an alert and records the `alert_update` event.
    ///
    /// `peak` raises the peak score, `ended_at` ends an active alert, `ack` = (user, note)
    /// acknowledges it.
    pub fn update_alert(
        &self,
        id: &str,
        peak: Option<f32>,
        ended_at: Option<u64>,
        ack: Option<(&str, Option<&str>)>,
    ) -> Result<AlertUpdate, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let current = Self::alert_in(&tx, id)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| StoreError::NoSuchAlert(id.into()))?;
        let peak_score = peak.map_or(current.peak_score, |p| p.max(current.peak_score));
        let ended = ended_at.or(current.ended_at);
        let (status, acked_by, note) = match ack {
            Some((user, note)) => (
                AlertStatus::Acknowledged,
                Some(user.to_string()),
                note.map(str::to_string),
            ),
            None if current.status == AlertStatus::Acknowledged => {
                (AlertStatus::Acknowledged, current.acked_by, current.note)
            }
            None if ended.is_some() => (AlertStatus::Ended, None, None),
            None => (AlertStatus::Active, None, None),
        };
        tx.execute(
            "UPDATE alerts SET peak_score = ?2, ended_at = ?3, status = ?4, acked_by = ?5, note = ?6 WHERE id = ?1",
            params![id, f64::from(peak_score), ended.map(|e| e as i64), status.as_str(), acked_by, note],
        )
        .map_err(|e| self.err(e))?;
        let mut update = None;
        self.append(&tx, Some(&current.camera), |seq| {
            let u = AlertUpdate {
                id: id.into(),
                seq,
                camera: current.camera.clone(),
                site: current.site.clone(),
                status,
                peak_score,
                ended_at: ended,
                acked_by,
                note,
            };
            update = Some(u.clone());
            ServerMessage::AlertUpdate(u)
        })?;
        tx.commit().map_err(|e| self.err(e))?;
        update.ok_or_else(|| StoreError::NoSuchAlert(id.into()))
    }

    /// Stores a chat message as an event.
    pub fn add_message(
        &self,
        room: &str,
        from: &str,
        text: &str,
    ) -> Result<ChatMessage, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let at = now_ms();
        let mut msg = None;
        let (seq, _) = self.append(&tx, None, |seq| {
            let m = ChatMessage {
                seq,
                room: room.into(),
                from: from.into(),
                text: text.into(),
                at,
            };
            msg = Some(m.clone());
            ServerMessage::ReceiveMessage(m)
        })?;
        tx.execute(
            "INSERT INTO messages (seq, room, sender, text, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![seq as i64, room, from, text, at as i64],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        msg.ok_or_else(|| StoreError::BadEvent {
            seq,
            message: "message not built".into(),
        })
    }

    /// The newest messages of a room, oldest first.
    pub fn messages(&self, room: &str, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT seq, room, sender, text, at_ms FROM messages WHERE room = ?1 ORDER BY seq DESC LIMIT ?2")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![room, limit as i64], |r| {
                Ok(ChatMessage {
                    seq: r.get::<_, i64>(0)? as u64,
                    room: r.get(1)?,
                    from: r.get(2)?,
                    text: r.get(3)?,
                    at: r.get::<_, i64>(4)? as u64,
                })
            })
            .map_err(|e| self.err(e))?;
        let mut out: Vec<ChatMessage> = rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        out.reverse();
        Ok(out)
    }

    /// Events with `seq > after_seq`, oldest first, at most `limit`.
    pub fn events_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<ServerMessage>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT seq, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![after_seq as i64, limit as i64], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body) = row.map_err(|e| self.err(e))?;
            out.push(
                serde_json::from_str(&body).map_err(|e| StoreError::BadEvent {
                    seq,
                    message: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    /// The events of one alert (its `fight_alert` and every `alert_update`), oldest first, each
    /// with the time the server committed it (ms since the epoch): the alert's timeline.
    pub fn alert_events(&self, id: &str) -> Result<Vec<(u64, ServerMessage)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT seq, at_ms, body FROM events WHERE alert_id = ?1 ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![id], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, at, body) = row.map_err(|e| self.err(e))?;
            let msg = serde_json::from_str(&body).map_err(|e| StoreError::BadEvent {
                seq,
                message: e.to_string(),
            })?;
            out.push((at, msg));
        }
        Ok(out)
    }

    /// The newest event's sequence number (0 when there is none).
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        let conn = self.conn();
        conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|s| s as u64)
        .map_err(|e| self.err(e))
    }

    fn alert_in(conn: &Connection, id: &str) -> Result<Option<AlertRecord>, rusqlite::Error> {
        conn.query_row(
            &format!("{SELECT_ALERT} WHERE id = ?1"),
            params![id],
            row_to_alert,
        )
        .optional()
    }

    /// One alert.
    pub fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        Self::alert_in(&self.conn(), id).map_err(|e| self.err(e))
    }

    /// Alerts matching `filter`, newest first.
    pub fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRecord>, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "{SELECT_ALERT} WHERE (?1 IS NULL OR camera = ?1) AND (?2 IS NULL OR status = ?2)
             AND (?3 IS NULL OR started_at >= ?3) AND (?4 IS NULL OR seq < ?4)
             AND (?6 IS NULL OR started_at < ?6) ORDER BY seq DESC LIMIT ?5"
        );
        let mut stmt = conn.prepare(&sql).map_err(|e| self.err(e))?;
        let limit = if filter.limit == 0 {
            100
        } else {
            filter.limit.min(1000)
        };
        let rows = stmt
            .query_map(
                params![
                    filter.camera,
                    filter.status.map(AlertStatus::as_str),
                    filter.since.map(|s| s as i64),
                    filter.before_seq.map(|s| s as i64),
                    limit as i64,
                    filter.until.map(|s| s as i64)
                ],
                row_to_alert,
            )
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Deletes alerts (and their events and messages) that started before `before_ms`; returns
    /// the snapshot file names of the deleted alerts so the caller can remove the files.
    pub fn prune(&self, before_ms: u64) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let snapshots: Vec<String> = {
            let mut stmt = tx
                .prepare(
                    "SELECT snapshot FROM alerts WHERE started_at < ?1 AND snapshot IS NOT NULL",
                )
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(params![before_ms as i64], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?
        };
        tx.execute(
            "DELETE FROM alerts WHERE started_at < ?1",
            params![before_ms as i64],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "DELETE FROM events WHERE at_ms < ?1",
            params![before_ms as i64],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "DELETE FROM messages WHERE at_ms < ?1",
            params![before_ms as i64],
        )
        .map_err(|e| self.err(e))?;
        // Sessions that expired (logins last hours; the cutoff is days old).
        tx.execute(
            "DELETE FROM sessions WHERE expires_at < ?1",
            params![before_ms as i64],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(snapshots)
    }
}

impl Store {
    /// Creates or replaces a user. Replacing one (new password, role or cameras) revokes its
    /// sessions: tokens issued before carry the old role and cameras.
    pub fn put_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let cameras = match &user.cameras {
            Some(c) => Some(serde_json::to_string(c).map_err(|e| StoreError::BadEvent {
                seq: 0,
                message: e.to_string(),
            })?),
            None => None,
        };
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO users (name, role, password_hash, cameras) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET role = ?2, password_hash = ?3, cameras = ?4",
            params![user.name, user.role, user.password_hash, cameras],
        )
        .map_err(|e| self.err(e))?;
        crate::sessions::revoke_where(&tx, "user = ?1", params![user.name])
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A user by name.
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.conn()
            .query_row(
                "SELECT name, role, password_hash, cameras FROM users WHERE name = ?1",
                params![name],
                |r| {
                    let cameras: Option<String> = r.get(3)?;
                    Ok(UserRecord {
                        name: r.get(0)?,
                        role: r.get(1)?,
                        password_hash: r.get(2)?,
                        // Fail closed: an unreadable list must not become "all cameras".
                        cameras: match cameras {
                            Some(c) => Some(serde_json::from_str(&c).map_err(|e| {
                                rusqlite::Error::FromSqlConversionFailure(
                                    3,
                                    rusqlite::types::Type::Text,
                                    Box::new(e),
                                )
                            })?),
                            None => None,
                        },
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every user's name and role, by name (no password hashes).
    pub fn user_names(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT name, role FROM users ORDER BY name")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// How many users exist.
    pub fn user_count(&self) -> Result<u64, StoreError> {
        self.conn()
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }
}

impl Store {
    /// The oldest alerts that still have a snapshot: (id, snapshot file name), oldest first.
    pub fn oldest_snapshots(&self, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, snapshot FROM alerts WHERE snapshot IS NOT NULL ORDER BY seq LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Forgets an alert's snapshot (its file was removed for space); the alert stays.
    pub fn clear_snapshot(&self, id: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE alerts SET snapshot = NULL WHERE id = ?1",
                params![id],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

const SELECT_ALERT: &str = "SELECT id, seq, camera, site, label, score, peak_score, status, started_at, ended_at, acked_by, note, snapshot, source FROM alerts";

fn row_to_alert(r: &rusqlite::Row<'_>) -> Result<AlertRecord, rusqlite::Error> {
    let status: String = r.get(7)?;
    Ok(AlertRecord {
        id: r.get(0)?,
        seq: r.get::<_, i64>(1)? as u64,
        camera: r.get(2)?,
        site: r.get(3)?,
        label: r.get(4)?,
        score: r.get::<_, f64>(5)? as f32,
        peak_score: r.get::<_, f64>(6)? as f32,
        // Fail closed: an unknown status is an error, not "active".
        status: AlertStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                7,
                rusqlite::types::Type::Text,
                format!("unknown alert status {status:?}").into(),
            )
        })?,
        started_at: r.get::<_, i64>(8)? as u64,
        ended_at: r.get::<_, Option<i64>>(9)?.map(|v| v as u64),
        acked_by: r.get(10)?,
        note: r.get(11)?,
        snapshot: r.get(12)?,
        source: r.get(13)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_alert(camera: &str, started_at: u64) -> NewAlert {
        NewAlert {
            camera: camera.into(),
            site: "hq".into(),
            label: "fight".into(),
            score: 0.8,
            started_at,
            snapshot: Some("snap.jpg".into()),
            source: "pipeline".into(),
        }
    }

    #[test]
    fn alerts_updates_and_acks_are_events_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let a = store.create_alert(&new_alert("lobby", 100)).unwrap();
        assert_eq!((a.seq, a.id.as_str()), (1, "a1"));
        assert_eq!(
            a.snapshot_url.as_deref(),
            Some("/api/alerts/a1/snapshot.jpg")
        );
        let u = store.update_alert(&a.id, Some(0.95), None, None).unwrap();
        assert_eq!(
            (u.seq, u.status, u.peak_score),
            (2, AlertStatus::Active, 0.95)
        );
        let u = store
            .update_alert(&a.id, Some(0.5), Some(200), None)
            .unwrap();
        assert_eq!(
            (u.status, u.peak_score, u.ended_at),
            (AlertStatus::Ended, 0.95, Some(200))
        );
        let u = store
            .update_alert(&a.id, None, None, Some(("ops", Some("handled"))))
            .unwrap();
        assert_eq!(
            (u.status, u.acked_by.as_deref(), u.note.as_deref()),
            (AlertStatus::Acknowledged, Some("ops"), Some("handled"))
        );
        let events = store.events_after(0, 100).unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq().unwrap()).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(store.events_after(2, 100).unwrap().len(), 2);
        assert_eq!(store.last_seq().unwrap(), 4);
        // Another alert on the same camera is not part of a1's timeline.
        let b = store.create_alert(&new_alert("lobby", 300)).unwrap();
        store.update_alert(&b.id, Some(0.9), None, None).unwrap();
        let timeline = store.alert_events("a1").unwrap();
        assert_eq!(
            timeline
                .iter()
                .map(|(_, e)| e.seq().unwrap())
                .collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert!(timeline.iter().all(|(at, _)| *at > 1_700_000_000_000));
        assert_eq!(store.alert_events(&b.id).unwrap().len(), 2);
        assert!(store.alert_events("a99").unwrap().is_empty());
        assert!(matches!(
            store.update_alert("a99", None, None, None),
            Err(StoreError::NoSuchAlert(_))
        ));
    }

    #[test]
    fn a_database_of_the_previous_schema_gets_indexed_alert_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = Store::open(&path).unwrap();
            let a = store.create_alert(&new_alert("lobby", 100)).unwrap();
            store.update_alert(&a.id, Some(0.9), None, None).unwrap();
            // Back to version 0: no alert_id column, no indexes.
            let conn = store.conn();
            conn.execute_batch(
                "DROP INDEX events_alert; DROP INDEX events_camera;
                 ALTER TABLE events DROP COLUMN alert_id; PRAGMA user_version = 0;",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.alert_events("a1").unwrap().len(), 2);
        let plan: String = store
            .conn()
            .query_row(
                "EXPLAIN QUERY PLAN SELECT seq FROM events WHERE alert_id = 'a1' ORDER BY seq",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("events_alert"), "{plan}");
    }

    #[test]
    fn the_database_file_is_private_and_bad_rows_fail_closed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = Store::open(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        store.create_alert(&new_alert("lobby", 1)).unwrap();
        assert_eq!(mode(&dir.path().join("db-wal")), 0o600);
        let conn = store.conn();
        conn.execute_batch(
            "UPDATE alerts SET status = 'bogus';
             INSERT INTO users VALUES ('u', 'viewer', 'h', 'not json');",
        )
        .unwrap();
        drop(conn);
        assert!(store.alert("a1").is_err(), "unknown status is not 'active'");
        assert!(
            store.user("u").is_err(),
            "unreadable cameras are not 'all cameras'"
        );
    }

    #[test]
    fn users_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        assert_eq!(store.user_count().unwrap(), 0);
        let u = UserRecord {
            name: "ops".into(),
            role: "operator".into(),
            password_hash: "$argon2id$x".into(),
            cameras: Some(vec!["lobby".into()]),
        };
        store.put_user(&u).unwrap();
        assert_eq!(store.user("ops").unwrap(), Some(u.clone()));
        store
            .put_user(&UserRecord {
                role: "admin".into(),
                cameras: None,
                ..u
            })
            .unwrap();
        assert_eq!(store.user("ops").unwrap().unwrap().role, "admin");
        assert_eq!(store.user_count().unwrap(), 1);
        assert_eq!(
            store.user_names().unwrap(),
            vec![("ops".to_string(), "admin".to_string())]
        );
        assert_eq!(store.user("nobody").unwrap(), None);
    }

    #[test]
    fn filters_paging_chat_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = Store::open(&path).unwrap();
            for i in 0..5 {
                store
                    .create_alert(&new_alert(
                        if i % 2 == 0 { "lobby" } else { "gate" },
                        100 + i,
                    ))
                    .unwrap();
            }
            store.add_message("site:hq", "ops", "on my way").unwrap();
        }
        let store = Store::open(&path).unwrap(); // survives reopening
        let lobby = store
            .alerts(&AlertFilter {
                camera: Some("lobby".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            lobby.iter().map(|a| a.seq).collect::<Vec<_>>(),
            vec![5, 3, 1]
        );
        let page = store
            .alerts(&AlertFilter {
                limit: 2,
                before_seq: Some(4),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(page.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![3, 2]);
        let since = store
            .alerts(&AlertFilter {
                since: Some(103),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(since.len(), 2);
        let day = store
            .alerts(&AlertFilter {
                since: Some(101),
                until: Some(103),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(day.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![3, 2]);
        let msgs = store.messages("site:hq", 10).unwrap();
        assert_eq!(
            (msgs.len(), msgs[0].text.as_str(), msgs[0].seq),
            (1, "on my way", 6)
        );
        // Sequence numbers keep growing after a reopen.
        let next = store.create_alert(&new_alert("lobby", 200)).unwrap();
        assert_eq!(next.seq, 7);
        let oldest = store.oldest_snapshots(2).unwrap();
        assert_eq!(
            oldest.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            vec!["a1", "a2"]
        );
        store.clear_snapshot("a1").unwrap();
        assert_eq!(store.oldest_snapshots(1).unwrap()[0].0, "a2");
        let gone = store.prune(103).unwrap();
        assert_eq!(gone.len(), 2); // a1's snapshot was already cleared
        assert_eq!(store.alerts(&AlertFilter::default()).unwrap().len(), 3);
    }
}
