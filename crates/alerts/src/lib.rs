/*!
The alert stage of fightwatch (capture → inference → **alerts** → broadcaster).

Incidents from the inference pipeline and detections from external detectors become stored
alerts with a snapshot; every change is written to the [`AlertStore`](fightwatch_store::AlertStore)
and then published, in order, on the [`EventBus`] that broadcasters subscribe to.

- [`AlertService`]: raise, update, acknowledge and end alerts; snapshots and their space
  limit; retention; ending the alerts a killed run left active. (What a running pipeline's
  events become is `fightwatch-node`'s `PipelineAlerts`: this crate knows alerts, not cameras
  or models.)
- [`EventBus`] and [`LocalBus`], [`Journal`] (persist, then publish, in `seq` order), and
  [`blocking`], the one way async code calls the store.

```
use std::sync::Arc;
use fightwatch_alerts::{AlertService, EventBus, LocalBus, MediaDir};
use fightwatch_protocol::{Detection, ServerMessage};
use fightwatch_store::{AlertStore, SqliteStore};

# tokio::runtime::Runtime::new()?.block_on(async {
let dir = tempfile::tempdir()?;
let store: Arc<dyn AlertStore> = Arc::new(SqliteStore::open(&dir.path().join("db"))?);
let bus = Arc::new(LocalBus::new(store.clone(), 1024));
let mut events = bus.subscribe();
let alerts = AlertService::new(store, bus, MediaDir::new(dir.path().join("snapshots")));
let detection = Detection {
    camera: "gate".into(), site: None, score: 0.9, label: None, snapshot_jpeg: None,
};
let alert = alerts.detection(detection, "door-sensor").await?;
let published = events.recv().await?;
assert!(matches!(&*published, ServerMessage::FightAlert(a) if a.id == alert.id()));
# Ok::<(), Box<dyn std::error::Error>>(())
# })?;
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/

mod blocking;
mod bus;
pub mod detection;
mod error;
mod escalation;
mod export;
mod journal;
mod media;
mod process;
mod schedule;
mod service;
mod settings;

pub use blocking::blocking;
pub use bus::{BusReport, EventBus, LocalBus, Subscription};
pub use error::AlertError;
pub use escalation::EscalationPolicy;
pub use export::{RemoteMedia, RemoteRead};
pub use journal::Journal;
pub use media::MediaDir;
pub use process::ProcessSampler;
pub use schedule::{ArmedSchedule, ScheduleError};
pub use service::{
    AlertService, CAMERA_OFFLINE, MAX_NOTE_CHARS, PIPELINE_SOURCE, Raised, Retention,
};
pub use settings::{DEFAULT_GROUP_WINDOW, SiteSettings, WorkflowSettings};
