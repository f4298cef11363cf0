//! Chat messages: events too, so a reconnecting console recovers the ones it missed.

use fightwatch_protocol::{ChatMessage, now_ms};
use rusqlite::{Connection, params};

use super::Failure;
use super::alerts::append;

pub(super) fn add(
    conn: &mut Connection,
    room: &str,
    from: &str,
    text: &str,
) -> Result<ChatMessage, Failure> {
    let tx = conn.transaction()?;
    let at = now_ms();
    let msg = append(&tx, None, |seq| {
        crate::workflow::chat_message(seq, room, from, text, at)
    })?;
    tx.execute(
        "INSERT INTO messages (seq, room, sender, text, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![msg.seq as i64, room, from, text, at as i64],
    )?;
    tx.commit()?;
    Ok(msg)
}

/// The newest `limit` messages of a room, oldest first.
pub(super) fn recent(
    conn: &Connection,
    room: &str,
    limit: usize,
) -> rusqlite::Result<Vec<ChatMessage>> {
    let mut stmt = conn.prepare(
        "SELECT seq, room, sender, text, at_ms FROM messages WHERE room = ?1 ORDER BY seq DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![room, limit as i64], |r| {
        Ok(ChatMessage {
            seq: r.get::<_, i64>(0)? as u64,
            room: r.get(1)?,
            from: r.get(2)?,
            text: r.get(3)?,
            at: r.get::<_, i64>(4)? as u64,
        })
    })?;
    let mut out: Vec<ChatMessage> = rows.collect::<Result<_, _>>()?;
    out.reverse();
    Ok(out)
}
