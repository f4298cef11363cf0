//! "Where in the picture" on the snapshot thread, once per fight alert: the box from a class
//! activation map (5x5 for fight-mc3-18-6x80-int8, 7x7 for the 112x112 packages) and the heat
//! map laid over the snapshot, then its JPEG (quality 85, as snapshots) by `image`'s encoder and
//! by `jpeg-encoder` (what snapshots, thumbnails, live frames and heat maps use), at the sizes a
//! heat map has (a 640x480 camera; 1280x720, the widest heat map: larger frames are scaled down
//! first). The picture is noise: the worst case for a JPEG encoder.
//!
//! `cargo bench -p fightwatch-inference --bench localize`

use std::hint::black_box;
use std::time::Instant;

use fightwatch_inference::ActivationMap;
use fightwatch_inference::localize::heat_overlay;
use image::RgbImage;

fn time_us(runs: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm
    let t0 = Instant::now();
    for _ in 0..runs {
        f();
    }
    t0.elapsed().as_secs_f64() * 1e6 / runs as f64
}

fn main() {
    let mut rng = fastrand::Rng::with_seed(5);
    println!("| map | box |");
    println!("|---|---|");
    for side in [5usize, 7] {
        let map = ActivationMap::new(
            side,
            side,
            (0..side * side).map(|_| rng.f32() * 8.0 - 3.0).collect(),
        )
        .expect("a map");
        let us = time_us(2000, || {
            black_box(map.hot_box());
        });
        println!("| {side}x{side} | {us:.0} µs |");
    }
    let map =
        ActivationMap::new(5, 5, (0..25).map(|_| rng.f32() * 8.0 - 3.0).collect()).expect("a map");
    let view = [21.0 / 122.0, 5.0 / 91.0, 101.0 / 122.0, 85.0 / 91.0];
    let region = map
        .hot_box()
        .map(|b| fightwatch_inference::localize::within(view, b));
    println!("\n| picture | overlay | JPEG q85, image | JPEG q85, jpeg-encoder (used) |");
    println!("|---|---|---|---|");
    for (w, h) in [(640u32, 480u32), (1280, 720)] {
        let picture = RgbImage::from_fn(w, h, |_, _| {
            image::Rgb([rng.u8(..), rng.u8(..), rng.u8(..)])
        });
        let runs = if w > 1000 { 20 } else { 50 };
        let mut out = RgbImage::new(1, 1);
        let overlay = time_us(runs, || {
            out = heat_overlay(&picture, &map, view, region);
        });
        let jpeg = time_us(runs, || {
            let mut bytes = Vec::new();
            out.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                &mut bytes, 85,
            ))
            .expect("a JPEG");
            black_box(bytes);
        });
        let fast = time_us(runs, || {
            black_box(fightwatch_capture::rgb_to_jpeg(&out, 85).expect("a JPEG"));
        });
        println!(
            "| {w}x{h} | {:.1} ms | {:.1} ms | {:.1} ms |",
            overlay / 1e3,
            jpeg / 1e3,
            fast / 1e3
        );
    }
}
