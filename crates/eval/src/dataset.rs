//! Labelled clip folders: fightwatch's `labels.csv`, a `split.csv` (`file,label,split`, as the
//! Surveillance Camera Fight dataset in shared/data has), or class folders (`Fight/` and
//! `NonFight/` as RWF-2000, `fight/` and `noFight/`, optionally under `train/` and `val/`).

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
    #[serde(default)]
    split: Option<String>,
}

/// Whether a label names the fight class: `fight`, or `nonfight`/`noFight` (any case).
fn parse_label(label: &str) -> Option<bool> {
    match label.to_ascii_lowercase().as_str() {
        "fight" => Some(true),
        "nonfight" | "nofight" | "non_fight" | "no_fight" => Some(false),
        _ => None,
    }
}

/// Loads `dir/labels.csv` when present, else `dir/split.csv`, else class folders
/// (`*/Fight/*`, `*/NonFight/*`, `fight/`, `noFight/`). With `split`, only the rows of a CSV
/// whose `split` column is that name (`test`); a folder layout has no splits.
pub fn load(dir: &Path, split: Option<&str>) -> Result<Vec<LabelledClip>, EvalError> {
    if !dir.is_dir() {
        return Err(EvalError::Dataset(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let csv_path = ["labels.csv", "split.csv"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file());
    let clips = match (csv_path, split) {
        (Some(csv_path), _) => from_csv(dir, &csv_path, split)?,
        (None, Some(split)) => {
            return Err(EvalError::Dataset(format!(
                "--split {split}: {} has no labels.csv or split.csv to name splits",
                dir.display()
            )));
        }
        (None, None) => from_rwf(dir)?,
    };
    if clips.is_empty() {
        return Err(EvalError::Dataset(format!(
            "{} has no labelled clips{}: expected labels.csv, split.csv, or Fight/ and NonFight/ folders",
            dir.display(),
            split
                .map(|s| format!(" in split {s:?}"))
                .unwrap_or_default()
        )));
    }
    Ok(clips)
}

fn from_csv(
    dir: &Path,
    csv_path: &Path,
    split: Option<&str>,
) -> Result<Vec<LabelledClip>, EvalError> {
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
        if split.is_some_and(|s| row.split.as_deref() != Some(s)) {
            continue;
        }
        let Some(fight) = parse_label(&row.label) else {
            return Err(EvalError::Dataset(format!(
                "{}: line {}: label {:?} is neither fight nor nonfight",
                csv_path.display(),
                i + 2,
                row.label
            )));
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
        for (name, fight) in [
            ("Fight", true),
            ("fight", true),
            ("NonFight", false),
            ("noFight", false),
            ("nonfight", false),
        ] {
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
        let clips = load(dir.path(), None).unwrap();
        assert_eq!(
            clips.iter().map(|c| c.fight).collect::<Vec<_>>(),
            vec![true, false, true]
        );

        std::fs::write(dir.path().join("labels.csv"), "file,label\nx.mp4,brawl\n").unwrap();
        let err = load(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("brawl"), "{err}");
    }

    #[test]
    fn split_csv_and_lower_case_class_folders() {
        let dir = tempfile::tempdir().unwrap();
        for (class, file) in [("fight", "fi001.mp4"), ("noFight", "nofi001.mp4")] {
            std::fs::create_dir_all(dir.path().join(class)).unwrap();
            std::fs::write(dir.path().join(class).join(file), b"").unwrap();
        }
        // Folders alone (no CSV): both classes.
        let clips = load(dir.path(), None).unwrap();
        assert_eq!(
            clips.iter().map(|c| c.fight).collect::<Vec<_>>(),
            vec![true, false]
        );
        assert!(
            load(dir.path(), Some("test")).is_err(),
            "no splits to choose from"
        );
        std::fs::write(
            dir.path().join("split.csv"),
            "file,label,split,sha256\nfight/fi001.mp4,fight,train,aa\n\
             fight/fi002.mp4,fight,test,bb\nnoFight/nofi001.mp4,noFight,test,cc\n",
        )
        .unwrap();
        let test = load(dir.path(), Some("test")).unwrap();
        assert_eq!(
            test.iter()
                .map(|c| (
                    c.path.strip_prefix(dir.path()).unwrap().to_path_buf(),
                    c.fight
                ))
                .collect::<Vec<_>>(),
            vec![
                ("fight/fi002.mp4".into(), true),
                ("noFight/nofi001.mp4".into(), false)
            ]
        );
        assert_eq!(load(dir.path(), None).unwrap().len(), 3);
        assert!(
            load(dir.path(), Some("val")).is_err(),
            "an empty split is an error"
        );
    }
}
