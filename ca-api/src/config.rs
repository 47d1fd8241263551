//! Server settings: flags, each with its environment variable (SPEC §4).

use std::path::PathBuf;

use clap::Parser;

/// The Client-Bank certification authority server.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "CA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Directory for the CA key, certificate and the embedded database.
    #[arg(long, env = "CA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Directory of the policy files (default: the repository's policies/).
    #[arg(long, env = "CA_POLICIES_DIR")]
    pub policies_dir: Option<PathBuf>,
}

impl Config {
    /// The policies directory: the flag, else `./policies`, else the
    /// repository's `policies/` the binary was built from.
    pub fn policies_dir(&self) -> PathBuf {
        if let Some(dir) = &self.policies_dir {
            return dir.clone();
        }
        let local = PathBuf::from("policies");
        if local.join("ca.toml").exists() {
            return local;
        }
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../policies"))
    }
}
