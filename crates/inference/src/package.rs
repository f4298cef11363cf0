//! A model package: `model.toml` + `model.onnx`, checked against each other at load.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;
use ndarray::{Array5, ArrayView5, Axis};

use crate::batch_buffer::{BatchBuffer, fill_pool};
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

/// A batch written into one of a [`ModelPackage`]'s input buffers by
/// [`prepare`](ModelPackage::prepare) (or, during a run, by
/// [`run_prepared`](ModelPackage::run_prepared)), ready to run.
#[derive(Debug)]
#[must_use = "a prepared batch holds an input buffer until it is run"]
pub struct Prepared {
    slot: usize,
    clips: usize,
}

impl Prepared {
    /// Clips in the batch.
    pub fn len(&self) -> usize {
        self.clips
    }

    /// Whether the batch has no clip.
    pub fn is_empty(&self) -> bool {
        self.clips == 0
    }
}

/// A loaded model package, ready to score clips.
#[derive(Debug)]
pub struct ModelPackage {
    dir: PathBuf,
    config: ModelConfig,
    model: OnnxModel,
    fight_indices: Vec<usize>,
    fixed_batch: Option<usize>,
    /// Two input buffers, reused (a fresh 2.4 MB-a-clip buffer per run costs page faults every
    /// time) and pinned on CUDA: one is run while the other is written ([`Self::run_prepared`]).
    buffers: [BatchBuffer; 2],
    /// Which buffers hold a prepared batch not yet run.
    held: [bool; 2],
    /// Time the last [`score`](Self::score) spent writing its clips into the input buffer.
    last_fill: std::time::Duration,
    /// What it was loaded with (the device the session settled on), for
    /// [`another_session`](Self::another_session).
    runtime: OrtRuntime,
    session: SessionConfig,
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
        let model_device = model.device();
        let fixed_batch = check_io(&config, &model)?;
        let fight_indices = config.fight_indices();
        let mut package = Self {
            dir: dir.to_path_buf(),
            config,
            model,
            fight_indices,
            fixed_batch,
            buffers: [BatchBuffer::heap(1), BatchBuffer::heap(1)],
            held: [false; 2],
            last_fill: std::time::Duration::ZERO,
            runtime: runtime.clone(),
            session: SessionConfig {
                device: model_device,
                intra_threads: session.intra_threads,
            },
        };
        let device = package.model.device();
        let pool = fill_pool(default_fill_threads(device));
        package.buffers =
            [0, 1].map(|_| BatchBuffer::for_session(package.model.session(), device, pool.clone()));
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

