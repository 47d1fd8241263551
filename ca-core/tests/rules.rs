//! The rule book (SPEC §3.2–3.6), one refusal and one accepted case per
//! reason code, on requests built in memory with an injected clock.

use std::path::Path;
use std::str::FromStr;

use ca_core::certificate::{parse_certificate, CertificateParams};
use ca_core::crl::RevocationReason;
use ca_core::csr::CertificationRequest;
use ca_core::keys::PublicKey;
use ca_core::policy::{CaKeyAlgorithm, Policies, Profile, ProfileKind, RotationExtensions};
use ca_core::records::{CertificateRecord, CertificateStatus, PersonRecord};
use ca_core::request_type::RequestType;
use ca_core::rules::{
    auto_approval, check_approval, check_request, check_resumption, check_revocation,
    check_suspension, check_technological, operator_revocation_reason, subject_differences,
    target_profile, ApprovalContext, CertificateAction, RequestContext, SignerFacts,
};
use ca_core::serial::random_serial;
use ca_core::signer::SoftwareSigner;
use ca_core::subject::SubjectSpec;
use ca_core::{CertificateAuthority, Reason};
use chrono::{DateTime, Duration, TimeZone, Utc};
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use flagset::FlagSet;
use p256::ecdsa::{DerSignature, SigningKey};
use x509_cert::builder::{Builder, RequestBuilder};
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::{CertificatePolicies, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::name::Name;
use x509_cert::Certificate;

const SUBJECT: &str = "CN=Иванов Иван Иванович,title=Генеральный директор,O=ООО Ромашка,C=RU";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn policies() -> Policies {
    Policies::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")).unwrap()
}

fn person() -> PersonRecord {
    PersonRecord {
        id: "p1".into(),
        active: true,
        organization_active: true,
        authority_valid_until: t0() + Duration::days(200),
        registered_at: t0() - Duration::days(5),
        subject: SubjectSpec {
            country: Some("RU".into()),
            organization: Some("ООО Ромашка".into()),
            title: Some("Генеральный директор".into()),
            common_name: "Иванов Иван Иванович".into(),
            ..SubjectSpec::default()
        },
    }
}

/// A PKCS#10 for a fresh P-256 key with `subject` and optional extensions.
fn csr_with(
    subject: &str,
    build: impl FnOnce(&mut RequestBuilder<'_, SigningKey>),
) -> CertificationRequest {
    let key = SigningKey::random(&mut rand_core::OsRng);
    let mut b = RequestBuilder::new(Name::from_str(subject).unwrap(), &key).unwrap();
    build(&mut b);
    let req = b.build::<DerSignature>().unwrap();
    CertificationRequest::from_der(&req.to_der().unwrap()).unwrap()
}

fn csr(subject: &str) -> CertificationRequest {
    csr_with(subject, |_| {})
}

struct Fixture {
    policies: Policies,
    signer_cert: Certificate,
    signer_record: CertificateRecord,
}

impl Fixture {
    /// A CA and a technological certificate for the person, valid around t0.
    fn new(profile: ProfileKind) -> Fixture {
        let policies = policies();
        let (key, _) = SoftwareSigner::generate(CaKeyAlgorithm::EcdsaP256).unwrap();
        let ca = CertificateAuthority::create_self_signed(
            Box::new(key),
            &policies.ca,
            t0() - Duration::days(10),
        )
        .unwrap();
        let holder = csr(SUBJECT);
        let not_before = t0() - Duration::days(1);
        let not_after = t0() + Duration::days(30);
        let der = ca
            .issue(&CertificateParams {
                serial: random_serial().unwrap(),
                subject: person().subject.to_name().unwrap(),
                public_key: holder.request.info.public_key.clone(),
                not_before,
                not_after,
                profile: policies.profiles.get(profile),
            })
            .unwrap();
        Fixture {
            signer_cert: parse_certificate(&der).unwrap(),
            signer_record: CertificateRecord {
                serial: "aa".into(),
                person_id: "p1".into(),
                profile,
                status: CertificateStatus::Active,
                not_before,
                not_after,
            },
            policies,
        }
    }

    fn check(
        &self,
        t: RequestType,
        csr: &CertificationRequest,
        person: Option<&PersonRecord>,
        now: DateTime<Utc>,
    ) -> Vec<Reason> {
        self.check_with(t, csr, person, now, &self.signer_record, false)
    }

    fn check_with(
        &self,
        t: RequestType,
        csr: &CertificationRequest,
        person: Option<&PersonRecord>,
        now: DateTime<Utc>,
        signer: &CertificateRecord,
        duplicate: bool,
    ) -> Vec<Reason> {
        let signer = (t != RequestType::InitialSelfSigned).then_some(SignerFacts {
            record: signer,
            certificate: &self.signer_cert,
            has_successor: false,
        });
        let profile = target_profile(
            t,
            Some(self.signer_record.profile),
            csr,
            &self.policies.profiles,
        );
        check_request(&RequestContext {
            now,
            request_type: t,
            csr,
            person,
            signer,
            profile: self.policies.profiles.get(profile),
            key_already_certified: duplicate,
            rules: &self.policies.rules,
        })
    }
}

#[test]
fn an_initial_request_that_keeps_every_rule_is_accepted() {
    let f = Fixture::new(ProfileKind::Technological);
    assert_eq!(
        f.check(RequestType::Initial, &csr(SUBJECT), Some(&person()), t0()),
        vec![]
    );
}

#[test]
fn signer_certificate_invalid() {
    let f = Fixture::new(ProfileKind::Technological);
    let c = csr(SUBJECT);
    let p = person();
    let with = |status, now| {
        f.check_with(
            RequestType::Initial,
            &c,
            Some(&p),
            now,
            &CertificateRecord {
                status,
                ..f.signer_record.clone()
            },
            false,
        )
    };
    let until = t0() + Duration::days(10);
    assert_eq!(
        with(CertificateStatus::Revoked, t0()),
        vec![Reason::SignerCertificateInvalid]
    );
    assert_eq!(
        with(CertificateStatus::Suspended { until }, t0()),
        vec![Reason::SignerCertificateInvalid]
    );
    // Expired, and not yet valid (the authority is still current at both times).
    assert!(with(CertificateStatus::Active, t0() + Duration::days(31))
        .contains(&Reason::SignerCertificateInvalid));
    assert_eq!(
        with(CertificateStatus::Active, t0() - Duration::days(2)),
        vec![Reason::SignerCertificateInvalid]
    );
    assert_eq!(
        with(CertificateStatus::Active, t0() + Duration::days(29)),
        vec![]
    );
}

#[test]
fn person_not_active() {
    let f = Fixture::new(ProfileKind::Technological);
    let c = csr(SUBJECT);
    assert_eq!(
        f.check(RequestType::Initial, &c, None, t0()),
        vec![Reason::PersonNotActive]
    );
    let terminated = PersonRecord {
        active: false,
        ..person()
    };
    assert_eq!(
        f.check(RequestType::Initial, &c, Some(&terminated), t0()),
        vec![Reason::PersonNotActive]
    );
    let agreement_ended = PersonRecord {
        organization_active: false,
        ..person()
    };
    assert_eq!(
        f.check(RequestType::Initial, &c, Some(&agreement_ended), t0()),
        vec![Reason::PersonNotActive]
    );
    assert_eq!(
        f.check(RequestType::Initial, &c, Some(&person()), t0()),
        vec![]
    );
}

#[test]
fn authority_expired() {
    let f = Fixture::new(ProfileKind::Technological);
    let c = csr(SUBJECT);
    let p = PersonRecord {
        authority_valid_until: t0(),
        ..person()
    };
    assert_eq!(
        f.check(
            RequestType::Initial,
            &c,
            Some(&p),
            t0() + Duration::seconds(1)
        ),
        vec![Reason::AuthorityExpired]
    );
    assert_eq!(f.check(RequestType::Initial, &c, Some(&p), t0()), vec![]);
}

#[test]
fn registration_expired_only_for_self_signed_requests() {
    let f = Fixture::new(ProfileKind::Technological);
    let c = csr(SUBJECT);
    let p = PersonRecord {
        registered_at: t0() - Duration::days(31),
        ..person()
    };
    assert_eq!(
        f.check(RequestType::InitialSelfSigned, &c, Some(&p), t0()),
        vec![Reason::RegistrationExpired]
    );
    let p = PersonRecord {
        registered_at: t0() - Duration::days(29),
        ..person()
    };
    assert_eq!(
        f.check(RequestType::InitialSelfSigned, &c, Some(&p), t0()),
        vec![]
    );
    // An initial request signed by a technological certificate has no window.
    let p = PersonRecord {
        registered_at: t0() - Duration::days(31),
        ..person()
    };
    assert_eq!(f.check(RequestType::Initial, &c, Some(&p), t0()), vec![]);
}

fn eku(oids: &[&str]) -> ExtendedKeyUsage {
    ExtendedKeyUsage(
        oids.iter()
            .map(|o| ObjectIdentifier::new_unwrap(o))
            .collect(),
    )
}

#[test]
fn subject_mismatch_against_the_registration() {
    let f = Fixture::new(ProfileKind::Technological);
    let p = person();
    let other = csr("CN=Петров Пётр Петрович,title=Генеральный директор,O=ООО Ромашка,C=RU");
    assert_eq!(
        f.check(RequestType::Initial, &other, Some(&p), t0()),
        vec![Reason::SubjectMismatch]
    );
    let missing_title = csr("CN=Иванов Иван Иванович,O=ООО Ромашка,C=RU");
    assert_eq!(
        f.check(RequestType::Initial, &missing_title, Some(&p), t0()),
        vec![Reason::SubjectMismatch]
    );
    // Letter case and spacing are not differences.
    let spaced = csr("CN=иванов  иван иванович,title=Генеральный Директор,O=ООО Ромашка,C=RU");
    assert_eq!(
        f.check(RequestType::Initial, &spaced, Some(&p), t0()),
        vec![]
    );
    // Requested extensions must equal the profile's (working: clientAuth + emailProtection).
    let wrong_eku = csr_with(SUBJECT, |b| {
        b.add_extension(&eku(&["1.3.6.1.5.5.7.3.3"])).unwrap()
    });
    assert_eq!(
        f.check(RequestType::Initial, &wrong_eku, Some(&p), t0()),
        vec![Reason::SubjectMismatch]
    );
    let right_eku = csr_with(SUBJECT, |b| {
        b.add_extension(&eku(&["1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.2"]))
            .unwrap()
    });
    assert_eq!(
        f.check(RequestType::Initial, &right_eku, Some(&p), t0()),
        vec![]
    );
    let wrong_ku = csr_with(SUBJECT, |b| {
        b.add_extension(&KeyUsage(KeyUsages::KeyEncipherment.into()))
            .unwrap()
    });
    assert_eq!(
        f.check(RequestType::Initial, &wrong_ku, Some(&p), t0()),
        vec![Reason::SubjectMismatch]
    );
}

/// The extensions a profile puts in its certificates, as a request would
/// ask for them: key usage, EKU (when the profile has one), policies.
struct Asked {
    key_usage: FlagSet<KeyUsages>,
    eku: Vec<ObjectIdentifier>,
    policies: Vec<ObjectIdentifier>,
}

impl Asked {
    fn of(profile: &Profile) -> Asked {
        Asked {
            key_usage: profile
                .key_usage
                .iter()
                .fold(FlagSet::default(), |all, k| all | *k),
            eku: profile.extended_key_usage.clone(),
            policies: profile.certificate_policies.clone(),
        }
    }

    /// A request carrying the KU, EKU and policies extensions named in
    /// `which` ("ku", "eku", "policies").
    fn csr(&self, which: &[&str]) -> CertificationRequest {
        csr_with(SUBJECT, |b| {
            if which.contains(&"ku") {
                b.add_extension(&KeyUsage(self.key_usage)).unwrap();
            }
            if which.contains(&"eku") {
                b.add_extension(&ExtendedKeyUsage(self.eku.clone()))
                    .unwrap();
            }
            if which.contains(&"policies") {
                let infos = self
                    .policies
                    .iter()
                    .map(|oid| PolicyInformation {
                        policy_identifier: *oid,
                        policy_qualifiers: None,
                    })
                    .collect();
                b.add_extension(&CertificatePolicies(infos)).unwrap();
            }
        })
    }
}

const ALL_EXTENSIONS: &[&str] = &["ku", "eku", "policies"];

/// `check_request` against `kind`'s profile directly (an initial request
/// signed by the fixture's certificate), whichever profile target_profile
/// would pick.
fn check_under(f: &Fixture, kind: ProfileKind, csr: &CertificationRequest) -> Vec<Reason> {
    check_request(&RequestContext {
        now: t0(),
        request_type: RequestType::Initial,
        csr,
        person: Some(&person()),
        signer: Some(SignerFacts {
            record: &f.signer_record,
            certificate: &f.signer_cert,
            has_successor: false,
        }),
        profile: f.policies.profiles.get(kind),
        key_already_certified: false,
        rules: &f.policies.rules,
    })
}

/// The profile's key usage is compared as the same bit flags a request's
/// KeyUsage extension decodes to: every profile accepts its own KU, EKU and
/// policies, together or one at a time (1.76.6).
#[test]
fn every_profile_accepts_its_own_key_usage_eku_and_policies() {
    let f = Fixture::new(ProfileKind::Technological);
    for kind in ProfileKind::ALL {
        let own = Asked::of(f.policies.profiles.get(kind));
        let full = own.csr(ALL_EXTENSIONS);
        assert_eq!(check_under(&f, kind, &full), vec![], "{kind:?}");
        for one in ALL_EXTENSIONS {
            assert_eq!(
                check_under(&f, kind, &own.csr(&[one])),
                vec![],
                "{kind:?} {one}"
            );
        }
    }
    // Through target_profile, as requests arrive: the policy picks the profile.
    for kind in [ProfileKind::Working, ProfileKind::Additional] {
        let full = Asked::of(f.policies.profiles.get(kind)).csr(ALL_EXTENSIONS);
        assert_eq!(
            target_profile(RequestType::Initial, None, &full, &f.policies.profiles),
            kind
        );
        assert_eq!(
            f.check(RequestType::Initial, &full, Some(&person()), t0()),
            vec![],
            "{kind:?}"
        );
    }
    // The reviewed case: the working profile's exact KU.
    let working = csr_with(SUBJECT, |b| {
        b.add_extension(&KeyUsage(
            KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
        ))
        .unwrap()
    });
    assert_eq!(
        check_under(&f, ProfileKind::Working, &working),
        vec![],
        "digitalSignature + nonRepudiation is the working profile's KU"
    );
}

/// A request may leave an extension out, but what it carries must equal
/// the profile's: a superset asks for more than the profile grants, and a
/// subset would get a certificate with more than it asked for (see
/// `agrees_with` in rules.rs).
#[test]
fn requested_extensions_may_not_be_supersets_or_subsets_of_the_profile() {
    let f = Fixture::new(ProfileKind::Technological);
    let code_signing = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
    let other_policy = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.9.9");
    let mismatch = vec![Reason::SubjectMismatch];
    for kind in ProfileKind::ALL {
        let own = || Asked::of(f.policies.profiles.get(kind));
        // Supersets.
        let mut more = own();
        more.key_usage |= KeyUsages::KeyEncipherment;
        assert_eq!(
            check_under(&f, kind, &more.csr(&["ku"])),
            mismatch,
            "{kind:?} KU+"
        );
        let mut more = own();
        more.eku.push(code_signing);
        assert_eq!(
            check_under(&f, kind, &more.csr(&["eku"])),
            mismatch,
            "{kind:?} EKU+"
        );
        let mut more = own();
        more.policies.push(other_policy);
        assert_eq!(
            check_under(&f, kind, &more.csr(&["policies"])),
            mismatch,
            "{kind:?} policies+"
        );
        // Subsets: drop one usage (a KeyUsage with no bit at all when the
        // profile has only one) or one EKU purpose.
        let mut less = own();
        let first = less.key_usage.into_iter().next().unwrap();
        less.key_usage -= first;
        assert_eq!(
            check_under(&f, kind, &less.csr(&["ku"])),
            mismatch,
            "{kind:?} KU-"
        );
        let mut less = own();
        if less.eku.len() > 1 {
            less.eku.pop();
            assert_eq!(
                check_under(&f, kind, &less.csr(&["eku"])),
                mismatch,
                "{kind:?} EKU-"
            );
        }
    }
    // The reviewed case: digitalSignature alone is a subset of the working KU.
    let only_signature = csr_with(SUBJECT, |b| {
        b.add_extension(&KeyUsage(KeyUsages::DigitalSignature.into()))
            .unwrap()
    });
    assert_eq!(
        check_under(&f, ProfileKind::Working, &only_signature),
        mismatch
    );
}

/// Rotation compares with the signing certificate (1.81.5): a certificate
/// of each renewable profile accepts a request for its own extensions.
#[test]
fn rotation_accepts_the_signing_certificates_own_extensions() {
    for kind in [ProfileKind::Working, ProfileKind::Additional] {
        let f = Fixture::new(kind);
        let full = Asked::of(f.policies.profiles.get(kind)).csr(ALL_EXTENSIONS);
        assert_eq!(
            f.check(RequestType::Rotation, &full, Some(&person()), t0()),
            vec![],
            "{kind:?}"
        );
    }
}

#[test]
fn subject_mismatch_against_the_current_certificate_on_rotation() {
    let f = Fixture::new(ProfileKind::Working);
    let p = person();
    let own = Asked::of(f.policies.profiles.get(ProfileKind::Working));
    assert_eq!(
        f.check(
            RequestType::Rotation,
            &own.csr(ALL_EXTENSIONS),
            Some(&p),
            t0()
        ),
        vec![]
    );
    let other_title = csr("CN=Иванов Иван Иванович,title=Бухгалтер,O=ООО Ромашка,C=RU");
    assert_eq!(
        f.check(RequestType::Rotation, &other_title, Some(&p), t0()),
        vec![Reason::SubjectMismatch]
    );
    // 1.81.5: KU/EKU/policies asked for must be those of the signing certificate.
    let other_ku = csr_with(SUBJECT, |b| {
        b.add_extension(&KeyUsage(KeyUsages::DigitalSignature.into()))
            .unwrap();
        b.add_extension(&eku(&["1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.4"]))
            .unwrap();
    });
    assert_eq!(
        f.check(RequestType::Rotation, &other_ku, Some(&p), t0()),
        vec![Reason::SubjectMismatch]
    );
    let policy = |oid: &str| {
        CertificatePolicies(vec![PolicyInformation {
            policy_identifier: ObjectIdentifier::new_unwrap(oid),
            policy_qualifiers: None,
        }])
    };
    let other_policy = csr_with(SUBJECT, |b| {
        b.add_extension(&policy("1.3.6.1.4.1.99999.1.3")).unwrap()
    });
    assert_eq!(
        f.check(RequestType::Rotation, &other_policy, Some(&p), t0()),
        vec![Reason::SubjectMismatch]
    );
}

/// 1.81.5 by default (`rotation_extensions = "strict"`): a rotation request
/// that leaves out the signing certificate's KU, EKU or policies is refused,
/// naming what is missing; `lenient` takes them from the certificate.
#[test]
fn rotation_must_repeat_every_extension_unless_the_profile_is_lenient() {
    let mut f = Fixture::new(ProfileKind::Working);
    let p = person();
    let own = Asked::of(f.policies.profiles.get(ProfileKind::Working));
    let differences = |f: &Fixture, c: &CertificationRequest| {
        let signer = SignerFacts {
            record: &f.signer_record,
            certificate: &f.signer_cert,
            has_successor: false,
        };
        subject_differences(&RequestContext {
            now: t0(),
            request_type: RequestType::Rotation,
            csr: c,
            person: Some(&p),
            signer: Some(signer),
            profile: f.policies.profiles.get(ProfileKind::Working),
            key_already_certified: false,
            rules: &f.policies.rules,
        })
    };
    let bare = csr(SUBJECT);
    assert_eq!(
        f.check(RequestType::Rotation, &bare, Some(&p), t0()),
        vec![Reason::SubjectMismatch]
    );
    assert_eq!(
        differences(&f, &bare),
        vec![
            "key_usage missing",
            "extended_key_usage missing",
            "certificate_policies missing"
        ]
    );
    for (missing, kept) in [
        ("key_usage", ["eku", "policies"]),
        ("extended_key_usage", ["ku", "policies"]),
        ("certificate_policies", ["ku", "eku"]),
    ] {
        let c = own.csr(&kept);
        assert_eq!(
            f.check(RequestType::Rotation, &c, Some(&p), t0()),
            vec![Reason::SubjectMismatch],
            "{missing}"
        );
        assert_eq!(differences(&f, &c), vec![format!("{missing} missing")]);
    }
    assert_eq!(
        differences(&f, &own.csr(ALL_EXTENSIONS)),
        Vec::<String>::new()
    );

    // Lenient: omissions are taken from the certificate; differences are not.
    f.policies = policies_edited(|t| {
        t.replace(
            "[working]\n",
            "[working]\nrotation_extensions = \"lenient\"\n",
        )
    });
    assert_eq!(
        f.policies
            .profiles
            .get(ProfileKind::Working)
            .rotation_extensions,
        RotationExtensions::Lenient
    );
    assert_eq!(
        f.check(RequestType::Rotation, &bare, Some(&p), t0()),
        vec![]
    );
    assert_eq!(
        f.check(RequestType::Rotation, &own.csr(&["ku"]), Some(&p), t0()),
        vec![]
    );
    let other_ku = csr_with(SUBJECT, |b| {
        b.add_extension(&KeyUsage(KeyUsages::DigitalSignature.into()))
            .unwrap();
    });
    assert_eq!(
        f.check(RequestType::Rotation, &other_ku, Some(&p), t0()),
        vec![Reason::SubjectMismatch]
    );
}

/// SPEC §3.8: a rotation is issued without an operator only inside the
/// signing certificate's renewal window and for its first successor.
#[test]
fn rotation_auto_approval_needs_the_renewal_window_and_no_successor() {
    let f = Fixture::new(ProfileKind::Working);
    let p = person();
    let c = Asked::of(f.policies.profiles.get(ProfileKind::Working)).csr(ALL_EXTENSIONS);
    let profile = f.policies.profiles.get(ProfileKind::Working);
    let opens = profile.renewal_opens(f.signer_record.not_before, f.signer_record.not_after);
    let decide = |now: DateTime<Utc>, has_successor: bool, t: RequestType| {
        auto_approval(&RequestContext {
            now,
            request_type: t,
            csr: &c,
            person: Some(&p),
            signer: Some(SignerFacts {
                record: &f.signer_record,
                certificate: &f.signer_cert,
                has_successor,
            }),
            profile,
            key_already_certified: false,
            rules: &f.policies.rules,
        })
    };
    assert_eq!(decide(opens, false, RequestType::Rotation), Ok(()));
    assert_eq!(
        decide(opens - Duration::seconds(1), false, RequestType::Rotation),
        Err("the signing certificate's renewal window has not opened")
    );
    assert_eq!(
        decide(opens, true, RequestType::Rotation),
        Err("the signing certificate already has a successor")
    );
    // The working profile never auto-approves initial requests.
    assert!(decide(opens, false, RequestType::Initial).is_err());
}

/// The repository's policies with `profiles.toml` edited by `edit`.
fn policies_edited(edit: impl FnOnce(String) -> String) -> Policies {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let text = std::fs::read_to_string(source.join("profiles.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for file in ["ca.toml", "rules.toml", "calendar.toml"] {
        std::fs::copy(source.join(file), dir.path().join(file)).unwrap();
    }
    std::fs::write(dir.path().join("profiles.toml"), edit(text)).unwrap();
    Policies::load(dir.path()).unwrap()
}

#[test]
fn weak_key_per_profile() {
    let mut f = Fixture::new(ProfileKind::Technological);
    let c = csr(SUBJECT);
    assert_eq!(
        f.check(RequestType::Initial, &c, Some(&person()), t0()),
        vec![]
    );
    // A profile that allows RSA only refuses this P-256 key.
    f.policies =
        policies_edited(|t| t.replace("ec_curves = [\"P-256\", \"P-384\"]", "ec_curves = []"));
    assert_eq!(
        f.check(RequestType::Initial, &c, Some(&person()), t0()),
        vec![Reason::WeakKey]
    );
}

/// `csr` with its key replaced by `key` (the rules look only at the parsed
/// key; the self-signature was checked when `csr` was parsed).
fn with_key(csr: CertificationRequest, key: &rsa::RsaPublicKey) -> CertificationRequest {
    use rsa::pkcs8::EncodePublicKey;
    let der = key.to_public_key_der().unwrap();
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).unwrap();
    CertificationRequest {
        key: PublicKey::from_spki(&spki).unwrap(),
        ..csr
    }
}

/// SPEC §3.2 weak_key: whoever runs the rules gets weak_key for a key that
/// fails a key-quality check, and the profile's error names the check.
#[test]
fn weak_key_for_keys_that_fail_a_quality_check() {
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
    let f = Fixture::new(ProfileKind::Technological);
    let p = person();
    let good = RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    // A modulus whose two factors are p and the next number above p with no
    // factor below 752: Fermat's method splits it in its first round.
    let prime = good.primes()[0].clone();
    let mut next = &prime + 2u32;
    while ca_core::goodkey::rsa_small_factors(&next).is_err() {
        next += 2u32;
    }
    let fermat = RsaPublicKey::new(&prime * &next, BigUint::from(65_537u32)).unwrap();
    let cases = [
        (
            "rsa_modulus_size",
            RsaPrivateKey::new(&mut rand_core::OsRng, 2304)
                .unwrap()
                .to_public_key(),
        ),
        (
            "rsa_exponent",
            RsaPublicKey::new(good.n().clone(), BigUint::from(3u32)).unwrap(),
        ),
        ("rsa_fermat", fermat),
    ];
    let working = f.policies.profiles.get(ProfileKind::Working);
    for (check, key) in cases {
        let c = with_key(csr(SUBJECT), &key);
        assert_eq!(
            f.check(RequestType::Initial, &c, Some(&p), t0()),
            vec![Reason::WeakKey],
            "{check}"
        );
        let err = working.check_public_key(&c.key).unwrap_err();
        assert!(err.has(Reason::WeakKey), "{err}");
        assert!(err.message().starts_with(check), "{check}: {err}");
    }
    let c = with_key(csr(SUBJECT), &good.to_public_key());
    assert_eq!(f.check(RequestType::Initial, &c, Some(&p), t0()), vec![]);
}

#[test]
fn duplicate_key() {
    let f = Fixture::new(ProfileKind::Technological);
    let c = csr(SUBJECT);
    let p = person();
    assert_eq!(
        f.check_with(
            RequestType::Initial,
            &c,
            Some(&p),
            t0(),
            &f.signer_record,
            true
        ),
        vec![Reason::DuplicateKey]
    );
    assert_eq!(
        f.check_with(
            RequestType::Initial,
            &c,
            Some(&p),
            t0(),
            &f.signer_record,
            false
        ),
        vec![]
    );
}

#[test]
fn every_failing_rule_is_reported_at_once() {
    let f = Fixture::new(ProfileKind::Technological);
    let p = PersonRecord {
        active: false,
        authority_valid_until: t0() - Duration::days(1),
        ..person()
    };
    let other = csr("CN=Петров Пётр");
    let reasons = f.check_with(
        RequestType::Initial,
        &other,
        Some(&p),
        t0(),
        &f.signer_record,
        true,
    );
    assert_eq!(
        reasons,
        vec![
            Reason::PersonNotActive,
            Reason::AuthorityExpired,
            Reason::SubjectMismatch,
            Reason::DuplicateKey
        ]
    );
}

#[test]
fn target_profile_follows_the_signer_or_the_requested_policy() {
    let f = Fixture::new(ProfileKind::Additional);
    let profiles = &f.policies.profiles;
    let plain = csr(SUBJECT);
    assert_eq!(
        target_profile(
            RequestType::Rotation,
            Some(ProfileKind::Additional),
            &plain,
            profiles
        ),
        ProfileKind::Additional
    );
    assert_eq!(
        target_profile(
            RequestType::Initial,
            Some(ProfileKind::Technological),
            &plain,
            profiles
        ),
        ProfileKind::Working
    );
    let additional = csr_with(SUBJECT, |b| {
        b.add_extension(&CertificatePolicies(vec![PolicyInformation {
            policy_identifier: profiles.get(ProfileKind::Additional).certificate_policies[0],
            policy_qualifiers: None,
        }]))
        .unwrap()
    });
    assert_eq!(
        target_profile(RequestType::InitialSelfSigned, None, &additional, profiles),
        ProfileKind::Additional
    );
}

// ---- suspension, resumption, revocation (1.78–1.80) ----

fn cert(status: CertificateStatus) -> CertificateRecord {
    CertificateRecord {
        serial: "01".into(),
        person_id: "p1".into(),
        profile: ProfileKind::Working,
        status,
        not_before: t0() - Duration::days(10),
        not_after: t0() + Duration::days(355),
    }
}

fn action<'a>(
    c: Option<&'a CertificateRecord>,
    owner: Option<&'a PersonRecord>,
    applicant: Option<&'a str>,
    now: DateTime<Utc>,
) -> CertificateAction<'a> {
    CertificateAction {
        now,
        certificate: c,
        owner,
        applicant,
    }
}

