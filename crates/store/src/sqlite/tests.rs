//! The SQLite store through the `AlertStore` interface.

use std::path::Path;

use fightwatch_protocol::{AlertStatus, Role};

use crate::*;

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
    let store = SqliteStore::open(&dir.path().join("db")).unwrap();
    let a = store.create_alert(&new_alert("lobby", 100)).unwrap();
    assert_eq!((a.seq, a.id.as_str()), (1, "a1"));
    assert_eq!(
        a.snapshot_url.as_deref(),
        Some("/api/alerts/a1/snapshot.jpg")
    );
    let u = store
        .update_alert(
            &a.id,
            &AlertChange {
                peak: Some(0.95),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (u.seq, u.status, u.peak_score),
        (2, AlertStatus::Active, 0.95)
    );
    let u = store
        .update_alert(
            &a.id,
            &AlertChange {
                peak: Some(0.5),
                ended_at: Some(200),
                ack: None,
            },
        )
        .unwrap();
    assert_eq!(
        (u.status, u.peak_score, u.ended_at),
        (AlertStatus::Ended, 0.95, Some(200))
    );
    let u = store
        .update_alert(
            &a.id,
            &AlertChange {
                ack: Some(("ops".into(), Some("handled".into()))),
                ..Default::default()
            },
        )
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
    store
        .update_alert(
            &b.id,
            &AlertChange {
                peak: Some(0.9),
                ..Default::default()
            },
        )
        .unwrap();
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
        store.update_alert("a99", &AlertChange::default()),
        Err(StoreError::NoSuchAlert(_))
    ));
}

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
fn users_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db")).unwrap();
    assert_eq!(store.user_count().unwrap(), 0);
    let u = UserRecord {
        name: "ops".into(),
        role: Role::Operator,
        password_hash: "$argon2id$x".into(),
        cameras: Some(vec!["lobby".into()]),
    };
    store.put_user(&u).unwrap();
    assert_eq!(store.user("ops").unwrap(), Some(u.clone()));
    store
        .put_user(&UserRecord {
            role: Role::Admin,
            cameras: None,
            ..u
        })
        .unwrap();
    assert_eq!(store.user("ops").unwrap().unwrap().role, Role::Admin);
    assert_eq!(store.user_count().unwrap(), 1);
    assert_eq!(
        store.user_names().unwrap(),
        vec![("ops".to_string(), Role::Admin)]
    );
    assert_eq!(store.user("nobody").unwrap(), None);
}

#[test]
fn filters_paging_chat_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = SqliteStore::open(&path).unwrap();
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
    let store = SqliteStore::open(&path).unwrap(); // survives reopening
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

#[test]
fn sessions_are_revoked_by_logout_user_change_and_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db")).unwrap();
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
        .put_user(&UserRecord {
            name: "ops".into(),
            role: Role::Viewer,
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
