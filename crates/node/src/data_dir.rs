//! A node's data directory: every file fightwatch keeps there, and who may read it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fightwatch_broadcaster::Auth;
use fightwatch_store::{AlertStore, PostgresStore, SqliteStore};

use crate::ServerError;
use crate::server::io;

/// A node's data directory (`[storage] data_dir`, `--data-dir`). The directory itself is 0700;
/// every secret in it is written 0600 by the code that makes it.
///
/// | path | what |
/// |---|---|
/// | `fightwatch.db` | the SQLite store (without `[cluster]`) |
/// | `snapshots/` | alert media: snapshots, heat maps, incident clips |
/// | `jwt_secret` | the HS256 secret, unless `FIGHTWATCH_JWT_SECRET` is set |
/// | `admin_password` | the first admin's password, written on first start |
/// | `evidence_ed25519.key` | the key evidence exports are signed with |
/// | `vapid_p256.key` | the Web Push key, unless `FIGHTWATCH_VAPID_KEY` is set |
/// | `tune/` | `fightwatch tune` reports served to the console |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir(PathBuf);

impl DataDir {
    /// The data directory at `root` (nothing is made yet: see [`DataDir::create`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self(root.into())
    }

    /// Makes the directory (0700), or warns when an existing one is open to others.
    pub fn create(&self) -> Result<(), ServerError> {
        private_dir(&self.0)
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.0
    }

    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.0.join("fightwatch.db")
    }

    /// Alert media: snapshots, heat maps and incident clips.
    pub fn media(&self) -> PathBuf {
        self.0.join("snapshots")
    }

    /// The JWT secret's file.
    pub fn jwt_secret_file(&self) -> PathBuf {
        self.0.join("jwt_secret")
    }

    /// Where the first admin's password is written.
    pub fn admin_password_file(&self) -> PathBuf {
        self.0.join("admin_password")
    }

    /// The evidence signing key.
    pub fn evidence_key_file(&self) -> PathBuf {
        self.0.join(fightwatch_evidence::SigningKey::FILE_NAME)
    }

    /// The Web Push (VAPID) key.
    pub fn vapid_key_file(&self) -> PathBuf {
        self.0.join(fightwatch_integrations::VapidKey::FILE_NAME)
    }

    /// `fightwatch tune` reports.
    pub fn tune(&self) -> PathBuf {
        self.0.join("tune")
    }
}

/// The store the user and token commands use: PostgreSQL at `FIGHTWATCH_DATABASE_URL` when
/// that is set (a cluster), else the data directory's SQLite database (created private).
pub fn open_store(data_dir: &Path) -> Result<Arc<dyn AlertStore>, ServerError> {
    let url = std::env::var("FIGHTWATCH_DATABASE_URL").ok();
    open_store_at(data_dir, url.as_deref().filter(|u| !u.is_empty()))
}

/// PostgreSQL at `database_url`, or SQLite in `data_dir`.
pub fn open_store_at(
    data_dir: &Path,
    database_url: Option<&str>,
) -> Result<Arc<dyn AlertStore>, ServerError> {
    match database_url {
        Some(url) => Ok(Arc::new(PostgresStore::connect(url)?)),
        None => {
            let dir = DataDir::new(data_dir);
            dir.create()?;
            Ok(Arc::new(SqliteStore::open(&dir.database())?))
        }
    }
}

/// The HS256 secret: `FIGHTWATCH_JWT_SECRET`, else `DATA_DIR/jwt_secret`, created (0600) with
/// 32 bytes from the operating system's secure random source on first use. A secret shorter
/// than 32 bytes is refused, not used: an empty file would mean anyone can sign tokens.
/// Rotating it (delete the file, restart) signs everyone out.
pub fn jwt_secret(data_dir: &Path) -> Result<Vec<u8>, ServerError> {
    let min = Auth::MIN_SECRET_BYTES;
    if let Some(s) = std::env::var_os("FIGHTWATCH_JWT_SECRET") {
        let s = s.into_encoded_bytes();
        if s.len() < min {
            return Err(ServerError::Secret(format!(
                "FIGHTWATCH_JWT_SECRET has {} bytes; it must have at least {min} (e.g. `openssl rand -hex 32`)",
                s.len()
            )));
        }
        return Ok(s);
    }
    let path = DataDir::new(data_dir).jwt_secret_file();
    match std::fs::read(&path) {
        Ok(bytes) => {
            let secret = bytes.trim_ascii().to_vec();
            if secret.len() < min {
                return Err(ServerError::Secret(format!(
                    "{} holds {} bytes; a JWT secret needs at least {min}. Delete the file to make a new \
                     one (this signs everyone out), or write {min}+ random bytes into it",
                    path.display(),
                    secret.len()
                )));
            }
            return Ok(secret);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
    }
    private_dir(data_dir)?;
    let secret = fightwatch_broadcaster::users::random_hex(32).map_err(|e| {
        ServerError::Secret(format!("reading the system's secure random source: {e}"))
    })?;
    fightwatch_broadcaster::users::write_private(&path, &secret)
        .map_err(io(format!("creating {}", path.display())))?;
    Ok(secret.into_bytes())
}

/// The folder of alert snapshots and clips in a data directory.
pub fn media_dir(data_dir: &Path) -> PathBuf {
    DataDir::new(data_dir).media()
}

/// Creates `dir` readable by its owner only (it holds the database, snapshots and the
/// secret); warns when an existing one is open to others.
pub fn private_dir(dir: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Ok(meta) = std::fs::metadata(dir) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                dir = %dir.display(),
                mode = format!("{mode:o}"),
                "The data directory is readable by other users; `chmod 700` it."
            );
            eprintln!(
                "fightwatch: warning: {} has mode {mode:o}: other users can read it (chmod 700 {0})",
                dir.display()
            );
        }
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format!("creating {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn every_file_has_its_place_and_the_directory_is_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("data"));
        dir.create().unwrap();
        let mode = std::fs::metadata(dir.root()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let names: Vec<PathBuf> = [
            dir.database(),
            dir.media(),
            dir.jwt_secret_file(),
            dir.admin_password_file(),
            dir.evidence_key_file(),
            dir.vapid_key_file(),
            dir.tune(),
        ]
        .into_iter()
        .map(|p| p.strip_prefix(dir.root()).unwrap().to_path_buf())
        .collect();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(media_dir(dir.root()), dir.media());
        // The secret is made 0600 on first use, and read back the same.
        let secret = jwt_secret(dir.root()).unwrap();
        let mode = std::fs::metadata(dir.jwt_secret_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(jwt_secret(dir.root()).unwrap(), secret);
    }
}