#[test]
fn suspension_rules() {
    let rules = policies().rules;
    let p = person();
    let active = cert(CertificateStatus::Active);
    let ok = check_suspension(
        &action(Some(&active), Some(&p), Some("p1"), t0()),
        10,
        &rules,
    );
    assert_eq!(
        ok,
        Ok(CertificateStatus::Suspended {
            until: t0() + Duration::days(10)
        })
    );
    let refused = |c: &CertificateRecord, owner: &PersonRecord, who, now, days| {
        check_suspension(&action(Some(c), Some(owner), who, now), days, &rules).unwrap_err()
    };
    assert_eq!(
        check_suspension(&action(None, None, None, t0()), 10, &rules),
        Err(vec![Reason::CertificateNotFound])
    );
    assert_eq!(
        refused(&cert(CertificateStatus::Revoked), &p, None, t0(), 10),
        vec![Reason::CertificateRevoked]
    );
    assert_eq!(
        refused(&active, &p, Some("p2"), t0(), 10),
        vec![Reason::CertificateNotOwned]
    );
    assert_eq!(
        refused(&active, &p, None, t0() + Duration::days(356), 10),
        vec![Reason::CertificateExpired]
    );
    let suspended = cert(CertificateStatus::Suspended {
        until: t0() + Duration::days(5),
    });
    assert_eq!(
        refused(&suspended, &p, None, t0(), 10),
        vec![Reason::CertificateNotActive]
    );
    assert_eq!(
        refused(
            &active,
            &PersonRecord {
                active: false,
                ..person()
            },
            None,
            t0(),
            10
        ),
        vec![Reason::PersonNotActive]
    );
    assert_eq!(
        refused(&active, &p, None, t0(), 9),
        vec![Reason::SuspensionTooShort]
    );
    assert_eq!(
        refused(&active, &p, None, t0(), 366),
        vec![Reason::SuspensionTooLong]
    );
    assert!(check_suspension(&action(Some(&active), Some(&p), None, t0()), 365, &rules).is_ok());
}

