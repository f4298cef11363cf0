//! ROC curve and score histogram as PNG (plotters, DejaVu Sans from Debian's fonts-dejavu-core).

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::EvalError;
use crate::metrics::ClipResult;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Registers the font once; plotters draws no text without one.
fn font() -> Result<(), EvalError> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = std::fs::read(FONT).map_err(|e| {
            format!("{FONT}: {e} (install fonts-dejavu-core; scripts/setup.sh does)")
        })?;
        // The font lives as long as the process: plotters keeps a reference to it.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{FONT} is not a usable font"))
    })
    .clone()
    .map_err(EvalError::Plot)
}

/// Writes the ROC curve.
pub fn roc(
    path: &Path,
    points: &[(f64, f64)],
    auc: Option<f64>,
    model: &str,
) -> Result<(), EvalError> {
    font()?;
    let root = BitMapBackend::new(path, (640, 600)).into_drawing_area();
    root.fill(&WHITE)
        .map_err(|e| EvalError::Plot(e.to_string()))?;
    let title = match auc {
        Some(a) => format!("ROC, {model}: AUC {a:.3}"),
        None => format!("ROC, {model}"),
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(|e| EvalError::Plot(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("false positive rate (calm clips flagged)")
        .y_desc("true positive rate (fights flagged)")
        .draw()
        .map_err(|e| EvalError::Plot(e.to_string()))?;
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))
        .map_err(|e| EvalError::Plot(e.to_string()))?;
    chart
        .draw_series(LineSeries::new(points.iter().copied(), RED.stroke_width(3)))
        .map_err(|e| EvalError::Plot(e.to_string()))?;
    root.present()
        .map_err(|e| EvalError::Plot(format!("writing {}: {e}", path.display())))?;
    Ok(())
}

/// Writes a histogram of the clips' max scores, fights and calm clips side by side.
pub fn histogram(
    path: &Path,
    results: &[ClipResult],
    threshold: f32,
    model: &str,
) -> Result<(), EvalError> {
    font()?;
    const BINS: usize = 20;
    let mut fight = [0u32; BINS];
    let mut calm = [0u32; BINS];
    for r in results {
        let bin = ((r.max_score.clamp(0.0, 1.0) * BINS as f32) as usize).min(BINS - 1);
        if r.fight {
            fight[bin] += 1
        } else {
            calm[bin] += 1
        }
    }
    let top = fight.iter().chain(&calm).copied().max().unwrap_or(1).max(1);
    let root = BitMapBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)
        .map_err(|e| EvalError::Plot(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Max window score per clip, {model}"),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, 0u32..top + 1)
        .map_err(|e| EvalError::Plot(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("max fight score")
        .y_desc("clips")
        .draw()
        .map_err(|e| EvalError::Plot(e.to_string()))?;
    let w = 1.0 / BINS as f64;
    let bars = |counts: [u32; BINS], offset: f64, color: RGBColor| {
        counts
            .into_iter()
            .enumerate()
            .filter(|(_, c)| *c > 0)
            .map(move |(i, c)| {
                let x0 = i as f64 * w + offset;
                Rectangle::new([(x0, 0), (x0 + w / 2.0, c)], color.filled())
            })
    };
    chart
        .draw_series(bars(calm, 0.0, BLUE))
        .map_err(|e| EvalError::Plot(e.to_string()))?
        .label("calm")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], BLUE.filled()));
    chart
        .draw_series(bars(fight, w / 2.0, RED))
        .map_err(|e| EvalError::Plot(e.to_string()))?
        .label("fight")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], RED.filled()));
    let t = f64::from(threshold);
    chart
        .draw_series(LineSeries::new(
            [(t, 0), (t, top + 1)],
            BLACK.stroke_width(2),
        ))
        .map_err(|e| EvalError::Plot(e.to_string()))?
        .label("start threshold")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 10, y)], BLACK));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperMiddle)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(|e| EvalError::Plot(e.to_string()))?;
    root.present()
        .map_err(|e| EvalError::Plot(format!("writing {}: {e}", path.display())))?;
    Ok(())
}

/// Writes `tune`'s trade-off for one camera: confirmed fights and false alarms still raised at
/// each start threshold, for the proposed window count (and the current one when it differs),
/// with the current and proposed thresholds marked.
pub fn tuning(path: &Path, p: &crate::Proposal) -> Result<(), EvalError> {
    font()?;
    let err = |e: DrawingAreaErrorKind<_>| EvalError::Plot(e.to_string());
    let top = p.fights.max(p.false_alarms).max(1) as f64 + 0.5;
    let root = BitMapBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{}: {} confirmed fight(s) (all cameras), {} false alarm(s)",
                p.camera, p.fights, p.false_alarms
            ),
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.25f64..1f64, 0f64..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("start threshold")
        .y_desc("alerts that would be raised")
        .draw()
        .map_err(err)?;
    let mut windows = vec![(p.proposed.min_windows, 1.0)];
    if p.current.min_windows != p.proposed.min_windows {
        windows.push((p.current.min_windows, 0.35));
    }
    for (w, alpha) in windows {
        let line = |f: fn(&crate::Candidate) -> usize| {
            p.candidates
                .iter()
                .filter(move |c| c.min_windows == w)
                .map(move |c| (f64::from(c.start_threshold), f(c) as f64))
        };
        chart
            .draw_series(LineSeries::new(
                line(|c| c.fights_raised),
                RED.mix(alpha).stroke_width(3),
            ))
            .map_err(err)?
            .label(format!("confirmed fights raised, {w} windows"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], RED.mix(alpha)));
        chart
            .draw_series(LineSeries::new(
                line(|c| c.false_alarms_raised),
                BLUE.mix(alpha).stroke_width(3),
            ))
            .map_err(err)?
            .label(format!("false alarms raised, {w} windows"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], BLUE.mix(alpha)));
    }
    for (c, color, name) in [
        (p.current, BLACK.mix(0.4), "now"),
        (p.proposed, GREEN.mix(0.9), "proposed"),
    ] {
        let t = f64::from(c.start_threshold);
        chart
            .draw_series(LineSeries::new([(t, 0.0), (t, top)], color.stroke_width(2)))
            .map_err(err)?
            .label(format!(
                "{name}: {:.2}, {} windows",
                c.start_threshold, c.min_windows
            ))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleLeft)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(err)?;
    root.present()
        .map_err(|e| EvalError::Plot(format!("writing {}: {e}", path.display())))?;
    Ok(())
}
