//! What live video costs on the camera thread with no viewer at all: `Fmp4Writer::push` (one
//! `moof` + `mdat` per frame, the packet's bytes copied once) over a 1080p25 4 Mbit/s H.264
//! clip's packets, made here with the ffmpeg CLI in target/bench/.
//!
//! `cargo bench -p fightwatch-capture --bench fmp4`
//!
//! Prints µs per frame and the share of one core that is at 25 fps.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ffmpeg_next as ff;
use fightwatch_capture::fmp4::Fmp4Writer;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn main() {
    let dir = repo().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    let clip = dir.join("fmp4_1080p.mp4");
    if !clip.exists() {
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=1920x1080:rate=25:duration=20")
            .args([
                "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-g", "50",
            ])
            .args(["-pix_fmt", "yuv420p"])
            .arg(&clip)
            .status()
            .expect("ffmpeg");
        assert!(status.success(), "ffmpeg");
    }
    ff::init().expect("ffmpeg");
    let mut input = ff::format::input(&clip).expect("the clip");
    let stream = input.streams().best(ff::media::Type::Video).expect("video");
    let (index, params, tb) = (
        stream.index(),
        stream.parameters(),
        f64::from(stream.time_base()),
    );
    let packets: Vec<ff::Packet> = input
        .packets()
        .filter(|(s, _)| s.index() == index)
        .map(|(_, p)| p)
        .collect();
    let bytes: usize = packets.iter().map(|p| p.size()).sum();
    let rounds = 20;
    let start = Instant::now();
    let mut out_bytes = 0usize;
    for round in 0..rounds {
        let (mut writer, _init) = Fmp4Writer::new(&params, 25.0).expect("an H.264 stream");
        let offset = round as f64 * 20.0;
        for p in &packets {
            let pts = p.pts().unwrap_or(0) as f64 * tb + offset;
            let dts = p.dts().unwrap_or(0) as f64 * tb + offset;
            if let Some(f) = writer
                .push(p.data().unwrap_or_default(), p.is_key(), dts, pts)
                .expect("fragment")
            {
                out_bytes += f.bytes.len();
            }
        }
    }
    let frames = packets.len() * rounds;
    let per_frame = start.elapsed().as_secs_f64() / frames as f64;
    println!(
        "fmp4 1080p25 4 Mbit/s: {:.1} µs a frame, {:.3} % of a core at 25 fps; {} frames, {:.1} bytes of boxes a frame",
        per_frame * 1e6,
        per_frame * 25.0 * 100.0,
        frames,
        (out_bytes as f64 - (bytes * rounds) as f64) / frames as f64,
    );
}
