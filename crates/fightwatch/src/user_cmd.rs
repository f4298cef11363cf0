//! `fightwatch token` and `fightwatch user …`: accounts and sessions in a data directory's
//! database (a running server notices changes within a second).

use std::path::Path;

use anyhow::Context;
use fightwatch_node::accounts::{self, Role};

/// `fightwatch token`: prints a signed JWT of a new session.
pub fn token(data_dir: &Path, user: &str, role: &str, ttl: &str) -> anyhow::Result<()> {
    let role: Role = role.parse().map_err(anyhow::Error::msg)?;
    let ttl_s = parse_duration(ttl)?;
    let token = accounts::issue_token(data_dir, user, role, ttl_s)?;
    println!("{token}");
    Ok(())
}

/// `fightwatch user add NAME --role ROLE --password-stdin`.
pub fn add(
    data_dir: &Path,
    name: &str,
    role: &str,
    cameras: Option<Vec<String>>,
) -> anyhow::Result<()> {
    let role: Role = role.parse().map_err(anyhow::Error::msg)?;
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\n', '\r']);
    accounts::add_user(data_dir, name, role, password, cameras)?;
    let place = match std::env::var("FIGHTWATCH_DATABASE_URL") {
        Ok(url) if !url.is_empty() => "the shared database (FIGHTWATCH_DATABASE_URL)".to_string(),
        _ => fightwatch_node::DataDir::new(data_dir)
            .database()
            .display()
            .to_string(),
    };
    eprintln!("fightwatch: user {name} ({role}) saved in {place}");
    Ok(())
}

/// `fightwatch user delete NAME`: removes the user and ends its sessions.
pub fn delete(data_dir: &Path, name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(accounts::delete_user(data_dir, name)?, "no user {name:?}");
    eprintln!("fightwatch: user {name} deleted; its sessions are revoked");
    Ok(())
}

/// `fightwatch user revoke NAME`: ends every session of a user (logs it out everywhere).
pub fn revoke(data_dir: &Path, name: &str) -> anyhow::Result<()> {
    let n = accounts::revoke_sessions(data_dir, name)?;
    eprintln!("fightwatch: revoked {n} session(s) of {name}");
    Ok(())
}

/// `90`, `90s`, `15m`, `1h`, `7d` → seconds.
fn parse_duration(s: &str) -> anyhow::Result<u64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .with_context(|| format!("bad duration {s:?}: use e.g. 90s, 15m, 1h, 7d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => anyhow::bail!("bad duration {s:?}: use e.g. 90s, 15m, 1h, 7d"),
    };
    n.checked_mul(mult)
        .with_context(|| format!("duration {s:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("1h").unwrap(), 3600);
        assert!(parse_duration("1w").is_err() && parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
    }
}
