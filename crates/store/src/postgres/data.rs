//! The queries: the same behaviour as the SQLite store, in PostgreSQL's SQL.

use crate::workflow::StoredEvent;
use deadpool_postgres::{Client, GenericClient};
use fightwatch_protocol::{
    AlertStatus, AlertUpdate, ChatMessage, FightAlert, Role, ServerMessage, now_ms,
};
use tokio_postgres::Row;

use super::Failure;
use crate::{
    AlertChange, AlertFilter, AlertRecord, NewAlert, SessionRecord, StoreError, UserRecord,
};

fn bad(seq: u64, why: impl std::fmt::Display) -> Failure {
    Failure::Store(StoreError::BadEvent {
        seq,
        message: why.to_string(),
    })
}

/// Appends an event inside `tx`: takes the next seq (locking the counter row until commit, so
/// seq order is commit order across every node), then stores what `make` builds from it.
async fn append<E: StoredEvent>(
    tx: &impl GenericClient,
    camera: Option<&str>,
    make: impl FnOnce(u64) -> E,
) -> Result<E, Failure> {
    let seq: i64 = tx
        .query_one(
            "UPDATE meta SET value = value + 1 WHERE key = 'seq' RETURNING value",
            &[],
        )
        .await?
        .get(0);
    let event = make(seq as u64);
    let body = crate::workflow::event_body(seq as u64, &event)?;
    tx.execute(
        "INSERT INTO events (seq, at_ms, camera, alert_id, body) VALUES ($1, $2, $3, $4, $5)",
        &[&seq, &(now_ms() as i64), &camera, &event.alert_id(), &body],
    )
    .await?;
    Ok(event)
}

pub(super) async fn create_alert(
    client: &mut Client,
    new: NewAlert,
) -> Result<FightAlert, Failure> {
    let tx = client.transaction().await?;
    let alert = insert_alert(&tx, &new).await?;
    tx.commit().await?;
    Ok(alert)
}

/// Inserts `new` and its `fight_alert` event inside `tx`.
async fn insert_alert(tx: &impl GenericClient, new: &NewAlert) -> Result<FightAlert, Failure> {
    let alert = append(tx, Some(&new.camera), |seq| {
        crate::workflow::fight_alert(seq, new)
    })
    .await?;
    tx.execute(
        "INSERT INTO alerts (id, seq, camera, site, label, score, peak_score, status, started_at, snapshot, source, region, heatmap)
         VALUES ($1, $2, $3, $4, $5, $6, $6, 'active', $7, $8, $9, $10, $11)",
        &[
            &alert.id,
            &(alert.seq as i64),
            &new.camera,
            &new.site,
            &new.label,
            &f64::from(new.score),
            &(new.started_at as i64),
            &new.snapshot,
            &new.source,
            &crate::workflow::region_json(new.region),
            &new.heatmap,
        ],
    )
    .await?;
    Ok(alert)
}

/// See [`crate::AlertStore::raise_or_group`]. A transaction-scoped advisory lock on the
/// camera's name makes every node's decision for one camera wait for the one before it: the
/// second of two simultaneous detections sees the alert the first raised.
pub(super) async fn raise_or_group(
    client: &mut Client,
    new: NewAlert,
    grouping: crate::Grouping,
) -> Result<crate::RaiseOrGroup, Failure> {
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('fightwatch-group:' || $1, 0))",
        &[&new.camera],
    )
    .await?;
    let latest = tx
        .query_opt(
            &format!(
                "{} WHERE camera = $1 ORDER BY seq DESC LIMIT 1 FOR UPDATE",
                select_alert()
            ),
            &[&new.camera],
        )
        .await?
        .map(|r| to_alert(&r))
        .transpose()?;
    let change = latest.as_ref().and_then(|latest| {
        Some((
            latest,
            crate::workflow::grouping_change(latest, &new, &grouping)?,
        ))
    });
    let done = match change {
        Some((latest, change)) => {
            crate::workflow::grouped(latest, apply_change(&tx, latest, &change).await?)
        }
        None => crate::RaiseOrGroup::Raised(insert_alert(&tx, &new).await?),
    };
    tx.commit().await?;
    Ok(done)
}

