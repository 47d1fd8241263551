//! The rule book (SPEC §3.2–3.6): each check is a small function returning
//! the reason code it enforces, so the SPEC's refusal lists can be ticked off
//! against this file. All checks of a request run, and every failing reason
//! is reported at once.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use der::asn1::ObjectIdentifier;
use der::Decode;
use flagset::FlagSet;
use x509_cert::ext::pkix::{CertificatePolicies, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::ext::Extension;
use x509_cert::Certificate;

use crate::crl::RevocationReason;
use crate::csr::CertificationRequest;
use crate::error::{Error, Reason};
use crate::lifecycle::{transition, Event};
use crate::oids;
use crate::policy::{Profile, ProfileKind, Profiles, RotationExtensions, Rules};
use crate::records::{CertificateRecord, CertificateStatus, PersonRecord};
use crate::request_type::RequestType;
use crate::subject::names_match;

/// The certificate that signed a request, when it is one of ours.
#[derive(Clone, Copy, Debug)]
pub struct SignerFacts<'a> {
    /// Its stored state.
    pub record: &'a CertificateRecord,
    /// The certificate itself (subject and extensions for rotation).
    pub certificate: &'a Certificate,
    /// A certificate was already issued (or reserved) on a rotation this
    /// certificate's key signed (SPEC §3.8).
    pub has_successor: bool,
}

/// Everything the policy checks of one request look at.
#[derive(Clone, Copy, Debug)]
pub struct RequestContext<'a> {
    /// The time of receipt.
    pub now: DateTime<Utc>,
    /// Decided from the signer.
    pub request_type: RequestType,
    /// The verified PKCS#10.
    pub csr: &'a CertificationRequest,
    /// The person the request is for; `None` when nobody matches.
    pub person: Option<&'a PersonRecord>,
    /// The signing certificate (initial and rotation).
    pub signer: Option<SignerFacts<'a>>,
    /// The profile the new certificate would be issued under.
    pub profile: &'a Profile,
    /// The key is already in a certificate of this CA.
    pub key_already_certified: bool,
    /// Registration window and other rules.
    pub rules: &'a Rules,
}

