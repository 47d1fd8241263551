//! Server settings: flags, each with its environment variable (SPEC §4).

use std::path::PathBuf;

use clap::Parser;

/// The Client-Bank certification authority server.
#[derive(Clone, Debug, Parser)]
#[command(version, about)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "CA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Directory for the CA key, certificate and the embedded database.
    #[arg(long, env = "CA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Database: `postgres://…` for PostgreSQL; default SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Directory of the policy files (default: ./policies, else the repository's policies/).
    #[arg(long, env = "CA_POLICIES_DIR")]
    pub policies_dir: Option<PathBuf>,

    /// Largest request body accepted, in bytes (checked before parsing).
    #[arg(long, env = "CA_MAX_BODY", default_value_t = 64 * 1024)]
    pub max_body: usize,

    /// Seconds between runs of the background work (CRL, suspensions, notifications).
    #[arg(long, env = "CA_TICK_SECONDS", default_value_t = 30)]
    pub tick_seconds: u64,
    /// Where `GET /metrics` is served (Prometheus text format); keep it off
    /// the public network. Not served when unset.
    #[arg(long, env = "CA_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
}

impl Config {
    /// The policies directory: the flag, else `./policies`, else the
    /// repository's `policies/` the binary was built from.
    pub fn policies_dir(&self) -> PathBuf {
        if let Some(dir) = &self.policies_dir {
            return dir.clone();
        }
        let local = PathBuf::from("policies");
        if local.join("authority.toml").exists() {
            return local;
        }
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../policies"))
    }

    /// The database URL: the setting, else `<data dir>/authority.sqlite3`.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => self
                .data_dir
                .join("authority.sqlite3")
                .display()
                .to_string(),
        }
    }
}