pub(super) async fn update_alert(
    client: &mut Client,
    id: &str,
    change: AlertChange,
) -> Result<AlertUpdate, Failure> {
    let tx = client.transaction().await?;
    // FOR UPDATE: two nodes changing one alert apply one change after the other.
    let current = tx
        .query_opt(
            &format!("{} WHERE id = $1 FOR UPDATE", select_alert()),
            &[&id],
        )
        .await?
        .map(|r| to_alert(&r))
        .transpose()?
        .ok_or_else(|| StoreError::NoSuchAlert(id.into()))?;
    let update = apply_change(&tx, &current, &change).await?;
    tx.commit().await?;
    Ok(update)
}

/// Applies `change` to `current` and records its event, inside `tx`.
async fn apply_change(
    tx: &impl GenericClient,
    current: &AlertRecord,
    change: &AlertChange,
) -> Result<AlertUpdate, Failure> {
    let id = &current.id;
    let next = crate::workflow::apply(current, change)?;
    tx.execute(
        "UPDATE alerts SET peak_score = $2, ended_at = $3, status = $4, acked_by = $5, note = $6, clip = $7,
         assignee = $8, outcome = $9, reason = $10, resolved_by = $11, count = $12,
         last_seen_at = COALESCE($13, last_seen_at) WHERE id = $1",
        &[
            &id,
            &f64::from(next.peak_score),
            &next.ended_at.map(|e| e as i64),
            &next.status.as_str(),
            &next.acked_by,
            &next.note,
            &crate::workflow::clip_json(next.clip.as_deref())?,
            &next.assignee,
            &next.outcome.map(fightwatch_protocol::Outcome::as_str),
            &next.reason.map(fightwatch_protocol::FalseAlarmReason::as_str),
            &next.resolved_by,
            &(next.count.min(i32::MAX as u32) as i32),
            &change.regroup.map(|(_, at)| at as i64),
        ],
    )
    .await?;
    append(tx, Some(&current.camera), |seq| AlertUpdate { seq, ..next }).await
}

/// See [`crate::AlertStore::escalate_alert`].
pub(super) async fn escalate_alert(
    client: &mut Client,
    id: &str,
    level: u32,
    now_ms: u64,
) -> Result<Option<fightwatch_protocol::AlertEscalated>, Failure> {
    let tx = client.transaction().await?;
    // FOR UPDATE: two nodes escalating together escalate once.
    let current = tx
        .query_opt(
            &format!("{} WHERE id = $1 FOR UPDATE", select_alert()),
            &[&id],
        )
        .await?
        .map(|r| to_alert(&r))
        .transpose()?
        .ok_or_else(|| StoreError::NoSuchAlert(id.into()))?;
    let Some(make) = crate::workflow::escalation(&current, level, now_ms) else {
        return Ok(None);
    };
    tx.execute(
        "UPDATE alerts SET escalations = $2 WHERE id = $1",
        &[&id, &(level.min(i32::MAX as u32) as i32)],
    )
    .await?;
    let escalated = append(&tx, Some(&current.camera), make).await?;
    tx.commit().await?;
    Ok(Some(escalated))
}

fn select_alert() -> String {
    format!("SELECT {} FROM alerts", crate::workflow::ALERT_COLUMNS)
}

impl crate::workflow::StoredRow for Row {
    type Error = Failure;