/// Runs every policy check; an empty list means the request is acceptable.
pub fn check_request(ctx: &RequestContext<'_>) -> Vec<Reason> {
    let checks: [fn(&RequestContext<'_>) -> Option<Reason>; 8] = [
        signer_certificate_is_valid,
        signer_belongs_to_person,
        person_is_active,
        authority_is_current,
        registration_window_is_open,
        request_matches_registration,
        key_is_allowed,
        key_is_new,
    ];
    let mut reasons: Vec<Reason> = Vec::new();
    for reason in checks.iter().filter_map(|check| check(ctx)) {
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    reasons
}

/// `signer_certificate_invalid`: the signing certificate is revoked,
/// suspended, expired or not yet valid (1.76.6, 1.81).
fn signer_certificate_is_valid(ctx: &RequestContext<'_>) -> Option<Reason> {
    let signer = ctx.signer?;
    (!signer_usable(signer.record, ctx.now)).then_some(Reason::SignerCertificateInvalid)
}

/// Active and within its validity period: the one definition of a signing
/// certificate that may still speak for its owner.
fn signer_usable(record: &CertificateRecord, now: DateTime<Utc>) -> bool {
    record.status == CertificateStatus::Active && record.is_within_validity(now)
}

/// `person_not_active`: a signing certificate speaks only for its own
/// owner; a request for anyone else is refused as for an unknown person.
fn signer_belongs_to_person(ctx: &RequestContext<'_>) -> Option<Reason> {
    let (signer, person) = (ctx.signer?, ctx.person?);
    (signer.record.person_id != person.id).then_some(Reason::PersonNotActive)
}

/// `person_not_active`: unknown person, authority terminated, or the
/// organisation's agreement terminated.
fn person_is_active(ctx: &RequestContext<'_>) -> Option<Reason> {
    let authorised = ctx.person.is_some_and(PersonRecord::is_authorised);
    (!authorised).then_some(Reason::PersonNotActive)
}

/// `authority_expired`: the power of attorney has ended (1.76.6).
fn authority_is_current(ctx: &RequestContext<'_>) -> Option<Reason> {
    let person = ctx.person?;
    (ctx.now > person.authority_valid_until).then_some(Reason::AuthorityExpired)
}

/// `registration_expired`: an `initial_self_signed` request after the
/// registration window (001_*.txt; default 30 days).
fn registration_window_is_open(ctx: &RequestContext<'_>) -> Option<Reason> {
    if ctx.request_type != RequestType::InitialSelfSigned {
        return None;
    }
    let person = ctx.person?;
    let closes = person.registered_at + Duration::days(ctx.rules.registration_window_days.into());
    (ctx.now > closes).then_some(Reason::RegistrationExpired)
}

/// `subject_mismatch`: initial requests must carry the registration's
/// subject and the profile's KU/EKU/policies; rotation requests those of the
/// signing certificate (1.76.6, 1.81.5). [`subject_differences`] says what
/// differs.
fn request_matches_registration(ctx: &RequestContext<'_>) -> Option<Reason> {
    (!subject_differences(ctx).is_empty()).then_some(Reason::SubjectMismatch)
}

/// What keeps a request from `subject_mismatch`'s agreement, one entry per
/// difference (`"subject differs"`, `"key_usage missing"`, …), for the
/// audit trail and the person's notification.
///
/// An initial request may leave an extension out: the certificate then
/// carries the profile's. What it does carry must be exactly the profile's:
/// a superset asks for more than the profile grants, and a subset is
/// refused too, because the certificate is built from the profile and
/// would carry usages, purposes or policies the requester did not ask for.
/// A rotation request must repeat the signing certificate's subject, KU,
/// EKU and policies (1.81.5), unless the profile's `rotation_extensions`
/// is `lenient`, when a missing one is taken from that certificate.
pub fn subject_differences(ctx: &RequestContext<'_>) -> Vec<String> {
    let requested = match ctx.csr.requested_extensions() {
        Ok(exts) => ExtensionSummary::from_extensions(&exts),
        Err(_) => return vec!["extension request unreadable".into()],
    };
    let subject = &ctx.csr.request.info.subject;
    let (subject_agrees, reference, strict) = match (ctx.request_type, ctx.signer) {
        (RequestType::Rotation, Some(signer)) => {
            let current = &signer.certificate.tbs_certificate;
            (
                names_match(subject, &current.subject),
                ExtensionSummary::from_extensions(
                    current.extensions.as_deref().unwrap_or_default(),
                ),
                ctx.profile.rotation_extensions == RotationExtensions::Strict,
            )
        }
        _ => {
            // An unknown person is person_not_active's refusal, not this one.
            let Some(person) = ctx.person else {
                return vec![];
            };
            let agrees = person
                .subject
                .to_name()
                .is_ok_and(|expected| names_match(subject, &expected));
            (agrees, ExtensionSummary::from_profile(ctx.profile), false)
        }
    };
    let mut differences = Vec::new();
    if !subject_agrees {
        differences.push("subject differs".to_string());
    }
    compare(
        "key_usage",
        &requested.key_usage,
        &reference.key_usage,
        strict,
        &mut differences,
    );
    compare(
        "extended_key_usage",
        &requested.eku,
        &reference.eku,
        strict,
        &mut differences,
    );
    compare(
        "certificate_policies",
        &requested.policies,
        &reference.policies,
        strict,
        &mut differences,
    );
    differences
}

/// One extension of a request against its reference: asked for and
/// different, or (when `required`) left out although the reference has it.
fn compare<T: PartialEq>(
    name: &str,
    asked: &Option<T>,
    reference: &Option<T>,
    required: bool,
    differences: &mut Vec<String>,
) {
    match asked {
        None if required && reference.is_some() => differences.push(format!("{name} missing")),
        Some(a) if reference.as_ref() != Some(a) => differences.push(format!("{name} differs")),
        _ => {}
    }
}

/// The reasons an anonymous `initial_self_signed` request may be told at
/// once, and those held back until an operator confirms its paper act: a
/// refusal for an unknown or terminated person, an expired power of
/// attorney or registration, or a subject that differs would tell anyone
/// whether a subject is a registered, authorised person (issue 9 defect
/// 12). Other request types are signed by a certificate of ours and are
/// told everything.
pub fn disclosed_reasons(
    request_type: RequestType,
    reasons: Vec<Reason>,
) -> (Vec<Reason>, Vec<Reason>) {
    if request_type != RequestType::InitialSelfSigned {
        return (reasons, Vec::new());
    }
    reasons.into_iter().partition(|r| {
        !matches!(
            r,
            Reason::PersonNotActive
                | Reason::AuthorityExpired
                | Reason::RegistrationExpired
                | Reason::SubjectMismatch
        )
    })
}

/// `fingerprint_mismatch` unless `read` (the key fingerprint an operator
/// read from the signed paper act: hex, any case, colons or spaces allowed)
/// is the request's key's SHA-256 (1.77).
pub fn check_act_fingerprint(read: &str, key_sha256: &str) -> Result<(), Error> {
    let digits: String = read
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect::<String>()
        .to_ascii_lowercase();
    if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            "fingerprint: the 64 hex digits of the key's SHA-256 as printed on the act",
        ));
    }
    if digits != key_sha256 {
        return Err(Error::reason(
            Reason::FingerprintMismatch,
            "the fingerprint on the act is not this request's key; the request still waits",
        ));
    }
    Ok(())
}

