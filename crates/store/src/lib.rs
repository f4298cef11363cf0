/*!
Persistence for fightwatch behind one small interface, [`AlertStore`]: alerts and their
acknowledgements, the numbered event log, chat, users and login sessions.

Alerts are committed here before any dashboard sees them. Every persisted change is also an
*event* with a sequence number that only grows, and the event log is what lets a reconnecting
dashboard recover exactly what it missed ([`AlertStore::events_after`]).

[`SqliteStore`] is the embedded default (one file, WAL mode, `synchronous=NORMAL`: a committed
alert survives the process being killed). Its schema is versioned and upgraded in place on
open; a database from a newer release is refused. Another backend implements [`AlertStore`]
(docs/architecture.md says how).

```
use fightwatch_store::{AlertStore, NewAlert, SqliteStore};

let dir = tempfile::tempdir()?;
let store = SqliteStore::open(&dir.path().join("fightwatch.db"))?;
let alert = store.create_alert(&NewAlert {
    camera: "lobby".into(), site: "hq".into(), label: "fight".into(), score: 0.9,
    started_at: 1_764_000_000_000, snapshot: None, source: "pipeline".into(),
    region: None, heatmap: None,
})?;
assert_eq!(store.events_after(0, 10)?.len(), 1);
assert_eq!(store.alert(&alert.id)?.unwrap().camera, "lobby");
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/

mod blocking;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod error;
mod postgres;
mod records;
mod sqlite;
mod workflow;

pub use blocking::on_blocking_pool;
pub use error::StoreError;
pub use fightwatch_protocol::AlertRecord;
use fightwatch_protocol::{AlertEscalated, AlertUpdate, ChatMessage, FightAlert, ServerMessage};
pub use postgres::PostgresStore;
pub use records::{
    AlertChange, AlertFilter, Grouping, NewAlert, PushSubscription, RaiseOrGroup, Resolution,
    SessionRecord, UserRecord,
};
pub use sqlite::SqliteStore;

/// Everything fightwatch keeps: what the alert stage and the broadcaster call.
///
/// Calls block (a database round trip): async callers run them on a blocking thread
/// (`fightwatch_alerts::blocking`). Implementations must be safe to share between threads and
/// must assign event sequence numbers in commit order.
pub trait AlertStore: Send + Sync + 'static {
    // Alerts and the event log.

    /// Creates an alert and its `fight_alert` event, atomically.
    fn create_alert(&self, new: &NewAlert) -> Result<FightAlert, StoreError>;
    /// Raises `new`, or, when the camera's newest alert is open by `grouping`'s rule, counts it
    /// into that alert (count, peak, active again; `detection_snapshot` when `new` has a
    /// snapshot and the alert has one to be named after), atomically: two nodes grouping
    /// detections of one camera at the same instant raise one alert, not two.
    fn raise_or_group(
        &self,
        new: &NewAlert,
        grouping: &Grouping,
    ) -> Result<RaiseOrGroup, StoreError>;
    /// Applies a change to an alert and records its `alert_update` event, atomically.
    fn update_alert(&self, id: &str, change: &AlertChange) -> Result<AlertUpdate, StoreError>;
    /// Records escalation `level` of an alert still waiting for an acknowledgement (active or
    /// ended) and its `alert_escalated` event, atomically; `None` when the alert was
    /// acknowledged or resolved meanwhile, or already reached that level (another node, a run
    /// before a restart).
    fn escalate_alert(
        &self,
        id: &str,
        level: u32,
        now_ms: u64,
    ) -> Result<Option<AlertEscalated>, StoreError>;
    /// One alert.
    fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError>;
    /// Alerts matching `filter`, newest first.
    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRecord>, StoreError>;
    /// An alert's events (its `fight_alert` and every `alert_update`), oldest first, each with
    /// the time it was committed (ms since the epoch).
    fn alert_events(&self, id: &str) -> Result<Vec<(u64, ServerMessage)>, StoreError>;
    /// Events with `seq > after_seq`, oldest first, at most `limit`.
    fn events_after(&self, after_seq: u64, limit: usize) -> Result<Vec<ServerMessage>, StoreError>;
    /// The newest event's sequence number (0 when there is none).
    fn last_seq(&self) -> Result<u64, StoreError>;
    /// Deletes alerts, events and messages from before `before_ms`, and sessions that expired
    /// then; returns the deleted alerts' media file names, snapshots and clips (the caller
    /// removes the files).
    fn prune(&self, before_ms: u64) -> Result<Vec<String>, StoreError>;
    /// The oldest alerts that still have media (a snapshot, a clip): (id, file names), oldest
    /// first.
    fn oldest_media(&self, limit: usize) -> Result<Vec<(String, Vec<String>)>, StoreError>;
    /// Forgets an alert's snapshot and clip (their files were removed for space); the alert
    /// stays.
    fn clear_media(&self, id: &str) -> Result<(), StoreError>;

    // Integrations.

    /// The last event delivered to an integration target (`None`: the target is new).
    fn integration_cursor(&self, target: &str) -> Result<Option<u64>, StoreError>;
    /// Records that a target got every event up to `seq`.
    fn set_integration_cursor(&self, target: &str, seq: u64) -> Result<(), StoreError>;

    // Chat.

    /// Stores a chat message as an event.
    fn add_message(&self, room: &str, from: &str, text: &str) -> Result<ChatMessage, StoreError>;
    /// The newest messages of a room, oldest first.
    fn messages(&self, room: &str, limit: usize) -> Result<Vec<ChatMessage>, StoreError>;

    // Users and sessions.

    /// Creates or replaces a user. Replacing one revokes its sessions: tokens issued before
    /// carry the old role and cameras.
    fn put_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// Creates `user` only while there is no user at all (a new deployment's first admin),
    /// atomically across nodes: of several nodes starting together on an empty database, one
    /// creates it. False when a user exists.
    fn create_first_user(&self, user: &UserRecord) -> Result<bool, StoreError>;
    /// A user by name. Fails (never guesses) when its row cannot be read.
    fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Every user's name and role, by name.
    fn user_names(&self) -> Result<Vec<(String, fightwatch_protocol::Role)>, StoreError>;
    /// How many users exist.
    fn user_count(&self) -> Result<u64, StoreError>;
    /// Deletes a user and revokes its sessions; returns whether it existed.
    fn delete_user(&self, name: &str) -> Result<bool, StoreError>;
    /// Records a new session.
    fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// A session by id.
    fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Revokes one session (logout); returns whether it was live.
    fn revoke_session(&self, id: &str) -> Result<bool, StoreError>;
    /// Revokes every session of `user`; returns how many were live.
    fn revoke_user_sessions(&self, user: &str) -> Result<usize, StoreError>;
    /// A number that grows whenever any session is revoked, by this process or another.
    fn revocation_revision(&self) -> Result<u64, StoreError>;

    // Web Push.

    /// Stores a browser's subscription, replacing the same user's one with the same endpoint
    /// (a browser that subscribed again). An endpoint another user owns is left as it is and
    /// `false` returned: a user cannot take over someone else's browser (it would get their
    /// alerts, and they would stop getting them).
    fn put_push_subscription(&self, sub: &PushSubscription) -> Result<bool, StoreError>;
    /// Every subscription, oldest first.
    fn push_subscriptions(&self) -> Result<Vec<PushSubscription>, StoreError>;
    /// Forgets a subscription; returns whether it existed.
    fn delete_push_subscription(&self, endpoint: &str) -> Result<bool, StoreError>;
}
