//! Server settings: flags, each with its environment variable (SPEC §4).

use std::path::PathBuf;

use ca_core::pkcs11::{PinSource, TokenConfig};
use clap::Parser;
use zeroize::Zeroizing;

/// The Client-Bank certification authority server.
#[derive(Clone, Debug, Parser)]
#[command(version, about)]
pub struct Config {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,

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
    /// At most this many concurrent writes share one commit (group commit:
    /// one fsync for many). 1 makes every write commit alone.
    #[arg(long, env = "CA_COMMIT_GROUP_MAX", default_value_t = 64)]
    pub commit_group_max: usize,

    /// Where `GET /metrics` is served (Prometheus text format); keep it off
    /// the public network. Not served when unset.
    #[arg(long, env = "CA_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// The PKCS#11 module (shared library) of the token that holds the CA
    /// key, e.g. /usr/lib/softhsm/libsofthsm2.so. Unset: the key is a file
    /// in the data directory.
    #[arg(long, env = "CA_PKCS11_MODULE")]
    pub pkcs11_module: Option<PathBuf>,
    /// The label of the token that holds the CA key.
    #[arg(long, env = "CA_PKCS11_TOKEN")]
    pub pkcs11_token: Option<String>,
    /// The label of the CA key pair on the token.
    #[arg(long, env = "CA_PKCS11_KEY_LABEL", default_value = "ca")]
    pub pkcs11_key_label: String,
    /// The label of the OCSP responder's key pair on the token.
    #[arg(long, env = "CA_PKCS11_OCSP_KEY_LABEL", default_value = "ocsp")]
    pub pkcs11_ocsp_key_label: String,
    /// A file with the token's user PIN, readable only by its owner
    /// (alternatively the environment variable CA_PKCS11_PIN).
    #[arg(long, env = "CA_PKCS11_PIN_FILE")]
    pub pkcs11_pin_file: Option<PathBuf>,

    /// The SMTP server letters to persons go through, in lettre's URL form:
    /// `smtp://host:25`, `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host:465`. Unset: letters wait in
    /// the outbox (`ca-cli outbox list`).
    #[arg(long, env = "CA_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of those letters.
    #[arg(
        long,
        env = "CA_MAIL_FROM",
        default_value = "Удостоверяющий центр <ca@localhost>"
    )]
    pub mail_from: String,
}

/// What the binary does besides serving.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Checks the registry's consistency (after an incident: a crash, a full
    /// disk, a restored backup) without changing anything, prints each
    /// check, and exits 0 when all hold, 1 when one does not. Run it with
    /// the server's settings, with or without the server running.
    Check {
        /// The report as JSON.
        #[arg(long)]
        json: bool,
    },
}

impl Config {
    /// The SMTP side, when configured.
    pub fn mailer(&self) -> Result<Option<crate::mail::Mailer>, ca_core::Error> {
        self.smtp_url
            .as_deref()
            .map(|url| {
                crate::mail::Mailer::new(url, &self.mail_from)
                    .map_err(|m| ca_core::Error::config("settings", "", &m))
            })
            .transpose()
    }

    /// The token settings, when the CA key is on a token.
    pub fn token(&self) -> Result<Option<TokenConfig>, ca_core::Error> {
        let Some(module) = &self.pkcs11_module else {
            return Ok(None);
        };
        let setting = |m: &str| ca_core::Error::config("settings", "", m);
        let token_label = self.pkcs11_token.clone().ok_or_else(|| {
            setting("CA_PKCS11_MODULE is set: set CA_PKCS11_TOKEN (the token's label) too")
        })?;
        let pin = match (&self.pkcs11_pin_file, std::env::var("CA_PKCS11_PIN")) {
            (Some(file), _) => PinSource::File(file.clone()),
            (None, Ok(pin)) => PinSource::Value(Zeroizing::new(pin)),
            (None, Err(_)) => {
                return Err(setting(
                    "the token's PIN: set CA_PKCS11_PIN_FILE (a file only its owner can read) \
                     or CA_PKCS11_PIN",
                ))
            }
        };
        Ok(Some(TokenConfig {
            module: module.clone(),
            token_label,
            pin,
            // One idle session per worker thread that may sign.
            sessions: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }))
    }

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
