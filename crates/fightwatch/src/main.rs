//! `fightwatch`: the command-line entry point that wires the pipeline stages together.
//!
//! The binary stays thin: argument parsing and logging live here, each subcommand in its own
//! module, and the work is done by the library crates.

mod cli;
mod cluster_cmd;
mod config;
mod dataset_cmd;
mod eval_cmd;
mod evidence_cmd;
mod logging;
mod memory;
mod model_cmd;
mod probe_cmd;
mod replay_cmd;
mod run_cmd;
mod tune_cmd;
mod umask;
mod user_cmd;
mod verdicts;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    memory::limit_malloc_arenas();
    umask::private_files();
    let cli = cli::Cli::parse();
    logging::init(cli.log_verbosity, cli.quiet);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line: "loading model: file ... missing".
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Model { command } => model_cmd::run(&cli.global, command),
        cli::Command::Cluster { command } => cluster_cmd::run(command),
        cli::Command::Probe {
            source,
            frames,
            decode,
            json,
        } => probe_cmd::probe(&source, frames, decode, json),
        cli::Command::Devices { json } => probe_cmd::devices(json),
        cli::Command::Eval {
            dir,
            inference,
            out,
            json,
            parallel,
            split,
            decide,
        } => eval_cmd::run(
            &cli.global,
            eval_cmd::EvalArgs {
                dir,
                split,
                decide,
                inference,
                out,
                json,
                parallel,
            },
        ),
        cli::Command::Replay {
            sources,
            inference,
            json,
            realtime,
            decode,
            config,
            verbose,
            out,
            serve,
            server,
        } => {
            let serve = serve.then_some(server);
            replay_cmd::run(
                &cli.global,
                replay_cmd::ReplayArgs {
                    sources,
                    inference,
                    config,
                    json,
                    realtime,
                    decode,
                    verbose,
                    out,
                    serve,
                },
            )
        }
        cli::Command::Token {
            user,
            role,
            ttl,
            data_dir,
        } => user_cmd::token(&data_dir, &user, &role, &ttl),
        cli::Command::Run { config } => run_cmd::run(&cli.global, &config),
        cli::Command::Export {
            alert_id,
            out,
            by,
            data_dir,
        } => evidence_cmd::export(&data_dir, &alert_id, &out, &by),
        cli::Command::Tune {
            config,
            out,
            apply,
            json,
            parallel,
        } => tune_cmd::run(
            &cli.global,
            tune_cmd::TuneArgs {
                config,
                out,
                apply,
                json,
                parallel,
            },
        ),
        cli::Command::ExportDataset {
            out,
            data_dir,
            val_fraction,
        } => dataset_cmd::run(&data_dir, &out, val_fraction),
        cli::Command::Verify {
            file,
            public_key,
            data_dir,
            allow_unpinned,
            extract,
            json,
        } => evidence_cmd::verify_file(&evidence_cmd::VerifyRequest {
            file: &file,
            public_key: public_key.as_deref(),
            data_dir: data_dir.as_deref(),
            allow_unpinned,
            extract: extract.as_deref(),
            json,
        }),
        cli::Command::Serve { server: args } => {
            let server = fightwatch_node::Server::start(args.options()?)?;
            server.retain(args.retention());
            server.serve_until_signal()?;
            Ok(())
        }
        cli::Command::User {
            command:
                cli::UserCommand::Add {
                    name,
                    role,
                    password_stdin: _,
                    cameras,
                    data_dir,
                },
        } => user_cmd::add(
            &data_dir,
            &name,
            &role,
            (!cameras.is_empty()).then_some(cameras),
        ),
        cli::Command::User {
            command: cli::UserCommand::Delete { name, data_dir },
        } => user_cmd::delete(&data_dir, &name),
        cli::Command::User {
            command: cli::UserCommand::Revoke { name, data_dir },
        } => user_cmd::revoke(&data_dir, &name),
    }
}
