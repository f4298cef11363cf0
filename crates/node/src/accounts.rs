//! Accounts and sessions in a data directory's database, for the offline commands (`fightwatch
//! user`, `fightwatch token`): the same rules and hashing the server applies, and the same
//! store ([`open_store`]: the data directory's SQLite file, or FIGHTWATCH_DATABASE_URL). A
//! running server notices a change within a second.

use std::path::Path;

use fightwatch_broadcaster::{Auth, users};

use crate::{ServerError, jwt_secret, open_store};

pub use fightwatch_broadcaster::Role;

/// Signs a token for a new session of `user` (stored, so it can be revoked) lasting `ttl_s`.
pub fn issue_token(
    data_dir: &Path,
    user: &str,
    role: Role,
    ttl_s: u64,
) -> Result<String, ServerError> {
    let auth = Auth::new(&jwt_secret(data_dir)?).map_err(|e| ServerError::Secret(e.to_string()))?;
    let store = open_store(data_dir)?;
    Ok(users::issue_token(
        store.as_ref(),
        &auth,
        user,
        role,
        ttl_s,
        None,
    )?)
}

/// Creates or replaces a user (replacing ends its sessions); `cameras`: the only cameras it
/// may see (`None`: all).
pub fn add_user(
    data_dir: &Path,
    name: &str,
    role: Role,
    password: &str,
    cameras: Option<Vec<String>>,
) -> Result<(), ServerError> {
    let store = open_store(data_dir)?;
    Ok(users::add_user(
        store.as_ref(),
        name,
        role,
        password,
        cameras,
    )?)
}

/// Deletes a user and ends its sessions; false when there was none.
pub fn delete_user(data_dir: &Path, name: &str) -> Result<bool, ServerError> {
    Ok(open_store(data_dir)?.delete_user(name)?)
}

/// Ends every session of a user (logs it out everywhere); how many there were.
pub fn revoke_sessions(data_dir: &Path, name: &str) -> Result<usize, ServerError> {
    Ok(open_store(data_dir)?.revoke_user_sessions(name)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_sessions_live_in_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        // (This test reads no FIGHTWATCH_* variables: CI does not set them.)
        assert!(add_user(dir.path(), "ana", Role::Operator, "short", None).is_err());
        add_user(dir.path(), "ana", Role::Operator, "long enough", None).unwrap();
        let token = issue_token(dir.path(), "ana", Role::Operator, 60).unwrap();
        let auth = Auth::new(&jwt_secret(dir.path()).unwrap()).unwrap();
        assert_eq!(auth.verify(&token).unwrap().sub, "ana");
        assert_eq!(revoke_sessions(dir.path(), "ana").unwrap(), 1);
        assert!(delete_user(dir.path(), "ana").unwrap());
        assert!(!delete_user(dir.path(), "ana").unwrap());
    }
}
