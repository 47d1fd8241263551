//! Command-line syntax: raw flags, parsed by clap; validation happens in
//! the commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Operator CLI of the Client-Bank certification authority.
///
/// A thin client of the server's operator API. Log in first; the session
/// token is kept in a file only you can read.
#[derive(Debug, Parser)]
#[command(
    name = "ca-cli",
    version,
    after_help = "Examples:\n  ca-cli login --username admin\n  ca-cli request list --status pending\n  ca-cli cert suspend 5f1c… --days 10 --document 'Заявление 17'\n\nExit codes: 0 done, 1 refused by the CA (reason printed), 2 usage or local error, 3 server or network failure."
)]
pub struct Cli {
    /// The CA server.
    #[arg(
        long,
        env = "CA_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,

    /// Print the server's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// Print only this field of the answer (for scripts), e.g. `--field id`.
    #[arg(long, global = true, value_name = "NAME")]
    pub field: Option<String>,

    /// Where the session token is kept (default: ~/.config/ca-cli/token).
    #[arg(long, env = "CA_CLI_TOKEN_FILE", global = true)]
    pub token_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in and keep the session token.
    #[command(
        after_help = "Examples:\n  ca-cli login --username registrar1\n  printf '%s\\n' \"$PASS\" | ca-cli login --username admin --password-stdin"
    )]
    Login {
        /// Operator name.
        #[arg(long, short)]
        username: String,
        /// Read the password from standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Forget the session token.
    Logout,
    /// Change your password (required at first login and every 50 days).
    #[command(
        after_help = "Examples:\n  ca-cli passwd\n  printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | ca-cli passwd --password-stdin"
    )]
    Passwd {
        /// Read the old and the new password, one per line, from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Client organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Authorised persons.
    #[command(subcommand)]
    Person(PersonCommand),
    /// Issue a technological certificate for a person.
    #[command(
        name = "tech-cert",
        after_help = "Examples:\n  ca-cli tech-cert 7ac3… --csr person.csr --out tech.pem\n  printf '%s\\n' \"$PIN\" | ca-cli tech-cert 7ac3… --generate --pin-stdin --out tech.p12"
    )]
    TechCert(TechCertArgs),
    /// Certificate requests.
    #[command(subcommand)]
    Request(RequestCommand),
    /// Certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Certificate revocation lists.
    #[command(subcommand)]
    Crl(CrlCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Pending items with their due times, overdue first.
    #[command(after_help = "Example:\n  ca-cli due")]
    Due,
    /// Operators and roles (admin).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Notifications: letters and webhook posts (admin, auditor).
    #[command(subcommand)]
    Outbox(OutboxCommand),
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// What was sent, what waits and what keeps failing, newest first.
    #[command(
        after_help = "Examples:\n  ca-cli outbox list\n  ca-cli outbox list --status failing"
    )]
    List {
        /// sent, pending or failing.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Register an organisation.
    #[command(
        after_help = "Example:\n  ca-cli org register --name 'ООО Ромашка' --inn 7701234567 --ogrn 1027700132195 --agreement КБ-17"
    )]
    Register {
        #[arg(long)]
        name: String,
        /// ИНН, 10 digits.
        #[arg(long)]
        inn: String,
        /// ОГРН, 13 digits.
        #[arg(long)]
        ogrn: String,
        /// The Client-Bank agreement number.
        #[arg(long)]
        agreement: String,
        /// Where notifications for its persons are posted.
        #[arg(long)]
        webhook: Option<String>,
        /// The organisation's e-mail address: a copy of every letter to its persons.
        #[arg(long)]
        contact_email: Option<String>,
    },
    /// List organisations.
    #[command(after_help = "Example:\n  ca-cli org list")]
    List,
    /// Show one organisation.
    #[command(after_help = "Example:\n  ca-cli org show 3f2a…")]
    Show { id: String },
    /// The agreement ended: revoke all certificates of all its persons.
    #[command(
        after_help = "Example:\n  ca-cli org terminate 3f2a… --document 'Соглашение о расторжении 5'"
    )]
    Terminate {
        id: String,
        #[arg(long)]
        document: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PersonCommand {
    /// Register an authorised person; prints the subject requests must carry.
    #[command(
        after_help = "Example:\n  ca-cli person register --org 3f2a… --name 'Иванов Иван Иванович' --position 'Генеральный директор' \\\n    --email ivanov@example.ru --authority-document 'Доверенность 12' --authority-until 2027-06-30"
    )]
    Register {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        position: String,
        #[arg(long)]
        email: String,
        /// Power of attorney number.
        #[arg(long)]
        authority_document: String,
        /// Power of attorney end: a date (end of that day, UTC) or RFC 3339.
        #[arg(long)]
        authority_until: String,
    },
    /// List persons.
    #[command(after_help = "Example:\n  ca-cli person list --org 3f2a…")]
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Show one person.
    #[command(after_help = "Example:\n  ca-cli person show 7ac3…")]
    Show { id: String },
    /// Extend or replace the power of attorney.
    #[command(
        after_help = "Example:\n  ca-cli person extend 7ac3… --document 'Доверенность 15' --until 2028-01-31"
    )]
    Extend {
        id: String,
        #[arg(long)]
        document: String,
        #[arg(long)]
        until: String,
    },
    /// The authority ended: revoke all the person's certificates.
    #[command(after_help = "Example:\n  ca-cli person terminate 7ac3… --document 'Приказ 9'")]
    Terminate {
        id: String,
        #[arg(long)]
        document: String,
    },
}

