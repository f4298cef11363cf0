//! Finding and loading the ONNX Runtime shared library.
//!
//! fightwatch links ONNX Runtime dynamically (`ort`'s `load-dynamic`), because `ort`'s binary
//! download cannot run offline and because a GPU build can then be swapped in without
//! recompiling. `ort` panics when the library is missing, so [`OrtRuntime::init`] checks every
//! path first and returns an [`Error`] instead.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::Error;

/// File name prefix of the ONNX Runtime library on Linux.
const LIB_PREFIX: &str = "libonnxruntime.so";
/// Where `scripts/setup.sh` puts the library, relative to the repository root.
const CACHE_DIR: &str = ".cache/onnxruntime";

/// Where to look for `libonnxruntime.so`; see [`locate_library`] for the order.
#[derive(Debug, Clone, Default)]
pub struct LibrarySearch {
    /// An explicit library path (`--ort-lib` or the config file); searched first.
    pub explicit: Option<PathBuf>,
    /// The value of `ORT_DYLIB_PATH`, when set. [`LibrarySearch::from_env`] fills it.
    pub env: Option<PathBuf>,
    /// Directories whose ancestors are searched for `.cache/onnxruntime/` (by default the
    /// current directory and the executable's directory).
    pub roots: Vec<PathBuf>,
}

impl LibrarySearch {
    /// A search with an optional explicit path, `ORT_DYLIB_PATH` from the environment, and the
    /// current directory and executable directory as roots.
    pub fn from_env(explicit: Option<PathBuf>) -> Self {
        let mut roots = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            roots.push(cwd);
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            roots.push(dir);
        }
        Self {
            explicit,
            env: std::env::var_os("ORT_DYLIB_PATH")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            roots,
        }
    }
}

/// Finds the ONNX Runtime library, in this order:
///
/// 1. the explicit path (`--ort-lib` or config),
/// 2. `ORT_DYLIB_PATH`,
/// 3. `.cache/onnxruntime/libonnxruntime.so*` in each root or any of its ancestors (so the
///    repository's copy is found both from the repo and from `target/release/fightwatch`).
///
/// An explicit path or `ORT_DYLIB_PATH` that does not exist is an error rather than a reason to
/// look further: the user asked for that library.
pub fn locate_library(search: &LibrarySearch) -> Result<PathBuf, Error> {
    if let Some(path) = &search.explicit {
        return existing(path, "--ort-lib/config");
    }
    if let Some(path) = &search.env {
        return existing(path, "ORT_DYLIB_PATH");
    }
    let mut searched = vec![
        "--ort-lib/config (unset)".to_string(),
        "ORT_DYLIB_PATH (unset)".into(),
    ];
    for root in &search.roots {
        for dir in root.ancestors() {
            let cache = dir.join(CACHE_DIR);
            if let Some(lib) = library_in(&cache) {
                return Ok(lib);
            }
            searched.push(cache.display().to_string());
        }
    }
    Err(Error::LibraryNotFound {
        searched: searched.join(", "),
    })
}

fn existing(path: &Path, origin: &'static str) -> Result<PathBuf, Error> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(Error::LibraryMissing {
            path: path.to_path_buf(),
            origin,
        })
    }
}

/// The library in `dir`: `libonnxruntime.so` itself, else the highest-sorting versioned file.
fn library_in(dir: &Path) -> Option<PathBuf> {
    let plain = dir.join(LIB_PREFIX);
    if plain.is_file() {
        return Some(plain);
    }
    let mut versioned: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{LIB_PREFIX}.")))
        })
        .collect();
    versioned.sort();
    versioned.pop()
}

/// A loaded ONNX Runtime: the library plus an `ort` environment that sessions are created in.
///
/// ONNX Runtime can be loaded once per process. A second [`OrtRuntime::init`] with the same
/// library returns a runtime sharing it; with a different library it is an error.
#[derive(Debug, Clone)]
pub struct OrtRuntime {
    env: ort::environment::Environment,
    library: PathBuf,
    version: String,
}

