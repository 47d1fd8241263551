//! The core's one error type and the SPEC's reason codes.
//!
//! Which type to use where:
//! - [`Reason`] is a stable, machine-readable refusal code from SPEC §3. Client
//!   software and operators see it verbatim; never rename a variant's code.
//! - [`Error`] carries an [`ErrorKind`] (how the failure is to be treated: a
//!   malformed input, a policy refusal, a wrong state, a broken configuration…),
//!   the reason codes, and a human message. `ca-api` maps the kind to an HTTP
//!   status in exactly one place; `ca-cli` maps it to an exit code.

use std::fmt;

/// A stable refusal reason code (SPEC §3.2–3.6, §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// The body is not a CMS ContentInfo holding SignedData.
    MalformedCms,
    /// The encapsulated content is not a PKCS#10 request.
    MalformedCsr,
    /// The CMS signature does not verify.
    BadCmsSignature,
    /// The PKCS#10 self-signature (proof of possession) does not verify.
    BadCsrSignature,
    /// The signer is neither a certificate of this CA nor the requested key.
    UnknownSigner,
    /// BER that the encoding step cannot bring to DER.
    UnsupportedEncoding,
    /// The signing certificate is revoked, suspended, expired or not yet valid.
    SignerCertificateInvalid,
    /// The person's authority or the organisation's agreement was terminated.
    PersonNotActive,
    /// The power of attorney has expired (1.76.6).
    AuthorityExpired,
    /// An `initial_self_signed` request came after the registration window.
    RegistrationExpired,
    /// The request's data differs from the registration or current certificate.
    SubjectMismatch,
    /// Key algorithm or size not allowed by the profile, or a key whose
    /// private half may be known (see [`crate::goodkey`]).
    WeakKey,
    /// The public key was already certified.
    DuplicateKey,
    /// A suspension shorter than the policy minimum (10 calendar days).
    SuspensionTooShort,
    /// A suspension longer than the certificate's validity period.
    SuspensionTooLong,
    /// No certificate with that serial number.
    CertificateNotFound,
    /// The certificate is revoked (revocation is permanent).
    CertificateRevoked,
    /// The certificate does not belong to the person named.
    CertificateNotOwned,
    /// The certificate has expired.
    CertificateExpired,
    /// The certificate is not active (e.g. already suspended).
    CertificateNotActive,
    /// The certificate is not suspended, so it cannot be resumed.
    CertificateNotSuspended,
    /// The operator account is locked after wrong passwords (SPEC §5).
    AccountLocked,
    /// The operator account is disabled.
    AccountDisabled,
    /// The operator must change the password first (SPEC §5).
    PasswordChangeRequired,
    /// The key fingerprint read from the signed paper act is not the
    /// request's (1.77): the act belongs to another key.
    FingerprintMismatch,
}

impl Reason {
    /// Every reason, in declaration order (for docs, tests and the CLI's help).
    pub const ALL: [Reason; 25] = [
        Reason::MalformedCms,
        Reason::MalformedCsr,
        Reason::BadCmsSignature,
        Reason::BadCsrSignature,
        Reason::UnknownSigner,
        Reason::UnsupportedEncoding,
        Reason::SignerCertificateInvalid,
        Reason::PersonNotActive,
        Reason::AuthorityExpired,
        Reason::RegistrationExpired,
        Reason::SubjectMismatch,
        Reason::WeakKey,
        Reason::DuplicateKey,
        Reason::SuspensionTooShort,
        Reason::SuspensionTooLong,
        Reason::CertificateNotFound,
        Reason::CertificateRevoked,
        Reason::CertificateNotOwned,
        Reason::CertificateExpired,
        Reason::CertificateNotActive,
        Reason::CertificateNotSuspended,
        Reason::AccountLocked,
        Reason::AccountDisabled,
        Reason::PasswordChangeRequired,
        Reason::FingerprintMismatch,
    ];

