//! The schema and its versions (`PRAGMA user_version`), upgraded in place on open, in the
//! style of Moonfire NVR: one function per step, each in its own transaction, so a database
//! of any earlier release (or a new, empty one: version 0) walks up to [`VERSION`].
//!
//! To change the schema, append a step to [`STEPS`]; never edit a released one. The upgrade
//! test opens `fixtures/db/fightwatch-schema1.db` (made by the release before versioned
//! upgrades) and compares the result with a fresh database.

use rusqlite::{Connection, Transaction};

/// The schema version this build writes.
pub(crate) const VERSION: i64 = STEPS.len() as i64;

/// Step `i` upgrades version `i` to `i + 1`.
const STEPS: [fn(&Transaction<'_>) -> rusqlite::Result<()>; 9] = [
    v1_base,
    v2_checks,
    v3_clips,
    v4_workflow,
    v5_escalations,
    v6_integrations,
    v7_grouping,
    v8_push,
    v9_region,
];

pub(crate) enum UpgradeError {
    Sql(rusqlite::Error),
    /// A newer release's database: reading it could misread it.
    TooNew(i64),
}

impl From<rusqlite::Error> for UpgradeError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

/// Brings the database up to [`VERSION`]. Each step runs in an IMMEDIATE transaction that
/// reads the version again first: two processes opening one database at once (a server and
/// `fightwatch token`) take turns, and the second finds the work done.
pub(crate) fn upgrade(conn: &mut Connection) -> Result<(), UpgradeError> {
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > VERSION {
            return Err(UpgradeError::TooNew(version));
        }
        let Some(step) = STEPS.get(version.max(0) as usize) else {
            return Ok(());
        };
        step(&tx)?;
        tx.pragma_update(None, "user_version", version.max(0) + 1)?;
        tx.commit()?;
        if version > 0 {
            tracing::info!(
                from = version,
                to = version + 1,
                "Upgraded the database schema."
            );
        }
    }
}

/// Version 1: the tables of the first release (kept as they were: databases of it exist, made
/// without `user_version`), and the event log's alert column and indexes, so an alert's
/// timeline and a camera's events are index lookups instead of scans of the whole log.
fn v1_base(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at_ms INTEGER NOT NULL,
            camera TEXT,
            body TEXT NOT NULL
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
        );",
    )?;
    let has_alert_id = tx
        .prepare("SELECT 1 FROM pragma_table_info('events') WHERE name = 'alert_id'")?
        .exists([])?;
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
    )
}

/// Version 2: enumerations and JSON columns are checked by the database itself, so a bad
/// write fails instead of being read back as something else later. SQLite cannot add a CHECK
/// to a table, so `alerts` and `users` are rebuilt; a row that breaks a check fails the
/// upgrade (and the open) rather than being dropped.
fn v2_checks(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE alerts_v2 (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            camera TEXT NOT NULL,
            site TEXT NOT NULL,
            label TEXT NOT NULL,
            score REAL NOT NULL,
            peak_score REAL NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('active', 'ended', 'acknowledged')),
            started_at INTEGER NOT NULL,
            ended_at INTEGER,
            acked_by TEXT,
            note TEXT,
            snapshot TEXT,
            source TEXT NOT NULL,
            CHECK ((status = 'acknowledged') = (acked_by IS NOT NULL))
        );
        INSERT INTO alerts_v2 SELECT id, seq, camera, site, label, score, peak_score, status,
            started_at, ended_at, acked_by, note, snapshot, source FROM alerts;
        DROP TABLE alerts;
        ALTER TABLE alerts_v2 RENAME TO alerts;
        CREATE INDEX alerts_camera ON alerts (camera, seq);
        CREATE INDEX alerts_snapshot ON alerts (seq) WHERE snapshot IS NOT NULL;

        CREATE TABLE users_v2 (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('detector', 'viewer', 'operator', 'admin')),
            password_hash TEXT NOT NULL,
            cameras TEXT CHECK (cameras IS NULL OR (json_valid(cameras) AND json_type(cameras) = 'array'))
        );
        INSERT INTO users_v2 SELECT name, role, password_hash, cameras FROM users;
        DROP TABLE users;
        ALTER TABLE users_v2 RENAME TO users;",
    )
}

/// Version 3: incident clips (a JSON `ClipInfo`), and the space limit's index covers them.
fn v3_clips(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE alerts ADD COLUMN clip TEXT CHECK (clip IS NULL OR json_valid(clip));
        DROP INDEX alerts_snapshot;
        CREATE INDEX alerts_media ON alerts (seq) WHERE snapshot IS NOT NULL OR clip IS NOT NULL;",
    )
}

