//! `fightwatch tune`: per-camera incident settings from the operators' verdicts, with the
//! trade-off plotted, written into the config on `--apply`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fightwatch_eval::{LabelledClip, Proposal, TuneSample};
use fightwatch_node::{media_dir, open_store_at};
use fightwatch_protocol::{TuneProposal, TuneReport};

use crate::cli::GlobalArgs;
use crate::config::Config;

/// What `tune` was asked to do.
pub struct TuneArgs {
    pub config: PathBuf,
    pub out: Option<PathBuf>,
    pub apply: bool,
    pub json: bool,
    pub parallel: usize,
}

pub fn run(global: &GlobalArgs, args: TuneArgs) -> anyhow::Result<()> {
    let mut config = Config::load(&args.config)?;
    let database_url = config
        .cluster
        .database_url
        .clone()
        .or_else(|| std::env::var("FIGHTWATCH_DATABASE_URL").ok())
        .filter(|u| !u.is_empty());
    let data_dir = &config.storage.data_dir.clone();
    let store = open_store_at(data_dir, database_url.as_deref())?;
    let verdicts = crate::verdicts::load(store.as_ref(), &media_dir(data_dir))?;
    if verdicts.usable.is_empty() {
        bail!(
            "no resolved alert with an outcome and a clip to learn from ({} without a clip, {} \
             tests): resolve alerts as confirmed or false_alarm with [evidence] clips on",
            verdicts.without_clip,
            verdicts.tests
        );
    }
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }

    // Window scores do not depend on the incident settings: one replay of each clip serves
    // every candidate.
    let model = config.load_model(global)?;
    let clips: Vec<LabelledClip> = verdicts
        .usable
        .iter()
        .map(|v| LabelledClip {
            path: v.clip.clone(),
            fight: v.fight,
            segment: None,
        })
        .collect();
    let progress = crate::eval_cmd::clip_progress(clips.len(), args.json);
    // Tuning replays the thresholds over every window's score: none may be left unscored.
    let pipeline = fightwatch_inference::PipelineConfig {
        gate: fightwatch_inference::GateConfig::off(),
        ..config.pipeline_config()
    };
    let evaluation = fightwatch_eval::evaluate(model, pipeline, &clips, args.parallel, |done| {
        if let Some(bar) = &progress {
            bar.set_position(done as u64);
        }
    })?;
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let mut samples = Vec::new();
    for (v, outcome) in verdicts.usable.iter().zip(&evaluation.outcomes) {
        match &outcome.error {
            Some(e) => {
                tracing::warn!(alert = %v.alert.id, clip = %v.clip.display(), "Clip left out: {e}")
            }
            None => samples.push(TuneSample {
                alert: v.alert.id.clone(),
                camera: v.alert.camera.clone(),
                fight: v.fight,
                scores: outcome.scores.clone(),
            }),
        }
    }

    // The report also goes to DATA_DIR/tune/, where the console's tuning page reads it.
    let report_dir = fightwatch_node::DataDir::new(data_dir).tune();
    std::fs::create_dir_all(&report_dir)
        .with_context(|| format!("creating {}", report_dir.display()))?;
    let mut proposals = Vec::new();
    let mut plots = Vec::new();
    let mut unknown: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &samples {
        if !config.cameras.iter().any(|c| c.name == s.camera) {
            *unknown.entry(&s.camera).or_default() += 1;
        }
    }
    for camera in &config.cameras {
        if !samples.iter().any(|s| s.camera == camera.name) {
            continue;
        }
        let p = fightwatch_eval::propose(&camera.name, config.incident_of(camera), &samples);
        let png = format!("tune-{}.png", fightwatch_protocol::file_safe(&camera.name));
        fightwatch_eval::plot_tuning(&report_dir.join(&png), &p)?;
        if let Some(out) = &args.out {
            std::fs::copy(report_dir.join(&png), out.join(&png))
                .with_context(|| format!("writing {}", out.join(&png).display()))?;
        }
        proposals.push(p);
        plots.push(png);
    }
    let changed: Vec<&Proposal> = proposals.iter().filter(|p| p.changed).collect();
    if args.apply && !changed.is_empty() {
        apply(&args.config, &changed)?;
    }
    let report = TuneReport {
        generated_at: fightwatch_protocol::now_ms(),
        samples: samples.len(),
        without_clip: verdicts.without_clip,
        tests: verdicts.tests,
        unknown_cameras: unknown.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
        applied: args.apply && !changed.is_empty(),
        proposals: proposals
            .iter()
            .zip(&plots)
            .map(|(p, png)| TuneProposal {
                camera: p.camera.clone(),
                fights: p.fights,
                false_alarms: p.false_alarms,
                current: p.current,
                proposed: p.proposed,
                changed: p.changed,
                candidates: p.candidates.clone(),
                plot: png.clone(),
            })
            .collect(),
    };
    let bytes = serde_json::to_vec_pretty(&report)?;
    std::fs::write(report_dir.join("tune.json"), &bytes)
        .with_context(|| format!("writing {}", report_dir.join("tune.json").display()))?;
    if let Some(out) = &args.out {
        let path = out.join("tune.json");
        std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    }

    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "{} verdicts with clips ({} fights, {} false alarms); {} without a clip, {} tests",
        samples.len(),
        samples.iter().filter(|s| s.fight).count(),
        samples.iter().filter(|s| !s.fight).count(),
        verdicts.without_clip,
        verdicts.tests
    );
    for (camera, n) in &unknown {
        println!("camera {camera}: {n} verdicts, not in this config (left out)");
    }
    for p in &proposals {
        let show = |c: &fightwatch_eval::Candidate| {
            format!(
                "start_threshold {:.2}, min_windows {}: raises {}/{} fights, {}/{} false alarms",
                c.start_threshold,
                c.min_windows,
                c.fights_raised,
                p.fights,
                c.false_alarms_raised,
                p.false_alarms
            )
        };
        println!("camera {}", p.camera);
        println!("  now       {}", show(&p.current));
        if p.changed {
            println!("  proposed  {}", show(&p.proposed));
        } else {
            println!("  proposed  no change (nothing separates these verdicts better)");
        }
    }
    println!(
        "wrote {0}/tune.json and {0}/tune-CAMERA.png (the console's Tuning page shows them){1}",
        report_dir.display(),
        args.out.as_ref().map_or(String::new(), |o| format!(
            ", and the same in {}",
            o.display()
        ))
    );
    match (args.apply, changed.is_empty()) {
        (true, false) => println!(
            "applied to {} ([cameras.incident] of {}); restart fightwatch to use them",
            args.config.display(),
            changed
                .iter()
                .map(|p| p.camera.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (false, false) => println!("run again with --apply to write these into the config"),
        _ => {}
    }
    Ok(())
}

/// Writes each proposal into its camera's `[cameras.incident]`, keeping the rest of the file
/// (comments, order) as it is; the result is checked like any config before it replaces the
/// file.
fn apply(path: &Path, proposals: &[&Proposal]) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{}: not TOML", path.display()))?;
    let config = Config::load(path)?;
    let cameras = doc
        .get_mut("cameras")
        .and_then(|c| c.as_array_of_tables_mut())
        .context("no [[cameras]]")?;
    for p in proposals {
        let camera = cameras
            .iter_mut()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(p.camera.as_str()))
            .with_context(|| format!("camera {} is not in {}", p.camera, path.display()))?;
        let section = config
            .cameras
            .iter()
            .find(|c| c.name == p.camera)
            .context("camera vanished")?;
        let tuned = fightwatch_eval::with(
            config.incident_of(section),
            p.proposed.start_threshold,
            p.proposed.min_windows,
        );
        let incident = camera
            .entry("incident")
            .or_insert(toml_edit::table())
            .as_table_like_mut()
            .context("cameras.incident is not a table")?;
        // Rounded: 0.85 reads better than 0.8500000238418579.
        let round = |v: f32| (f64::from(v) * 100.0).round() / 100.0;
        incident.insert(
            "start_threshold",
            toml_edit::value(round(tuned.start_threshold)),
        );
        incident.insert("min_windows", toml_edit::value(tuned.min_windows as i64));
        if tuned.end_threshold != config.incident_of(section).end_threshold {
            incident.insert(
                "end_threshold",
                toml_edit::value(round(tuned.end_threshold)),
            );
        }
    }
    let tmp = path.with_extension("toml.tuning");
    std::fs::write(&tmp, doc.to_string()).with_context(|| format!("writing {}", tmp.display()))?;
    if let Err(e) = Config::load(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context("the tuned config did not check out; the original is unchanged"));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
