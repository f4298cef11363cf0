//! What retention asks of the database: old rows to delete and snapshots to give up for space.

use rusqlite::{Connection, params};

pub(super) fn prune(conn: &mut Connection, before_ms: u64) -> rusqlite::Result<Vec<String>> {
    let tx = conn.transaction()?;
    let files: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT snapshot, clip, heatmap FROM alerts WHERE started_at < ?1 AND (snapshot IS NOT NULL OR clip IS NOT NULL)",
        )?;
        let rows = stmt.query_map(params![before_ms as i64], |r| {
            Ok(crate::workflow::media_files(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
            ))
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect()
    };
    let before = before_ms as i64;
    tx.execute("DELETE FROM alerts WHERE started_at < ?1", params![before])?;
    tx.execute("DELETE FROM events WHERE at_ms < ?1", params![before])?;
    tx.execute("DELETE FROM messages WHERE at_ms < ?1", params![before])?;
    // Sessions that expired (logins last hours; the cutoff is days old).
    tx.execute(
        "DELETE FROM sessions WHERE expires_at < ?1",
        params![before],
    )?;
    tx.commit()?;
    Ok(files)
}

pub(super) fn oldest(
    conn: &Connection,
    limit: usize,
) -> rusqlite::Result<Vec<(String, Vec<String>)>> {
    let mut stmt = conn.prepare(
        "SELECT id, snapshot, clip, heatmap FROM alerts WHERE snapshot IS NOT NULL OR clip IS NOT NULL
         ORDER BY seq LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit as i64], |r| {
        Ok((
            r.get(0)?,
            crate::workflow::media_files(r.get(1)?, r.get(2)?, r.get(3)?),
        ))
    })?;
    rows.collect()
}

pub(super) fn clear(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE alerts SET snapshot = NULL, clip = NULL, heatmap = NULL WHERE id = ?1",
        params![id],
    )?;
    Ok(())
}