    /// The wire code, as written in SPEC §3.
    pub fn code(self) -> &'static str {
        match self {
            Reason::MalformedCms => "malformed_cms",
            Reason::MalformedCsr => "malformed_csr",
            Reason::BadCmsSignature => "bad_cms_signature",
            Reason::BadCsrSignature => "bad_csr_signature",
            Reason::UnknownSigner => "unknown_signer",
            Reason::UnsupportedEncoding => "unsupported_encoding",
            Reason::SignerCertificateInvalid => "signer_certificate_invalid",
            Reason::PersonNotActive => "person_not_active",
            Reason::AuthorityExpired => "authority_expired",
            Reason::RegistrationExpired => "registration_expired",
            Reason::SubjectMismatch => "subject_mismatch",
            Reason::WeakKey => "weak_key",
            Reason::DuplicateKey => "duplicate_key",
            Reason::SuspensionTooShort => "suspension_too_short",
            Reason::SuspensionTooLong => "suspension_too_long",
            Reason::CertificateNotFound => "certificate_not_found",
            Reason::CertificateRevoked => "certificate_revoked",
            Reason::CertificateNotOwned => "certificate_not_owned",
            Reason::CertificateExpired => "certificate_expired",
            Reason::CertificateNotActive => "certificate_not_active",
            Reason::CertificateNotSuspended => "certificate_not_suspended",
            Reason::AccountLocked => "account_locked",
            Reason::AccountDisabled => "account_disabled",
            Reason::PasswordChangeRequired => "password_change_required",
            Reason::FingerprintMismatch => "fingerprint_mismatch",
        }
    }

    /// The plain-language meaning, for operators and the person notified.
    pub fn meaning(self) -> &'static str {
        match self {
            Reason::MalformedCms => "the request is not a CMS SignedData envelope",
            Reason::MalformedCsr => "the envelope does not contain a PKCS#10 certificate request",
            Reason::BadCmsSignature => "the signature on the envelope does not verify",
            Reason::BadCsrSignature => {
                "the certificate request's own signature (proof of possession) does not verify"
            }
            Reason::UnknownSigner => {
                "the envelope is signed neither by a certificate of this CA nor by the requested key"
            }
            Reason::UnsupportedEncoding => "the BER encoding cannot be converted to DER",
            Reason::SignerCertificateInvalid => {
                "the signing certificate is revoked, suspended, expired or not yet valid"
            }
            Reason::PersonNotActive => {
                "the person's authority or the organisation's agreement has been terminated"
            }
            Reason::AuthorityExpired => "the power of attorney has expired",
            Reason::RegistrationExpired => {
                "the request came after the registration window had closed"
            }
            Reason::SubjectMismatch => {
                "the request's subject or extensions differ from the registration or the current certificate"
            }
            Reason::WeakKey => {
                "the key algorithm or size is not allowed by the certificate profile, or the key is weak (its private key may be computable)"
            }
            Reason::DuplicateKey => "this public key has already been certified",
            Reason::SuspensionTooShort => "a suspension lasts at least 10 calendar days",
            Reason::SuspensionTooLong => {
                "a suspension may not be longer than the certificate's validity period"
            }
            Reason::CertificateNotFound => "no certificate with this serial number",
            Reason::CertificateRevoked => "the certificate is revoked; revocation is permanent",
            Reason::CertificateNotOwned => "the certificate does not belong to this person",
            Reason::CertificateExpired => "the certificate has expired",
            Reason::CertificateNotActive => "the certificate is not active (already suspended)",
            Reason::CertificateNotSuspended => "the certificate is not suspended",
            Reason::AccountLocked => {
                "the operator account is locked after wrong passwords; an admin can unlock it"
            }
            Reason::AccountDisabled => "the operator account is disabled",
            Reason::PasswordChangeRequired => "the operator must change the password first",
            Reason::FingerprintMismatch => {
                "the key fingerprint on the signed act is not the request's key"
            }
        }
    }

    /// The meaning in Russian, for the letter a person receives and the
    /// documents the registration desk prints (003 1.77.2: the refusal is
    /// notified with its reasons).
    pub fn meaning_ru(self) -> &'static str {
        match self {
            Reason::MalformedCms => "запрос не является сообщением CMS SignedData",
            Reason::MalformedCsr => "сообщение не содержит запроса на сертификат PKCS#10",
            Reason::BadCmsSignature => "электронная подпись под сообщением неверна",
            Reason::BadCsrSignature => {
                "подпись запроса на сертификат (подтверждение владения ключом) неверна"
            }
            Reason::UnknownSigner => {
                "сообщение подписано не сертификатом этого удостоверяющего центра и не запрашиваемым ключом"
            }
            Reason::UnsupportedEncoding => "кодировку BER не удалось преобразовать в DER",
            Reason::SignerCertificateInvalid => {
                "сертификат, которым подписан запрос, отозван, приостановлен, истёк или ещё не действует"
            }
            Reason::PersonNotActive => {
                "полномочия уполномоченного лица или договор с организацией прекращены"
            }
            Reason::AuthorityExpired => "срок действия доверенности истёк",
            Reason::RegistrationExpired => "запрос поступил после окончания срока регистрации",
            Reason::SubjectMismatch => {
                "данные владельца или расширения в запросе не совпадают с регистрационными данными или с действующим сертификатом"
            }
            Reason::WeakKey => {
                "алгоритм или длина ключа не допускаются профилем сертификата, либо ключ слабый (закрытый ключ может быть вычислен)"
            }
            Reason::DuplicateKey => "на этот ключ проверки подписи уже выдавался сертификат",
            Reason::SuspensionTooShort => {
                "срок приостановления действия сертификата — не менее 10 календарных дней"
            }
            Reason::SuspensionTooLong => {
                "срок приостановления не может превышать срок действия сертификата"
            }
            Reason::CertificateNotFound => "сертификат с таким серийным номером не найден",
            Reason::CertificateRevoked => "сертификат отозван; отзыв окончателен",
            Reason::CertificateNotOwned => "сертификат принадлежит другому лицу",
            Reason::CertificateExpired => "срок действия сертификата истёк",
            Reason::CertificateNotActive => "сертификат не действует (уже приостановлен)",
            Reason::CertificateNotSuspended => "действие сертификата не приостановлено",
            Reason::AccountLocked => {
                "учётная запись оператора заблокирована после неверных паролей"
            }
            Reason::AccountDisabled => "учётная запись оператора отключена",
            Reason::PasswordChangeRequired => "оператор должен сначала сменить пароль",
            Reason::FingerprintMismatch => {
                "отпечаток ключа в подписанном акте не совпадает с ключом запроса"
            }
        }
    }

    /// Structural reasons refuse the input itself (HTTP 400, no request recorded);
    /// the others are policy refusals recorded against a request.
    pub fn is_structural(self) -> bool {
        matches!(
            self,
            Reason::MalformedCms
                | Reason::MalformedCsr
                | Reason::BadCmsSignature
                | Reason::BadCsrSignature
                | Reason::UnknownSigner
                | Reason::UnsupportedEncoding
        )
    }

    /// Parses a wire code back into a reason.
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How a failure is to be treated by whoever called the core. Deliberately
/// exhaustive: the server and the CLI map every kind in one `match`, and a
/// new kind must make them decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input cannot be read (structural reason codes).
    Malformed,
    /// The input was read and refused by a rule (policy reason codes).
    Refused,
    /// The thing named does not exist.
    NotFound,
    /// The thing exists but is in the wrong state for the action.
    WrongState,
    /// A policy file or setting is invalid.
    Config,
    /// The CA key store cannot be created, read or used.
    KeyStore,
    /// Not logged in, or the session is over.
    Unauthenticated,
    /// Logged in, but the role does not allow the action.
    Forbidden,
    /// The database or another needed service cannot be reached; try again.
    Unavailable,
    /// The CA key cannot be used now (its token is away, the PIN is
    /// refused, the key is missing); nothing was signed. Try again later.
    SignerUnavailable,
    /// The database cannot be reached or cannot take writes now (disk full,
    /// read-only file system, I/O error, connection lost, restarting);
    /// nothing was half-written. Try again later.
    StorageUnavailable,
    /// A failure that is not the caller's fault (encoding our own output, signing).
    Internal,
}

