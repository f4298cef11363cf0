//! One `[[cameras]]` entry of a node's configuration file: what capture needs to open the
//! camera, and what the later stages need to know of it (site, incident settings, armed hours,
//! acknowledgement deadline).

use std::path::Path;
use std::time::Duration;

use fightwatch_alerts::{ArmedSchedule, ScheduleError, SiteSettings, WorkflowSettings};
use fightwatch_capture::{CameraConfig, Decode, Pacing, PrivacyMask, SourceOptions};
use fightwatch_inference::{IncidentConfig, IncidentOverrides};
use serde::Deserialize;

use crate::{CameraSpec, ClipSettings, NodeError};

/// A camera's `masks`: polygons checked while the file is read, so a bad one is an error that
/// names its line.
#[derive(Debug, Clone)]
pub struct Masks(pub PrivacyMask);

impl<'de> Deserialize<'de> for Masks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let polygons = Vec::<Vec<[f64; 2]>>::deserialize(d)?;
        PrivacyMask::new(polygons)
            .map(Masks)
            .map_err(serde::de::Error::custom)
    }
}

/// A camera's `decode`: `"cpu"`, `"cuda"` or `"auto"`, checked while the file is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeSetting(pub Decode);

impl<'de> Deserialize<'de> for DecodeSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map(DecodeSetting)
            .map_err(serde::de::Error::custom)
    }
}

/// One `[[cameras]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSettings {
    /// Unique name.
    pub name: String,
    /// rtsp://, http(s)://, usb:N, a file or an image folder.
    pub source: String,
    /// Site (for `site:` rooms).
    #[serde(default = "default_site")]
    pub site: String,
    /// Frames per second analysed (default: every frame).
    #[serde(default)]
    pub analysis_fps: Option<f64>,
    /// Recorded files: play at recorded speed (default true).
    #[serde(default = "yes")]
    pub realtime: bool,
    /// Recorded files: start again at the end (default true, like a camera that never stops).
    #[serde(default = "yes", rename = "loop")]
    pub loop_file: bool,
    /// Privacy masks: polygons of `[x, y]` points, fractions of the frame (0–1), blacked out
    /// of snapshots, clips, live view and thumbnails.
    #[serde(default)]
    pub masks: Option<Masks>,
    /// Black the masks out of the model's input too (default: the model sees everything).
    #[serde(default)]
    pub mask_inference: bool,
    /// This camera's acknowledgement deadline, seconds (default: `[workflow]`'s).
    #[serde(default)]
    pub ack_deadline_s: Option<f64>,
    /// `[cameras.incident]`: this camera's own incident settings (each replaces `[incident]`'s;
    /// `fightwatch tune --apply` writes them).
    #[serde(default)]
    pub incident: IncidentOverrides,
    /// Armed hours in the site's time zone (`["Mon-Fri 18:00-07:00", "Sat,Sun 00:00-24:00"]`);
    /// outside them a fight raises no alert. Default: always armed.
    #[serde(default)]
    pub armed: Vec<String>,
    /// Where video is decoded: `"cpu"` (default), `"cuda"` (NVDEC through FFmpeg; the camera
    /// does not open without it, saying why) or `"auto"` (CUDA when it can, else the CPU, with
    /// the reason logged).
    #[serde(default)]
    pub decode: DecodeSetting,
}

fn default_site() -> String {
    "default".into()
}

fn yes() -> bool {
    true
}

impl CameraSettings {
    /// Makes a relative file or folder source (`clip.mp4`, `file:clip.mp4`, `dir:frames`)
    /// relative to `base` (a config file's folder).
    pub fn rebase(&mut self, base: &Path) {
        let is_path = !self.source.contains("://") && !self.source.starts_with("usb:");
        let path = self
            .source
            .strip_prefix("file:")
            .or_else(|| self.source.strip_prefix("dir:"))
            .unwrap_or(&self.source);
        if is_path && Path::new(path).is_relative() {
            let prefix = &self.source[..self.source.len() - path.len()];
            self.source = format!("{prefix}{}", base.join(path).display());
        }
    }

    /// The camera's incident settings: `defaults` with its own in place.
    pub fn incident_over(&self, defaults: IncidentConfig) -> IncidentConfig {
        self.incident.apply(defaults)
    }

    /// Checks the camera's own values, its incident settings over `defaults`.
    pub fn check(&self, defaults: IncidentConfig) -> Result<(), NodeError> {
        let bad = |message: String| NodeError::Settings {
            section: "cameras",
            message: format!("camera {}: {message}", self.name),
        };
        if self.analysis_fps.is_some_and(|f| f.is_nan() || f <= 0.0) {
            return Err(bad("analysis_fps must be > 0".into()));
        }
        if self
            .ack_deadline_s
            .is_some_and(|s| !WorkflowSettings::is_valid_deadline(s))
        {
            return Err(bad("ack_deadline_s must be 0 to 86400".into()));
        }
        self.incident_over(defaults)
            .validate()
            .map_err(|e| bad(format!("[cameras.incident]: {e}")))
    }

