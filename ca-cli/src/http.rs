//! The operator API over HTTP, with the session token kept in a file only
//! the user can read.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use ca_core::api::ErrorBody;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{CliError, CliResult};

/// A client of one server.
pub struct Api {
    base: String,
    token_file: PathBuf,
    agent: ureq::Agent,
}

/// A response body.
pub enum Body {
    /// JSON.
    Json(serde_json::Value),
    /// Anything else (certificates, CRLs).
    Bytes(Vec<u8>),
}

impl Api {
    /// A client of `server` keeping its token in `token_file`.
    pub fn new(server: &str, token_file: PathBuf) -> Api {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Api {
            base: server.trim_end_matches('/').to_string(),
            token_file,
            agent,
        }
    }

    /// Saves a token, readable by the owner only (0600).
    pub fn save_token(&self, token: &str) -> CliResult<()> {
        if let Some(dir) = self.token_file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(&self.token_file);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.token_file)?;
        f.write_all(token.as_bytes())?;
        Ok(())
    }

    /// Forgets the token.
    pub fn forget_token(&self) -> CliResult<()> {
        match std::fs::remove_file(&self.token_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn token(&self) -> Option<String> {
        std::fs::read_to_string(&self.token_file)
            .ok()
            .map(|t| t.trim().to_string())
    }

    /// GET, expecting JSON.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> CliResult<T> {
        self.send("GET", path, None::<&()>, None).and_then(decode)
    }

    /// GET, expecting bytes (`accept` names the media type).
    pub fn get_bytes(&self, path: &str, accept: &str) -> CliResult<Vec<u8>> {
        match self.send("GET", path, None::<&()>, Some(accept))? {
            Body::Bytes(b) => Ok(b),
            Body::Json(v) => Ok(v.to_string().into_bytes()),
        }
    }

    /// POST JSON, expecting JSON (or nothing).
    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> CliResult<T> {
        self.send("POST", path, Some(body), None).and_then(decode)
    }

    /// DELETE, expecting nothing.
    pub fn delete(&self, path: &str) -> CliResult<()> {
        self.send("DELETE", path, None::<&()>, None).map(|_| ())
    }

    fn send<B: Serialize>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
        accept: Option<&str>,
    ) -> CliResult<Body> {
        let url = format!("{}{path}", self.base);
        let token = self.token().map(|t| format!("Bearer {t}"));
        let response = if method == "DELETE" {
            let mut r = self.agent.delete(&url);
            if let Some(t) = &token {
                r = r.header("Authorization", t);
            }
            r.call()
        } else if method == "GET" {
            let mut r = self.agent.get(&url);
            if let Some(t) = &token {
                r = r.header("Authorization", t);
            }
            if let Some(a) = accept {
                r = r.header("Accept", a);
            }
            r.call()
        } else {
            let json = serde_json::to_vec(&body).map_err(|e| CliError::Local(e.to_string()))?;
            let mut r = self
                .agent
                .post(&url)
                .header("Content-Type", "application/json");
            if let Some(t) = &token {
                r = r.header("Authorization", t);
            }
            r.send(&json[..])
        };
        let response = response.map_err(|e| CliError::Server(format!("{url}: {e}")))?;
        let status = response.status().as_u16();
        let is_json = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = response
            .into_body()
            .read_to_vec()
            .map_err(|e| CliError::Server(e.to_string()))?;
        if status >= 500 {
            let msg = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| b.error.message)
                .unwrap_or_else(|_| format!("HTTP {status}"));
            return Err(CliError::Server(msg));
        }
        if status >= 400 {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(b) => CliError::Refused {
                    status,
                    code: b.error.code,
                    message: b.error.message,
                    reasons: b.error.reasons,
                },
                Err(_) => CliError::Refused {
                    status,
                    code: "http_error".into(),
                    message: format!("HTTP {status}"),
                    reasons: vec![],
                },
            });
        }
        if is_json {
            if bytes.is_empty() {
                return Ok(Body::Json(serde_json::Value::Null));
            }
            serde_json::from_slice(&bytes)
                .map(Body::Json)
                .map_err(|e| CliError::Server(format!("bad JSON from the server: {e}")))
        } else {
            Ok(Body::Bytes(bytes))
        }
    }
}

fn decode<T: DeserializeOwned>(body: Body) -> CliResult<T> {
    let value = match body {
        Body::Json(v) => v,
        Body::Bytes(b) if b.is_empty() => serde_json::Value::Null,
        Body::Bytes(_) => return Err(CliError::Server("expected JSON from the server".into())),
    };
    serde_json::from_value(value)
        .map_err(|e| CliError::Server(format!("unexpected answer from the server: {e}")))
}
