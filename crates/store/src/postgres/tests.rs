//! The PostgreSQL store against a real server (fightwatch_testkit): the interface's behaviour
//! (crate::conformance) and what is PostgreSQL's own (several nodes writing at once, a server
//! restart, an unreachable server, a newer schema, rows that fail their checks).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fightwatch_testkit::Postgres;

use crate::conformance::new_alert;
use crate::*;

fn server() -> Postgres {
    Postgres::start().expect("PostgreSQL for tests (scripts/setup.sh installs it)")
}

#[test]
fn passes_the_alert_store_conformance_checks() {
    let pg = server();
    let n = AtomicUsize::new(0);
    crate::conformance::check_all(&mut || {
        let url = pg
            .create_database(&format!("c{}", n.fetch_add(1, Ordering::Relaxed)))
            .unwrap();
        Box::new(PostgresStore::connect(&url).unwrap())
    });
}

#[test]
fn nodes_writing_at_once_get_one_gapless_commit_ordered_sequence() {
    let pg = server();
    let url = pg.create_database("shared").unwrap();
    // Three "nodes" (stores with their own pools) racing, 4 writers each.
    let nodes: Vec<Arc<PostgresStore>> = (0..3)
        .map(|_| Arc::new(PostgresStore::connect(&url).unwrap()))
        .collect();
    let writers: Vec<_> = (0..12)
        .map(|w| {
            let store = Arc::clone(&nodes[w % 3]);
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        let a = store
                            .create_alert(&new_alert(&format!("cam{w}"), i))
                            .unwrap();
                        store
                            .update_alert(
                                &a.id,
                                &AlertChange {
                                    peak: Some(0.99),
                                    ..Default::default()
                                },
                            )
                            .unwrap()
                            .seq
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    // A reader on its own node meanwhile: what it sees is always a gapless prefix (commit
    // order is seq order), the property a dashboard's resume relies on.
    let reader = {
        let store = PostgresStore::connect(&url).unwrap();
        std::thread::spawn(move || {
            let mut cursor = 0;
            while cursor < 600 {
                for msg in store.events_after(cursor, 1000).unwrap() {
                    let seq = msg.seq().unwrap();
                    assert_eq!(seq, cursor + 1, "a reader saw {seq} before {}", cursor + 1);
                    cursor = seq;
                }
            }
        })
    };
    let mut seqs: Vec<u64> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    reader.join().unwrap();
    seqs.sort();
    assert_eq!(nodes[0].last_seq().unwrap(), 600);
    // Every event is in the log once, numbered 1..=600 without a gap, readable from any node.
    let log = nodes[2].events_after(0, 1000).unwrap();
    let numbers: Vec<u64> = log.iter().filter_map(|m| m.seq()).collect();
    assert_eq!(numbers, (1..=600).collect::<Vec<_>>());
    assert_eq!(
        nodes[1]
            .alerts(&AlertFilter {
                limit: 1000,
                ..Default::default()
            })
            .unwrap()
            .len(),
        300
    );
}

#[test]
fn survives_a_server_restart_and_keeps_committed_alerts() {
    let mut pg = server();
    let url = pg.create_database("restart").unwrap();
    let store = PostgresStore::connect(&url).unwrap();
    let a = store.create_alert(&new_alert("lobby", 1)).unwrap();
    pg.kill().unwrap();
    let err = store.alert(&a.id).unwrap_err().to_string();
    assert!(err.contains("restart"), "names the database: {err}");
    pg.restart().unwrap();
    // The pool replaces its broken connections by itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let back = loop {
        match store.alert(&a.id) {
            Ok(found) => break found,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("no recovery after a restart: {e}"),
        }
    };
    assert_eq!(back.unwrap().camera, "lobby");
    let b = store.create_alert(&new_alert("lobby", 2)).unwrap();
    assert_eq!(b.seq, a.seq + 1);
}

#[test]
fn an_unreachable_server_is_a_clear_error_within_seconds() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::time::Instant::now();
    let err = PostgresStore::connect(&format!("postgres://fightwatch:secret@127.0.0.1:{port}/x"))
        .err()
        .expect("no server");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}/x")), "{text}");
    assert!(
        !text.contains("secret"),
        "the password stays out of messages: {text}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let err = PostgresStore::connect("mysql://nope")
        .err()
        .expect("not postgres");
    assert!(err.to_string().contains("not a PostgreSQL URL"), "{err}");
}

