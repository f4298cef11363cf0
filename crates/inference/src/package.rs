//! A model package: `model.toml` + `model.onnx`, checked against each other at load.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;
use ndarray::{Array5, ArrayView5, Axis};

use crate::config::{Activation, Layout, ModelConfig};
use crate::localize::ActivationMap;
use crate::preprocess::{Preprocessor, write_clip};
use crate::{Device, Error, OnnxModel, OrtRuntime, SessionConfig, TensorInfo};

/// Scores of one clip.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipScores {
    /// Probability of a fight: the sum of the fight labels' probabilities.
    pub fight: f32,
    /// Probability per label, in `output.labels` order.
    pub probs: Vec<f32>,
    /// Where in the picture the fight score comes from, when the model has a class
    /// activation map (`output.cam`).
    pub cam: Option<ActivationMap>,
}

/// A loaded model package, ready to score clips.
#[derive(Debug)]
pub struct ModelPackage {
    dir: PathBuf,
    config: ModelConfig,
    model: OnnxModel,
    fight_indices: Vec<usize>,
    fixed_batch: Option<usize>,
    /// The input tensor of the last run, reused: a fresh 2.4 MB-a-clip buffer per run costs
    /// page faults every time.
    scratch: Array5<f32>,
}

impl ModelPackage {
    /// Loads `dir/model.toml` and the ONNX file it names on the CPU, and checks they agree.
    pub fn load(runtime: &OrtRuntime, dir: &Path, intra_threads: usize) -> Result<Self, Error> {
        Self::load_with(
            runtime,
            dir,
            &SessionConfig {
                device: Device::Cpu,
                intra_threads,
            },
        )
    }

    /// Loads a package on the device `session` names.
    pub fn load_with(
        runtime: &OrtRuntime,
        dir: &Path,
        session: &SessionConfig,
    ) -> Result<Self, Error> {
        let toml_path = dir.join("model.toml");
        if !dir.is_dir() {
            return Err(Error::PackageMissing(dir.to_path_buf()));
        }
        let text = std::fs::read_to_string(&toml_path).map_err(|e| Error::Config {
            path: toml_path.clone(),
            message: e.to_string(),
        })?;
        let config = ModelConfig::parse(&text, &toml_path.display().to_string())?;
        let model_path = dir.join(&config.model.file);
        let model = OnnxModel::load_with(runtime, &model_path, session)?;
        let fixed_batch = check_io(&config, &model)?;
        let fight_indices = config.fight_indices();
        let mut package = Self {
            dir: dir.to_path_buf(),
            config,
            model,
            fight_indices,
            fixed_batch,
            scratch: Array5::zeros((0, 0, 0, 0, 0)),
        };
        let device = package.model.device();
        if device == Device::Cpu {
            return Ok(package);
        }
        // A GPU provider can register and still fail on its first run (a missing cuDNN is opened
        // only then): run one clip now so that surfaces at start as a device error, not at the
        // first incident. It also pays the kernels' first-run cost before any camera waits on it.
        match package.warm_up(1) {
            Ok(()) => Ok(package),
            Err(e) if session.device == Device::Auto => {
                tracing::warn!(%device, error = %e, "The GPU failed its first run; running on the CPU.");
                let cpu = SessionConfig {
                    device: Device::Cpu,
                    ..*session
                };
                Self::load_with(runtime, dir, &cpu)
            }
            Err(e) => Err(Error::Device {
                device,
                message: format!("first run failed: {e}"),
            }),
        }
    }

    /// Runs synthetic batches of every size from 1 to `max_batch` (or the graph's fixed size).
    ///
    /// On a GPU the first run of each input shape is slow: cuDNN times its convolution
    /// algorithms for that shape (~0.1–0.2 s for mc3_18 on an H200). A pipeline meets every
    /// batch size up to its `max_batch`; paying for them at start keeps that pause off the first
    /// incidents.
    pub fn warm_up(&mut self, max_batch: usize) -> Result<(), Error> {
        let sizes = match self.fixed_batch {
            Some(n) => n..=n,
            None => 1..=max_batch.max(1),
        };
        for batch in sizes {
            let tensor = self.synthetic_batch(batch);
            self.score_view(tensor.view())?;
        }
        Ok(())
    }

    /// A deterministic input tensor of `batch` clips in this model's shape and value range, for
    /// warm-ups and throughput measurements (`fightwatch model bench`).
    pub fn synthetic_batch(&self, batch: usize) -> Array5<f32> {
        let i = &self.config.input;
        let (t, h, w) = (i.frames, i.height as usize, i.width as usize);
        let shape = match i.layout {
            Layout::Ncthw => (batch, 3, t, h, w),
            Layout::Ntchw => (batch, t, 3, h, w),
        };
        // A cheap hash of the index: varied values (no all-zero shortcut), same on every run.
        Array5::from_shape_fn(shape, |(a, b, c, d, e)| {
            let x = (a * 7919 + b * 104_729 + c * 31 + d * 131 + e * 17) % 251;
            x as f32 / 125.0 - 1.0
        })
    }