/// The library this process loaded, and its environment.
static LOADED: OnceLock<Mutex<Option<OrtRuntime>>> = OnceLock::new();

impl OrtRuntime {
    /// Locates the library (see [`locate_library`]), loads it and creates the environment.
    pub fn init(search: &LibrarySearch) -> Result<Self, Error> {
        let library = locate_library(search)?;
        Self::init_from(&library)
    }

    /// Loads the library at `library` (which must exist) and creates the environment.
    pub fn init_from(library: &Path) -> Result<Self, Error> {
        let library = existing(library, "argument")?;
        let library = library.canonicalize().unwrap_or(library);
        let slot = LOADED.get_or_init(|| Mutex::new(None));
        // A poisoned lock only means another thread panicked mid-init; the Option is still valid.
        let mut loaded = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rt) = loaded.as_ref() {
            if rt.library == library {
                return Ok(rt.clone());
            }
            return Err(Error::AlreadyLoaded {
                loaded: rt.library.clone(),
                requested: library,
            });
        }
        let builder = ort::init_from(&library).map_err(|e| Error::LibraryLoad {
            path: library.clone(),
            message: e.to_string(),
        })?;
        let env = builder
            .with_name("fightwatch")
            .with_telemetry(false)
            .build()?;
        let version = ort::info().to_string();
        tracing::debug!(library = %library.display(), %version, "Loaded ONNX Runtime.");
        let rt = Self {
            env,
            library,
            version,
        };
        *loaded = Some(rt.clone());
        Ok(rt)
    }

    /// The `ort` environment sessions are created in.
    pub fn environment(&self) -> &ort::environment::Environment {
        &self.env
    }

    /// The path of the loaded library.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// ONNX Runtime's build information string (version, git commit).
    pub fn version(&self) -> &str {
        &self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search_in(root: &Path) -> LibrarySearch {
        LibrarySearch {
            explicit: None,
            env: None,
            roots: vec![root.to_path_buf()],
        }
    }

    #[test]
    fn explicit_path_that_does_not_exist_is_an_error_naming_it() {
        let s = LibrarySearch {
            explicit: Some("/nonexistent/libonnxruntime.so".into()),
            ..Default::default()
        };
        let err = locate_library(&s).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/libonnxruntime.so"), "{msg}");
        assert!(msg.contains("scripts/setup.sh"), "{msg}");
    }

    #[test]
    fn env_path_is_used_when_no_explicit_path() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libonnxruntime.so.1.2.3");
        std::fs::write(&lib, b"").unwrap();
        let s = LibrarySearch {
            env: Some(lib.clone()),
            ..Default::default()
        };
        assert_eq!(locate_library(&s).unwrap(), lib);
    }

    #[test]
    fn cache_dir_is_found_from_a_nested_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join(CACHE_DIR);
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(cache.join("libonnxruntime.so.1.9.0"), b"").unwrap();
        std::fs::write(cache.join("libonnxruntime.so.1.10.0"), b"").unwrap();
        let nested = dir.path().join("target/release");
        std::fs::create_dir_all(&nested).unwrap();
        // Sorted by name, 1.9.0 sorts after 1.10.0: any versioned file is accepted, and a plain
        // libonnxruntime.so (setup.sh makes one) wins over both.
        assert!(
            locate_library(&search_in(&nested))
                .unwrap()
                .starts_with(&cache)
        );
        std::fs::write(cache.join("libonnxruntime.so"), b"").unwrap();
        assert_eq!(
            locate_library(&search_in(&nested)).unwrap(),
            cache.join("libonnxruntime.so")
        );
    }

    #[test]
    fn nothing_found_lists_the_searched_places() {
        let dir = tempfile::tempdir().unwrap();
        let err = locate_library(&search_in(dir.path())).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::LibraryNotFound { .. }));
        assert!(
            msg.contains(&dir.path().join(CACHE_DIR).display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("scripts/setup.sh"), "{msg}");
    }
}