#[derive(Debug, Args)]
pub struct TechCertArgs {
    /// The person.
    pub person: String,
    /// The person's PKCS#10 (PEM or DER file).
    #[arg(long, conflicts_with = "generate")]
    pub csr: Option<PathBuf>,
    /// Generate the key here and hand it over in a PIN-protected PKCS#12.
    #[arg(long)]
    pub generate: bool,
    /// Read the PIN from standard input instead of a prompt.
    #[arg(long, requires = "generate")]
    pub pin_stdin: bool,
    /// Write the certificate (PEM), or with --generate the PKCS#12, here.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// List requests with their due times.
    #[command(after_help = "Example:\n  ca-cli request list --status pending")]
    List {
        /// pending_act, pending, rejected or issued.
        #[arg(long)]
        status: Option<String>,
    },
    /// Show one request.
    #[command(after_help = "Example:\n  ca-cli request show 91be…")]
    Show { id: String },
    /// Approve: the certificate is issued.
    #[command(after_help = "Example:\n  ca-cli request approve 91be…")]
    Approve { id: String },
    /// Reject with reason codes and a comment for the person.
    #[command(
        after_help = "Example:\n  ca-cli request reject 91be… --reason subject_mismatch --comment 'должность не совпадает'"
    )]
    Reject {
        id: String,
        /// A reason code (repeat for several).
        #[arg(long = "reason", required = true)]
        reasons: Vec<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Save the printable acceptance act (PDF, or HTML with --html) for the
    /// person to sign.
    #[command(after_help = "Example:\n  ca-cli request act 91be… --out act.pdf")]
    Act {
        id: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// HTML instead of PDF.
        #[arg(long)]
        html: bool,
    },
    /// The signed paper acceptance act is in (initial_self_signed requests).
    #[command(
        name = "confirm-act",
        after_help = "Example:\n  ca-cli request confirm-act 91be… --fingerprint '3f:a1:…'\n\nThe fingerprint is the key's SHA-256 as printed on the act the person signed; a different one is refused (fingerprint_mismatch) and the request keeps waiting."
    )]
    ConfirmAct {
        id: String,
        /// The key's SHA-256 fingerprint read from the signed act.
        #[arg(long)]
        fingerprint: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// List certificates.
    #[command(after_help = "Example:\n  ca-cli cert list --person 7ac3… --status active")]
    List {
        #[arg(long)]
        person: Option<String>,
        /// active, suspended, revoked or expired.
        #[arg(long)]
        status: Option<String>,
    },
    /// Show one certificate.
    #[command(after_help = "Example:\n  ca-cli cert show 5f1c…")]
    Show { serial: String },
    /// Save the printable paper copy of a certificate (PDF, or HTML with
    /// --html) for its owner to sign.
    #[command(after_help = "Example:\n  ca-cli cert copy 5f1c… --out copy.pdf")]
    Copy {
        serial: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// HTML instead of PDF.
        #[arg(long)]
        html: bool,
    },
    /// Suspend for N calendar days (at least 10) on a paper application.
    #[command(
        after_help = "Example:\n  ca-cli cert suspend 5f1c… --days 10 --document 'Заявление 17'"
    )]
    Suspend {
        serial: String,
        #[arg(long)]
        days: i64,
        #[arg(long)]
        document: String,
        /// The applicant, when the application names a person.
        #[arg(long)]
        person: Option<String>,
    },
    /// Resume a suspended certificate.
    #[command(after_help = "Example:\n  ca-cli cert resume 5f1c… --document 'Заявление 18'")]
    Resume {
        serial: String,
        #[arg(long)]
        document: String,
        #[arg(long)]
        person: Option<String>,
    },
    /// Revoke (permanent).
    #[command(
        after_help = "Example:\n  ca-cli cert revoke 5f1c… --reason keyCompromise --document 'Заявление 19'\n\nReasons (RFC 5280 name or API code): unspecified, keyCompromise (key_compromise), affiliationChanged (affiliation_changed), superseded, cessationOfOperation (cessation_of_operation), privilegeWithdrawn (privilege_withdrawn). keyCompromise also revokes every certificate issued on a rotation the key signed."
    )]
    Revoke {
        serial: String,
        /// Why: an RFC 5280 reason name or its API code (see below).
        #[arg(long, value_parser = revocation_reason)]
        reason: String,
        #[arg(long)]
        document: String,
        #[arg(long)]
        person: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CrlCommand {
    /// Publish a CRL now.
    #[command(after_help = "Example:\n  ca-cli crl publish")]
    Publish,
    /// Show the current CRL's number and times.
    #[command(after_help = "Example:\n  ca-cli crl show")]
    Show,
    /// Fetch the current CRL to a file (DER, or PEM with --pem).
    #[command(after_help = "Example:\n  ca-cli crl fetch --out ca.crl")]
    Fetch {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        pem: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit records, oldest first.
    #[command(after_help = "Example:\n  ca-cli audit list --after 100 --limit 50")]
    List {
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Check the hash chain and every signed checkpoint of its head; a
    /// trail cut short below a checkpoint is reported.
    #[command(after_help = "Example:\n  ca-cli audit verify")]
    Verify,
    /// List the signed checkpoints; with --out, write each as
    /// checkpoint-N.txt and .sig with the CA certificate, to keep elsewhere
    /// and verify with openssl.
    #[command(
        after_help = "Example:\n  ca-cli audit checkpoints --out /media/archive/ca-audit\n  cd /media/archive/ca-audit\n  openssl x509 -in ca.pem -pubkey -noout > ca.pub\n  openssl dgst -sha256 -verify ca.pub -signature checkpoint-1200.sig checkpoint-1200.txt"
    )]
    Checkpoints {
        /// A directory to write the files to.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Add an operator (they must change the password at first login).
    #[command(after_help = "Example:\n  ca-cli operator add --username desk1 --role registrar")]
    Add {
        #[arg(long)]
        username: String,
        /// admin, registrar or auditor.
        #[arg(long)]
        role: String,
        /// Read the first password from standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List operators.
    #[command(after_help = "Example:\n  ca-cli operator list")]
    List,
    /// Disable an operator.
    #[command(after_help = "Example:\n  ca-cli operator disable desk1")]
    Disable { username: String },
    /// Unlock an operator locked after wrong passwords.
    #[command(after_help = "Example:\n  ca-cli operator unlock desk1")]
    Unlock { username: String },
}

/// An operator's revocation reason, by its RFC 5280 name (`keyCompromise`)
/// or the API's code (`key_compromise`), as the API's code. Anything else
/// is a usage error (exit 2) before the server is asked.
pub fn revocation_reason(text: &str) -> Result<String, String> {
    let folded: String = text
        .chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .collect::<String>()
        .to_lowercase();
    let choices = ca_core::crl::RevocationReason::OPERATOR_CHOICES;
    choices
        .iter()
        .find(|r| r.code().replace('_', "") == folded)
        .map(|r| r.code().to_string())
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|r| r.code()).collect();
            format!("unknown reason; one of {}", names.join(", "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_reasons_by_rfc_name_or_code() {
        for (given, code) in [
            ("keyCompromise", "key_compromise"),
            ("key_compromise", "key_compromise"),
            ("KeyCompromise", "key_compromise"),
            ("cessationOfOperation", "cessation_of_operation"),
            ("affiliationChanged", "affiliation_changed"),
            ("privilegeWithdrawn", "privilege_withdrawn"),
            ("superseded", "superseded"),
            ("unspecified", "unspecified"),
        ] {
            assert_eq!(revocation_reason(given).as_deref(), Ok(code), "{given}");
        }
        // Not an operator's choice, or not a reason at all.
        for bad in [
            "certificateHold",
            "removeFromCRL",
            "cACompromise",
            "stolen",
            "",
        ] {
            assert!(revocation_reason(bad).is_err(), "{bad}");
        }
    }
}
