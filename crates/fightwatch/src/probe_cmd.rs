//! `fightwatch probe` and `fightwatch devices`.

use std::time::Instant;

use anyhow::Context;
use fightwatch_capture::{SourceOptions, open};

/// Opens `source`, prints its stream facts, decodes all its frames (or `frames`) on the CPU or
/// the GPU (`decode`) and reports decode speed.
pub fn probe(
    source: &str,
    frames: Option<u64>,
    decode: fightwatch_capture::Decode,
    json: bool,
) -> anyhow::Result<()> {
    let options = SourceOptions {
        decode,
        ..SourceOptions::default()
    };
    let mut src = open(source, "probe", &options)
        .with_context(|| format!("probing {}", fightwatch_capture::redact_source(source)))?;
    let info = src.info().clone();
    if !json {
        println!("source:    {}", fightwatch_capture::redact_source(source));
        println!("kind:      {:?}", info.kind);
        println!("container: {}", info.container);
        println!("codec:     {}", info.codec);
        println!("size:      {}x{}", info.width, info.height);
        println!("fps:       {:.3}", info.fps);
        match info.duration_s {
            Some(d) => println!("duration:  {d:.3} s"),
            None => println!("duration:  live"),
        }
    }
    let limit = frames.unwrap_or(u64::MAX);
    let start = Instant::now();
    let mut decoded = 0u64;
    let mut last_pts = None;
    let mut failure = None;
    while decoded < limit {
        match src.next_frame() {
            Ok(Some(f)) => {
                decoded += 1;
                last_pts = Some(f.pts_s);
            }
            Ok(None) => break,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let decode_fps = if elapsed > 0.0 {
        decoded as f64 / elapsed
    } else {
        0.0
    };
    if json {
        let out = serde_json::json!({
            "source": source,
            "kind": format!("{:?}", info.kind).to_lowercase(),
            "container": info.container,
            "codec": info.codec,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "duration_s": info.duration_s,
            "frames": decoded,
            "last_pts_s": last_pts,
            "decode": decode.to_string(),
            "decode_s": elapsed,
            "decode_fps": decode_fps,
            "error": failure.as_ref().map(ToString::to_string),
        });
        println!("{out}");
    } else {
        println!("frames:    {decoded} decoded in {elapsed:.3} s ({decode_fps:.0} fps)");
    }
    match failure {
        Some(e) => Err(e).with_context(|| {
            format!(
                "decoding {} (after {decoded} frames)",
                fightwatch_capture::redact_source(source)
            )
        }),
        None => Ok(()),
    }
}

/// Lists local cameras.
pub fn devices(json: bool) -> anyhow::Result<()> {
    let list = fightwatch_capture::list_devices().context("listing cameras")?;
    if json {
        let items: Vec<_> = list
            .iter()
            .map(|d| serde_json::json!({"index": d.index, "name": d.name, "description": d.description, "source": format!("usb:{}", d.index)}))
            .collect();
        println!("{}", serde_json::Value::Array(items));
    } else if list.is_empty() {
        println!("no local cameras found");
    } else {
        for d in &list {
            println!("usb:{}\t{}\t{}", d.index, d.name, d.description);
        }
    }
    Ok(())
}