#[test]
fn resumption_rules() {
    let p = person();
    let suspended = cert(CertificateStatus::Suspended {
        until: t0() + Duration::days(5),
    });
    assert_eq!(
        check_resumption(&action(Some(&suspended), Some(&p), Some("p1"), t0())),
        Ok(CertificateStatus::Active)
    );
    let refused = |c: &CertificateRecord, owner: &PersonRecord, who, now| {
        check_resumption(&action(Some(c), Some(owner), who, now)).unwrap_err()
    };
    assert_eq!(
        check_resumption(&action(None, None, None, t0())),
        Err(vec![Reason::CertificateNotFound])
    );
    assert_eq!(
        refused(&cert(CertificateStatus::Active), &p, None, t0()),
        vec![Reason::CertificateNotSuspended]
    );
    assert_eq!(
        refused(&cert(CertificateStatus::Revoked), &p, None, t0()),
        vec![Reason::CertificateRevoked]
    );
    assert_eq!(
        refused(&suspended, &p, Some("p2"), t0()),
        vec![Reason::CertificateNotOwned]
    );
    assert_eq!(
        refused(&suspended, &p, None, t0() + Duration::days(356)),
        vec![Reason::CertificateExpired, Reason::AuthorityExpired]
    );
    let lapsed_authority = PersonRecord {
        authority_valid_until: t0() - Duration::days(1),
        ..person()
    };
    assert_eq!(
        refused(&suspended, &lapsed_authority, None, t0()),
        vec![Reason::AuthorityExpired]
    );
    assert_eq!(
        refused(
            &suspended,
            &PersonRecord {
                organization_active: false,
                ..person()
            },
            None,
            t0()
        ),
        vec![Reason::PersonNotActive]
    );
}