    fn text(&self, i: usize) -> Result<String, Failure> {
        Ok(self.try_get(i)?)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, Failure> {
        Ok(self.try_get(i)?)
    }

    /// BIGINT or INTEGER (`escalations` and `count` are INTEGER).
    fn int(&self, i: usize) -> Result<i64, Failure> {
        if self.columns().get(i).map(|c| c.type_()) == Some(&tokio_postgres::types::Type::INT4) {
            Ok(i64::from(self.try_get::<_, i32>(i)?))
        } else {
            Ok(self.try_get(i)?)
        }
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, Failure> {
        Ok(self.try_get(i)?)
    }

    fn float(&self, i: usize) -> Result<f64, Failure> {
        Ok(self.try_get(i)?)
    }

    fn unreadable(&self, _i: usize, why: String) -> Failure {
        bad(0, why)
    }
}

fn to_alert(r: &Row) -> Result<AlertRecord, Failure> {
    crate::workflow::alert_record(r)
}

pub(super) async fn alert(client: &Client, id: &str) -> Result<Option<AlertRecord>, Failure> {
    client
        .query_opt(&format!("{} WHERE id = $1", select_alert()), &[&id])
        .await?
        .map(|r| to_alert(&r))
        .transpose()
}

pub(super) async fn alerts(
    client: &Client,
    filter: AlertFilter,
) -> Result<Vec<AlertRecord>, Failure> {
    let limit: i64 = match filter.limit {
        0 => 100,
        n => n.min(1000) as i64,
    };
    let sql = format!(
        "{} WHERE ($1::text IS NULL OR camera = $1) AND ($2::text IS NULL OR status = $2)
         AND ($3::bigint IS NULL OR started_at >= $3) AND ($4::bigint IS NULL OR seq < $4)
         AND ($6::bigint IS NULL OR started_at < $6) ORDER BY seq DESC LIMIT $5",
        select_alert()
    );
    let rows = client
        .query(
            &sql,
            &[
                &filter.camera,
                &filter.status.map(AlertStatus::as_str),
                &filter.since.map(|s| s as i64),
                &filter.before_seq.map(|s| s as i64),
                &limit,
                &filter.until.map(|s| s as i64),
            ],
        )
        .await?;
    rows.iter().map(to_alert).collect()
}

fn parse_event(seq: i64, body: &str) -> Result<ServerMessage, Failure> {
    serde_json::from_str(body).map_err(|e| bad(seq as u64, e))
}

pub(super) async fn events_after(
    client: &Client,
    after: u64,
    limit: usize,
) -> Result<Vec<ServerMessage>, Failure> {
    let rows = client
        .query(
            "SELECT seq, body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&(after as i64), &(limit as i64)],
        )
        .await?;
    rows.iter()
        .map(|r| parse_event(r.try_get(0)?, &r.try_get::<_, String>(1)?))
        .collect()
}

pub(super) async fn alert_events(
    client: &Client,
    id: &str,
) -> Result<Vec<(u64, ServerMessage)>, Failure> {
    let rows = client
        .query(
            "SELECT seq, at_ms, body FROM events WHERE alert_id = $1 ORDER BY seq",
            &[&id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let at: i64 = r.try_get(1)?;
            Ok((
                at as u64,
                parse_event(r.try_get(0)?, &r.try_get::<_, String>(2)?)?,
            ))
        })
        .collect()
}

pub(super) async fn last_seq(client: &Client) -> Result<u64, Failure> {
    let row = client
        .query_one("SELECT value FROM meta WHERE key = 'seq'", &[])
        .await?;
    Ok(row.try_get::<_, i64>(0)? as u64)
}

pub(super) async fn prune(client: &mut Client, before_ms: u64) -> Result<Vec<String>, Failure> {
    let before = before_ms as i64;
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "DELETE FROM alerts WHERE started_at < $1 RETURNING snapshot, clip, heatmap",
            &[&before],
        )
        .await?;
    let mut files = Vec::new();
    for r in &rows {
        files.extend(crate::workflow::media_files(
            r.try_get(0)?,
            r.try_get(1)?,
            r.try_get(2)?,
        ));
    }
    tx.execute("DELETE FROM events WHERE at_ms < $1", &[&before])
        .await?;
    tx.execute("DELETE FROM messages WHERE at_ms < $1", &[&before])
        .await?;
    // Sessions that expired (logins last hours; the cutoff is days old).
    tx.execute("DELETE FROM sessions WHERE expires_at < $1", &[&before])
        .await?;
    tx.commit().await?;
    Ok(files)
}

pub(super) async fn oldest_media(
    client: &Client,
    limit: usize,
) -> Result<Vec<(String, Vec<String>)>, Failure> {
    let rows = client
        .query(
            "SELECT id, snapshot, clip, heatmap FROM alerts WHERE snapshot IS NOT NULL OR clip IS NOT NULL
             ORDER BY seq LIMIT $1",
            &[&(limit as i64)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                crate::workflow::media_files(r.try_get(1)?, r.try_get(2)?, r.try_get(3)?),
            ))
        })
        .collect()
}

