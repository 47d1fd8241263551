//! Technological certificates (1.76.1–1.76.2): from a key the person made
//! on their own token (a CSR), or from a key generated here for a person
//! who has no token (the "sealed envelope" of 1.76.1): a P-256 key, handed
//! over only inside a PIN-protected PKCS#12 (PBES2 AES-256, HMAC-SHA-256)
//! and never stored.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use ca_core::keys::PublicKey;
use ca_core::policy::ProfileKind;
use ca_core::rules::check_technological;
use ca_core::{Error, Reason, Result};
use ca_store::Reservation;
use der::Decode;
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use zeroize::Zeroizing;

use crate::issue::ToIssue;
use crate::Authority;

/// Where a technological certificate's key comes from.
pub enum TechnologicalKey {
    /// The person's own CSR (PEM).
    Csr(String),
    /// Generated here, handed over in a PKCS#12 under this PIN.
    Generated {
        /// The PKCS#12 PIN.
        pin: String,
    },
}

/// An issued technological certificate.
#[derive(Clone, Debug)]
pub struct TechnologicalIssued {
    /// Its serial.
    pub serial: String,
    /// The certificate, DER.
    pub certificate: Vec<u8>,
    /// The PKCS#12 with the generated key, when the key was generated.
    pub pkcs12: Option<Vec<u8>>,
}

/// A fresh key: PKCS#8 (zeroed on drop) and its SubjectPublicKeyInfo.
struct GeneratedKey {
    pkcs8: Zeroizing<Vec<u8>>,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
}

/// Generates a P-256 key with the system CSPRNG.
fn generate() -> Result<GeneratedKey> {
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
        .map_err(|_| Error::internal("key generation failed"))?;
    let pkcs8 = Zeroizing::new(
        key.to_pkcs8v1()
            .map_err(|_| Error::internal("PKCS#8 encoding failed"))?
            .as_ref()
            .to_vec(),
    );
    let spki_der = AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(key.public_key())
        .map_err(|_| Error::internal("public key encoding failed"))?
        .as_ref()
        .to_vec();
    Ok(GeneratedKey { pkcs8, spki_der })
}

/// The PKCS#12 with the key, its certificate and the CA certificate.
fn pkcs12(key: &GeneratedKey, cert_der: &[u8], ca_der: &[u8], pin: &str) -> Result<Vec<u8>> {
    let bad = |e: p12_keystore::error::Error| Error::internal(format!("PKCS#12: {e}"));
    let chain = [
        Certificate::from_der(cert_der).map_err(bad)?,
        Certificate::from_der(ca_der).map_err(bad)?,
    ];
    let key_id = ca_core::random_id();
    let mut store = KeyStore::new();
    store.add_entry(
        "technological",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
            key.pkcs8.as_slice(),
            key_id.as_bytes(),
            chain,
        )),
    );
    store
        .writer(pin)
        .encryption_iterations(100_000)
        .mac_iterations(100_000)
        .write()
        .map_err(bad)
}

impl Authority {
    /// Issues a technological certificate for a person (1.76.1–1.76.2),
    /// from their CSR or from a key generated here.
    pub fn technological_certificate(
        &self,
        actor: &str,
        person_id: &str,
        key: TechnologicalKey,
    ) -> Result<TechnologicalIssued> {
        let object = format!("person:{person_id}");
        self.recording(actor, "certificate.technological", object, || match key {
            TechnologicalKey::Csr(pem) => {
                let csr = ca_core::csr::from_pem(pem.as_bytes())?;
                let (serial, certificate) =
                    self.issue_technological(actor, person_id, csr.request.info.public_key)?;
                Ok(TechnologicalIssued {
                    serial,
                    certificate,
                    pkcs12: None,
                })
            }
            TechnologicalKey::Generated { pin } => {
                // The PIN is the only thing between the envelope's finder
                // and the key: the password rules apply (issue 9 defect 18).
                self.policies
                    .rules
                    .passwords
                    .check(&pin)
                    .map_err(|e| Error::invalid(format!("PIN: {}", e.message())))?;
                let key = generate()?;
                let spki = SubjectPublicKeyInfoOwned::from_der(&key.spki_der)
                    .map_err(|e| Error::internal(e.to_string()))?;
                let (serial, certificate) = self.issue_technological(actor, person_id, spki)?;
                let p12 = pkcs12(&key, &certificate, self.ca.certificate_der(), &pin)?;
                Ok(TechnologicalIssued {
                    serial,
                    certificate,
                    pkcs12: Some(p12),
                })
            }
        })
    }

    /// Issues a technological certificate for a person's key.
    pub fn issue_technological(
        &self,
        actor: &str,
        person_id: &str,
        public_key: SubjectPublicKeyInfoOwned,
    ) -> Result<(String, Vec<u8>)> {
        let object = format!("person:{person_id}");
        self.recording(actor, "certificate.technological", object, || {
            let reservation = self.reserve_technological(actor, person_id, public_key)?;
            let der = self.finish_issuance(actor, &reservation)?;
            Ok((reservation.serial, der))
        })
    }

    /// Signs and stores a reserved certificate (the second step of
    /// [`issue_technological`](Self::issue_technological)).
    pub fn finish_issuance(&self, actor: &str, reservation: &Reservation) -> Result<Vec<u8>> {
        self.complete(actor, reservation)
    }

    /// The first step of [`issue_technological`](Self::issue_technological):
    /// checks the person and key, reserves the serial and records the
    /// TBSCertificate, and stops before signing.
    pub fn reserve_technological(
        &self,
        actor: &str,
        person_id: &str,
        public_key: SubjectPublicKeyInfoOwned,
    ) -> Result<Reservation> {
        let key =
            PublicKey::from_spki(&public_key).map_err(|e| Error::reason(Reason::WeakKey, e.0))?;
        self.policies
            .profiles
            .get(ProfileKind::Technological)
            .check_key(key.algorithm())?;
        let now = self.now();
        self.write(|tx| {
            let reg = tx
                .person(person_id)?
                .ok_or_else(|| Error::not_found(format!("no person {person_id}")))?;
            check_technological(&reg.person, now)?;
            self.reserve(
                tx,
                actor,
                ToIssue {
                    person_id,
                    profile: ProfileKind::Technological,
                    subject: reg.person.subject.to_name()?,
                    public_key: public_key.clone(),
                    authority_valid_until: reg.person.authority_valid_until,
                    request_id: None,
                    predecessor: None,
                    checked_key: None,
                },
            )
        })
    }
}
