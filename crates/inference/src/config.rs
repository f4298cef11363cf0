//! `model.toml`: what the runtime needs to know about a model beyond its ONNX file.

use serde::Deserialize;

/// A parsed `model.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Identity and provenance.
    pub model: ModelSection,
    /// How to build the input tensor from frames.
    pub input: InputConfig,
    /// How to read the output tensor.
    pub output: OutputConfig,
    /// The model's own incident defaults, chosen on its training data (its model card says how);
    /// a site's `[incident]` and a camera's `[cameras.incident]` go on top.
    #[serde(default)]
    pub incident: crate::IncidentOverrides,
}

/// `[model]`: identity and provenance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Short name, shown in logs and alerts.
    pub name: String,
    /// ONNX file, relative to the package directory. Default `model.onnx`.
    #[serde(default = "default_file")]
    pub file: String,
    /// One line on what the model is.
    #[serde(default)]
    pub description: String,
    /// Where the weights come from.
    #[serde(default)]
    pub source: String,
    /// Licence of the weights.
    #[serde(default)]
    pub licence: String,
}

fn default_file() -> String {
    "model.onnx".into()
}

/// Order of the clip tensor's axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Layout {
    /// batch, channel, time, height, width (torchvision video models).
    #[serde(rename = "NCTHW")]
    Ncthw,
    /// batch, time, channel, height, width (VideoMAE, TimeSformer).
    #[serde(rename = "NTCHW")]
    Ntchw,
}

/// How frames are brought to the model's input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Resize to `resize_width` x `resize_height` (default: the input size) ignoring the aspect
    /// ratio, then centre-crop to the input size.
    Squash,
    /// Resize so the short side is `resize_short_side` (default: the input's short side),
    /// keeping the aspect ratio, then centre-crop to the input size.
    ShortSide,
}

/// `[input]`: the clip tensor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Input tensor name in the ONNX graph.
    pub name: String,
    /// Axis order.
    pub layout: Layout,
    /// Frames per clip.
    pub frames: usize,
    /// Frames per second of media time the clip is sampled at; clips are built by time, so
    /// cameras of any frame rate give clips of the same duration.
    pub sample_fps: f64,
    /// Input width in pixels.
    pub width: u32,
    /// Input height in pixels.
    pub height: u32,
    /// Resize mode.
    pub resize: ResizeMode,
    /// Squash target width before the crop (squash mode).
    pub resize_width: Option<u32>,
    /// Squash target height before the crop (squash mode).
    pub resize_height: Option<u32>,
    /// Short side length before the crop (short_side mode).
    pub resize_short_side: Option<u32>,
    /// Multiplier taking bytes to the model's range; default 1/255.
    #[serde(default = "default_pixel_scale")]
    pub pixel_scale: f32,
    /// Per-channel (RGB) mean subtracted after scaling.
    pub mean: [f32; 3],
    /// Per-channel (RGB) standard deviation divided by after the mean.
    pub std: [f32; 3],
}

fn default_pixel_scale() -> f32 {
    1.0 / 255.0
}

impl InputConfig {
    /// Media-time length of one clip in seconds.
    pub fn clip_duration_s(&self) -> f64 {
        self.frames as f64 / self.sample_fps
    }
}

/// What is applied to the raw output to get probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Softmax over the labels (the output is logits of exclusive classes).
    Softmax,
    /// Sigmoid per label (independent labels).
    Sigmoid,
    /// The output already holds probabilities.
    None,
}

/// `[output]`: the scores.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Output tensor name in the ONNX graph.
    pub name: String,
    /// Activation applied to the output.
    pub activation: Activation,
    /// Label of each output index.
    pub labels: Vec<String>,
    /// Labels that count as a fight; their probabilities are summed into the fight score.
    pub fight_labels: Vec<String>,
    /// Name of the class activation map output, when the model has one: f32
    /// `[batch, h, w]`, the fight logit's share per cell of the input's picture (see
    /// [`crate::ActivationMap`]). Fight alerts then say where in the picture the fight is.
    #[serde(default)]
    pub cam: Option<String>,
}

impl ModelConfig {
    /// Parses `text`; `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self, crate::Error> {
        let config: Self = toml::from_str(text).map_err(|e| crate::Error::Config {
            path: origin.into(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| crate::Error::Config {
            path: origin.into(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let i = &self.input;
        if i.frames == 0 {
            return Err("input.frames must be at least 1".into());
        }
        if !(i.sample_fps.is_finite() && i.sample_fps > 0.0) {
            return Err(format!(
                "input.sample_fps must be > 0, got {}",
                i.sample_fps
            ));
        }
        if i.width == 0 || i.height == 0 {
            return Err("input.width and input.height must be > 0".into());
        }
        if i.std.iter().any(|s| *s == 0.0 || !s.is_finite()) {
            return Err(format!("input.std must be non-zero, got {:?}", i.std));
        }
        let (rw, rh) = (
            i.resize_width.unwrap_or(i.width),
            i.resize_height.unwrap_or(i.height),
        );
        if rw < i.width || rh < i.height {
            return Err(format!(
                "resize {rw}x{rh} is smaller than the input {}x{}",
                i.width, i.height
            ));
        }
        if i.resize_short_side
            .is_some_and(|s| s < i.width.min(i.height))
        {
            return Err("input.resize_short_side is smaller than the input's short side".into());
        }
        let o = &self.output;
        if o.labels.is_empty() {
            return Err("output.labels is empty".into());
        }
        if o.fight_labels.is_empty() {
            return Err("output.fight_labels is empty: which labels count as a fight?".into());
        }
        if let Some(l) = o.fight_labels.iter().find(|l| !o.labels.contains(l)) {
            return Err(format!(
                "output.fight_labels names {l:?}, which is not in output.labels"
            ));
        }
        if o.cam.as_ref().is_some_and(|c| c.is_empty() || *c == o.name) {
            return Err("output.cam must name a second output of the graph".into());
        }
        self.incident_defaults()
            .validate()
            .map_err(|e| format!("[incident]: {e}"))?;
        Ok(())
    }

    /// The incident settings this model starts from: the built-in defaults with the model's
    /// own `[incident]` values in place.
    pub fn incident_defaults(&self) -> crate::IncidentConfig {
        self.incident.apply(crate::IncidentConfig::default())
    }

    /// Output indices whose probabilities make up the fight score.
    pub fn fight_indices(&self) -> Vec<usize> {
        let o = &self.output;
        o.labels
            .iter()
            .enumerate()
            .filter(|(_, l)| o.fight_labels.contains(l))
            .map(|(i, _)| i)
            .collect()
    }
}
