//! `[model]` and `[pipeline]` of a node's configuration file: the inference stage's settings as
//! an operator writes them, with their defaults and checks here, beside the types they make.

use std::path::PathBuf;

use serde::Deserialize;

use crate::{Device, GateConfig, PipelineConfig};

/// `[model]`: which model package runs, and where.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// The model package's directory (in a config file: relative to the file).
    pub package: PathBuf,
    /// `cpu`, `cuda[:N]`, `tensorrt[:N]` or `auto` (default `cpu`).
    #[serde(default = "default_device")]
    pub device: String,
    /// Threads per operator; 0: one per core.
    #[serde(default)]
    pub threads: usize,
}

fn default_device() -> String {
    "cpu".into()
}

impl ModelSettings {
    /// The device named.
    pub fn device(&self) -> Result<Device, String> {
        self.device.parse()
    }
}

/// `[pipeline]`: how windows are cut, gated and batched. Defaults: [`PipelineConfig`]'s, with
/// the [recommended gate](GateConfig::recommended) on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSettings {
    /// Seconds of media time between window starts.
    pub hop_s: f64,
    /// Most windows per model run.
    pub max_batch: usize,
    /// Leave windows unscored where nothing moved or the score is far below the threshold
    /// (docs/inference.md, "Which windows are scored"); false scores every window.
    pub gate: bool,
    /// A window whose frames changed less than this fraction of the picture is "still"
    /// (0: motion does not matter).
    pub still_below: f32,
    /// Below this smoothed score a camera is scored every `relaxed_hop_s`.
    pub relaxed_below: f32,
    /// Seconds between scored windows while far below the threshold.
    pub relaxed_hop_s: f64,
    /// Longest a camera goes unscored, seconds.
    pub max_unscored_s: f64,
    /// Inference streams: the cameras are shared out among this many model sessions, each with
    /// its own inference thread (docs/inference.md, "Several inference streams").
    pub streams: usize,
}

/// Most inference streams: each is a model session (its weights and workspace in device
/// memory) and a thread.
pub const MAX_STREAMS: usize = 16;

impl Default for PipelineSettings {
    fn default() -> Self {
        let pipeline = PipelineConfig::default();
        let gate = GateConfig::recommended();
        Self {
            hop_s: pipeline.hop_s,
            max_batch: pipeline.max_batch,
            gate: true,
            still_below: gate.still_below.unwrap_or(0.0),
            relaxed_below: gate.relaxed_below,
            relaxed_hop_s: gate.relaxed_hop_s,
            max_unscored_s: gate.max_unscored_s,
            streams: pipeline.streams,
        }
    }
}

impl PipelineSettings {
    /// The gate these settings describe.
    pub fn gate_config(&self) -> GateConfig {
        if !self.gate {
            return GateConfig::off();
        }
        GateConfig {
            still_below: (self.still_below > 0.0).then_some(self.still_below),
            relaxed_below: self.relaxed_below,
            relaxed_hop_s: self.relaxed_hop_s,
            max_unscored_s: self.max_unscored_s,
        }
    }

    /// `config` with these settings' hop, gate and batch size.
    pub fn apply(&self, config: PipelineConfig) -> PipelineConfig {
        PipelineConfig {
            hop_s: self.hop_s,
            gate: self.gate_config(),
            max_batch: self.max_batch.max(1),
            streams: self.streams,
            ..config
        }
    }

    /// Checks the settings.
    pub fn check(&self) -> Result<(), String> {
        if self.hop_s.is_nan() || self.hop_s <= 0.0 {
            return Err("hop_s must be > 0".into());
        }
        if !(1..=MAX_STREAMS).contains(&self.streams) {
            return Err(format!("streams must be 1 to {MAX_STREAMS}"));
        }
        self.gate_config().validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_librarys_with_the_gate_on() {
        let settings = PipelineSettings::default();
        let config = settings.apply(PipelineConfig::default());
        assert_eq!(config.hop_s, PipelineConfig::default().hop_s);
        assert_eq!(config.gate, GateConfig::recommended());
        assert!(settings.check().is_ok());
        let off = PipelineSettings {
            gate: false,
            ..settings
        };
        assert_eq!(off.gate_config(), GateConfig::off());
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            PipelineSettings {
                hop_s: 0.0,
                ..PipelineSettings::default()
            },
            PipelineSettings {
                hop_s: f64::NAN,
                ..PipelineSettings::default()
            },
            PipelineSettings {
                still_below: 2.0,
                ..PipelineSettings::default()
            },
            PipelineSettings {
                streams: 0,
                ..PipelineSettings::default()
            },
            PipelineSettings {
                streams: 1000,
                ..PipelineSettings::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        let model: ModelSettings = toml::from_str("package = \"m\"").unwrap();
        assert_eq!(model.device(), Ok(Device::Cpu));
        let model: ModelSettings = toml::from_str("package = \"m\"\ndevice = \"gpu\"").unwrap();
        assert!(model.device().is_err());
    }
}