#[test]
fn revocation_rules() {
    let p = person();
    let active = cert(CertificateStatus::Active);
    let suspended = cert(CertificateStatus::Suspended {
        until: t0() + Duration::days(5),
    });
    assert_eq!(
        check_revocation(&action(Some(&active), Some(&p), Some("p1"), t0())),
        Ok(CertificateStatus::Revoked)
    );
    assert_eq!(
        check_revocation(&action(Some(&suspended), Some(&p), None, t0())),
        Ok(CertificateStatus::Revoked)
    );
    assert_eq!(
        check_revocation(&action(None, None, None, t0())),
        Err(vec![Reason::CertificateNotFound])
    );
    assert_eq!(
        check_revocation(&action(
            Some(&cert(CertificateStatus::Revoked)),
            Some(&p),
            None,
            t0()
        )),
        Err(vec![Reason::CertificateRevoked])
    );
    assert_eq!(
        check_revocation(&action(Some(&active), Some(&p), Some("p2"), t0())),
        Err(vec![Reason::CertificateNotOwned])
    );
    assert_eq!(
        check_revocation(&action(
            Some(&active),
            Some(&p),
            None,
            t0() + Duration::days(400)
        )),
        Err(vec![Reason::CertificateExpired])
    );
}

/// The approval re-check (SPEC §3.3) uses the same definition of a usable
/// signing certificate as submission: an expired one is refused too.
#[test]
fn approval_rules() {
    let p = person();
    let active = cert(CertificateStatus::Active);
    let ctx = |signer, person, dup, now| ApprovalContext {
        now,
        signed_by_certificate: true,
        signer,
        person,
        key_already_certified: dup,
    };
    assert!(check_approval(&ctx(Some(&active), Some(&p), false, t0())).is_empty());
    // Self-signed requests have no signing certificate to re-check.
    let self_signed = ApprovalContext {
        signed_by_certificate: false,
        ..ctx(None, Some(&p), false, t0())
    };
    assert!(check_approval(&self_signed).is_empty());
    let revoked = cert(CertificateStatus::Revoked);
    assert_eq!(
        check_approval(&ctx(Some(&revoked), Some(&p), false, t0())),
        vec![Reason::SignerCertificateInvalid]
    );
    assert_eq!(
        check_approval(&ctx(None, Some(&p), false, t0())),
        vec![Reason::SignerCertificateInvalid]
    );
    let after_expiry = active.not_after + Duration::days(1);
    let long_authority = PersonRecord {
        authority_valid_until: after_expiry + Duration::days(30),
        ..person()
    };
    assert_eq!(
        check_approval(&ctx(
            Some(&active),
            Some(&long_authority),
            false,
            after_expiry
        )),
        vec![Reason::SignerCertificateInvalid]
    );
    let terminated = PersonRecord {
        active: false,
        ..person()
    };
    assert_eq!(
        check_approval(&ctx(Some(&active), Some(&terminated), false, t0())),
        vec![Reason::PersonNotActive]
    );
    assert_eq!(
        check_approval(&ctx(Some(&active), None, false, t0())),
        vec![Reason::PersonNotActive]
    );
    let lapsed = PersonRecord {
        authority_valid_until: t0() - Duration::days(1),
        ..person()
    };
    assert_eq!(
        check_approval(&ctx(Some(&active), Some(&lapsed), false, t0())),
        vec![Reason::AuthorityExpired]
    );
    assert_eq!(
        check_approval(&ctx(Some(&active), Some(&p), true, t0())),
        vec![Reason::DuplicateKey]
    );
}

