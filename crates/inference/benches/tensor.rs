//! Building the model's input tensor from a clip's frames (the inference thread does it for
//! every batch), mc3_18's input (16 frames of 112x112): the formula per pixel into a fresh buffer
//! (the code before issue #16) against the normalisation tables into a reused one (now).
//!
//! Then the batch buffer the model is fed from (`BatchBuffer`: rows written by 1 or more fill
//! threads): the host cost per clip the inference thread waits for before each run.
//!
//! Then the same with a model run between (the demo model, 2 fill threads): the time the
//! inference thread spends writing input per clip when it writes each batch itself, and when
//! the next batch is written during the current run (`ModelPackage::run_prepared`).
//!
//! Also the motion measure each camera thread takes of the same model-size frames.
//!
//! `cargo bench -p fightwatch-inference --bench tensor`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use fightwatch_inference::config::Layout;
use fightwatch_inference::runtime::LibrarySearch;
use fightwatch_inference::{BatchBuffer, ModelConfig, ModelPackage, OrtRuntime, write_clip};
use image::RgbImage;
use ndarray::{Array5, ArrayViewMut4, Axis};

/// The per-pixel formula, as `write_clip` was.
fn write_clip_formula(
    frames: &[Arc<RgbImage>],
    config: &ModelConfig,
    mut out: ArrayViewMut4<'_, f32>,
) {
    let input = &config.input;
    for (t, frame) in frames.iter().enumerate() {
        let mut frame_out = match input.layout {
            Layout::Ncthw => out.index_axis_mut(Axis(1), t),
            Layout::Ntchw => out.index_axis_mut(Axis(0), t),
        };
        for (c, mut plane) in frame_out.axis_iter_mut(Axis(0)).enumerate() {
            let (mean, std) = (input.mean[c], input.std[c]);
            for (dst, px) in plane.iter_mut().zip(frame.pixels()) {
                *dst = (f32::from(px.0[c]) * input.pixel_scale - mean) / std;
            }
        }
    }
}

fn main() {
    let text = include_str!("../../../models/fight-mc3-18/model.toml");
    let config = ModelConfig::parse(text, "model.toml").expect("mc3_18's model.toml");
    let i = &config.input;
    let mut rng = fastrand::Rng::with_seed(3);
    let clip: Vec<Arc<RgbImage>> = (0..i.frames)
        .map(|_| {
            Arc::new(RgbImage::from_fn(i.width, i.height, |_, _| {
                image::Rgb([rng.u8(..), rng.u8(..), rng.u8(..)])
            }))
        })
        .collect();
    println!("| batch | formula, fresh buffer | tables, reused buffer | speed-up |");
    println!("|---|---|---|---|");
    for batch in [1usize, 8] {
        let shape = (batch, 3, i.frames, i.height as usize, i.width as usize);
        let runs = 400 / batch;
        let t0 = Instant::now();
        for _ in 0..runs {
            let mut tensor = Array5::<f32>::zeros(shape);
            for out in tensor.axis_iter_mut(Axis(0)) {
                write_clip_formula(&clip, &config, out);
            }
            black_box(&tensor);
        }
        let before = t0.elapsed().as_secs_f64() * 1e3 / (runs * batch) as f64;
        let mut tensor = Array5::<f32>::zeros(shape);
        let t0 = Instant::now();
        for _ in 0..runs {
            for out in tensor.axis_iter_mut(Axis(0)) {
                write_clip(&clip, i, out);
            }
            black_box(&tensor);
        }
        let after = t0.elapsed().as_secs_f64() * 1e3 / (runs * batch) as f64;
        println!(
            "| {batch} | {before:.2} ms a clip | {after:.2} ms a clip | {:.1}x |",
            before / after
        );
    }
    // The batch buffer: 8 different clips (a batch's clips do not share frames), 1 and more
    // threads; the time is what the inference thread waits.
    let clips = random_clips(8, i, &mut rng);
    let batch: Vec<&[Arc<RgbImage>]> = clips.iter().map(Vec::as_slice).collect();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!("\n| batch buffer, batch of 8 | fill threads | per clip | speed-up |");
    println!("|---|---|---|---|");
    let mut one = 0.0;
    for threads in [1, 2, cores.max(2) * 2]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
    {
        let mut buffer = BatchBuffer::heap(threads);
        buffer.fill(&batch, i).expect("fill");
        let runs = 100;
        let t0 = Instant::now();
        for _ in 0..runs {
            black_box(buffer.fill(&batch, i).expect("fill"));
        }
        let per_clip = t0.elapsed().as_secs_f64() * 1e3 / (runs * batch.len()) as f64;
        if threads == 1 {
            one = per_clip;
        }
        println!(
            "| {} cores | {threads} | {per_clip:.3} ms | {:.1}x |",
            cores,
            one / per_clip
        );
    }
    overlap();
    // The motion measure on every frame of the clip, over and over (media time advancing).
    let mut meter = fightwatch_capture::MotionMeter::new();
    let runs = 20_000usize;
    let t0 = Instant::now();
    for k in 0..runs {
        black_box(meter.measure(k as f64 / 15.0, &clip[k % clip.len()]));
    }
    println!(
        "\nmotion measure of a {}x{} frame: {:.1} µs",
        i.width,
        i.height,
        t0.elapsed().as_secs_f64() * 1e6 / runs as f64
    );
}

