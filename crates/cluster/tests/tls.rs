//! TLS to Redis (issue #27, point 3) against real redis-server TLS listeners: `rediss://` with
//! the CA file works; another CA, a plaintext server asked for TLS, and a CA file on a
//! plaintext URL are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use fightwatch_cluster::DutyLease;
use fightwatch_testkit::{Redis, TestCerts};

async fn lease(url: &str) -> Result<DutyLease, String> {
    DutyLease::connect(url, "tls-test", "a", Duration::from_secs(2))
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn rediss_is_verified_and_plaintext_is_refused_when_tls_was_asked_for() {
    let certs = TestCerts::new().unwrap();
    let other = TestCerts::new().unwrap();
    let tls = Redis::start_tls(&certs).unwrap();
    let plain = Redis::start().unwrap();
    let with_ca =
        |url: String, ca: &TestCerts| format!("{url}?sslrootcert={}", ca.ca_file().display());

    let mut held = lease(&with_ca(tls.url(), &certs)).await.unwrap();
    assert!(held.hold().await.unwrap(), "a command over TLS");
    assert_eq!(
        tls.get("fightwatch:duty:tls-test").unwrap().as_deref(),
        Some("a")
    );

    let wrong = lease(&with_ca(tls.url(), &other))
        .await
        .err()
        .expect("another CA is refused");
    assert!(wrong.contains("Redis rediss://127.0.0.1"), "{wrong}");
    let plaintext = with_ca(plain.url().replace("redis://", "rediss://"), &certs);
    assert!(
        lease(&plaintext).await.is_err(),
        "a plaintext server asked for TLS"
    );
    let ca_on_plain = lease(&with_ca(plain.url(), &certs)).await.err().unwrap();
    assert!(ca_on_plain.contains("use rediss://"), "{ca_on_plain}");
    let missing = lease(&format!("{}?sslrootcert=/nonexistent/ca.pem", tls.url()))
        .await
        .err()
        .unwrap();
    assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
}
