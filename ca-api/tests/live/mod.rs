//! A client of the real `ca-api` binary on loopback, for the tests that
//! start it (end to end, tokens, faults).

#![allow(dead_code)]

use std::time::Duration;

use serde_json::{json, Value};

/// An HTTP agent that reports every status instead of failing on 4xx/5xx.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// The subject of Иванов Иван Иванович of ООО Ромашка ([`Client::register_ivanov`]),
/// as `openssl req -subj` takes it.
pub const IVANOV_SUBJECT: &str =
    "/C=RU/O=ООО Ромашка/OGRN=1027700132195/title=Генеральный директор/CN=Иванов Иван Иванович";

/// The server's address and the operator's token, once logged in.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub token: Option<String>,
}

/// What came back: status, Retry-After, JSON body (Null when none).
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            base: base.to_string(),
            token: None,
        }
    }

    /// A GET, or a POST of `body` as JSON.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let url = format!("{}{path}", self.base);
        let a = agent();
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let resp = if method == "GET" {
            let mut r = a.get(&url);
            if let Some(h) = &auth {
                r = r.header("Authorization", h);
            }
            r.call()
        } else {
            let mut r = a.post(&url).header("Content-Type", "application/json");
            if let Some(h) = &auth {
                r = r.header("Authorization", h);
            }
            r.send(body.unwrap_or(json!({})).to_string().as_bytes())
        }
        .unwrap();
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.into_body().read_to_string().unwrap_or_default();
        Answer {
            status,
            retry_after,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// Status and JSON body.
    pub fn json(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let a = self.call(method, path, body);
        (a.status, a.body)
    }

    /// The bytes of a GET that must succeed.
    pub fn bytes(&self, path: &str) -> Vec<u8> {
        let resp = agent().get(format!("{}{path}", self.base)).call().unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        resp.into_body().read_to_vec().unwrap()
    }

    /// Submits a DER CMS request.
    pub fn submit(&self, der: Vec<u8>) -> (u16, Value) {
        let resp = agent()
            .post(format!("{}/api/v1/requests", self.base))
            .header("Content-Type", "application/pkcs7-mime")
            .send(&der[..])
            .unwrap();
        let status = resp.status().as_u16();
        (
            status,
            serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap(),
        )
    }

    /// Logs `admin` in with `password`, keeps the token, and returns the
    /// session's JSON.
    pub fn login(&mut self, password: &str) -> Value {
        let s = ok(
            self.json(
                "POST",
                "/api/v1/admin/session",
                Some(json!({"username": "admin", "password": password})),
            ),
            200,
        );
        self.token = s["token"].as_str().map(str::to_string);
        s
    }

    /// The bootstrap admin's first login: logs in with `Bootstrap1Pass`,
    /// changes it to `Operator1Pass`, and keeps the token.
    pub fn first_login(&mut self) {
        self.login("Bootstrap1Pass");
        ok(
            self.json(
                "POST",
                "/api/v1/admin/password",
                Some(json!({"old_password": "Bootstrap1Pass", "new_password": "Operator1Pass"})),
            ),
            204,
        );
    }

    /// Registers ООО Ромашка and Иванов Иван Иванович; returns the person's id.
    pub fn register_ivanov(&self) -> String {
        let org = ok(
            self.json(
                "POST",
                "/api/v1/admin/organizations",
                Some(json!({"name": "ООО Ромашка", "inn": "7701234567",
                    "ogrn": "1027700132195", "agreement_number": "КБ-17"})),
            ),
            201,
        );
        let until = (chrono::Utc::now() + chrono::Duration::days(300)).to_rfc3339();
        let person = ok(
            self.json(
                "POST",
                "/api/v1/admin/persons",
                Some(
                    json!({"organization_id": org["id"], "full_name": "Иванов Иван Иванович",
                    "position": "Генеральный директор", "email": "p@romashka.example",
                    "authority_document": "Доверенность 1", "authority_valid_until": until}),
                ),
            ),
            201,
        );
        person["id"].as_str().unwrap().to_string()
    }
}

/// The body of an answer whose status must be `expect`.
pub fn ok(r: (u16, Value), expect: u16) -> Value {
    assert_eq!(r.0, expect, "{}", r.1);
    r.1
}

/// `ca-api check` on a data directory (and database), as an operator runs it.
pub fn check(data: &std::path::Path, database_url: Option<&str>, env: &[(&str, &str)]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ca-api"));
    cmd.arg("check")
        .env("CA_DATA_DIR", data)
        .env(
            "CA_POLICIES_DIR",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies"),
        )
        .env_remove("DATABASE_URL")
        .envs(env.iter().copied());
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    let out = cmd.output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(shown.lines().last(), Some("consistent"), "{shown}");
    shown
}
