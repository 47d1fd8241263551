//! What can go wrong, and the exit code each maps to (SPEC §4 CLI):
//! 0 done, 1 refused by the CA, 2 usage or local error, 3 server or network.

use std::fmt;
use std::process::ExitCode;

use ca_core::Reason;

use crate::output::safe;

/// A failure of a command.
#[derive(Debug)]
pub enum CliError {
    /// The CA answered with a 4xx: it refused (reason codes, if any).
    Refused {
        /// HTTP status.
        status: u16,
        /// The error code.
        code: String,
        /// The server's message.
        message: String,
        /// All reason codes.
        reasons: Vec<String>,
    },
    /// Something on this side: a file, an argument, no login yet.
    Local(String),
    /// The server failed (5xx) or could not be reached.
    Server(String),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Refused { .. } => 1,
            CliError::Local(_) => 2,
            CliError::Server(_) => 3,
        })
    }
}

/// "code: plain-language meaning" for a reason code the CLI knows.
fn explain(code: &str) -> Option<String> {
    Reason::from_code(code).map(|r| format!("{code}: {}", r.meaning()))
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Refused {
                status,
                code,
                message,
                reasons,
            } => {
                let hint = match *status {
                    401 => " (run `ca-cli login`)",
                    403 if code == "password_change_required" => " (run `ca-cli passwd`)",
                    _ => "",
                };
                let (code, message) = (safe(code), safe(message));
                if reasons.is_empty() {
                    write!(f, "refused ({status}) {code}: {message}{hint}")
                } else {
                    write!(f, "refused ({status}):")?;
                    for r in reasons {
                        write!(f, "\n  {}", explain(r).unwrap_or_else(|| safe(r)))?;
                    }
                    f.write_str(hint)
                }
            }
            CliError::Local(m) => write!(f, "{}", safe(m)),
            CliError::Server(m) => write!(f, "server or network failure: {}", safe(m)),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Local(e.to_string())
    }
}

/// Result of a command.
pub type CliResult<T> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_explain_their_codes_and_map_to_exit_1() {
        let e = CliError::Refused {
            status: 422,
            code: "suspension_too_short".into(),
            message: "x".into(),
            reasons: vec!["suspension_too_short".into()],
        };
        assert_eq!(
            e.to_string(),
            "refused (422):\n  suspension_too_short: a suspension lasts at least 10 calendar days"
        );
        assert_eq!(e.exit_code(), ExitCode::from(1));
        assert_eq!(CliError::Local("x".into()).exit_code(), ExitCode::from(2));
        assert_eq!(CliError::Server("x".into()).exit_code(), ExitCode::from(3));
    }
}
