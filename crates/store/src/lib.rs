/*!
SQLite persistence for fightwatch: alerts, acknowledgements, events, chat, users, sessions.

Alerts are committed here before any dashboard sees them. Every persisted change is also an
*event* with a sequence number that only grows (SQLite's `AUTOINCREMENT` never reuses one), and
the event log is what lets a reconnecting dashboard recover exactly what it missed
([`Store::events_after`]).

Start with [`Store::open`]. The database runs in WAL mode with `synchronous=NORMAL`: a committed
alert survives the process being killed.

```
use fightwatch_store::{NewAlert, Store};

let dir = tempfile::tempdir()?;
let store = Store::open(&dir.path().join("fightwatch.db"))?;
let alert = store.create_alert(&NewAlert {
    camera: "lobby".into(), site: "hq".into(), label: "fight".into(), score: 0.9,
    started_at: 1_764_000_000_000, snapshot: None, source: "pipeline".into(),
})?;
assert_eq!(store.events_after(0, 10)?.len(), 1);
assert_eq!(store.alert(&alert.id)?.unwrap().camera, "lobby");
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/

mod sessions;
mod store;

pub use sessions::SessionRecord;
pub use store::{AlertFilter, AlertRecord, NewAlert, Store, StoreError, UserRecord};
