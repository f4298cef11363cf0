//! Alerts and the event log: every change to an alert is also a numbered event, written in
//! the same transaction.

use crate::workflow::StoredEvent;
use fightwatch_protocol::{AlertStatus, AlertUpdate, FightAlert, ServerMessage, now_ms};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Failure, unreadable};
use crate::{AlertChange, AlertFilter, AlertRecord, Grouping, NewAlert, RaiseOrGroup, StoreError};

/// Appends an event inside `tx`; `make` builds the message from its sequence number.
pub(super) fn append<E: StoredEvent>(
    tx: &Transaction<'_>,
    camera: Option<&str>,
    make: impl FnOnce(u64) -> E,
) -> Result<E, Failure> {
    tx.execute(
        "INSERT INTO events (at_ms, camera, body) VALUES (?1, ?2, '')",
        params![now_ms() as i64, camera],
    )?;
    let seq = tx.last_insert_rowid() as u64;
    let event = make(seq);
    let body = crate::workflow::event_body(seq, &event)?;
    tx.execute(
        "UPDATE events SET body = ?1, alert_id = ?3 WHERE seq = ?2",
        params![body, seq as i64, event.alert_id()],
    )?;
    Ok(event)
}

fn bad_event(seq: u64, e: impl std::fmt::Display) -> StoreError {
    StoreError::BadEvent {
        seq,
        message: e.to_string(),
    }
}

fn parse_event(seq: u64, body: &str) -> Result<ServerMessage, StoreError> {
    serde_json::from_str(body).map_err(|e| bad_event(seq, e))
}

pub(super) fn create(conn: &mut Connection, new: &NewAlert) -> Result<FightAlert, Failure> {
    let tx = conn.transaction()?;
    let alert = insert(&tx, new)?;
    tx.commit()?;
    Ok(alert)
}

/// Inserts `new` and its `fight_alert` event inside `tx`.
fn insert(tx: &Transaction<'_>, new: &NewAlert) -> Result<FightAlert, Failure> {
    let alert = append(tx, Some(&new.camera), |seq| {
        crate::workflow::fight_alert(seq, new)
    })?;
    tx.execute(
        "INSERT INTO alerts (id, seq, camera, site, label, score, peak_score, status, started_at, snapshot, source, region, heatmap)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 'active', ?7, ?8, ?9, ?10, ?11)",
        params![
            alert.id,
            alert.seq as i64,
            new.camera,
            new.site,
            new.label,
            f64::from(new.score),
            new.started_at as i64,
            new.snapshot,
            new.source,
            crate::workflow::region_json(new.region),
            new.heatmap
        ],
    )?;
    Ok(alert)
}

/// Applies `change` ([`crate::workflow::apply`]) and records its event.
pub(super) fn update(
    conn: &mut Connection,
    id: &str,
    change: &AlertChange,
) -> Result<AlertUpdate, Failure> {
    let tx = conn.transaction()?;
    let current = get(&tx, id)?.ok_or_else(|| StoreError::NoSuchAlert(id.into()))?;
    let update = apply(&tx, &current, change)?;
    tx.commit()?;
    Ok(update)
}

/// See [`crate::AlertStore::raise_or_group`]. The transaction is IMMEDIATE: it takes the
/// write lock before reading the camera's newest alert, so no other writer (another process
/// on the same file) decides between the read and the write.
pub(super) fn raise_or_group(
    conn: &mut Connection,
    new: &NewAlert,
    grouping: &Grouping,
) -> Result<RaiseOrGroup, Failure> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let latest = tx
        .query_row(
            &format!(
                "{} WHERE camera = ?1 ORDER BY seq DESC LIMIT 1",
                select_alert()
            ),
            params![new.camera],
            row_to_alert,
        )
        .optional()?;
    let change = latest.as_ref().and_then(|latest| {
        Some((
            latest,
            crate::workflow::grouping_change(latest, new, grouping)?,
        ))
    });
    let done = match change {
        Some((latest, change)) => crate::workflow::grouped(latest, apply(&tx, latest, &change)?),
        None => RaiseOrGroup::Raised(insert(&tx, new)?),
    };
    tx.commit()?;
    Ok(done)
}