/// Whether an acceptable request is issued without an operator (SPEC
/// §3.3, §3.8): the profile auto-approves its type and, for a rotation, the
/// signing certificate's renewal window is open and it has no successor
/// yet. `Err` says why the request waits for an operator instead.
pub fn auto_approval(ctx: &RequestContext<'_>) -> Result<(), &'static str> {
    if !ctx.profile.auto_approves(ctx.request_type) {
        return Err("the profile does not issue this request type without an operator");
    }
    if ctx.request_type == RequestType::Rotation {
        let Some(signer) = ctx.signer else {
            return Err("a rotation needs its signing certificate");
        };
        let record = signer.record;
        if ctx.now
            < ctx
                .profile
                .renewal_opens(record.not_before, record.not_after)
        {
            return Err("the signing certificate's renewal window has not opened");
        }
        if signer.has_successor {
            return Err("the signing certificate already has a successor");
        }
    }
    Ok(())
}

/// `weak_key`: the key's algorithm or size is not allowed by the profile, or
/// it fails a key-quality check of [`crate::goodkey`] (SPEC §3.2). The
/// message naming the check is [`Profile::check_public_key`]'s error.
fn key_is_allowed(ctx: &RequestContext<'_>) -> Option<Reason> {
    ctx.profile
        .check_public_key(&ctx.csr.key)
        .err()
        .map(|_| Reason::WeakKey)
}

/// `duplicate_key`: the key has been certified before.
fn key_is_new(ctx: &RequestContext<'_>) -> Option<Reason> {
    ctx.key_already_certified.then_some(Reason::DuplicateKey)
}

/// The profile a new certificate is issued under: a rotation keeps the
/// signer's profile; an initial request gets the profile whose identifying
/// policy OID it asks for, else the working profile.
pub fn target_profile(
    request_type: RequestType,
    signer_profile: Option<ProfileKind>,
    csr: &CertificationRequest,
    profiles: &Profiles,
) -> ProfileKind {
    if request_type == RequestType::Rotation {
        if let Some(kind) = signer_profile {
            return kind;
        }
    }
    let asked = csr
        .requested_extensions()
        .map(|e| {
            ExtensionSummary::from_extensions(&e)
                .policies
                .unwrap_or_default()
        })
        .unwrap_or_default();
    [ProfileKind::Additional, ProfileKind::Working]
        .into_iter()
        .find(|k| asked.contains(&profiles.get(*k).certificate_policies[0]))
        .unwrap_or(ProfileKind::Working)
}

/// KU, EKU and policies of a certificate, request or profile, as sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ExtensionSummary {
    key_usage: Option<u16>,
    eku: Option<BTreeSet<ObjectIdentifier>>,
    policies: Option<BTreeSet<ObjectIdentifier>>,
}

impl ExtensionSummary {
    fn from_extensions(exts: &[Extension]) -> Self {
        let mut s = ExtensionSummary::default();
        for e in exts {
            let v = e.extn_value.as_bytes();
            match e.extn_id {
                oids::KEY_USAGE => {
                    s.key_usage = Some(
                        KeyUsage::from_der(v)
                            .map(|k| k.0.bits())
                            .unwrap_or(u16::MAX),
                    );
                }
                oids::EXT_KEY_USAGE => {
                    s.eku = Some(
                        ExtendedKeyUsage::from_der(v)
                            .map(|k| k.0.into_iter().collect())
                            .unwrap_or_default(),
                    );
                }
                oids::CERTIFICATE_POLICIES => {
                    s.policies = Some(
                        CertificatePolicies::from_der(v)
                            .map(|p| p.0.into_iter().map(|i| i.policy_identifier).collect())
                            .unwrap_or_default(),
                    );
                }
                _ => {}
            }
        }
        s
    }

