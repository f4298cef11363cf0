//! Labelled clip folders: fightwatch's `labels.csv`, or the RWF-2000 layout.

use std::path::{Path, PathBuf};

use crate::EvalError;

/// One labelled clip.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledClip {
    /// The clip (a video file or an image folder).
    pub path: PathBuf,
    /// It contains a fight.
    pub fight: bool,
    /// Where the fight is, seconds, when labelled.
    pub segment: Option<(f64, f64)>,
}

#[derive(Debug, serde::Deserialize)]
struct Row {
    file: String,
    label: String,
    #[serde(default)]
    fight_start_s: Option<f64>,
    #[serde(default)]
    fight_end_s: Option<f64>,
}

/// Loads `dir/labels.csv` when present, else the RWF-2000 layout (`*/Fight/*`, `*/NonFight/*`).
pub fn load(dir: &Path) -> Result<Vec<LabelledClip>, EvalError> {
    if !dir.is_dir() {
        return Err(EvalError::Dataset(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let csv_path = dir.join("labels.csv");
    let clips = if csv_path.is_file() {
        from_csv(dir, &csv_path)?
    } else {
        from_rwf(dir)?
    };
    if clips.is_empty() {
        return Err(EvalError::Dataset(format!(
            "{} has no labelled clips: expected labels.csv or Fight/ and NonFight/ folders",
            dir.display()
        )));
    }
    Ok(clips)
}

fn from_csv(dir: &Path, csv_path: &Path) -> Result<Vec<LabelledClip>, EvalError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(csv_path)
        .map_err(|e| EvalError::Dataset(format!("reading {}: {e}", csv_path.display())))?;
    let mut clips = Vec::new();
    for (i, row) in reader.deserialize::<Row>().enumerate() {
        // Line numbers count the header as line 1.
        let row = row.map_err(|e| {
            EvalError::Dataset(format!("{}: line {}: {e}", csv_path.display(), i + 2))
        })?;
        let fight = match row.label.as_str() {
            "fight" => true,
            "nonfight" => false,
            other => {
                return Err(EvalError::Dataset(format!(
                    "{}: line {}: label {other:?} is neither fight nor nonfight",
                    csv_path.display(),
                    i + 2
                )));
            }
        };
        let segment = match (row.fight_start_s, row.fight_end_s) {
            (Some(a), Some(b)) if fight => Some((a, b)),
            _ => None,
        };
        clips.push(LabelledClip {
            path: dir.join(&row.file),
            fight,
            segment,
        });
    }
    Ok(clips)
}

fn from_rwf(dir: &Path) -> Result<Vec<LabelledClip>, EvalError> {
    let mut clips = Vec::new();
    let mut visit = |class_dir: &Path, fight: bool| -> Result<(), EvalError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(class_dir)
            .map_err(|source| EvalError::Io {
                path: class_dir.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        clips.extend(files.into_iter().map(|path| LabelledClip {
            path,
            fight,
            segment: None,
        }));
        Ok(())
    };
    // RWF-2000: train/Fight, train/NonFight, val/Fight, val/NonFight (or the classes at the top).
    let mut roots = vec![dir.to_path_buf()];
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| EvalError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    roots.extend(subdirs);
    for root in roots {
        for (name, fight) in [("Fight", true), ("NonFight", false)] {
            let class_dir = root.join(name);
            if class_dir.is_dir() {
                visit(&class_dir, fight)?;
            }
        }
    }
    Ok(clips)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rwf_layout_and_bad_csv() {
        let dir = tempfile::tempdir().unwrap();
        for (split, class, file) in [
            ("train", "Fight", "a.avi"),
            ("train", "NonFight", "b.avi"),
            ("val", "Fight", "c.avi"),
        ] {
            std::fs::create_dir_all(dir.path().join(split).join(class)).unwrap();
            std::fs::write(dir.path().join(split).join(class).join(file), b"").unwrap();
        }
        let clips = load(dir.path()).unwrap();
        assert_eq!(
            clips.iter().map(|c| c.fight).collect::<Vec<_>>(),
            vec![true, false, true]
        );

        std::fs::write(dir.path().join("labels.csv"), "file,label\nx.mp4,brawl\n").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("brawl"), "{err}");
    }
}
