//! One function per subcommand: build the request body, call the operator
//! API with the server's own request/response types, print the answer.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use base64ct::{Base64, Encoding};
use ca_core::api::*;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use crate::args::*;
use crate::error::{CliError, CliResult};
use crate::http::Api;
use crate::output::Output;

const ORG_COLUMNS: &[&str] = &["id", "name", "inn", "agreement_number", "status"];
const PERSON_COLUMNS: &[&str] = &[
    "id",
    "full_name",
    "position",
    "authority_valid_until",
    "status",
];
const REQUEST_COLUMNS: &[&str] = &[
    "id",
    "type",
    "status",
    "decision_due",
    "reasons",
    "certificate_serial",
];
const CERT_COLUMNS: &[&str] = &[
    "serial",
    "profile",
    "status",
    "not_after",
    "person_id",
    "suspended_until",
];

/// Reads a secret: from standard input (one line) or a prompt without echo.
fn secret(
    prompt: &str,
    from_stdin: bool,
    lines: &mut Option<std::io::Lines<std::io::StdinLock<'static>>>,
) -> CliResult<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let lines = lines.get_or_insert_with(|| std::io::stdin().lock().lines());
        let line = lines
            .next()
            .ok_or_else(|| CliError::Local(format!("{prompt}: nothing on standard input")))??;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    rpassword::prompt_password(format!("{prompt}: ")).map_err(|e| CliError::Local(e.to_string()))
}

/// A date (end of that day, UTC) or an RFC 3339 time.
fn until(text: &str) -> CliResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            CliError::Local(format!(
                "{text:?} is not a date (YYYY-MM-DD) or RFC 3339 time"
            ))
        })
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Writes a file only the user can read (keys, PKCS#12).
fn write_private(path: &Path, bytes: &[u8]) -> CliResult<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    Ok(())
}

