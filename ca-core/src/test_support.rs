//! Fixtures for the unit tests: a small in-memory CA on the shipped policies.

use std::path::Path;

use chrono::{Duration, Utc};

use crate::authority::CertificateAuthority;
use crate::certificate::CertificateParams;
use crate::policy::{CaKeyAlgorithm, Policies, ProfileKind};
use crate::serial::random_serial;
use crate::signer::SoftwareSigner;
use crate::subject::SubjectSpec;

pub(crate) fn policies() -> Policies {
    Policies::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")).unwrap()
}

/// A P-256 CA (quick to generate) on the shipped policies.
pub(crate) fn ca() -> CertificateAuthority {
    let (signer, _) = SoftwareSigner::generate(CaKeyAlgorithm::EcdsaP256).unwrap();
    CertificateAuthority::create_self_signed(Box::new(signer), &policies().ca, Utc::now()).unwrap()
}

/// Some working certificate issued by a fresh CA.
pub(crate) fn any_certificate() -> x509_cert::Certificate {
    let ca = ca();
    let policies = policies();
    let (key, _) = SoftwareSigner::generate(CaKeyAlgorithm::EcdsaP256).unwrap();
    let now = Utc::now();
    let der = ca
        .issue(&CertificateParams {
            serial: random_serial().unwrap(),
            subject: SubjectSpec {
                common_name: "Test".into(),
                ..SubjectSpec::default()
            }
            .to_name()
            .unwrap(),
            public_key: crate::signer::CaSigner::public_key(&key).clone(),
            not_before: now,
            not_after: now + Duration::days(30),
            profile: policies.profiles.get(ProfileKind::Working),
        })
        .unwrap();
    crate::certificate::parse_certificate(&der).unwrap()
}
