//! The reused batch buffer (written row by row, by several threads where set) scores every
//! clip bit for bit as a tensor built from scratch on one thread does, on real footage, for
//! the demo model and mc3_18, across batch sizes that grow and shrink.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{repo, runtime};

use std::sync::Arc;

use fightwatch_capture::{SourceOptions, open};
use fightwatch_inference::{ClipScores, ModelPackage, WindowBuilder};
use image::RgbImage;

/// The windows of a fixture, preprocessed for `pkg` (hop 0.5 s).
fn windows(pkg: &ModelPackage, fixture: &str) -> Vec<Vec<Arc<RgbImage>>> {
    let input = pkg.config().input.clone();
    let mut pre = pkg.preprocessor();
    let mut builder = WindowBuilder::<()>::new(input.frames, input.sample_fps, 0.5);
    let path = repo().join(fixture);
    let mut source = open(path.to_str().unwrap(), "cam", &SourceOptions::default()).unwrap();
    let mut clips = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        let small = Arc::new(pre.apply(&frame.picture).unwrap());
        clips.extend(
            builder
                .push(frame.pts_s, frame.seq, small)
                .into_iter()
                .map(|w| w.frames),
        );
    }
    clips
}

/// Scores and probabilities as bits, so equality is exact.
fn bits(scores: &[ClipScores]) -> Vec<Vec<u32>> {
    scores
        .iter()
        .map(|s| {
            std::iter::once(s.fight.to_bits())
                .chain(s.probs.iter().map(|p| p.to_bits()))
                .chain(
                    s.cam
                        .iter()
                        .flat_map(|m| m.values().iter().map(|v| v.to_bits())),
                )
                .collect()
        })
        .collect()
}

fn check(package: &str, fixture: &str, sizes: &[usize]) {
    let mut pkg = ModelPackage::load(&runtime(), &repo().join(package), 1).unwrap();
    let clips = windows(&pkg, fixture);
    let needed: usize = sizes.iter().sum();
    assert!(clips.len() >= needed, "{fixture}: {} windows", clips.len());
    let mut batches: Vec<Vec<&[Arc<RgbImage>]>> = Vec::new();
    let mut at = 0;
    for &n in sizes {
        batches.push(clips[at..at + n].iter().map(Vec::as_slice).collect());
        at += n;
    }
    let reference: Vec<_> = batches
        .iter()
        .map(|batch| {
            let fresh = pkg.input_tensor(batch).unwrap();
            bits(&pkg.score_view(fresh.view()).unwrap())
        })
        .collect();
    for threads in [1, 3] {
        pkg.set_fill_threads(threads);
        assert_eq!(pkg.fill_setup(), (threads, false));
        for (batch, want) in batches.iter().zip(&reference) {
            let got = bits(&pkg.score(batch).unwrap());
            assert_eq!(
                &got,
                want,
                "{package}, {threads} fill threads, batch of {}",
                batch.len()
            );
        }
        // Overlapped: each batch runs while the next one is written into the other buffer.
        let mut prepared = pkg.prepare(&batches[0]).unwrap();
        for (k, want) in reference.iter().enumerate() {
            let next = batches.get(k + 1).map(Vec::as_slice);
            let (scores, following) = pkg.run_prepared(prepared, next).unwrap();
            assert_eq!(&bits(&scores), want, "{package}, overlapped, batch {k}");
            match following {
                Some(p) => prepared = p,
                None => {
                    assert_eq!(k + 1, batches.len(), "a next batch was not prepared");
                    break;
                }
            }
        }
    }
}

#[test]
fn two_buffers_hold_at_most_two_prepared_batches() {
    let mut pkg = ModelPackage::load(&runtime(), &repo().join("models/fight-demo"), 1).unwrap();
    let clips = windows(&pkg, "fixtures/fight_street.mp4");
    let batch: Vec<&[Arc<RgbImage>]> = clips[..2].iter().map(Vec::as_slice).collect();
    let a = pkg.prepare(&batch).unwrap();
    let b = pkg.prepare(&batch[..1]).unwrap();
    assert_eq!((a.len(), b.len()), (2, 1));
    let refused = pkg.prepare(&batch).unwrap_err().to_string();
    assert!(refused.contains("run one first"), "{refused}");
    // No spare buffer to write a next batch into while `a` runs: refused before running (`a`
    // is used up, its buffer free again).
    let Err(e) = pkg.run_prepared(a, Some(&batch)) else {
        panic!("a third batch found a buffer");
    };
    assert!(e.to_string().contains("run one first"), "{e}");
    let (scores, next) = pkg.run_prepared(b, Some(&batch)).unwrap();
    assert_eq!(scores.len(), 1);
    let (scores, next) = pkg.run_prepared(next.unwrap(), None).unwrap();
    assert_eq!((scores.len(), next.is_none()), (2, true));
    // A wrong clip is refused by name, as `score` refuses it.
    let short = [&clips[0][..3]];
    assert!(pkg.prepare(&short).is_err());
}

#[test]
fn the_demo_model_scores_the_same_through_the_buffer() {
    check("models/fight-demo", "fixtures/fight_street.mp4", &[4, 2, 3]);
}

#[test]
fn mc3_18_scores_the_same_through_the_buffer() {
    // ~0.4 s a clip on two cores: a few, a batch and a smaller one after it.
    check(
        "models/fight-mc3-18",
        "fixtures/fight_bar_three.mp4",
        &[3, 1],
    );
}
