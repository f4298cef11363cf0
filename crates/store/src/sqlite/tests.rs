//! The SQLite store: the interface's behaviour (crate::conformance) and what is SQLite's own
//! (the file, reopening, rows damaged on purpose, the previous schema).

use std::path::Path;

use fightwatch_protocol::AlertStatus;

use crate::conformance::new_alert;
use crate::*;

#[test]
fn a_database_of_the_previous_schema_gets_indexed_alert_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = SqliteStore::open(&path).unwrap();
        let a = store.create_alert(&new_alert("lobby", 100)).unwrap();
        store
            .update_alert(
                &a.id,
                &AlertChange {
                    peak: Some(0.9),
                    ..Default::default()
                },
            )
            .unwrap();
        drop(store);
        // Back to version 0: no alert_id column, no indexes.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP INDEX events_alert; DROP INDEX events_camera;
                 ALTER TABLE events DROP COLUMN alert_id; PRAGMA user_version = 0;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.alert_events("a1").unwrap().len(), 2);
    let plan: String = rusqlite::Connection::open(&path)
        .unwrap()
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
    let store = SqliteStore::open(&path).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    store.create_alert(&new_alert("lobby", 1)).unwrap();
    assert_eq!(mode(&dir.path().join("db-wal")), 0o600);
    // The database refuses such rows itself...
    for bad in [
        "UPDATE alerts SET status = 'bogus'",
        "INSERT INTO users VALUES ('u', 'viewer', 'h', 'not json')",
        "INSERT INTO users VALUES ('u', 'root', 'h', NULL)",
    ] {
        let err = store.execute_batch(bad).unwrap_err();
        assert!(err.to_string().contains("CHECK"), "{bad}: {err}");
    }
    // ...and rows that got past it anyway are errors when read, never guesses.
    store
        .execute_batch(
            "PRAGMA ignore_check_constraints = ON;
                 UPDATE alerts SET status = 'bogus';
                 INSERT INTO users VALUES ('u', 'viewer', 'h', 'not json');
                 INSERT INTO users VALUES ('r', 'root', 'h', NULL);
                 PRAGMA ignore_check_constraints = OFF;",
        )
        .unwrap();
    assert!(store.alert("a1").is_err(), "unknown status is not 'active'");
    assert!(
        store.user("u").is_err(),
        "unreadable cameras are not 'all cameras'"
    );
    assert!(store.user("r").is_err(), "an unknown role is not a role");
    assert!(store.user_names().is_err());
}

#[test]
fn behaves_as_every_store_must() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    crate::conformance::check_all(&mut || {
        n += 1;
        Box::new(SqliteStore::open(&dir.path().join(format!("db{n}"))).unwrap())
    });
}

#[test]
fn everything_survives_reopening_and_sequence_numbers_keep_growing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = SqliteStore::open(&path).unwrap();
        let a = store.create_alert(&new_alert("lobby", 100)).unwrap();
        store
            .update_alert(
                &a.id,
                &AlertChange {
                    ack: Some(("ops".into(), None)),
                    ..Default::default()
                },
            )
            .unwrap();
        store.add_message("site:hq", "ops", "on my way").unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.alert("a1").unwrap().unwrap().status,
        AlertStatus::Acknowledged
    );
    assert_eq!(store.messages("site:hq", 10).unwrap()[0].seq, 3);
    assert_eq!(store.create_alert(&new_alert("lobby", 200)).unwrap().seq, 4);
}
