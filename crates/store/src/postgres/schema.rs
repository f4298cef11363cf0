//! The PostgreSQL schema and its upgrades: append-only steps, each in the transaction that
//! records its version, under an advisory lock so that nodes starting together upgrade once.

use deadpool_postgres::Client;

use super::Failure;
use crate::StoreError;

/// Steps in order; step N (1-based) takes the schema from version N-1 to N. Never edit a
/// released step: append one.
const STEPS: &[&str] = &[
    V1_BASE,
    V2_CLIPS,
    V3_WORKFLOW,
    V4_ESCALATIONS,
    V5_INTEGRATIONS,
    V6_GROUPING,
    V7_PUSH,
    V8_REGION,
];

/// Where in the picture (the model's box, JSON `[x0, y0, x1, y1]`) and the heat map beside the
/// snapshot.
const V8_REGION: &str = "ALTER TABLE alerts ADD COLUMN region TEXT, ADD COLUMN heatmap TEXT;";

/// Browsers subscribed to Web Push.
const V7_PUSH: &str = "
CREATE TABLE push_subscriptions (
    endpoint TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
";

/// Detections grouped into one alert per incident.
const V6_GROUPING: &str = "
ALTER TABLE alerts ADD COLUMN count INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1);
ALTER TABLE alerts ADD COLUMN last_seen_at BIGINT;
";

/// How far each integration target (webhook) got in the event log.
const V5_INTEGRATIONS: &str =
    "CREATE TABLE integration_cursors (target TEXT PRIMARY KEY, last_seq BIGINT NOT NULL);";

/// How many times each alert was escalated.
const V4_ESCALATIONS: &str = "ALTER TABLE alerts ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0 CHECK (escalations >= 0);";

/// The workflow: an assignee, and resolution with an outcome.
const V3_WORKFLOW: &str = "
ALTER TABLE alerts DROP CONSTRAINT alerts_status_check;
ALTER TABLE alerts DROP CONSTRAINT alerts_check;
ALTER TABLE alerts ADD COLUMN assignee TEXT, ADD COLUMN outcome TEXT, ADD COLUMN reason TEXT,
    ADD COLUMN resolved_by TEXT;
ALTER TABLE alerts
    ADD CONSTRAINT alerts_status CHECK (status IN ('active', 'ended', 'acknowledged', 'resolved')),
    ADD CONSTRAINT alerts_outcome CHECK (outcome IS NULL OR outcome IN ('confirmed', 'false_alarm', 'test')),
    ADD CONSTRAINT alerts_acked CHECK ((status IN ('acknowledged', 'resolved')) = (acked_by IS NOT NULL)),
    ADD CONSTRAINT alerts_resolved CHECK ((status = 'resolved') = (outcome IS NOT NULL AND resolved_by IS NOT NULL)),
    ADD CONSTRAINT alerts_reason CHECK ((reason IS NOT NULL) = (outcome IS NOT NULL AND outcome = 'false_alarm'));
";

/// Incident clips: a JSON `ClipInfo`.
const V2_CLIPS: &str = "ALTER TABLE alerts ADD COLUMN clip TEXT;";

/// The schema version this build writes.
pub(crate) const VERSION: i64 = STEPS.len() as i64;

/// Key of the advisory lock held while upgrading (any constant unique to fightwatch).
const UPGRADE_LOCK: i64 = 0x6677_5f73_6368_656d; // "fw_schem"

const V1_BASE: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
-- The event counter: its row lock, held to commit, makes seq order commit order, and it never
-- goes back when old events are pruned.
INSERT INTO meta (key, value) VALUES ('seq', 0), ('revocations', 0);
CREATE TABLE events (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    camera TEXT,
    alert_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX events_alert ON events (alert_id, seq);
CREATE INDEX events_camera ON events (camera, seq);
CREATE INDEX events_at ON events (at_ms);
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    camera TEXT NOT NULL,
    site TEXT NOT NULL,
    label TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    peak_score DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'ended', 'acknowledged')),
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    acked_by TEXT,
    note TEXT,
    snapshot TEXT,
    source TEXT NOT NULL,
    CHECK ((status = 'acknowledged') = (acked_by IS NOT NULL))
);
CREATE INDEX alerts_camera ON alerts (camera, seq);
CREATE INDEX alerts_started ON alerts (started_at);
CREATE INDEX alerts_snapshot ON alerts (seq) WHERE snapshot IS NOT NULL;
CREATE TABLE messages (
    seq BIGINT PRIMARY KEY,
    room TEXT NOT NULL,
    sender TEXT NOT NULL,
    text TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX messages_room ON messages (room, seq);
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'detector')),
    password_hash TEXT NOT NULL,
    cameras JSONB CHECK (cameras IS NULL OR jsonb_typeof(cameras) = 'array')
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_user ON sessions (username);
CREATE INDEX sessions_expiry ON sessions (expires_at);
";

/// Brings the database to [`VERSION`]; refuses one made by a newer fightwatch.
pub(super) async fn upgrade(client: &mut Client, target: &str) -> Result<(), Failure> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&UPGRADE_LOCK])
        .await?;
    // Asked first rather than CREATE IF NOT EXISTS, which makes the server log a notice on
    // every connection.
    let exists: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        tx.batch_execute("CREATE TABLE schema_version (version BIGINT NOT NULL)")
            .await?;
    }
    let found: i64 = tx
        .query_opt("SELECT version FROM schema_version", &[])
        .await?
        .map_or(0, |r| r.get(0));
    if found > VERSION {
        return Err(StoreError::TooNew {
            path: target.into(),
            found,
            known: VERSION,
        }
        .into());
    }
    for (n, step) in STEPS.iter().enumerate().skip(found as usize) {
        tracing::info!(database = %target, version = n + 1, "Upgrading the database schema.");
        tx.batch_execute(step).await?;
    }
    if found == 0 {
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&VERSION],
        )
        .await?;
    } else if found < VERSION {
        tx.execute("UPDATE schema_version SET version = $1", &[&VERSION])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