    /// The same package in a session of its own, on the device this one settled on, with as
    /// many fill threads: a second inference stream (on a GPU, its own CUDA stream). Loads
    /// and checks the files again.
    pub fn another_session(&self) -> Result<Self, Error> {
        let mut other = Self::load_with(&self.runtime, &self.dir, &self.session)?;
        other.set_fill_threads(self.fill_setup().0);
        Ok(other)
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

    /// Builds the input tensor for `clips` (each `input.frames` preprocessed frames), on the
    /// calling thread, in a fresh buffer: the reference [`score`](Self::score)'s buffer is
    /// tested against.
    pub fn input_tensor(&self, clips: &[&[Arc<RgbImage>]]) -> Result<Array5<f32>, Error> {
        self.check_clips(clips)?;
        let mut tensor = Array5::<f32>::zeros(self.batch_shape(clips.len()));
        for (clip, out) in clips.iter().zip(tensor.axis_iter_mut(Axis(0))) {
            write_clip(clip, &self.config.input, out);
        }
        Ok(tensor)
    }

    /// The input tensor's shape for `n` clips.
    fn batch_shape(&self, n: usize) -> (usize, usize, usize, usize, usize) {
        let i = &self.config.input;
        let (t, c, h, w) = (i.frames, 3, i.height as usize, i.width as usize);
        match i.layout {
            Layout::Ncthw => (n, c, t, h, w),
            Layout::Ntchw => (n, t, c, h, w),
        }
    }

    /// Every clip is `input.frames` frames of the input size.
    fn check_clips(&self, clips: &[&[Arc<RgbImage>]]) -> Result<(), Error> {
        let i = &self.config.input;
        let fits = |clip: &&[Arc<RgbImage>]| {
            clip.len() == i.frames && clip.iter().all(|f| f.dimensions() == (i.width, i.height))
        };
        if clips.iter().all(fits) {
            return Ok(());
        }
        Err(Error::BadInput {
            model: self.config.model.name.clone(),
            message: format!(
                "a clip must be {} frames of {}x{}",
                i.frames, i.width, i.height
            ),
        })
    }

    /// Writes `clips` into a free input buffer (on the fill threads; the caller waits), ready
    /// for [`run_prepared`](Self::run_prepared). A model with a fixed batch size takes batches
    /// of that size only.
    pub fn prepare(&mut self, clips: &[&[Arc<RgbImage>]]) -> Result<Prepared, Error> {
        self.check_batch(clips)?;
        let slot = self.spare_buffer(None)?;
        let started = std::time::Instant::now();
        self.buffers[slot].fill(clips, &self.config.input)?;
        self.last_fill = started.elapsed();
        self.held[slot] = true;
        Ok(Prepared {
            slot,
            clips: clips.len(),
        })
    }

    /// Runs a prepared batch and returns its scores; meanwhile the fill threads write `next`
    /// (if any) into the other buffer, so the next run needs no host work first: copy and
    /// compute of one batch overlap the writing of the next. [`last_fill`](Self::last_fill)
    /// is then the time this thread waited for that writing after its run.
    pub fn run_prepared(
        &mut self,
        batch: Prepared,
        next: Option<&[&[Arc<RgbImage>]]>,
    ) -> Result<(Vec<ClipScores>, Option<Prepared>), Error> {
        if !self.held.get(batch.slot).copied().unwrap_or(false) {
            return Err(Error::Ort(ort::Error::new(
                "that batch was run already, or is another model's",
            )));
        }
        // The batch is used up whatever happens next: its buffer is free again.
        self.held[batch.slot] = false;
        let other = match next {
            Some(next) => {
                self.check_batch(next)?;
                self.spare_buffer(Some(batch.slot))?
            }
            None => 1 - batch.slot,
        };
        let shape = self.batch_shape(batch.clips);
        let len = shape.0 * shape.1 * shape.2 * shape.3 * shape.4;
        let Self {
            model,
            config,
            fight_indices,
            buffers,
            ..
        } = self;
        let (first, second) = buffers.split_at_mut(1);
        let (current, spare) = match batch.slot {
            0 => (&first[0], &mut second[0]),
            _ => (&second[0], &mut first[0]),
        };
        let input = &config.input;
        let (scores, filled, waited) = std::thread::scope(|scope| {
            let filling =
                next.map(|clips| scope.spawn(move || spare.fill(clips, input).map(|_| ())));
            let scores = current.filled(len).and_then(|rows| {
                let view = ArrayView5::from_shape(shape, rows).map_err(|e| Error::BadInput {
                    model: config.model.name.clone(),
                    message: e.to_string(),
                })?;
                run_scores(model, config, fight_indices, view)
            });
            let ran = std::time::Instant::now();
            let filled = filling.map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(Error::Ort(ort::Error::new("a batch fill thread panicked")))
                })
            });
            (scores, filled, ran.elapsed())
        });
        self.last_fill = if filled.is_some() {
            waited
        } else {
            std::time::Duration::ZERO
        };
        let scores = scores?;
        // A batch that could not be written is not lost: the caller still has its clips, and
        // preparing them again reports the error where it can act on it.
        let next = match (next, filled) {
            (Some(clips), Some(Ok(()))) => {
                self.held[other] = true;
                Some(Prepared {
                    slot: other,
                    clips: clips.len(),
                })
            }
            (_, Some(Err(e))) => {
                tracing::warn!(error = %e, "Cannot write the next batch during a run.");
                None
            }
            _ => None,
        };
        Ok((scores, next))
    }

    /// A buffer holding no prepared batch, other than `running`.
    fn spare_buffer(&self, running: Option<usize>) -> Result<usize, Error> {
        (0..2)
            .find(|&i| !self.held[i] && Some(i) != running)
            .ok_or_else(|| {
                Error::Ort(ort::Error::new(
                    "both input buffers hold prepared batches: run one first",
                ))
            })
    }

    /// A batch `prepare` can take: clips of the input's frames and size, as many as a fixed
    /// batch size asks for.
    fn check_batch(&self, clips: &[&[Arc<RgbImage>]]) -> Result<(), Error> {
        self.check_clips(clips)?;
        match self.fixed_batch {
            Some(n) if n != clips.len() => Err(Error::BadInput {
                model: self.config.model.name.clone(),
                message: format!("the graph takes batches of {n}, not {}", clips.len()),
            }),
            _ => Ok(()),
        }
    }

    /// Time the last [`score`](Self::score), [`prepare`](Self::prepare) or
    /// [`run_prepared`](Self::run_prepared) kept its thread writing clips into an input buffer:
    /// host work before a run.
    pub fn last_fill(&self) -> std::time::Duration {
        self.last_fill
    }

    /// Writes a batch's clips with `threads` threads (the default: 1 on a CPU, where the
    /// model's own threads want the cores; a few on a GPU, where the run is short and one
    /// thread writing a batch's 20 MB would be the limit).
    pub fn set_fill_threads(&mut self, threads: usize) {
        let pool = fill_pool(threads);
        for buffer in &mut self.buffers {
            buffer.share_pool(pool.clone());
        }
    }

    /// Threads writing a batch's clips, and whether the buffers are pinned memory.
    pub fn fill_setup(&self) -> (usize, bool) {
        (self.buffers[0].threads(), self.buffers[0].is_pinned())
    }

    /// Runs the model on a batch of clips and returns their scores.
    ///
    /// A graph with a fixed batch size is run once per clip.
    pub fn score(&mut self, clips: &[&[Arc<RgbImage>]]) -> Result<Vec<ClipScores>, Error> {
        let chunk = self.fixed_batch.unwrap_or(clips.len()).max(1);
        let mut out = Vec::with_capacity(clips.len());
        let mut fill = std::time::Duration::ZERO;
        for clips in clips.chunks(chunk) {
            let batch = self.prepare(clips)?;
            fill += self.last_fill;
            out.extend(self.run_prepared(batch, None)?.0);
        }
        self.last_fill = fill;
        Ok(out)
    }

    /// Runs the model on a ready input tensor (batch first) and returns the scores.
    pub fn score_tensor(&mut self, tensor: Array5<f32>) -> Result<Vec<ClipScores>, Error> {
        self.score_view(tensor.view())
    }

    /// [`score_tensor`](Self::score_tensor) on a borrowed tensor.
    pub fn score_view(&mut self, tensor: ArrayView5<'_, f32>) -> Result<Vec<ClipScores>, Error> {
        run_scores(&mut self.model, &self.config, &self.fight_indices, tensor)
    }
}

