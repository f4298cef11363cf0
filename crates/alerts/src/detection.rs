//! External detectors' reports (`fight_detected`, `POST /api/detections`), checked before they
//! become alerts: every field is stored, broadcast to every dashboard and kept in memory.

use fightwatch_protocol::Detection;
use fightwatch_store::NewAlert;

use crate::AlertError;

/// Longest camera or site name of a detection, bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest label of a detection, bytes.
pub const MAX_LABEL_BYTES: usize = 32;
/// Largest snapshot of a detection: 512 KiB of base64 (384 KiB of JPEG).
pub const MAX_SNAPSHOT_BASE64_BYTES: usize = 512 * 1024;

/// A checked detection: the alert to raise (started now) and its decoded JPEG.
pub fn check(
    d: Detection,
    source: &str,
    now_ms: u64,
) -> Result<(NewAlert, Option<Vec<u8>>), AlertError> {
    check_fields(&d)?;
    let snapshot = match d.snapshot_jpeg {
        Some(b64) if b64.len() > MAX_SNAPSHOT_BASE64_BYTES => {
            return Err(invalid(format!(
                "snapshot_jpeg is over {} KiB of base64",
                MAX_SNAPSHOT_BASE64_BYTES / 1024
            )));
        }
        Some(b64) => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| invalid(format!("snapshot_jpeg is not base64: {e}")))?;
            if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
                return Err(invalid("snapshot_jpeg is not a JPEG".into()));
            }
            Some(bytes)
        }
        None => None,
    };
    let alert = NewAlert {
        camera: d.camera,
        site: d.site.unwrap_or_else(|| "default".into()),
        label: d.label.unwrap_or_else(|| "fight".into()),
        score: d.score,
        started_at: now_ms,
        snapshot: None,
        source: source.into(),
        region: None,
        heatmap: None,
    };
    Ok((alert, snapshot))
}

/// The cheap checks of a detection (score, names, label), before anything keeps or counts its
/// camera name: [`check`] does them too.
pub fn check_fields(d: &Detection) -> Result<(), AlertError> {
    if !(0.0..=1.0).contains(&d.score) {
        return Err(invalid(format!("score {} is not between 0 and 1", d.score)));
    }
    bounded_name("camera", &d.camera, MAX_NAME_BYTES)?;
    if let Some(site) = &d.site {
        bounded_name("site", site, MAX_NAME_BYTES)?;
    }
    if let Some(label) = &d.label {
        bounded_name("label", label, MAX_LABEL_BYTES)?;
    }
    Ok(())
}

fn invalid(message: String) -> AlertError {
    AlertError::Invalid(message)
}

/// A name field: 1 to `max` bytes, not blank, no control characters.
fn bounded_name(field: &str, value: &str, max: usize) -> Result<(), AlertError> {
    if value.trim().is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} must be 1 to {max} bytes without control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(camera: &str, score: f32) -> Detection {
        Detection {
            camera: camera.into(),
            site: None,
            score,
            label: None,
            snapshot_jpeg: None,
        }
    }

    #[test]
    fn detections_are_bounded_and_defaulted() {
        let (alert, jpeg) = check(detection("gate", 0.9), "det", 7).unwrap();
        assert_eq!(
            (
                alert.site.as_str(),
                alert.label.as_str(),
                alert.started_at,
                jpeg
            ),
            ("default", "fight", 7, None)
        );
        for bad in [
            detection("gate", 1.5),
            detection("gate", f32::NAN),
            detection(" ", 0.5),
            detection(&"x".repeat(65), 0.5),
            detection("a\nb", 0.5),
            Detection {
                snapshot_jpeg: Some("!!".into()),
                ..detection("gate", 0.5)
            },
            Detection {
                snapshot_jpeg: Some("aGVsbG8=".into()), // "hello": not a JPEG
                ..detection("gate", 0.5)
            },
        ] {
            assert!(matches!(check(bad, "det", 0), Err(AlertError::Invalid(_))));
        }
    }
}