/// The core's error: a kind, zero or more reason codes, and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    reasons: Vec<Reason>,
    message: String,
    /// The refusal is in the audit trail already (SPEC §5: recorded once).
    recorded: bool,
}

impl Error {
    /// An error of `kind` with a message and no reason code.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            reasons: Vec::new(),
            message: message.into(),
            recorded: false,
        }
    }

    /// A refusal for one reason; the kind follows from the reason.
    pub fn reason(reason: Reason, detail: impl Into<String>) -> Self {
        Error::reasons(vec![reason], detail)
    }

    /// A refusal for several reasons (all policy checks are reported at once).
    pub fn reasons(reasons: Vec<Reason>, detail: impl Into<String>) -> Self {
        let kind = if reasons.iter().all(|r| r.is_structural()) && !reasons.is_empty() {
            ErrorKind::Malformed
        } else {
            ErrorKind::Refused
        };
        Error {
            kind,
            reasons,
            message: detail.into(),
            recorded: false,
        }
    }

    /// A configuration error naming the file and the field.
    pub fn config(file: &str, field: &str, message: impl fmt::Display) -> Self {
        let location = if field.is_empty() {
            file.to_string()
        } else {
            format!("{file}: {field}")
        };
        Error::new(ErrorKind::Config, format!("{location}: {message}"))
    }

    /// A key store error.
    pub fn key_store(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::KeyStore, message)
    }

    /// The thing named does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }

    /// The thing is in the wrong state for the action.
    pub fn wrong_state(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::WrongState, message)
    }

    /// An input that is not acceptable as given (bad field values).
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Malformed, message)
    }

    /// The database cannot be used now (503 `storage_unavailable`).
    pub fn storage_unavailable(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::StorageUnavailable, message)
    }

    /// The CA key's token cannot sign now (SPEC §4: 503 `signer_unavailable`).
    pub fn signer_unavailable(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::SignerUnavailable, message)
    }

    /// An internal error (our own encoding or signing failed).
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    /// The same error, with these reason codes.
    pub fn with_reasons(mut self, reasons: &[Reason]) -> Self {
        self.reasons = reasons.to_vec();
        self
    }

    /// How to treat this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// A refusal of the caller's request (bad input, a rule, a wrong state,
    /// no permission), as opposed to a failure of ours. Every refusal goes
    /// to the audit trail (SPEC §3, §5).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Malformed
                | ErrorKind::Refused
                | ErrorKind::NotFound
                | ErrorKind::WrongState
                | ErrorKind::Unauthenticated
                | ErrorKind::Forbidden
        )
    }

    /// Marks the refusal as written to the audit trail.
    pub fn recorded(mut self) -> Self {
        self.recorded = true;
        self
    }

    /// Whether the refusal is in the audit trail already.
    pub fn is_recorded(&self) -> bool {
        self.recorded
    }

    /// The reason codes, possibly empty.
    pub fn reason_codes(&self) -> &[Reason] {
        &self.reasons
    }

    /// The message for people, without the reason codes.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when `reason` is among this error's reasons.
    pub fn has(&self, reason: Reason) -> bool {
        self.reasons.contains(&reason)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.reasons.iter().enumerate() {
            f.write_str(if i == 0 { "" } else { ", " })?;
            f.write_str(r.code())?;
        }
        if !self.reasons.is_empty() {
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Result with the core's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.code()), "duplicate code {}", r.code());
            assert_eq!(Reason::from_code(r.code()), Some(r));
            assert!(!r.meaning().is_empty());
        }
        assert_eq!(Reason::from_code("no_such_code"), None);
    }

    #[test]
    fn display_names_codes_then_message() {
        let e = Error::reasons(
            vec![Reason::AuthorityExpired, Reason::WeakKey],
            "two rules failed",
        );
        assert_eq!(
            e.to_string(),
            "authority_expired, weak_key: two rules failed"
        );
        assert_eq!(e.kind(), ErrorKind::Refused);
        let e = Error::reason(Reason::MalformedCms, "not CMS");
        assert_eq!(e.kind(), ErrorKind::Malformed);
        assert_eq!(
            Error::config("ca.toml", "crl.period_hours", "must be positive").to_string(),
            "ca.toml: crl.period_hours: must be positive"
        );
    }
}