pub(super) async fn clear_media(client: &Client, id: &str) -> Result<(), Failure> {
    client
        .execute(
            "UPDATE alerts SET snapshot = NULL, clip = NULL, heatmap = NULL WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(())
}

pub(super) async fn add_message(
    client: &mut Client,
    room: &str,
    from: &str,
    text: &str,
) -> Result<ChatMessage, Failure> {
    let tx = client.transaction().await?;
    let at = now_ms();
    let msg = append(&tx, None, |seq| {
        crate::workflow::chat_message(seq, room, from, text, at)
    })
    .await?;
    tx.execute(
        "INSERT INTO messages (seq, room, sender, text, at_ms) VALUES ($1, $2, $3, $4, $5)",
        &[&(msg.seq as i64), &room, &from, &text, &(at as i64)],
    )
    .await?;
    tx.commit().await?;
    Ok(msg)
}

pub(super) async fn messages(
    client: &Client,
    room: &str,
    limit: usize,
) -> Result<Vec<ChatMessage>, Failure> {
    let rows = client
        .query(
            "SELECT seq, room, sender, text, at_ms FROM messages WHERE room = $1 ORDER BY seq DESC LIMIT $2",
            &[&room, &(limit as i64)],
        )
        .await?;
    let mut out = rows
        .iter()
        .map(|r| {
            Ok(ChatMessage {
                seq: r.try_get::<_, i64>(0)? as u64,
                room: r.try_get(1)?,
                from: r.try_get(2)?,
                text: r.try_get(3)?,
                at: r.try_get::<_, i64>(4)? as u64,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    out.reverse();
    Ok(out)
}

/// A user's camera list as stored (JSON text), if it has one.
fn cameras_json(user: &UserRecord) -> Result<Option<String>, Failure> {
    user.cameras
        .as_ref()
        .map(|c| serde_json::to_string(c).map_err(|e| bad(0, e)))
        .transpose()
}

/// See [`crate::AlertStore::create_first_user`]. The advisory lock makes a second node's
/// check wait for the first node's insert to commit, so it sees the user and adds none.
pub(super) async fn create_first_user(
    client: &mut Client,
    user: UserRecord,
) -> Result<bool, Failure> {
    let cameras = cameras_json(&user)?;
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('fightwatch-first-user'))",
        &[],
    )
    .await?;
    let inserted = tx
        .execute(
            "INSERT INTO users (name, role, password_hash, cameras)
             SELECT $1, $2, $3, ($4::text)::jsonb WHERE NOT EXISTS (SELECT 1 FROM users)",
            &[
                &user.name,
                &user.role.as_str(),
                &user.password_hash,
                &cameras,
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(inserted == 1)
}

pub(super) async fn put_user(client: &mut Client, user: UserRecord) -> Result<(), Failure> {
    let cameras = cameras_json(&user)?;
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO users (name, role, password_hash, cameras) VALUES ($1, $2, $3, ($4::text)::jsonb)
         ON CONFLICT (name) DO UPDATE SET role = $2, password_hash = $3, cameras = ($4::text)::jsonb",
        &[&user.name, &user.role.as_str(), &user.password_hash, &cameras],
    )
    .await?;
    revoke_where(&tx, "username = $1", &user.name).await?;
    tx.commit().await?;
    Ok(())
}

fn role(value: &str) -> Result<Role, Failure> {
    value.parse().map_err(|e: String| bad(0, e))
}

pub(super) async fn user(client: &Client, name: &str) -> Result<Option<UserRecord>, Failure> {
    let Some(r) = client
        .query_opt(
            "SELECT name, role, password_hash, cameras::text FROM users WHERE name = $1",
            &[&name],
        )
        .await?
    else {
        return Ok(None);
    };
    let cameras: Option<String> = r.try_get(3)?;
    Ok(Some(UserRecord {
        name: r.try_get(0)?,
        role: role(&r.try_get::<_, String>(1)?)?,
        password_hash: r.try_get(2)?,
        // Fail closed: an unreadable list must not become "all cameras".
        cameras: match cameras {
            Some(c) => Some(serde_json::from_str(&c).map_err(|e| bad(0, e))?),
            None => None,
        },
    }))
}

pub(super) async fn user_names(client: &Client) -> Result<Vec<(String, Role)>, Failure> {
    let rows = client
        .query("SELECT name, role FROM users ORDER BY name", &[])
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, role(&r.try_get::<_, String>(1)?)?)))
        .collect()
}

pub(super) async fn user_count(client: &Client) -> Result<u64, Failure> {
    let row = client.query_one("SELECT COUNT(*) FROM users", &[]).await?;
    Ok(row.try_get::<_, i64>(0)? as u64)
}

pub(super) async fn delete_user(client: &mut Client, name: &str) -> Result<bool, Failure> {
    let tx = client.transaction().await?;
    let n = tx
        .execute("DELETE FROM users WHERE name = $1", &[&name])
        .await?;
    revoke_where(&tx, "username = $1", name).await?;
    tx.commit().await?;
    Ok(n > 0)
}

pub(super) async fn create_session(client: &Client, s: SessionRecord) -> Result<(), Failure> {
    client
        .execute(
            "INSERT INTO sessions (id, username, created_at, expires_at, revoked_at)
             VALUES ($1, $2, $3, $4, NULL)",
            &[
                &s.id,
                &s.user,
                &(s.created_at as i64),
                &(s.expires_at as i64),
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn session(client: &Client, id: &str) -> Result<Option<SessionRecord>, Failure> {
    let Some(r) = client
        .query_opt(
            "SELECT id, username, created_at, expires_at, revoked_at FROM sessions WHERE id = $1",
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(SessionRecord {
        id: r.try_get(0)?,
        user: r.try_get(1)?,
        created_at: r.try_get::<_, i64>(2)? as u64,
        expires_at: r.try_get::<_, i64>(3)? as u64,
        revoked_at: r.try_get::<_, Option<i64>>(4)?.map(|v| v as u64),
    }))
}

/// Revokes the live sessions matching `filter` (`"id = $1"` or `"username = $1"`).
pub(super) async fn revoke(
    client: &mut Client,
    filter: &str,
    value: &str,
) -> Result<usize, Failure> {
    let tx = client.transaction().await?;
    let n = revoke_where(&tx, filter, value).await?;
    tx.commit().await?;
    Ok(n)
}

/// Revokes inside `tx` and bumps the revision when any session was live.
async fn revoke_where(
    tx: &impl GenericClient,
    filter: &str,
    value: &str,
) -> Result<usize, Failure> {
    let n = tx
        .execute(
            &format!("UPDATE sessions SET revoked_at = $2 WHERE revoked_at IS NULL AND {filter}"),
            &[&value, &(now_ms() as i64)],
        )
        .await?;
    if n > 0 {
        tx.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'revocations'",
            &[],
        )
        .await?;
    }
    Ok(n as usize)
}

pub(super) async fn revocation_revision(client: &Client) -> Result<u64, Failure> {
    let row = client
        .query_one("SELECT value FROM meta WHERE key = 'revocations'", &[])
        .await?;
    Ok(row.try_get::<_, i64>(0)? as u64)
}