    /// The profile's extensions as the certificate will carry them: the
    /// key usage as the same flag bits a decoded KeyUsage extension has
    /// (`FlagSet<KeyUsages>`, RFC 5280 §4.2.1.3), not the enum's position.
    fn from_profile(p: &Profile) -> Self {
        let key_usage = p
            .key_usage
            .iter()
            .fold(FlagSet::<KeyUsages>::default(), |all, k| all | *k);
        ExtensionSummary {
            key_usage: Some(key_usage.bits()),
            eku: (!p.extended_key_usage.is_empty())
                .then(|| p.extended_key_usage.iter().copied().collect()),
            policies: Some(p.certificate_policies.iter().copied().collect()),
        }
    }
}

/// The certificate and people an operator action on one certificate concerns.
#[derive(Clone, Copy, Debug)]
pub struct CertificateAction<'a> {
    /// The time of the action.
    pub now: DateTime<Utc>,
    /// The certificate named by serial; `None` when unknown.
    pub certificate: Option<&'a CertificateRecord>,
    /// Its owner.
    pub owner: Option<&'a PersonRecord>,
    /// The person the paper application comes from, when the operator names one.
    pub applicant: Option<&'a str>,
}

impl CertificateAction<'_> {
    /// Reasons common to every action: not found, not owned, expired.
    fn common(&self) -> Result<(&CertificateRecord, Vec<Reason>), Vec<Reason>> {
        let cert = self
            .certificate
            .ok_or_else(|| vec![Reason::CertificateNotFound])?;
        let mut reasons = Vec::new();
        if self.applicant.is_some_and(|who| who != cert.person_id) {
            reasons.push(Reason::CertificateNotOwned);
        }
        if cert.status != CertificateStatus::Revoked && self.now > cert.not_after {
            reasons.push(Reason::CertificateExpired);
        }
        Ok((cert, reasons))
    }

    fn person_authorised(&self, reasons: &mut Vec<Reason>) {
        if !self.owner.is_some_and(PersonRecord::is_authorised) {
            reasons.push(Reason::PersonNotActive);
        }
    }

    /// The lifecycle's next state, or its refusal added to `reasons`.
    fn state_change(
        &self,
        cert: &CertificateRecord,
        event: Event,
        reasons: &mut Vec<Reason>,
    ) -> Option<CertificateStatus> {
        match transition(cert.status, event, self.now) {
            Ok(next) => Some(next),
            Err(r) => {
                if !reasons.contains(&r) {
                    reasons.push(r);
                }
                None
            }
        }
    }
}

fn verdict<T>(value: T, reasons: Vec<Reason>) -> Result<T, Vec<Reason>> {
    if reasons.is_empty() {
        Ok(value)
    } else {
        Err(reasons)
    }
}

/// Suspension (1.79): returns the next state, suspended until the end of
/// the period.
pub fn check_suspension(
    action: &CertificateAction<'_>,
    days: i64,
    rules: &Rules,
) -> Result<CertificateStatus, Vec<Reason>> {
    let (cert, mut reasons) = action.common()?;
    // "at most the certificate's validity period" (1.79): the whole period.
    // Compared in days first, so no length a client sends can overflow.
    let longest = (cert.not_after - cert.not_before).num_days();
    let until = (days <= longest)
        .then(|| action.now.checked_add_signed(Duration::try_days(days)?))
        .flatten();
    let next = action.state_change(
        cert,
        Event::Suspend {
            until: until.unwrap_or(action.now),
        },
        &mut reasons,
    );
    action.person_authorised(&mut reasons);
    if days < i64::from(rules.suspension_min_days) {
        reasons.push(Reason::SuspensionTooShort);
    }
    if days > longest || (days >= 0 && until.is_none()) {
        reasons.push(Reason::SuspensionTooLong);
    }
    match (next, until) {
        (Some(next), Some(_)) => verdict(next, reasons),
        _ => Err(reasons),
    }
}

