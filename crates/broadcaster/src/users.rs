//! User accounts: argon2 password hashes in the store, login, and the first admin.

use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use fightwatch_store::{AlertStore, StoreError, UserRecord};

use crate::Role;

/// Errors of account handling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The system random source failed.
    #[error("no secure random numbers: {0}")]
    Random(String),
    /// Hashing failed.
    #[error("password hashing: {0}")]
    Hash(String),
    /// A name or password is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// Writing the first admin's password file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Cryptographically secure random bytes.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, UserError> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| UserError::Random(e.to_string()))?;
    Ok(b)
}

/// `n` secure random bytes as lowercase hex (session ids, secrets).
pub fn random_hex(n: usize) -> Result<String, UserError> {
    use std::fmt::Write;
    let mut out = String::with_capacity(n * 2);
    for b in random_bytes(n)? {
        let _ = write!(out, "{b:02x}");
    }
    Ok(out)
}

/// Whether `name` can be a user name: 1 to 64 ASCII letters, digits, `-`, `_` or `.` (so it
/// can never split a `dm:A:B` room or a cookie).
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// A token for a new session of `user`: the session is stored (so it can be revoked), then
/// the token signed. [`crate::Hub::issue_token`] and `fightwatch token` both come here.
pub fn issue_token(
    store: &dyn AlertStore,
    auth: &crate::Auth,
    user: &str,
    role: Role,
    ttl_s: u64,
    cameras: Option<Vec<String>>,
) -> Result<String, UserError> {
    if !valid_user_name(user) {
        return Err(UserError::Invalid(format!(
            "user name {user:?}: 1-64 letters, digits, '-', '_' or '.'"
        )));
    }
    let claims = crate::Auth::claims(user, role, ttl_s, cameras, random_hex(16)?);
    store.create_session(&fightwatch_store::SessionRecord {
        id: claims.jti.clone(),
        user: claims.sub.clone(),
        created_at: claims.iat * 1000,
        expires_at: claims.exp * 1000,
        revoked_at: None,
    })?;
    auth.sign(&claims)
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// Longest password accepted, characters (hashing cost must not depend on the attacker).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// An argon2id hash (PHC string) of `password` with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, UserError> {
    let salt =
        SaltString::encode_b64(&random_bytes(16)?).map_err(|e| UserError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

thread_local! {
    /// argon2's working memory (19 MiB with the default parameters), kept by each thread that
    /// checks passwords. Allocating it per check fragmented the malloc arenas of those threads
    /// until a login flood had grown the server by hundreds of MiB that never came back.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// argon2 of `password` and `salt` into `out`, in this thread's reused working memory.
fn argon2_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    ARGON2_MEMORY.with_borrow_mut(|blocks| {
        let need = argon.params().block_count();
        if blocks.len() < need {
            blocks.resize(need, argon2::Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut blocks[..need])
    })
}

/// Whether `password` matches the stored hash (a PHC string); compares in constant time.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::Output;
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        argon2::Algorithm::try_from(parsed.algorithm),
        argon2::Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let version = match parsed.version {
        Some(v) => match argon2::Version::try_from(v) {
            Ok(v) => v,
            Err(_) => return false,
        },
        None => argon2::Version::default(),
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    argon2_into(&argon, password.as_bytes(), salt, &mut out).is_ok()
        && Output::new(&out).is_ok_and(|o| o == expected)
}

/// Costs what checking a real user's password costs, so a wrong name cannot be told from a
/// wrong password by timing.
fn waste_a_hash(password: &str) {
    let mut out = [0u8; 32];
    let _ = argon2_into(
        &Argon2::default(),
        password.as_bytes(),
        b"fightwatch-no-such-user",
        &mut out,
    );
}

/// Creates or replaces a user.
pub fn add_user(
    store: &dyn AlertStore,
    name: &str,
    role: Role,
    password: &str,
    cameras: Option<Vec<String>>,
) -> Result<(), UserError> {
    if !valid_user_name(name) {
        return Err(UserError::Invalid(format!(
            "user name {name:?}: 1-64 letters, digits, '-', '_' or '.'"
        )));
    }
    if password.chars().count() < 8 || password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(UserError::Invalid(format!(
            "a password has 8 to {MAX_PASSWORD_CHARS} characters"
        )));
    }
    store.put_user(&UserRecord {
        name: name.into(),
        role,
        password_hash: hash_password(password)?,
        cameras,
    })?;
    Ok(())
}

/// The user, when the password is right.
pub fn login(
    store: &dyn AlertStore,
    name: &str,
    password: &str,
) -> Result<Option<(UserRecord, Role)>, UserError> {
    let user = if valid_user_name(name) && password.chars().count() <= MAX_PASSWORD_CHARS {
        store.user(name)?
    } else {
        None
    };
    let Some(user) = user else {
        waste_a_hash(
            &password
                .chars()
                .take(MAX_PASSWORD_CHARS)
                .collect::<String>(),
        );
        return Ok(None);
    };
    if !verify_password(password, &user.password_hash) {
        return Ok(None);
    }
    let role = user.role;
    Ok(Some((user, role)))
}

/// Writes a file only its owner can read (mode 0600 from creation: never readable by others,
/// not even for a moment), replacing any file there.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// On first start (no users), creates `admin` with a random password, writes it to the file
/// `password_file` (mode 0600; a node's `DATA_DIR/admin_password`) and returns it so it can be
/// printed once. Of several nodes starting together on one empty database, one does.
pub fn bootstrap_admin(
    store: &dyn AlertStore,
    password_file: &Path,
) -> Result<Option<String>, UserError> {
    if store.user_count()? > 0 {
        return Ok(None);
    }
    let alphabet = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let password: String = random_bytes(20)?
        .iter()
        .map(|b| char::from(alphabet[*b as usize % alphabet.len()]))
        .collect();
    let admin = UserRecord {
        name: "admin".into(),
        role: Role::Admin,
        password_hash: hash_password(&password)?,
        cameras: None,
    };
    // Several nodes may start together on an empty database: one creates the admin, the
    // others see it and print nothing (their password would not be the admin's).
    if !store.create_first_user(&admin)? {
        return Ok(None);
    }
    let path = password_file.to_path_buf();
    write_private(&path, &format!("{password}\n"))
        .map_err(|source| UserError::Io { path, source })?;
    Ok(Some(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verify_login_and_bootstrap() {
        let dir = tempfile::tempdir().unwrap();
        let store = fightwatch_store::SqliteStore::open(&dir.path().join("db")).unwrap();
        let pw = bootstrap_admin(&store, &dir.path().join("admin_password"))
            .unwrap()
            .expect("first start creates admin");
        assert_eq!(pw.len(), 20);
        assert!(
            bootstrap_admin(&store, &dir.path().join("admin_password"))
                .unwrap()
                .is_none(),
            "only once"
        );
        let file = dir.path().join("admin_password");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), pw);
        let (user, role) = login(&store, "admin", &pw).unwrap().unwrap();
        assert_eq!((user.name.as_str(), role), ("admin", Role::Admin));
        assert!(!user.password_hash.contains(&pw), "stored as a hash");
        assert!(login(&store, "admin", "wrong password").unwrap().is_none());
        assert!(login(&store, "nobody", &pw).unwrap().is_none());
        assert!(add_user(&store, "bad name", Role::Viewer, "longenough", None).is_err());
        assert!(add_user(&store, "ok", Role::Viewer, "short", None).is_err());
    }
}
