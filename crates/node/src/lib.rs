/*!
One fightwatch node, composed: cameras and the inference thread running, and what they report
turned into this node's alerts (capture → inference → alerts → broadcaster).

The stage crates each do one job and know nothing of each other's threads; this crate starts
them and wires them together:

- [`RunningPipeline`]: starts every camera of a list of [`CameraSpec`]s and the inference
  thread; its events come on one channel.
- [`PipelineAlerts`]: turns those events into alerts (incident start, peak, end; incident clips
  and their marks; `camera_offline` alerts), camera states, metrics, thumbnails and live frames
  on a server's [`AlertService`](fightwatch_alerts::AlertService) and
  [`CameraFeeds`](fightwatch_broadcaster::CameraFeeds).

Every command that runs the pipeline (`fightwatch run`, `fightwatch replay --serve`) uses these.

```no_run
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use fightwatch_inference::{ModelPackage, OrtRuntime, PipelineConfig, runtime::LibrarySearch};
use fightwatch_node::{CameraSpec, RunningPipeline};

let runtime = OrtRuntime::init(&LibrarySearch::from_env(None))?;
let model = ModelPackage::load(&runtime, "models/fight-demo".as_ref(), 1)?;
let cameras = [CameraSpec::new("lobby", "fixtures/fight_street.mp4")];
let stop = Arc::new(AtomicBool::new(false));
let pipeline = RunningPipeline::start(model, PipelineConfig::default(), &cameras, stop)?;
for event in pipeline.events.iter() {
    println!("{event:?}");
}
println!("{:?}", pipeline.join()?);
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/

pub mod accounts;
mod camera_settings;
mod data_dir;
mod error;
mod peers;
mod pipeline_alerts;
mod run;
mod runner;
mod server;
mod settings;
mod streams;

pub use camera_settings::{CameraSettings, Masks};
pub use data_dir::{DataDir, jwt_secret, media_dir, open_store, open_store_at, private_dir};
pub use error::NodeError;
pub use pipeline_alerts::PipelineAlerts;
pub use run::{run_leased, run_pipeline};
pub use runner::{CameraSpec, ClipSettings, RunningPipeline};
pub use server::{ClusterOptions, Server, ServerError, ServerOptions};
pub use settings::{
    ClusterSettings, DEFAULT_BIND, DEFAULT_DATA_DIR, DEFAULT_WEB_DIR, EvidenceSettings,
    ServerSettings, StorageSettings,
};