    /// The parsed `model.toml`.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The package directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The ONNX model.
    pub fn onnx(&self) -> &OnnxModel {
        &self.model
    }

    /// The ONNX model, to run tensors built elsewhere.
    pub fn onnx_mut(&mut self) -> &mut OnnxModel {
        &mut self.model
    }

    /// The batch size the graph requires, or `None` when its batch axis is dynamic.
    pub fn fixed_batch(&self) -> Option<usize> {
        self.fixed_batch
    }

    /// A preprocessor that resizes frames for this model (use one per camera thread).
    pub fn preprocessor(&self) -> Preprocessor {
        Preprocessor::new(&self.config.input)
    }

    /// Builds the input tensor for `clips` (each `input.frames` preprocessed frames).
    pub fn input_tensor(&self, clips: &[&[Arc<RgbImage>]]) -> Result<Array5<f32>, Error> {
        let mut tensor = Array5::<f32>::zeros((0, 0, 0, 0, 0));
        self.fill_input(clips, &mut tensor)?;
        Ok(tensor)
    }

    /// Writes `clips` into `tensor`, reshaping it (and so allocating) only when the batch's
    /// shape changed. Every element is written.
    fn fill_input(
        &self,
        clips: &[&[Arc<RgbImage>]],
        tensor: &mut Array5<f32>,
    ) -> Result<(), Error> {
        let i = &self.config.input;
        let (t, c, h, w) = (i.frames, 3, i.height as usize, i.width as usize);
        let shape = match i.layout {
            Layout::Ncthw => (clips.len(), c, t, h, w),
            Layout::Ntchw => (clips.len(), t, c, h, w),
        };
        if tensor.dim() != shape {
            *tensor = Array5::<f32>::zeros(shape);
        }
        for (clip, out) in clips.iter().zip(tensor.axis_iter_mut(Axis(0))) {
            if clip.len() != t || clip.iter().any(|f| f.dimensions() != (i.width, i.height)) {
                return Err(Error::BadInput {
                    model: self.config.model.name.clone(),
                    message: format!("a clip must be {t} frames of {}x{}", i.width, i.height),
                });
            }
            write_clip(clip, i, out);
        }
        Ok(())
    }

    /// Scores `clips` through the reused input buffer.
    fn score_batch(&mut self, clips: &[&[Arc<RgbImage>]]) -> Result<Vec<ClipScores>, Error> {
        let mut tensor = std::mem::replace(&mut self.scratch, Array5::zeros((0, 0, 0, 0, 0)));
        let scores = self
            .fill_input(clips, &mut tensor)
            .and_then(|()| self.score_view(tensor.view()));
        self.scratch = tensor;
        scores
    }

    /// Runs the model on a batch of clips and returns their scores.
    ///
    /// A graph with a fixed batch size is run once per clip.
    pub fn score(&mut self, clips: &[&[Arc<RgbImage>]]) -> Result<Vec<ClipScores>, Error> {
        match self.fixed_batch {
            Some(n) if n != clips.len() => {
                let mut out = Vec::with_capacity(clips.len());
                for chunk in clips.chunks(n.max(1)) {
                    out.extend(self.score_batch(chunk)?);
                }
                Ok(out)
            }
            _ => self.score_batch(clips),
        }
    }

    /// Runs the model on a ready input tensor (batch first) and returns the scores.
    pub fn score_tensor(&mut self, tensor: Array5<f32>) -> Result<Vec<ClipScores>, Error> {
        self.score_view(tensor.view())
    }

    /// [`score_tensor`](Self::score_tensor) on a borrowed tensor.
    pub fn score_view(&mut self, tensor: ArrayView5<'_, f32>) -> Result<Vec<ClipScores>, Error> {
        let (input, output) = (
            self.config.input.name.clone(),
            self.config.output.name.clone(),
        );
        let mut outputs = self.model.run_f32(&[(&input, tensor.into_dyn())])?;
        let mut take = |name: &str| {
            let at = outputs.iter().position(|(n, _)| n == name);
            at.map(|i| outputs.swap_remove(i).1)
                .ok_or_else(|| Error::BadInput {
                    model: self.config.model.name.clone(),
                    message: format!("no output {name:?}"),
                })
        };
        let raw = take(&output)?;
        let cams = match self.config.output.cam.clone() {
            Some(name) => Some(take(&name)?),
            None => None,
        };
        let labels = self.config.output.labels.len();
        let n = raw.len() / labels;
        let rows = raw
            .into_shape_with_order((n, labels))
            .map_err(|e| Error::BadInput {
                model: self.config.model.name.clone(),
                message: format!("output is not [batch, {labels}]: {e}"),
            })?;
        let mut maps = cam_maps(cams, n, &self.config.model.name)?.into_iter();
        Ok(rows
            .outer_iter()
            .map(|row| {
                let probs = activate(
                    row.as_slice().map_or_else(|| row.to_vec(), <[f32]>::to_vec),
                    self.config.output.activation,
                );
                let fight = self
                    .fight_indices
                    .iter()
                    .map(|&i| probs[i])
                    .sum::<f32>()
                    .min(1.0);
                ClipScores {
                    fight,
                    probs,
                    cam: maps.next().flatten(),
                }
            })
            .collect())
    }
}

