/*!
The alert stage of fightwatch (capture → inference → **alerts** → broadcaster).

Incidents from the inference pipeline and detections from external detectors become stored
alerts with a snapshot; every change is written to the [`AlertStore`](fightwatch_store::AlertStore)
and then published, in order, on the [`EventBus`] that broadcasters subscribe to.

- [`AlertService`]: raise, update, acknowledge and end alerts; snapshots and their space
  limit; retention; ending the alerts a killed run left active.
- [`RunningPipeline`] and [`PipelineAlerts`]: start cameras and the inference thread from a
  list of [`CameraSpec`]s, and turn what they report into alerts and live camera updates. Every
  command that runs the pipeline (`fightwatch run`, `fightwatch replay --serve`) uses these.
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
mod pipeline;
mod process;
mod schedule;
mod service;

pub use blocking::blocking;
pub use bus::{BusReport, EventBus, LocalBus, Subscription};
pub use error::AlertError;
pub use escalation::EscalationPolicy;
pub use journal::Journal;
pub use media::MediaDir;
pub use pipeline::{
    CAMERA_OFFLINE, CameraSpec, ClipSettings, PIPELINE_SOURCE, PipelineAlerts, RunningPipeline,
};
pub use process::ProcessSampler;
pub use schedule::{ArmedSchedule, ScheduleError};
pub use service::{AlertService, MAX_NOTE_CHARS, Raised, Retention};