#[test]
fn a_database_of_a_newer_fightwatch_is_refused_and_rows_that_break_checks_are_refused() {
    let pg = server();
    let url = pg.create_database("newer").unwrap();
    let store = PostgresStore::connect(&url).unwrap();
    let a = store.create_alert(&new_alert("lobby", 1)).unwrap();
    // The database enforces the workflow's invariants, whoever writes.
    let bad = pg.psql(
        "newer",
        &format!(
            "UPDATE alerts SET status = 'acknowledged' WHERE id = '{}'",
            a.id
        ),
    );
    assert!(
        bad.is_err(),
        "acknowledged without acked_by must fail its check"
    );
    let bad = pg.psql(
        "newer",
        "INSERT INTO users (name, role, password_hash) VALUES ('x', 'root', 'h')",
    );
    assert!(bad.is_err(), "unknown roles must fail their check");
    drop(store);
    pg.psql("newer", "UPDATE schema_version SET version = version + 1")
        .unwrap();
    match PostgresStore::connect(&url) {
        Err(StoreError::TooNew { found, known, .. }) => assert_eq!(found, known + 1),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

#[test]
fn can_be_dropped_inside_async_code() {
    let pg = server();
    let url = pg.create_database("drop").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = PostgresStore::connect(&url).unwrap();
        assert_eq!(store.user_count().unwrap(), 0);
        drop(store);
    });
}

/// TLS to PostgreSQL (issue #27, point 3) against a real server with `ssl=on`: `sslmode` of
/// `require`, `verify-ca` and `verify-full` with the CA file connect over TLS (the server's
/// `pg_stat_ssl` says so); another CA, and a server without TLS asked for it, are refused.
#[test]
fn tls_is_verified_and_required_when_asked_for() {
    let certs = fightwatch_testkit::TestCerts::new().unwrap();
    let other = fightwatch_testkit::TestCerts::new().unwrap();
    let tls = Postgres::start_tls(&certs).unwrap();
    let url = tls.create_database("tls").unwrap();
    let ca = |c: &fightwatch_testkit::TestCerts| c.ca_file().display().to_string();
    for mode in ["require", "verify-ca", "verify-full"] {
        let store =
            PostgresStore::connect(&format!("{url}?sslmode={mode}&sslrootcert={}", ca(&certs)))
                .unwrap_or_else(|e| panic!("sslmode={mode}: {e}"));
        store.create_alert(&new_alert("gate", 1)).unwrap();
        let encrypted = tls
            .psql(
                "postgres",
                "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = 'fightwatch' AND s.ssl",
            )
            .unwrap();
        assert!(
            encrypted.trim().parse::<u32>().unwrap() >= 1,
            "sslmode={mode}"
        );
    }
    // A CA file alone asks for TLS too.
    PostgresStore::connect(&format!("{url}?sslrootcert={}", ca(&certs))).unwrap();
    let wrong = PostgresStore::connect(&format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        ca(&other)
    ));
    assert!(wrong.is_err(), "a server certificate of another CA");
    let plain = server();
    let plain_url = plain.create_database("plain").unwrap();
    let refused = PostgresStore::connect(&format!(
        "{plain_url}?sslmode=require&sslrootcert={}",
        ca(&certs)
    ));
    assert!(refused.is_err(), "a server without TLS, TLS asked for");
    // Without sslmode the plaintext default stays.
    PostgresStore::connect(&plain_url).unwrap();
}
