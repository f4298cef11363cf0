/*!
Real servers for tests: Debian's PostgreSQL, Redis and mosquitto (installed by `scripts/setup.sh`), each
started on a free loopback port in its own temp dir and stopped when its handle drops. No mocks:
what a test sees is what production sees, restarts and crashes included.

```no_run
let pg = fightwatch_testkit::Postgres::start()?;
let url = pg.create_database("alerts")?;          // postgres://fightwatch@127.0.0.1:PORT/alerts
let redis = fightwatch_testkit::Redis::start()?;
assert!(redis.url().starts_with("redis://127.0.0.1:"));
# Ok::<(), anyhow::Error>(())
```

PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user
(`runuser`), which owns the temp dir.
*/

mod mosquitto;
mod postgres;
mod process;
mod redis;
mod tls;

pub use mosquitto::Mosquitto;
pub use postgres::Postgres;
pub use redis::Redis;
pub use tls::TestCerts;
