//! `fightwatch.toml`: the deployment (cameras, model, server, storage). Each section's type,
//! defaults and checks live in the crate that owns it; this file puts them together, makes
//! relative paths relative to the file, and checks what spans sections (unique names, sites
//! with cameras, incident settings over a model's defaults).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::{Context, bail};

use fightwatch_alerts::{ArmedSchedule, Retention, SiteSettings, WorkflowSettings};
use fightwatch_inference::{
    IncidentConfig, IncidentOverrides, ModelSettings, PipelineConfig, PipelineSettings,
};
use fightwatch_integrations::{MqttSettings, PushSettings, WebhookSettings};
use fightwatch_node::{
    CameraSettings, CameraSpec, ClusterSettings, EvidenceSettings, ServerOptions, ServerSettings,
    StorageSettings,
};
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Model and inference settings.
    pub model: ModelSettings,
    /// `[incident]` as written: each value given replaces the model package's default.
    #[serde(default, rename = "incident")]
    pub incident_set: IncidentOverrides,
    /// The incident settings in force: the built-in defaults, then the model package's own
    /// (once [`Config::load_model`] has read it), then `[incident]`'s.
    #[serde(skip)]
    pub incident: IncidentConfig,
    /// Windows and batching.
    #[serde(default)]
    pub pipeline: PipelineSettings,
    /// The dashboard server.
    #[serde(default)]
    pub server: ServerSettings,
    /// Where data lives.
    #[serde(default)]
    pub storage: StorageSettings,
    /// Shared servers when this node is one of several.
    #[serde(default)]
    pub cluster: ClusterSettings,
    /// Incident clips and live view.
    #[serde(default)]
    pub evidence: EvidenceSettings,
    /// Acknowledgement deadlines, escalation and grouping.
    #[serde(default)]
    pub workflow: WorkflowSettings,
    /// Webhooks every alert event is posted to.
    #[serde(default)]
    pub webhooks: Vec<WebhookSettings>,
    /// MQTT brokers alert events and camera states are published to.
    #[serde(default)]
    pub mqtt: Vec<MqttSettings>,
    /// Web Push to browsers that installed the console (off without this section).
    #[serde(default)]
    pub push: Option<PushSettings>,
    /// `[sites.NAME]`: settings of a site (its time zone).
    #[serde(default)]
    pub sites: BTreeMap<String, SiteSettings>,
    /// The cameras.
    pub cameras: Vec<CameraSettings>,
}

/// Windows of one live camera that may wait for the model: one, so an overloaded box scores
/// each camera's newest window (two waiting doubled the lag: 3.1 s against 1.5 s at worst,
/// docs/performance.md "Cameras per box").
const LIVE_BACKLOG: usize = 1;

impl Config {
    /// Reads and checks `path`; relative paths in it are made relative to its directory.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // toml's message names the line and column and shows the offending text.
        let mut config: Config =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for dir in [
            &mut config.model.package,
            &mut config.server.web_dir,
            &mut config.storage.data_dir,
        ] {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        for camera in &mut config.cameras {
            camera.rebase(base);
        }
        config.incident = config.incident_set.apply(IncidentConfig::default());
        config
            .check()
            .with_context(|| format!("{}: invalid configuration", path.display()))?;
        Ok(config)
    }

    /// The server this file describes.
    pub fn server_options(&self) -> anyhow::Result<ServerOptions> {
        let mut options = self.server.options(&self.storage.data_dir);
        let config = &mut options.config;
        self.evidence.apply_live(config);
        config.group_window = self.workflow.group_window();
        config.webhooks = self
            .webhooks
            .iter()
            .map(WebhookSettings::target)
            .collect::<Result<_, _>>()?;
        config.mqtt = self
            .mqtt
            .iter()
            .map(MqttSettings::target)
            .collect::<Result<_, _>>()?;
        config.push = self.push.clone();
        config.escalation = self.workflow.escalation(
            self.cameras
                .iter()
                .filter_map(|c| Some((c.name.clone(), c.ack_deadline()?))),
        );
        options.cluster = self.cluster.options()?;
        Ok(options)
    }

    /// How long a camera may be down before its `camera_offline` alert.
    pub fn camera_offline_after(&self) -> Option<std::time::Duration> {
        self.workflow.camera_offline_after()
    }

    /// Each camera with armed hours, and its schedule.
    pub fn schedules(&self) -> anyhow::Result<Vec<(String, ArmedSchedule)>> {
        let mut schedules = Vec::new();
        for c in &self.cameras {
            if let Some(schedule) = c
                .schedule(self.sites.get(&c.site))
                .with_context(|| format!("camera {}: armed", c.name))?
            {
                schedules.push((c.name.clone(), schedule));
            }
        }
        Ok(schedules)
    }