#[test]
fn technological_certificate_rules() {
    assert!(check_technological(&person(), t0()).is_ok());
    let terminated = PersonRecord {
        organization_active: false,
        ..person()
    };
    assert!(check_technological(&terminated, t0())
        .unwrap_err()
        .has(Reason::PersonNotActive));
    let lapsed = PersonRecord {
        authority_valid_until: t0() - Duration::days(1),
        ..person()
    };
    assert!(check_technological(&lapsed, t0())
        .unwrap_err()
        .has(Reason::AuthorityExpired));
}

#[test]
fn operator_revocation_reasons() {
    assert_eq!(
        operator_revocation_reason("key_compromise").unwrap(),
        RevocationReason::KeyCompromise
    );
    for fixed in [
        "certificate_hold",
        "remove_from_crl",
        "ca_compromise",
        "nonsense",
    ] {
        let err = operator_revocation_reason(fixed).unwrap_err();
        assert!(err.message().contains("key_compromise"), "{fixed}: {err}");
    }
}

/// `person_not_active` from `signer_belongs_to_person`: a certificate of
/// ours speaks only for its own owner, whatever subject the request names.
#[test]
fn a_signing_certificate_speaks_only_for_its_owner() {
    let f = Fixture::new(ProfileKind::Technological);
    let c = csr(SUBJECT);
    let owner = person();
    assert_eq!(
        f.check(RequestType::Initial, &c, Some(&owner), t0()),
        vec![]
    );
    let someone_else = PersonRecord {
        id: "p2".into(),
        ..person()
    };
    assert_eq!(
        f.check(RequestType::Initial, &c, Some(&someone_else), t0()),
        vec![Reason::PersonNotActive]
    );
}