/// Runs one command.
pub fn run(command: Command, api: &Api, out: &Output) -> CliResult<()> {
    let mut stdin_lines = None;
    match command {
        Command::Login {
            username,
            password_stdin,
        } => {
            let password = secret("password", password_stdin, &mut stdin_lines)?;
            let s: Session =
                api.post("/api/v1/admin/session", &LoginBody { username, password })?;
            api.save_token(&s.token)?;
            if out.json || out.field.is_some() {
                out.print(&json!({"expires_at": s.expires_at, "must_change_password": s.must_change_password}), &[]);
            } else {
                println!("logged in until {}", s.expires_at);
                if s.must_change_password {
                    println!("the password must be changed now: run `ca-cli passwd`");
                }
            }
        }
        Command::Logout => {
            // End the session on the server first; a session that is
            // already over (401) is as good as ended.
            let ended = match api.delete("/api/v1/admin/session") {
                Err(CliError::Refused { status: 401, .. }) => Ok(()),
                other => other,
            };
            api.forget_token()?;
            ended?
        }
        Command::Passwd { password_stdin } => {
            let old_password = secret("current password", password_stdin, &mut stdin_lines)?;
            let new_password = secret("new password", password_stdin, &mut stdin_lines)?;
            if !password_stdin && std::io::stdin().is_terminal() {
                let again = secret("new password again", false, &mut stdin_lines)?;
                if again != new_password {
                    return Err(CliError::Local("the new passwords differ".into()));
                }
            }
            let _: Value = api.post(
                "/api/v1/admin/password",
                &PasswordChange {
                    old_password,
                    new_password,
                },
            )?;
            if !out.json {
                println!("password changed");
            }
        }
        Command::Org(c) => org(c, api, out)?,
        Command::Person(c) => person(c, api, out)?,
        Command::TechCert(a) => tech_cert(a, api, out, &mut stdin_lines)?,
        Command::Request(c) => request(c, api, out)?,
        Command::Cert(c) => cert(c, api, out)?,
        Command::Crl(c) => crl(c, api, out)?,
        Command::Audit(AuditCommand::List { after, limit }) => {
            let v: Value = api.get(&format!("/api/v1/admin/audit?after={after}&limit={limit}"))?;
            out.print(
                &v,
                &[
                    "seq", "at", "actor", "action", "object", "outcome", "reasons",
                ],
            );
        }
        Command::Audit(AuditCommand::Checkpoints { out: dir }) => {
            let list: Vec<AuditCheckpoint> = api.get("/api/v1/admin/audit/checkpoints")?;
            if let Some(dir) = dir {
                std::fs::create_dir_all(&dir)?;
                let ca = api.get_bytes("/api/v1/ca/certificate", "application/x-pem-file")?;
                std::fs::write(dir.join("ca.pem"), ca)?;
                for c in &list {
                    let signature = base64ct::Base64::decode_vec(&c.signature)
                        .map_err(|e| CliError::Server(format!("bad signature encoding: {e}")))?;
                    std::fs::write(
                        dir.join(format!("checkpoint-{}.txt", c.records)),
                        &c.statement,
                    )?;
                    std::fs::write(dir.join(format!("checkpoint-{}.sig", c.records)), signature)?;
                }
            }
            out.print(&to_value(&list), &["records", "at", "head_hash", "digest"]);
        }
        Command::Audit(AuditCommand::Verify) => {
            let v: AuditVerification = api.get("/api/v1/admin/audit/verify")?;
            out.print(&to_value(&v), &[]);
            if !v.ok {
                return Err(CliError::Refused {
                    status: 200,
                    code: "audit_chain_broken".into(),
                    message: v.problem.clone().unwrap_or_else(|| {
                        format!(
                            "the audit chain breaks at record {}",
                            v.first_broken.unwrap_or_default()
                        )
                    }),
                    reasons: vec![],
                });
            }
        }
        Command::Due => {
            let v: Value = api.get("/api/v1/admin/due")?;
            out.print(&v, &["due", "overdue", "kind", "id", "status"]);
        }
        Command::Operator(c) => operator(c, api, out, &mut stdin_lines)?,
        Command::Outbox(OutboxCommand::List { status, limit }) => {
            let mut path = format!("/api/v1/admin/outbox?limit={limit}");
            if let Some(s) = status {
                path.push_str(&format!("&status={s}"));
            }
            let v: Value = api.get(&path)?;
            out.print(
                &v,
                &[
                    "created_at",
                    "event",
                    "channel",
                    "to",
                    "status",
                    "attempts",
                    "last_error",
                ],
            );
        }
    }
    Ok(())
}

/// Saves a printable document (`path` on the server) as PDF or HTML.
fn document(api: &Api, out: &Output, path: &str, file: &Path, html: bool) -> CliResult<()> {
    let accept = if html { "text/html" } else { "application/pdf" };
    let bytes = api.get_bytes(path, accept)?;
    std::fs::write(file, &bytes)?;
    out.print(
        &json!({"written": file.display().to_string(), "bytes": bytes.len()}),
        &[],
    );
    Ok(())
}

fn org(c: OrgCommand, api: &Api, out: &Output) -> CliResult<()> {
    let v: Value = match c {
        OrgCommand::Register {
            name,
            inn,
            ogrn,
            agreement,
            webhook,
            contact_email,
        } => api.post(
            "/api/v1/admin/organizations",
            &NewOrganization {
                name,
                inn,
                ogrn,
                agreement_number: agreement,
                webhook_url: webhook,
                contact_email,
            },
        )?,
        OrgCommand::List => api.get("/api/v1/admin/organizations")?,
        OrgCommand::Show { id } => api.get(&format!("/api/v1/admin/organizations/{id}"))?,
        OrgCommand::Terminate { id, document } => api.post(
            &format!("/api/v1/admin/organizations/{id}/terminate"),
            &Termination { document },
        )?,
    };
    out.print(&v, ORG_COLUMNS);
    Ok(())
}