/// The inference thread's input writing per clip with the demo model, batches of 8, inline
/// against written during the previous run.
fn overlap() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rt = OrtRuntime::init(&LibrarySearch {
        roots: vec![repo.clone()],
        ..LibrarySearch::from_env(None)
    })
    .expect("ONNX Runtime");
    let mut pkg = ModelPackage::load(&rt, &repo.join("models/fight-demo"), 1).expect("demo model");
    pkg.set_fill_threads(2);
    let i = pkg.config().input.clone();
    let mut rng = fastrand::Rng::with_seed(5);
    let clips = random_clips(8, &i, &mut rng);
    let batch: Vec<&[Arc<RgbImage>]> = clips.iter().map(Vec::as_slice).collect();
    pkg.score(&batch).expect("warm-up");
    let runs = 40;
    let (mut inline_fill, t0) = (0.0, Instant::now());
    for _ in 0..runs {
        black_box(pkg.score(&batch).expect("run"));
        inline_fill += pkg.last_fill().as_secs_f64();
    }
    let inline_total = t0.elapsed().as_secs_f64();
    let (mut waited, t0) = (0.0, Instant::now());
    let mut prepared = pkg.prepare(&batch).expect("prepare");
    waited += pkg.last_fill().as_secs_f64();
    for k in 0..runs {
        let next = (k + 1 < runs).then_some(batch.as_slice());
        let (scores, following) = pkg.run_prepared(prepared, next).expect("run");
        black_box(scores);
        waited += pkg.last_fill().as_secs_f64();
        match following {
            Some(p) => prepared = p,
            None => break,
        }
    }
    let overlapped_total = t0.elapsed().as_secs_f64();
    let per_clip = |s: f64| s * 1e3 / (runs * batch.len()) as f64;
    println!(
        "\n| demo model ({}x{}x{}), batches of 8, 2 fill threads | input writing on the inference thread | whole run |",
        i.frames, i.width, i.height
    );
    println!("|---|---|---|");
    println!(
        "| written before each run | {:.3} ms a clip | {:.3} ms a clip |",
        per_clip(inline_fill),
        per_clip(inline_total)
    );
    println!(
        "| next written during each run | {:.3} ms a clip | {:.3} ms a clip |",
        per_clip(waited),
        per_clip(overlapped_total)
    );
}

/// `n` clips of random pixels at `input`'s size.
fn random_clips(
    n: usize,
    input: &fightwatch_inference::config::InputConfig,
    rng: &mut fastrand::Rng,
) -> Vec<Vec<Arc<RgbImage>>> {
    (0..n)
        .map(|_| {
            (0..input.frames)
                .map(|_| {
                    Arc::new(RgbImage::from_fn(input.width, input.height, |_, _| {
                        image::Rgb([rng.u8(..), rng.u8(..), rng.u8(..)])
                    }))
                })
                .collect()
        })
        .collect()
}
