//! `ca-cli`: the operator command line (SPEC §4 "Operator CLI").

mod args;
mod commands;
mod error;
mod http;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::error::CliError;
use crate::http::Api;
use crate::output::Output;

fn token_file(cli: &Cli) -> Result<PathBuf, CliError> {
    if let Some(f) = &cli.token_file {
        return Ok(f.clone());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or_else(|| CliError::Local("set HOME, XDG_CONFIG_HOME or --token-file".into()))?;
    Ok(base.join("ca-cli").join("token"))
}

fn run(cli: Cli) -> Result<(), CliError> {
    let api = Api::new(&cli.server, token_file(&cli)?);
    let out = Output {
        json: cli.json,
        field: cli.field,
    };
    commands::run(cli.command, &api, &out)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Help and version are not errors; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ca-cli: {e}");
            e.exit_code()
        }
    }
}