fn person(c: PersonCommand, api: &Api, out: &Output) -> CliResult<()> {
    let v: Value = match c {
        PersonCommand::Register {
            org,
            name,
            position,
            email,
            authority_document,
            authority_until,
        } => api.post(
            "/api/v1/admin/persons",
            &NewPerson {
                organization_id: org,
                full_name: name,
                position,
                email,
                authority_document,
                authority_valid_until: until(&authority_until)?,
            },
        )?,
        PersonCommand::List { org } => api.get(&match org {
            Some(o) => format!("/api/v1/admin/persons?organization={o}"),
            None => "/api/v1/admin/persons".into(),
        })?,
        PersonCommand::Show { id } => api.get(&format!("/api/v1/admin/persons/{id}"))?,
        PersonCommand::Extend {
            id,
            document,
            until: u,
        } => api.post(
            &format!("/api/v1/admin/persons/{id}/authority"),
            &AuthorityUpdate {
                authority_document: document,
                authority_valid_until: until(&u)?,
            },
        )?,
        PersonCommand::Terminate { id, document } => api.post(
            &format!("/api/v1/admin/persons/{id}/terminate"),
            &Termination { document },
        )?,
    };
    out.print(&v, PERSON_COLUMNS);
    Ok(())
}

fn tech_cert(
    a: TechCertArgs,
    api: &Api,
    out: &Output,
    lines: &mut Option<std::io::Lines<std::io::StdinLock<'static>>>,
) -> CliResult<()> {
    let body = match (&a.csr, a.generate) {
        (Some(path), false) => {
            let bytes = std::fs::read(path)
                .map_err(|e| CliError::Local(format!("{}: {e}", path.display())))?;
            let pem = if bytes.starts_with(b"-----BEGIN") {
                String::from_utf8_lossy(&bytes).to_string()
            } else {
                ca_core::der_to_pem("CERTIFICATE REQUEST", &bytes)
            };
            TechCertBody {
                csr_pem: Some(pem),
                pin: None,
            }
        }
        (None, true) => {
            let pin = secret("PIN for the PKCS#12", a.pin_stdin, lines)?;
            if a.pin_stdin || !std::io::stdin().is_terminal() {
                // one PIN line is enough from a script
            } else if secret("PIN again", false, lines)? != pin {
                return Err(CliError::Local("the PINs differ".into()));
            }
            TechCertBody {
                csr_pem: None,
                pin: Some(pin),
            }
        }
        _ => return Err(CliError::Local("give --csr FILE, or --generate".into())),
    };
    let issued: TechCertIssued = api.post(
        &format!(
            "/api/v1/admin/persons/{}/technological-certificate",
            a.person
        ),
        &body,
    )?;
    match &issued.pkcs12_base64 {
        Some(b64) => {
            let p12 = Base64::decode_vec(b64)
                .map_err(|e| CliError::Server(format!("bad PKCS#12 from the server: {e}")))?;
            write_private(&a.out, &p12)?;
        }
        None => std::fs::write(&a.out, issued.certificate_pem.as_bytes())?,
    }
    out.print(
        &json!({"serial": issued.serial, "written": a.out.display().to_string()}),
        &[],
    );
    Ok(())
}

fn request(c: RequestCommand, api: &Api, out: &Output) -> CliResult<()> {
    let v: Value = match c {
        RequestCommand::List { status } => api.get(&match status {
            Some(s) => format!("/api/v1/admin/requests?status={s}"),
            None => "/api/v1/admin/requests".into(),
        })?,
        RequestCommand::Show { id } => api.get(&format!("/api/v1/admin/requests/{id}"))?,
        RequestCommand::Act {
            id,
            out: file,
            html,
        } => return document(api, out, &format!("/api/v1/requests/{id}/act"), &file, html),
        RequestCommand::Approve { id } => {
            api.post(&format!("/api/v1/admin/requests/{id}/approve"), &json!({}))?
        }
        RequestCommand::Reject {
            id,
            reasons,
            comment,
        } => {
            for r in &reasons {
                if ca_core::Reason::from_code(r).is_none() {
                    let known: Vec<&str> = ca_core::Reason::ALL.iter().map(|r| r.code()).collect();
                    return Err(CliError::Local(format!(
                        "unknown reason code {r:?}; known: {}",
                        known.join(", ")
                    )));
                }
            }
            api.post(
                &format!("/api/v1/admin/requests/{id}/reject"),
                &RejectBody { reasons, comment },
            )?
        }
        RequestCommand::ConfirmAct { id, fingerprint } => api.post(
            &format!("/api/v1/admin/requests/{id}/confirm-act"),
            &ConfirmActBody { fingerprint },
        )?,
    };
    out.print(&v, REQUEST_COLUMNS);
    Ok(())
}

