/*!
Model loading, clip building, ONNX Runtime inference and fight incidents for fightwatch.

This crate is the inference stage of the pipeline (capture → **inference** → alerts →
broadcaster). It loads ONNX Runtime at run time from a shared library (see [`runtime`]),
opens ONNX models as [`OnnxModel`]s and runs clips of frames through them.

Start with [`OrtRuntime::init`], which finds and loads `libonnxruntime.so` (see
[`runtime::locate_library`] for the search order), then [`OnnxModel::load`].

```no_run
use fightwatch_inference::{OnnxModel, OrtRuntime, runtime::LibrarySearch};

let runtime = OrtRuntime::init(&LibrarySearch::default())?;
let mut model = OnnxModel::load(&runtime, "fixtures/onnx/tiny_clip_classifier.onnx".as_ref(), 1)?;
let clip = ndarray::ArrayD::<f32>::zeros(vec![1, 3, 4, 8, 8]);
let outputs = model.run_f32(&[("clip", clip.view())])?;
println!("{:?}", outputs[0].1);
# Ok::<(), fightwatch_inference::Error>(())
```

# Cargo features

| feature    | enables                                               | default |
|------------|-------------------------------------------------------|---------|
| `cuda`     | the CUDA execution provider (needs onnxruntime-gpu)    | no      |
| `tensorrt` | the TensorRT execution provider                        | no      |
*/

mod batch_buffer;
pub mod config;
mod device;
mod error;
mod gate;
pub mod incident;
pub mod localize;
mod model;
mod package;
mod pipeline;
mod preprocess;
pub mod runtime;
mod settings;
mod snapshot;
mod window;

pub use batch_buffer::BatchBuffer;
pub use config::ModelConfig;
pub use device::{Device, SessionConfig};
pub use error::Error;
pub use gate::{GateConfig, Verdict};
pub use incident::{IncidentConfig, IncidentDetector, IncidentOverrides, Smoothing};
pub use localize::ActivationMap;
pub use model::{OnnxModel, TensorInfo};
pub use package::{ClipScores, ModelPackage, Prepared};
pub use pipeline::{Located, Pipeline, PipelineConfig, PipelineEvent, PipelineSummary};
pub use preprocess::{Preprocessor, resize_spec, write_clip};
pub use runtime::OrtRuntime;
pub use settings::{ModelSettings, PipelineSettings};
pub use window::{Window, WindowBuilder};