    /// A camera's incident settings: `[incident]` with its own in place.
    pub fn incident_of(&self, camera: &CameraSettings) -> IncidentConfig {
        camera.incident_over(self.incident)
    }

    /// The pipeline settings for live cameras (`run`): like [`Config::pipeline_config`], but a
    /// camera's analysis never falls more than a window behind it (older ones are dropped).
    pub fn live_pipeline_config(&self) -> PipelineConfig {
        PipelineConfig {
            max_backlog: Some(LIVE_BACKLOG),
            ..self.pipeline_config()
        }
    }

    /// The pipeline settings.
    pub fn pipeline_config(&self) -> PipelineConfig {
        self.pipeline.apply(PipelineConfig {
            incident: self.incident,
            camera_incident: self
                .cameras
                .iter()
                .filter(|c| c.incident != IncidentOverrides::default())
                .map(|c| (c.name.clone(), self.incident_of(c)))
                .collect(),
            ..PipelineConfig::default()
        })
    }

    /// How long alerts and snapshots are kept.
    pub fn retention(&self) -> Retention {
        self.storage.retention()
    }

    /// Loads the model package `[model]` names, on its device, and puts its incident defaults
    /// under `[incident]`'s (checked again: a model's start threshold may not suit a site's end
    /// threshold).
    pub fn load_model(
        &mut self,
        global: &crate::cli::GlobalArgs,
    ) -> anyhow::Result<fightwatch_inference::ModelPackage> {
        let model = crate::model_cmd::load_package(
            global,
            &self.model.package,
            self.model.device().map_err(anyhow::Error::msg)?,
            self.model.threads,
        )?;
        self.use_model_defaults(model.config())?;
        Ok(model)
    }

    /// Puts `model`'s incident defaults under `[incident]`'s values, and checks the result.
    pub fn use_model_defaults(
        &mut self,
        model: &fightwatch_inference::ModelConfig,
    ) -> anyhow::Result<()> {
        self.incident = self.incident_set.apply(model.incident_defaults());
        self.check()
            .with_context(|| format!("[incident] over the defaults of model {}", model.model.name))
    }

    /// The cameras.
    pub fn camera_specs(&self) -> Vec<CameraSpec> {
        let clips = self.evidence.clip_settings(&self.storage.data_dir);
        self.cameras.iter().map(|c| c.spec(clips.clone())).collect()
    }