/// Runs `model` on `tensor` and reads each clip's scores (and map) out of its outputs.
fn run_scores(
    model: &mut OnnxModel,
    config: &ModelConfig,
    fight_indices: &[usize],
    tensor: ArrayView5<'_, f32>,
) -> Result<Vec<ClipScores>, Error> {
    let (input, output) = (config.input.name.clone(), config.output.name.clone());
    let mut outputs = model.run_f32(&[(&input, tensor.into_dyn())])?;
    let mut take = |name: &str| {
        let at = outputs.iter().position(|(n, _)| n == name);
        at.map(|i| outputs.swap_remove(i).1)
            .ok_or_else(|| Error::BadInput {
                model: config.model.name.clone(),
                message: format!("no output {name:?}"),
            })
    };
    let raw = take(&output)?;
    let cams = match config.output.cam.clone() {
        Some(name) => Some(take(&name)?),
        None => None,
    };
    let labels = config.output.labels.len();
    let n = raw.len() / labels;
    let rows = raw
        .into_shape_with_order((n, labels))
        .map_err(|e| Error::BadInput {
            model: config.model.name.clone(),
            message: format!("output is not [batch, {labels}]: {e}"),
        })?;
    let mut maps = cam_maps(cams, n, &config.model.name)?.into_iter();
    Ok(rows
        .outer_iter()
        .map(|row| {
            let probs = activate(
                row.as_slice().map_or_else(|| row.to_vec(), <[f32]>::to_vec),
                config.output.activation,
            );
            let fight = fight_indices
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

/// Fill threads for a session on `device`: see [`ModelPackage::set_fill_threads`].
fn default_fill_threads(device: Device) -> usize {
    match device {
        Device::Cpu => 1,
        _ => std::thread::available_parallelism()
            .map_or(2, |n| n.get() / 4)
            .clamp(2, 8),
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
