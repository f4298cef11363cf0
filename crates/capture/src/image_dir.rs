//! A folder of JPEG/PNG frames played at a fixed frame rate.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::source::{SourceInfo, SourceKind, SourceOptions};
use crate::{CaptureError, Frame, FrameSource, Picture};

/// Frames from image files in name order. The frame rate comes from an `fps.txt` in the folder
/// when there is one, else from [`SourceOptions::image_dir_fps`].
pub struct ImageDirSource {
    camera: Arc<str>,
    files: Vec<PathBuf>,
    next: usize,
    fps: f64,
    info: SourceInfo,
}

impl ImageDirSource {
    /// Lists the folder and reads the first image for the stream facts.
    pub fn open(dir: &Path, camera: &str, options: &SourceOptions) -> Result<Self, CaptureError> {
        if !dir.is_dir() {
            return Err(CaptureError::NotFound(dir.to_path_buf()));
        }
        let read_err = |e: std::io::Error| CaptureError::Open {
            source_name: dir.display().to_string(),
            message: e.to_string(),
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png")
                })
            })
            .collect();
        files.sort();
        let first = files
            .first()
            .ok_or_else(|| CaptureError::EmptyImageDir(dir.to_path_buf()))?;
        let fps = match std::fs::read_to_string(dir.join("fps.txt")) {
            Ok(text) => text.trim().parse::<f64>().map_err(|_| {
                CaptureError::InvalidOption(format!(
                    "{}: not a frame rate: {:?}",
                    dir.join("fps.txt").display(),
                    text.trim()
                ))
            })?,
            Err(_) => options.image_dir_fps,
        };
        if !(fps.is_finite() && fps > 0.0) {
            return Err(CaptureError::InvalidOption(format!(
                "image folder fps must be > 0, got {fps}"
            )));
        }
        let (width, height) = image::image_dimensions(first).map_err(|e| CaptureError::Image {
            path: first.clone(),
            message: e.to_string(),
        })?;
        let codec = if first
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"))
        {
            "png"
        } else {
            "jpeg"
        };
        let info = SourceInfo {
            kind: SourceKind::ImageDir,
            codec: codec.into(),
            container: "image-dir".into(),
            width,
            height,
            fps,
            duration_s: Some(files.len() as f64 / fps),
            frames_hint: Some(files.len() as u64),
        };
        Ok(Self {
            camera: camera.into(),
            files,
            next: 0,
            fps,
            info,
        })
    }
}

impl FrameSource for ImageDirSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let Some(path) = self.files.get(self.next) else {
            return Ok(None);
        };
        let image = image::open(path)
            .map_err(|e| CaptureError::Image {
                path: path.clone(),
                message: e.to_string(),
            })?
            .into_rgb8();
        let seq = self.next as u64;
        self.next += 1;
        Ok(Some(Frame {
            camera: self.camera.clone(),
            seq,
            pts_s: seq as f64 / self.fps,
            captured_at: SystemTime::now(),
            picture: Arc::new(Picture::Rgb(image)),
            model_input: None,
            motion: None,
        }))
    }
}
