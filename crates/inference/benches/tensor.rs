//! Building the model's input tensor from a clip's frames (the inference thread does it for
//! every batch), mc3_18's input (16 frames of 112x112): the formula per pixel into a fresh buffer
//! (the code before issue #16) against the normalisation tables into a reused one (now).
//!
//! Also the motion measure each camera thread takes of the same model-size frames.
//!
//! `cargo bench -p fightwatch-inference --bench tensor`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use fightwatch_inference::config::Layout;
use fightwatch_inference::{ModelConfig, write_clip};
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