/// The `n` clips' activation maps out of the `[n, h, w]` output (none without one).
fn cam_maps(
    cams: Option<ndarray::ArrayD<f32>>,
    n: usize,
    model: &str,
) -> Result<Vec<Option<ActivationMap>>, Error> {
    let Some(cams) = cams else {
        return Ok(vec![None; n]);
    };
    let bad = |message: String| Error::BadInput {
        model: model.to_string(),
        message,
    };
    let &[batch, h, w] = cams.shape() else {
        return Err(bad(format!(
            "the activation map is not [batch, h, w]: {:?}",
            cams.shape()
        )));
    };
    if batch != n {
        return Err(bad(format!("{batch} activation maps for {n} clips")));
    }
    // A map with a value that is not finite is left out: the score still counts.
    Ok(cams
        .outer_iter()
        .map(|m| ActivationMap::new(w, h, m.iter().copied().collect()))
        .collect())
}

fn activate(mut v: Vec<f32>, activation: Activation) -> Vec<f32> {
    match activation {
        Activation::Softmax => {
            let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = v
                .iter_mut()
                .map(|x| {
                    *x = (*x - max).exp();
                    *x
                })
                .sum();
            v.iter_mut().for_each(|x| *x /= sum);
        }
        Activation::Sigmoid => v.iter_mut().for_each(|x| *x = 1.0 / (1.0 + (-*x).exp())),
        Activation::None => {}
    }
    v
}

/// Checks the graph's input and output against the config; returns the fixed batch size, if any.
fn check_io(config: &ModelConfig, model: &OnnxModel) -> Result<Option<usize>, Error> {
    let i = &config.input;
    let mismatch = |expected: String, actual: &TensorInfo| Error::ModelMismatch {
        model: model.path().to_path_buf(),
        expected,
        actual: actual.to_string(),
    };
    let input = named(model, model.inputs(), &i.name, "input.name", "inputs")?;
    let (t, h, w) = (i.frames as i64, i64::from(i.height), i64::from(i.width));
    let (want, text) = match i.layout {
        Layout::Ncthw => (
            [3, t, h, w],
            format!("{}: f32[batch, 3, {t}, {h}, {w}] (NCTHW)", i.name),
        ),
        Layout::Ntchw => (
            [t, 3, h, w],
            format!("{}: f32[batch, {t}, 3, {h}, {w}] (NTCHW)", i.name),
        ),
    };
    if input.element_type != "f32"
        || input.shape.len() != 5
        || input.shape[1..]
            .iter()
            .zip(want)
            .any(|(d, w)| d.is_some_and(|d| d != w))
    {
        return Err(mismatch(text, input));
    }
    let o = &config.output;
    let output = named(model, model.outputs(), &o.name, "output.name", "outputs")?;
    let labels = o.labels.len() as i64;
    if output.element_type != "f32"
        || output.shape.len() != 2
        || output.shape[1].is_some_and(|d| d != labels)
    {
        return Err(mismatch(
            format!("{}: f32[batch, {labels}] ({labels} labels)", o.name),
            output,
        ));
    }
    if let Some(name) = &o.cam {
        let cam = named(model, model.outputs(), name, "output.cam", "outputs")?;
        if cam.element_type != "f32" || cam.shape.len() != 3 {
            return Err(mismatch(format!("{name}: f32[batch, h, w]"), cam));
        }
    }
    Ok(input.shape[0].and_then(|b| usize::try_from(b).ok()))
}

/// The tensor `name` among `tensors` (the graph's `kind`), or a mismatch naming the `field` of
/// model.toml that asked for it and every tensor there is.
fn named<'a>(
    model: &OnnxModel,
    tensors: &'a [TensorInfo],
    name: &str,
    field: &str,
    kind: &str,
) -> Result<&'a TensorInfo, Error> {
    tensors
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| Error::ModelMismatch {
            model: model.path().to_path_buf(),
            expected: format!(
                "an {} named {name:?} (model.toml {field})",
                kind.trim_end_matches('s')
            ),
            actual: format!(
                "{kind} {}",
                tensors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_and_sigmoid() {
        let p = activate(vec![0.0, (3.0f32).ln()], Activation::Softmax);
        assert!((p[0] - 0.25).abs() < 1e-6 && (p[1] - 0.75).abs() < 1e-6);
        let p = activate(vec![0.0], Activation::Sigmoid);
        assert!((p[0] - 0.5).abs() < 1e-6);
        assert_eq!(activate(vec![0.3], Activation::None), vec![0.3]);
    }
}