fn cert(c: CertCommand, api: &Api, out: &Output) -> CliResult<()> {
    let v: Value = match c {
        CertCommand::List { person, status } => {
            let mut q = Vec::new();
            if let Some(p) = person {
                q.push(format!("person={p}"));
            }
            if let Some(s) = status {
                q.push(format!("status={s}"));
            }
            api.get(&format!("/api/v1/admin/certificates?{}", q.join("&")))?
        }
        CertCommand::Show { serial } => api.get(&format!("/api/v1/admin/certificates/{serial}"))?,
        CertCommand::Copy {
            serial,
            out: file,
            html,
        } => {
            return document(
                api,
                out,
                &format!("/api/v1/certificates/{serial}/copy"),
                &file,
                html,
            )
        }
        CertCommand::Suspend {
            serial,
            days,
            document,
            person,
        } => api.post(
            &format!("/api/v1/admin/certificates/{serial}/suspend"),
            &SuspendBody {
                days,
                document,
                person_id: person,
            },
        )?,
        CertCommand::Resume {
            serial,
            document,
            person,
        } => api.post(
            &format!("/api/v1/admin/certificates/{serial}/resume"),
            &ResumeBody {
                document,
                person_id: person,
            },
        )?,
        CertCommand::Revoke {
            serial,
            reason,
            document,
            person,
        } => api.post(
            &format!("/api/v1/admin/certificates/{serial}/revoke"),
            &RevokeBody {
                reason,
                document,
                person_id: person,
            },
        )?,
    };
    out.print(&v, CERT_COLUMNS);
    Ok(())
}

fn crl(c: CrlCommand, api: &Api, out: &Output) -> CliResult<()> {
    match c {
        CrlCommand::Publish => {
            let v: Value = api.post("/api/v1/admin/crl", &json!({}))?;
            out.print(&v, &[]);
        }
        CrlCommand::Show => {
            let v: Value = api.get("/api/v1/admin/crl")?;
            out.print(&v, &[]);
        }
        CrlCommand::Fetch { out: path, pem } => {
            let bytes = api.get_bytes(
                "/api/v1/crl",
                if pem {
                    "application/x-pem-file"
                } else {
                    "application/pkix-crl"
                },
            )?;
            std::fs::write(&path, &bytes)?;
            out.print(
                &json!({"written": path.display().to_string(), "bytes": bytes.len()}),
                &[],
            );
        }
    }
    Ok(())
}

fn operator(
    c: OperatorCommand,
    api: &Api,
    out: &Output,
    lines: &mut Option<std::io::Lines<std::io::StdinLock<'static>>>,
) -> CliResult<()> {
    let v: Value = match c {
        OperatorCommand::Add {
            username,
            role,
            password_stdin,
        } => {
            let password = secret("first password", password_stdin, lines)?;
            api.post(
                "/api/v1/admin/operators",
                &NewOperator {
                    username,
                    role,
                    password,
                },
            )?
        }
        OperatorCommand::List => api.get("/api/v1/admin/operators")?,
        OperatorCommand::Disable { username } => api.post(
            &format!("/api/v1/admin/operators/{username}/disable"),
            &json!({}),
        )?,
        OperatorCommand::Unlock { username } => api.post(
            &format!("/api/v1/admin/operators/{username}/unlock"),
            &json!({}),
        )?,
    };
    out.print(
        &v,
        &[
            "username",
            "role",
            "locked",
            "disabled",
            "must_change_password",
        ],
    );
    Ok(())
}