/// Version 4: the workflow — an assignee, and resolution with an outcome (SQLite cannot change
/// a CHECK in place: the table is rebuilt).
fn v4_workflow(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE alerts_v4 (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            camera TEXT NOT NULL,
            site TEXT NOT NULL,
            label TEXT NOT NULL,
            score REAL NOT NULL,
            peak_score REAL NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('active', 'ended', 'acknowledged', 'resolved')),
            started_at INTEGER NOT NULL,
            ended_at INTEGER,
            acked_by TEXT,
            note TEXT,
            snapshot TEXT,
            source TEXT NOT NULL,
            clip TEXT CHECK (clip IS NULL OR json_valid(clip)),
            assignee TEXT,
            outcome TEXT CHECK (outcome IS NULL OR outcome IN ('confirmed', 'false_alarm', 'test')),
            reason TEXT,
            resolved_by TEXT,
            CHECK ((status IN ('acknowledged', 'resolved')) = (acked_by IS NOT NULL)),
            CHECK ((status = 'resolved') = (outcome IS NOT NULL AND resolved_by IS NOT NULL)),
            CHECK ((reason IS NOT NULL) = (outcome IS NOT NULL AND outcome = 'false_alarm'))
        );
        INSERT INTO alerts_v4 (id, seq, camera, site, label, score, peak_score, status,
            started_at, ended_at, acked_by, note, snapshot, source, clip)
            SELECT id, seq, camera, site, label, score, peak_score, status, started_at,
            ended_at, acked_by, note, snapshot, source, clip FROM alerts;
        DROP TABLE alerts;
        ALTER TABLE alerts_v4 RENAME TO alerts;
        CREATE INDEX alerts_camera ON alerts (camera, seq);
        CREATE INDEX alerts_media ON alerts (seq) WHERE snapshot IS NOT NULL OR clip IS NOT NULL;",
    )
}

/// Version 5: how many times each alert was escalated.
fn v5_escalations(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE alerts ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0 CHECK (escalations >= 0);",
    )
}

/// Version 6: how far each integration target (webhook) got in the event log.
fn v6_integrations(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS integration_cursors (target TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);",
    )
}

/// Version 7: detections grouped into one alert per incident.
fn v7_grouping(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE alerts ADD COLUMN count INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1);
        ALTER TABLE alerts ADD COLUMN last_seen_at INTEGER;",
    )
}

/// Version 8: browsers subscribed to Web Push.
fn v8_push(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS push_subscriptions (
            endpoint TEXT PRIMARY KEY,
            user TEXT NOT NULL,
            p256dh TEXT NOT NULL,
            auth TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );",
    )
}

/// Version 9: where in the picture (the model's box, JSON `[x0, y0, x1, y1]`) and the heat
/// map beside the snapshot.
fn v9_region(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE alerts ADD COLUMN region TEXT CHECK (region IS NULL OR json_valid(region));
        ALTER TABLE alerts ADD COLUMN heatmap TEXT;",
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{AlertFilter, AlertStore, SqliteStore, StoreError};

    /// The schema as SQLite records it: every table and index with its SQL, by name (the SQL
    /// without whitespace: the first release's tables were created with other indentation).
    fn schema_of(path: &Path) -> Vec<(String, String)> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .unwrap();
        stmt.query_map([], |r| {
            let sql: String = r.get(1)?;
            Ok((r.get(0)?, sql.split_whitespace().collect()))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    fn user_version(path: &Path) -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn the_previous_release_database_upgrades_to_the_fresh_schema_with_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.db");
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/db/fightwatch-schema1.db");
        std::fs::copy(&fixture, &old).unwrap();
        assert_eq!(user_version(&old), 1, "the fixture is a schema-1 database");
        let fresh = dir.path().join("fresh.db");
        drop(SqliteStore::open(&fresh).unwrap());

        let store = SqliteStore::open(&old).unwrap();
        assert_eq!(user_version(&old), super::VERSION);
        assert_eq!(schema_of(&old), schema_of(&fresh));

        // Everything the old release stored reads back.
        let alerts = store.alerts(&AlertFilter::default()).unwrap();
        assert_eq!(
            alerts
                .iter()
                .map(|a| (a.id.as_str(), a.status.as_str()))
                .collect::<Vec<_>>(),
            [("a6", "active"), ("a4", "acknowledged"), ("a1", "ended")]
        );
        assert_eq!(alerts[1].note.as_deref(), Some("guard sent"));
        assert_eq!(store.alert_events("a1").unwrap().len(), 3);
        assert_eq!(store.events_after(0, 100).unwrap().len(), 8);
        assert_eq!(store.last_seq().unwrap(), 8);
        assert_eq!(store.messages("site:hq", 10).unwrap()[0].text, "on my way");
        let ops = store.user("ops").unwrap().unwrap();
        assert_eq!(ops.cameras, Some(vec!["lobby".to_string()]));
        assert!(store.session("s1").unwrap().unwrap().revoked_at.is_none());
        assert!(store.session("s2").unwrap().unwrap().revoked_at.is_some());
        assert!(store.revocation_revision().unwrap() > 0);
        // New events continue the old sequence.
        assert_eq!(store.add_message("site:hq", "ops", "later").unwrap().seq, 9);
        drop(store);
        // Opening again is a no-op.
        drop(SqliteStore::open(&old).unwrap());
        assert_eq!(schema_of(&old), schema_of(&fresh));
    }

    #[test]
    fn a_newer_database_is_refused_and_bad_rows_fail_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let newer = dir.path().join("newer.db");
        drop(SqliteStore::open(&newer).unwrap());
        rusqlite::Connection::open(&newer)
            .unwrap()
            .pragma_update(None, "user_version", super::VERSION + 1)
            .unwrap();
        assert!(matches!(
            SqliteStore::open(&newer),
            Err(StoreError::TooNew { .. })
        ));

        let bad = dir.path().join("bad.db");
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/db/fightwatch-schema1.db");
        std::fs::copy(&fixture, &bad).unwrap();
        rusqlite::Connection::open(&bad)
            .unwrap()
            .execute_batch("UPDATE alerts SET status = 'bogus' WHERE id = 'a6'")
            .unwrap();
        let err = SqliteStore::open(&bad)
            .err()
            .expect("a bad status fails the upgrade");
        assert!(err.to_string().contains("CHECK"), "{err}");
        assert_eq!(user_version(&bad), 1, "the failed step rolled back");
    }
}