/// Applies `change` to `current` and records its event, inside `tx`.
fn apply(
    tx: &Transaction<'_>,
    current: &AlertRecord,
    change: &AlertChange,
) -> Result<AlertUpdate, Failure> {
    let id = &current.id;
    let next = crate::workflow::apply(current, change)?;
    tx.execute(
        "UPDATE alerts SET peak_score = ?2, ended_at = ?3, status = ?4, acked_by = ?5, note = ?6, clip = ?7,
         assignee = ?8, outcome = ?9, reason = ?10, resolved_by = ?11, count = ?12,
         last_seen_at = COALESCE(?13, last_seen_at) WHERE id = ?1",
        params![
            id,
            f64::from(next.peak_score),
            next.ended_at.map(|e| e as i64),
            next.status.as_str(),
            next.acked_by,
            next.note,
            crate::workflow::clip_json(next.clip.as_deref())?,
            next.assignee,
            next.outcome.map(fightwatch_protocol::Outcome::as_str),
            next.reason.map(fightwatch_protocol::FalseAlarmReason::as_str),
            next.resolved_by,
            next.count,
            change.regroup.map(|(_, at)| at as i64)
        ],
    )?;
    append(tx, Some(&current.camera), |seq| AlertUpdate { seq, ..next })
}

/// See [`crate::AlertStore::escalate_alert`].
pub(super) fn escalate(
    conn: &mut Connection,
    id: &str,
    level: u32,
    now_ms: u64,
) -> Result<Option<fightwatch_protocol::AlertEscalated>, Failure> {
    let tx = conn.transaction()?;
    let current = get(&tx, id)?.ok_or_else(|| StoreError::NoSuchAlert(id.into()))?;
    let Some(make) = crate::workflow::escalation(&current, level, now_ms) else {
        return Ok(None);
    };
    tx.execute(
        "UPDATE alerts SET escalations = ?2 WHERE id = ?1",
        params![id, level],
    )?;
    let escalated = append(&tx, Some(&current.camera), make)?;
    tx.commit()?;
    Ok(Some(escalated))
}

fn select_alert() -> String {
    format!("SELECT {} FROM alerts", crate::workflow::ALERT_COLUMNS)
}

impl crate::workflow::StoredRow for rusqlite::Row<'_> {
    type Error = rusqlite::Error;

    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }

    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }

    fn int(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }

    fn opt_int(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }

    fn float(&self, i: usize) -> rusqlite::Result<f64> {
        self.get(i)
    }

    fn unreadable(&self, i: usize, why: String) -> rusqlite::Error {
        unreadable(i, why)
    }
}

fn row_to_alert(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRecord> {
    crate::workflow::alert_record(r)
}

pub(super) fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<AlertRecord>> {
    conn.query_row(
        &format!("{} WHERE id = ?1", select_alert()),
        params![id],
        row_to_alert,
    )
    .optional()
}

pub(super) fn list(conn: &Connection, filter: &AlertFilter) -> rusqlite::Result<Vec<AlertRecord>> {
    let sql = format!(
        "{} WHERE (?1 IS NULL OR camera = ?1) AND (?2 IS NULL OR status = ?2)
         AND (?3 IS NULL OR started_at >= ?3) AND (?4 IS NULL OR seq < ?4)
         AND (?6 IS NULL OR started_at < ?6) ORDER BY seq DESC LIMIT ?5",
        select_alert()
    );
    let limit = match filter.limit {
        0 => 100,
        n => n.min(1000),
    };
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(
        params![
            filter.camera,
            filter.status.map(AlertStatus::as_str),
            filter.since.map(|s| s as i64),
            filter.before_seq.map(|s| s as i64),
            limit as i64,
            filter.until.map(|s| s as i64)
        ],
        row_to_alert,
    )?;
    rows.collect()
}

pub(super) fn events_after(
    conn: &Connection,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<ServerMessage>, Failure> {
    let mut stmt =
        conn.prepare("SELECT seq, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let rows = stmt.query_map(params![after_seq as i64, limit as i64], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, body) = row?;
        out.push(parse_event(seq, &body)?);
    }
    Ok(out)
}

pub(super) fn events_of(conn: &Connection, id: &str) -> Result<Vec<(u64, ServerMessage)>, Failure> {
    let mut stmt =
        conn.prepare("SELECT seq, at_ms, body FROM events WHERE alert_id = ?1 ORDER BY seq")?;
    let rows = stmt.query_map(params![id], |r| {
        Ok((
            r.get::<_, i64>(0)? as u64,
            r.get::<_, i64>(1)? as u64,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, at, body) = row?;
        out.push((at, parse_event(seq, &body)?));
    }
    Ok(out)
}

pub(super) fn last_seq(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|s| s as u64)
}