    /// Its acknowledgement deadline, when it has its own.
    pub fn ack_deadline(&self) -> Option<Duration> {
        self.ack_deadline_s.map(Duration::from_secs_f64)
    }

    /// Its armed hours in `site`'s zone (`None`: always armed).
    pub fn schedule(
        &self,
        site: Option<&SiteSettings>,
    ) -> Result<Option<ArmedSchedule>, ScheduleError> {
        if self.armed.is_empty() {
            return Ok(None);
        }
        let default = SiteSettings::default();
        site.unwrap_or(&default).schedule(&self.armed).map(Some)
    }

    /// What the pipeline runs: capture's settings, the site, and clips as `clips` says.
    pub fn spec(&self, clips: Option<ClipSettings>) -> CameraSpec {
        CameraSpec {
            capture: CameraConfig {
                analysis_fps: self.analysis_fps,
                pacing: if self.realtime {
                    Pacing::Realtime
                } else {
                    Pacing::AsFastAsPossible
                },
                loop_file: self.loop_file,
                mask: self.masks.as_ref().map(|m| m.0.clone()),
                mask_inference: self.mask_inference,
                options: SourceOptions {
                    decode: self.decode.0,
                    ..SourceOptions::default()
                },
                ..CameraConfig::new(&self.name, &self.source)
            },
            site: self.site.clone(),
            clips,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Camera `gate` with `keys` (`a = 1, b = 2`).
    fn camera(keys: &str) -> CameraSettings {
        #[derive(Deserialize)]
        struct File {
            cameras: Vec<CameraSettings>,
        }
        let text = format!("[[cameras]]\nname = \"gate\"\n{}", keys.replace(", ", "\n"));
        let mut file: File = toml::from_str(&text).unwrap();
        file.cameras.remove(0)
    }

    #[test]
    fn a_decode_setting_other_than_cpu_cuda_or_auto_is_refused_while_reading() {
        #[derive(Deserialize)]
        struct File {
            #[allow(dead_code)]
            cameras: Vec<CameraSettings>,
        }
        let text = "[[cameras]]\nname = \"gate\"\nsource = \"a\"\ndecode = \"gpu\"\n";
        let err = toml::from_str::<File>(text).err().unwrap().to_string();
        assert!(err.contains("\"cpu\", \"cuda\" or \"auto\""), "{err}");
    }

    #[test]
    fn relative_file_sources_follow_the_config_file() {
        let base = Path::new("/etc/fightwatch");
        for (source, rebased) in [
            ("clip.mp4", "/etc/fightwatch/clip.mp4"),
            ("file:clip.mp4", "file:/etc/fightwatch/clip.mp4"),
            ("dir:frames", "dir:/etc/fightwatch/frames"),
            ("/srv/clip.mp4", "/srv/clip.mp4"),
            ("rtsp://cam/stream", "rtsp://cam/stream"),
            ("usb:0", "usb:0"),
        ] {
            let mut c = camera(&format!("source = \"{source}\""));
            c.rebase(base);
            assert_eq!(c.source, rebased);
        }
    }

    #[test]
    fn a_cameras_values_are_checked_and_make_its_spec() {
        let c = camera("source = \"a.mp4\", analysis_fps = 5.0, loop = false");
        assert!(c.check(IncidentConfig::default()).is_ok());
        let spec = c.spec(None);
        assert_eq!(spec.capture.analysis_fps, Some(5.0));
        assert!(!spec.capture.loop_file && spec.site == "default");
        for bad in [
            "source = \"a\", analysis_fps = 0.0",
            "source = \"a\", ack_deadline_s = -1.0",
            "source = \"a\", incident = { start_threshold = 2.0 }",
        ] {
            let err = camera(bad).check(IncidentConfig::default()).unwrap_err();
            assert!(
                err.to_string().starts_with("[cameras]: camera gate: "),
                "{err}"
            );
        }
        assert_eq!(c.spec(None).capture.options.decode, Decode::Cpu);
        let gpu = camera("source = \"a.mp4\", decode = \"auto\"");
        assert_eq!(gpu.spec(None).capture.options.decode, Decode::Auto);
        assert!(camera("source = \"a\"").schedule(None).unwrap().is_none());
        assert!(
            camera("source = \"a\", armed = [\"Mon 25:00-26:00\"]")
                .schedule(None)
                .is_err()
        );
    }
}