    /// Each section's own check, then what spans sections.
    fn check(&self) -> anyhow::Result<()> {
        self.incident
            .validate()
            .map_err(|e| anyhow::anyhow!("[incident]: {e}"))?;
        self.pipeline
            .check()
            .map_err(|e| anyhow::anyhow!("[pipeline]: {e}"))?;
        self.model
            .device()
            .map_err(|e| anyhow::anyhow!("[model]: {e}"))?;
        self.evidence.check()?;
        self.workflow
            .check()
            .map_err(|e| anyhow::anyhow!("[workflow]: {e}"))?;
        if let Some(push) = &self.push {
            push.check().context("[push]")?;
        }
        let mut hooks = HashSet::new();
        for name in self
            .webhooks
            .iter()
            .map(|w| &w.name)
            .chain(self.mqtt.iter().map(|m| &m.name))
        {
            if !hooks.insert(name) {
                bail!(
                    "integration name {name:?} is used twice ([[webhooks]] and [[mqtt]] share names)"
                );
            }
        }
        if self.cameras.is_empty() {
            bail!("no [[cameras]]");
        }
        let mut names = HashSet::new();
        for c in &self.cameras {
            if !names.insert(&c.name) {
                bail!("camera name {:?} is used twice", c.name);
            }
            c.check(self.incident)?;
        }
        for (site, settings) in &self.sites {
            if !self.cameras.iter().any(|c| &c.site == site) {
                bail!("[sites.{site}]: no camera is in site {site:?}");
            }
            settings
                .check()
                .with_context(|| format!("[sites.{site}]"))?;
        }
        self.schedules()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fightwatch.toml");
        std::fs::write(&p, include_str!("../../../docs/fightwatch.example.toml")).unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.cameras.len(), 4);
        assert!(c.model.package.ends_with("models/fight-demo"));
        assert!(
            c.cameras[0]
                .source
                .starts_with(&dir.path().display().to_string()),
            "{}",
            c.cameras[0].source
        );
        std::fs::write(
            &p,
            "[model]\npackage = \"m\"\n\n[[cameras]]\nname = \"a\"\nsourse = \"x\"\n",
        )
        .unwrap();
        let e = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(e.contains("line 6") && e.contains("sourse"), "{e}");
        std::fs::write(&p, "[model]\npackage = \"m\"\n[[cameras]]\nname = \"a\"\nsource = \"x\"\n[[cameras]]\nname = \"a\"\nsource = \"y\"\n").unwrap();
        let e = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(e.contains("used twice"), "{e}");
    }

    #[test]
    fn masks_and_evidence_settings_are_checked_with_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fightwatch.toml");
        let camera = "[[cameras]]\nname = \"a\"\nsource = \"x\"\n";
        std::fs::write(
            &p,
            format!("[model]\npackage = \"m\"\n{camera}masks = [[[0.0, 0.0], [0.5, 0.5]]]\n"),
        )
        .unwrap();
        let e = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(
            e.contains("line 6") && e.contains("polygon 1 has 2 points"),
            "{e}"
        );
        std::fs::write(
            &p,
            format!(
                "[model]\npackage = \"m\"\n{camera}masks = [[[0.0, 0.0], [1.2, 0.0], [0.0, 1.0]]]\n"
            ),
        )
        .unwrap();
        let e = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(e.contains("line 6") && e.contains("point 2"), "{e}");
        std::fs::write(
            &p,
            format!("[model]\npackage = \"m\"\n[evidence]\npre_roll_s = -1\n{camera}"),
        )
        .unwrap();
        let e = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(e.contains("pre_roll_s"), "{e}");
        std::fs::write(
            &p,
            format!("[model]\npackage = \"m\"\n{camera}masks = [[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0]]]\nmask_inference = true\n"),
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        let spec = &c.camera_specs()[0];
        assert_eq!(
            spec.capture.mask.as_ref().map(|m| m.polygons().len()),
            Some(1)
        );
        assert!(spec.capture.mask_inference);
        let clips = spec.clips.as_ref().unwrap();
        assert_eq!(clips.pre_roll, std::time::Duration::from_secs(5));
        assert!(clips.dir.ends_with("snapshots"));
    }

    /// `fightwatch serve` (the CLI's server section, library defaults) and `fightwatch run` (a
    /// config file that sets nothing) serve with the same settings.
    #[test]
    fn serve_and_run_get_the_same_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fightwatch.toml");
        std::fs::write(
            &p,
            "[model]\npackage = \"m\"\n[[cameras]]\nname = \"a\"\nsource = \"x\"\n",
        )
        .unwrap();
        let run = Config::load(&p).unwrap().server_options().unwrap().config;
        let serve = ServerSettings::default().options(dir.path()).config;
        assert_eq!(run.group_window, serve.group_window);
        assert_eq!(
            serve.group_window,
            Some(fightwatch_alerts::DEFAULT_GROUP_WINDOW)
        );
        assert_eq!(
            (run.live_fps, run.max_live_viewers, run.max_live_per_user),
            (
                serve.live_fps,
                serve.max_live_viewers,
                serve.max_live_per_user
            )
        );
        assert_eq!(
            run.escalation.is_some(),
            serve.escalation.is_some(),
            "escalation on in one and off in the other"
        );
    }

    /// A model package's own start threshold is the default; `[incident]` replaces it, a
    /// camera's own replaces both, and a site end threshold the model's start would undercut is
    /// refused.
    #[test]
    fn a_models_incident_defaults_sit_under_the_sites() {
        let demo = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fight-demo/model.toml"),
        )
        .unwrap()
        .replace("name = \"fight-demo\"", "name = \"m\"");
        let model = |threshold: f32| {
            fightwatch_inference::ModelConfig::parse(
                &format!("{demo}\n[incident]\nstart_threshold = {threshold}\n"),
                "model.toml",
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fightwatch.toml");
        let load = |site: &str| {
            std::fs::write(
                &p,
                format!(
                    "[model]\npackage = \"m\"\n[incident]\n{site}\n                     [[cameras]]\nname = \"a\"\nsource = \"x\"\n                     [cameras.incident]\nmin_windows = 3\n                     [[cameras]]\nname = \"b\"\nsource = \"y\"\n                     [cameras.incident]\nstart_threshold = 0.9\n"
                ),
            )
            .unwrap();
            Config::load(&p).unwrap()
        };
        let mut c = load("");
        assert_eq!(c.incident.start_threshold, 0.6);
        c.use_model_defaults(&model(0.67).unwrap()).unwrap();
        let pipeline = c.pipeline_config();
        assert_eq!(pipeline.incident.start_threshold, 0.67);
        assert_eq!(
            (
                pipeline.incident_for("a").start_threshold,
                pipeline.incident_for("a").min_windows
            ),
            (0.67, 3)
        );
        assert_eq!(pipeline.incident_for("b").start_threshold, 0.9);
        let mut c = load("start_threshold = 0.75");
        c.use_model_defaults(&model(0.67).unwrap()).unwrap();
        assert_eq!(c.pipeline_config().incident.start_threshold, 0.75);
        // A package whose start threshold is under the built-in end threshold (0.4) is refused.
        assert!(model(0.3).is_err());
        let mut c = load("end_threshold = 0.5");
        let e = format!(
            "{:#}",
            c.use_model_defaults(&model(0.45).unwrap()).unwrap_err()
        );
        assert!(e.contains("over the defaults of model m"), "{e}");
    }

    #[test]
    fn cameras_have_their_own_incident_settings_and_armed_hours() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fightwatch.toml");
        let load = |camera: &str, extra: &str| {
            std::fs::write(
                &p,
                format!(
                    "[model]\npackage = \"m\"\n[incident]\nstart_threshold = 0.6\n{extra}\n\
                     [[cameras]]\nname = \"a\"\nsource = \"x\"\nsite = \"hq\"\n{camera}\n\
                     [[cameras]]\nname = \"b\"\nsource = \"y\"\n"
                ),
            )
            .unwrap();
            Config::load(&p).map_err(|e| format!("{e:#}"))
        };
        let c = load(
            "armed = [\"Mon-Fri 18:00-07:00\"]\n[cameras.incident]\nstart_threshold = 0.8\nmin_windows = 3\n",
            "[sites.hq]\ntime_zone = \"Europe/Berlin\"\n",
        )
        .unwrap();
        let pipeline = c.pipeline_config();
        let a = pipeline.incident_for("a");
        assert_eq!((a.start_threshold, a.min_windows), (0.8, 3));
        assert_eq!(a.end_threshold, c.incident.end_threshold);
        assert_eq!(pipeline.incident_for("b"), c.incident);
        assert!(!pipeline.camera_incident.contains_key("b"));
        let schedules = c.schedules().unwrap();
        assert_eq!(schedules.len(), 1);
        assert_eq!(schedules[0].0, "a");
        for (camera, extra, want) in [
            (
                "[cameras.incident]\nend_threshold = 0.9\n",
                "",
                "camera a: [cameras.incident]: end threshold",
            ),
            ("[cameras.incident]\nthreshold = 0.9\n", "", "unknown field"),
            ("armed = [\"Mon-Fri 18-07\"]\n", "", "camera a: armed"),
            (
                "armed = [\"daily 00:00-24:00\"]\n",
                "[sites.hq]\ntime_zone = \"Mars/Base\"\n",
                "Mars/Base",
            ),
            ("", "[sites.hqq]\n", "no camera is in site \"hqq\""),
        ] {
            let e = load(camera, extra).unwrap_err();
            assert!(e.contains(want), "{camera:?} {extra:?}: {e}");
        }
    }

    #[test]
    fn incident_and_pipeline_sections_are_the_library_types_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fightwatch.toml");
        let load = |extra: &str| {
            std::fs::write(
                &p,
                format!(
                    "[model]\npackage = \"m\"\n{extra}\n[[cameras]]\nname = \"a\"\nsource = \"x\"\n"
                ),
            )
            .unwrap();
            Config::load(&p).map_err(|e| format!("{e:#}"))
        };
        let c = load(
            "[incident]\nstart_threshold = 0.7\nsmoothing = { kind = \"ema\", alpha = 0.5 }\n[pipeline]\nhop_s = 1.0\n",
        )
        .unwrap();
        let pipeline = c.pipeline_config();
        assert_eq!(pipeline.incident.start_threshold, 0.7);
        assert_eq!(pipeline.hop_s, 1.0);
        assert_eq!(pipeline.max_batch, PipelineConfig::default().max_batch);
        assert_eq!(
            c.incident.smoothing,
            fightwatch_inference::Smoothing::Ema { alpha: 0.5 }
        );
        for (extra, want) in [
            ("[incident]\nstart_threshold = 0.3\n", "end threshold"),
            ("[incident]\nmin_windows = 0\n", "min_windows"),
            ("[pipeline]\nhop_s = 0.0\n", "hop_s must be > 0"),
            (
                "[pipeline]\nstill_below = 2.0\n",
                "still_below must be between 0 and 1",
            ),
            (
                "[pipeline]\nrelaxed_hop_s = -1.0\n",
                "relaxed_hop_s must be between 0 and 3600",
            ),
            ("[pipeline]\ngate = \"yes\"\n", "invalid type"),
            // The old place of the window settings names the line.
            ("[incident]\nhop_s = 0.5\n", "hop_s"),
        ] {
            let e = load(extra).unwrap_err();
            assert!(e.contains(want), "{extra:?}: {e}");
        }
    }
}
