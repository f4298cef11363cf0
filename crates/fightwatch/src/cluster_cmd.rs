//! `fightwatch cluster status`.

use anyhow::Context;
use fightwatch_store::{AlertStore, PostgresStore};

use crate::cli::ClusterCommand;
use crate::config::Config;

pub fn run(command: ClusterCommand) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Status {
            config,
            redis_url,
            database_url,
            json,
        } => status(config.as_deref(), redis_url, database_url, json),
    }
}

fn status(
    config: Option<&std::path::Path>,
    redis_url: Option<String>,
    database_url: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let config = config.map(Config::load).transpose()?;
    let from_config = |pick: fn(&fightwatch_node::ClusterSettings) -> Option<String>| {
        config.as_ref().and_then(|c| pick(&c.cluster))
    };
    let redis_url = redis_url
        .or_else(|| from_config(|c| c.redis_url.clone()))
        .context("no Redis: give --redis-url, FIGHTWATCH_REDIS_URL or --config with [cluster]")?;
    let database_url = database_url.or_else(|| from_config(|c| c.database_url.clone()));
    let cameras: Vec<String> = config
        .as_ref()
        .map(|c| c.cameras.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let view = fightwatch_cluster::cluster_view_blocking(&redis_url, &cameras)?;
    let (nodes, cameras) = (view.nodes, view.cameras);
    let last_seq = match &database_url {
        Some(url) => Some(PostgresStore::connect(url)?.last_seq()?),
        None => None,
    };
    if json {
        let out = serde_json::json!({
            "nodes": nodes.iter().map(|n| serde_json::json!({
                "node": n.node,
                "live": n.live,
                "cameras": n.cameras,
                "max_cameras": n.max_cameras,
                "delivered_seq": n.delivered_seq,
                "lag": last_seq.map(|l| l.saturating_sub(n.delivered_seq)),
                "seen_ms_ago": n.seen_ms_ago,
            })).collect::<Vec<_>>(),
            "cameras": cameras.iter().map(|(c, n)| serde_json::json!({"camera": c, "node": n})).collect::<Vec<_>>(),
            "last_seq": last_seq,
        });
        println!("{out}");
        return Ok(());
    }
    println!("nodes ({}):", nodes.len());
    for n in &nodes {
        let lag = last_seq.map_or("?".into(), |l| {
            l.saturating_sub(n.delivered_seq).to_string()
        });
        println!(
            "  {:<16} {:<5} cameras {}/{}  delivered seq {}  lag {lag}  seen {:.1} s ago",
            n.node,
            if n.live { "live" } else { "GONE" },
            n.cameras,
            n.max_cameras,
            n.delivered_seq,
            n.seen_ms_ago as f64 / 1000.0
        );
    }
    println!("cameras ({}):", cameras.len());
    for (camera, node) in &cameras {
        println!(
            "  {camera:<16} {}",
            node.as_deref().unwrap_or("(no node: dark)")
        );
    }
    if let Some(l) = last_seq {
        println!("event log: last seq {l}");
    }
    Ok(())
}
