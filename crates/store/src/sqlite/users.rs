//! Users and login sessions. A token is only as good as its session row: logging out,
//! deleting a user or changing what it may do revokes rows, and a revision counter lets a
//! running server notice revocations made by another process.

use fightwatch_protocol::{Role, now_ms};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Failure, unreadable};
use crate::{SessionRecord, StoreError, UserRecord};

/// A user's camera list as stored (JSON), if it has one.
fn cameras_json(user: &UserRecord) -> Result<Option<String>, Failure> {
    user.cameras
        .as_ref()
        .map(|c| {
            serde_json::to_string(c).map_err(|e| {
                Failure::Store(StoreError::BadEvent {
                    seq: 0,
                    message: e.to_string(),
                })
            })
        })
        .transpose()
}

/// See [`crate::AlertStore::create_first_user`]: one statement, so atomic.
pub(super) fn put_first(conn: &mut Connection, user: &UserRecord) -> Result<bool, Failure> {
    let inserted = conn.execute(
        "INSERT INTO users (name, role, password_hash, cameras)
         SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM users)",
        params![
            user.name,
            user.role.as_str(),
            user.password_hash,
            cameras_json(user)?
        ],
    )?;
    Ok(inserted == 1)
}

pub(super) fn put(conn: &mut Connection, user: &UserRecord) -> Result<(), Failure> {
    let cameras = cameras_json(user)?;
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO users (name, role, password_hash, cameras) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name) DO UPDATE SET role = ?2, password_hash = ?3, cameras = ?4",
        params![user.name, user.role.as_str(), user.password_hash, cameras],
    )?;
    revoke_where(&tx, "user = ?1", &user.name)?;
    tx.commit()?;
    Ok(())
}

fn parse_role(column: usize, role: &str) -> rusqlite::Result<Role> {
    role.parse().map_err(|e: String| unreadable(column, e))
}

pub(super) fn get(conn: &Connection, name: &str) -> rusqlite::Result<Option<UserRecord>> {
    conn.query_row(
        "SELECT name, role, password_hash, cameras FROM users WHERE name = ?1",
        params![name],
        |r| {
            let cameras: Option<String> = r.get(3)?;
            Ok(UserRecord {
                name: r.get(0)?,
                role: parse_role(1, &r.get::<_, String>(1)?)?,
                password_hash: r.get(2)?,
                // Fail closed: an unreadable list must not become "all cameras".
                cameras: match cameras {
                    Some(c) => {
                        Some(serde_json::from_str(&c).map_err(|e| unreadable(3, e.to_string()))?)
                    }
                    None => None,
                },
            })
        },
    )
    .optional()
}

pub(super) fn names(conn: &Connection) -> rusqlite::Result<Vec<(String, Role)>> {
    let mut stmt = conn.prepare("SELECT name, role FROM users ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get(0)?, parse_role(1, &r.get::<_, String>(1)?)?))
    })?;
    rows.collect()
}

pub(super) fn count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
}

pub(super) fn delete(conn: &mut Connection, name: &str) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    let n = tx.execute("DELETE FROM users WHERE name = ?1", params![name])?;
    revoke_where(&tx, "user = ?1", name)?;
    tx.commit()?;
    Ok(n > 0)
}

pub(super) fn create_session(conn: &Connection, session: &SessionRecord) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sessions (id, user, created_at, expires_at, revoked_at)
         VALUES (?1, ?2, ?3, ?4, NULL)",
        params![
            session.id,
            session.user,
            session.created_at as i64,
            session.expires_at as i64
        ],
    )?;
    Ok(())
}

pub(super) fn session(conn: &Connection, id: &str) -> rusqlite::Result<Option<SessionRecord>> {
    conn.query_row(
        "SELECT id, user, created_at, expires_at, revoked_at FROM sessions WHERE id = ?1",
        params![id],
        |r| {
            Ok(SessionRecord {
                id: r.get(0)?,
                user: r.get(1)?,
                created_at: r.get::<_, i64>(2)? as u64,
                expires_at: r.get::<_, i64>(3)? as u64,
                revoked_at: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
            })
        },
    )
    .optional()
}

/// Revokes the live sessions matching `filter` (`"id = ?1"` or `"user = ?1"`); returns how
/// many there were.
pub(super) fn revoke(conn: &mut Connection, filter: &str, value: &str) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    let n = revoke_where(&tx, filter, value)?;
    tx.commit()?;
    Ok(n)
}

/// Revokes inside `tx` and bumps the revision when any session was live.
fn revoke_where(tx: &Transaction<'_>, filter: &str, value: &str) -> rusqlite::Result<usize> {
    let n = tx.execute(
        &format!("UPDATE sessions SET revoked_at = ?2 WHERE revoked_at IS NULL AND {filter}"),
        params![value, now_ms() as i64],
    )?;
    if n > 0 {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('revocations', 1)
             ON CONFLICT(key) DO UPDATE SET value = value + 1",
            [],
        )?;
    }
    Ok(n)
}

pub(super) fn revocation_revision(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COALESCE((SELECT value FROM meta WHERE key = 'revocations'), 0)",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|v| v as u64)
}