/// Resumption (1.80): returns the next state (active).
pub fn check_resumption(action: &CertificateAction<'_>) -> Result<CertificateStatus, Vec<Reason>> {
    let (cert, mut reasons) = action.common()?;
    let next = action.state_change(cert, Event::Resume, &mut reasons);
    action.person_authorised(&mut reasons);
    if action
        .owner
        .is_some_and(|p| action.now > p.authority_valid_until)
    {
        reasons.push(Reason::AuthorityExpired);
    }
    next.map_or(Err(reasons.clone()), |n| verdict(n, reasons))
}

/// Revocation on the owner's application (1.78): returns the next state
/// (revoked).
pub fn check_revocation(action: &CertificateAction<'_>) -> Result<CertificateStatus, Vec<Reason>> {
    let (cert, mut reasons) = action.common()?;
    let next = action.state_change(cert, Event::Revoke, &mut reasons);
    next.map_or(Err(reasons.clone()), |n| verdict(n, reasons))
}

/// A key compromise reported for a certificate already revoked for another
/// cause (superseded on rotation, a lapsed suspension): its reason becomes
/// keyCompromise (RFC 5280 §5.3.1) and SPEC §3.6's cascade still reaches
/// the rotations its key signed. Anything else on a revoked certificate is
/// `certificate_revoked`.
pub fn compromise_learnt_after_revocation(
    status: CertificateStatus,
    recorded: Option<RevocationReason>,
    reported: RevocationReason,
) -> bool {
    reported == RevocationReason::KeyCompromise
        && status == CertificateStatus::Revoked
        && recorded != Some(RevocationReason::KeyCompromise)
}

/// The revocation reasons an operator may choose (1.78, RFC 5280 §5.3.1);
/// the others are fixed by their cause (`certificateHold` by suspension,
/// `removeFromCRL` by resumption, `cACompromise` and `aACompromise` are not
/// a client certificate's). Accepts the snake_case wire code.
pub fn operator_revocation_reason(code: &str) -> Result<RevocationReason, Error> {
    RevocationReason::from_code(code)
        .filter(|r| RevocationReason::OPERATOR_CHOICES.contains(r))
        .ok_or_else(|| {
            let choices: Vec<&str> = RevocationReason::OPERATOR_CHOICES
                .iter()
                .map(|r| r.code())
                .collect();
            Error::invalid(format!("reason must be one of {choices:?}"))
        })
}

/// What an operator's approval looks at again, at decision time (SPEC
/// §3.3): the registration and the signing certificate may have changed
/// since the request was received.
#[derive(Clone, Copy, Debug)]
pub struct ApprovalContext<'a> {
    /// The time of the decision.
    pub now: DateTime<Utc>,
    /// The request was signed by a certificate of ours.
    pub signed_by_certificate: bool,
    /// That certificate's record, when it is still in the registry.
    pub signer: Option<&'a CertificateRecord>,
    /// The person the request is for.
    pub person: Option<&'a PersonRecord>,
    /// The key has been certified meanwhile.
    pub key_already_certified: bool,
}

/// The approval re-check: the same named rules as at submission, over the
/// facts as they are now. An empty list approves.
pub fn check_approval(ctx: &ApprovalContext<'_>) -> Vec<Reason> {
    let mut reasons = Vec::new();
    // A stolen technological key revoked or suspended since, or a signer
    // certificate that expired meanwhile (1.76.6).
    if ctx.signed_by_certificate && !ctx.signer.is_some_and(|s| signer_usable(s, ctx.now)) {
        reasons.push(Reason::SignerCertificateInvalid);
    }
    if !ctx.person.is_some_and(PersonRecord::is_authorised) {
        reasons.push(Reason::PersonNotActive);
    }
    if ctx
        .person
        .is_some_and(|p| ctx.now > p.authority_valid_until)
    {
        reasons.push(Reason::AuthorityExpired);
    }
    if ctx.key_already_certified {
        reasons.push(Reason::DuplicateKey);
    }
    reasons
}

/// A technological certificate (1.76.1–1.76.2) is issued only to a person
/// who is authorised now and whose power of attorney is current.
pub fn check_technological(person: &PersonRecord, now: DateTime<Utc>) -> Result<(), Error> {
    if !person.is_authorised() {
        return Err(Error::reason(
            Reason::PersonNotActive,
            "the person is not authorised",
        ));
    }
    if now > person.authority_valid_until {
        return Err(Error::reason(
            Reason::AuthorityExpired,
            "the power of attorney has expired",
        ));
    }
    Ok(())
}
