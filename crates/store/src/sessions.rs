//! Login sessions: every token names one (its `jti`), and a token is only as good as its
//! session row. Logging out, deleting a user or changing what it may do revokes rows, and
//! a revision counter lets a running server notice revocations made by another process.

use rusqlite::{OptionalExtension, Params, Transaction, params};

use crate::{Store, StoreError};

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The token's `jti`.
    pub id: String,
    /// Whose session it is.
    pub user: String,
    /// Created, ms since the epoch.
    pub created_at: u64,
    /// Expires, ms since the epoch.
    pub expires_at: u64,
    /// Revoked (logout, user changed or deleted), ms since the epoch.
    pub revoked_at: Option<u64>,
}

impl SessionRecord {
    /// Whether a token of this session is still good at `now_ms`.
    pub fn is_valid(&self, now_ms: u64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now_ms
    }
}

/// Revokes the sessions matching `filter` inside `tx` and bumps the revision when any was.
pub(crate) fn revoke_where(
    tx: &Transaction<'_>,
    filter: &str,
    params: impl Params,
) -> Result<usize, rusqlite::Error> {
    let now = crate::store::now_ms() as i64;
    let n = tx.execute(
        &format!("UPDATE sessions SET revoked_at = {now} WHERE revoked_at IS NULL AND {filter}"),
        params,
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

impl Store {
    /// Records a new session.
    pub fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO sessions (id, user, created_at, expires_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, NULL)",
                params![
                    session.id,
                    session.user,
                    session.created_at as i64,
                    session.expires_at as i64
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A session by id.
    pub fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.conn()
            .query_row(
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
            .map_err(|e| self.err(e))
    }

    /// Revokes one session (logout); returns whether it was live.
    pub fn revoke_session(&self, id: &str) -> Result<bool, StoreError> {
        self.revoke("id = ?1", id)
    }

    /// Revokes every session of `user`; returns how many were live.
    pub fn revoke_user_sessions(&self, user: &str) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let n = revoke_where(&tx, "user = ?1", params![user]).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n)
    }

    fn revoke(&self, filter: &str, value: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let n = revoke_where(&tx, filter, params![value]).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Deletes a user and revokes its sessions; returns whether it existed.
    pub fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let n = tx
            .execute("DELETE FROM users WHERE name = ?1", params![name])
            .map_err(|e| self.err(e))?;
        revoke_where(&tx, "user = ?1", params![name]).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// A number that grows whenever any session is revoked (by this process or another).
    pub fn revocation_revision(&self) -> Result<u64, StoreError> {
        self.conn()
            .query_row(
                "SELECT COALESCE((SELECT value FROM meta WHERE key = 'revocations'), 0)",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| v as u64)
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_revoked_by_logout_user_change_and_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let session = |id: &str, user: &str| SessionRecord {
            id: id.into(),
            user: user.into(),
            created_at: 1,
            expires_at: u64::MAX / 2,
            revoked_at: None,
        };
        for (id, user) in [("s1", "ops"), ("s2", "ops"), ("s3", "lead")] {
            store.create_session(&session(id, user)).unwrap();
        }
        assert_eq!(store.revocation_revision().unwrap(), 0);
        assert!(store.session("s1").unwrap().unwrap().is_valid(2));
        assert!(store.revoke_session("s1").unwrap());
        assert!(!store.revoke_session("s1").unwrap(), "only once");
        assert!(!store.session("s1").unwrap().unwrap().is_valid(2));
        assert_eq!(store.revocation_revision().unwrap(), 1);
        // Changing a user (role, cameras, password) revokes what it had.
        store
            .put_user(&crate::UserRecord {
                name: "ops".into(),
                role: "viewer".into(),
                password_hash: "x".into(),
                cameras: None,
            })
            .unwrap();
        assert!(!store.session("s2").unwrap().unwrap().is_valid(2));
        assert!(store.session("s3").unwrap().unwrap().is_valid(2));
        assert!(store.delete_user("ops").unwrap());
        assert!(store.user("ops").unwrap().is_none());
        assert_eq!(store.revoke_user_sessions("lead").unwrap(), 1);
        assert_eq!(store.revocation_revision().unwrap(), 3);
        assert!(store.session("nope").unwrap().is_none());
        assert!(!session("x", "y").is_valid(u64::MAX));
    }
}
