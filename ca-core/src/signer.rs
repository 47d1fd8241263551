//! The CA's signing key, behind a small interface so that a PKCS#11 HSM can
//! take its place (SPEC §7). The software implementation uses aws-lc-rs.
//!
//! Nothing here prints, logs or returns private key material; `Debug` shows
//! the algorithm only.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
    RSA_PKCS1_SHA256,
};
use der::asn1::{Any, ObjectIdentifier};
use der::Decode;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::oids;
use crate::policy::CaKeyAlgorithm;

/// What the CA needs from its key: an algorithm identifier, the public key,
/// and signatures over messages.
pub trait CaSigner: Send + Sync {
    /// The signatureAlgorithm written into certificates and CRLs.
    fn algorithm(&self) -> AlgorithmIdentifierOwned;
    /// The public key.
    fn public_key(&self) -> &SubjectPublicKeyInfoOwned;
    /// Signs `message` (the signer hashes it).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
    /// Whether the key can sign now (for `/health`); a key in memory always can.
    fn check(&self) -> Result<()> {
        Ok(())
    }
}

enum Key {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ecdsa(EcdsaKeyPair, ObjectIdentifier),
}

/// A CA key held in process memory by aws-lc-rs.
pub struct SoftwareSigner {
    key: Key,
    spki: SubjectPublicKeyInfoOwned,
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let alg = match &self.key {
            Key::Rsa(k) => format!("RSA {}", k.public_modulus_len() * 8),
            Key::Ecdsa(_, sig) => format!("ECDSA ({sig})"),
        };
        f.debug_struct("SoftwareSigner")
            .field("algorithm", &alg)
            .finish_non_exhaustive()
    }
}

fn key_error(what: &str) -> impl Fn(aws_lc_rs::error::Unspecified) -> Error + '_ {
    move |_| Error::key_store(format!("{what} failed"))
}

impl SoftwareSigner {
    /// Generates a new key; returns the signer and its unencrypted PKCS#8 DER
    /// (zeroed on drop) for the key store to write.
    pub fn generate(alg: CaKeyAlgorithm) -> Result<(Self, Zeroizing<Vec<u8>>)> {
        use aws_lc_rs::rsa::KeySize;
        let pkcs8 = match alg {
            CaKeyAlgorithm::Rsa2048 | CaKeyAlgorithm::Rsa3072 | CaKeyAlgorithm::Rsa4096 => {
                let size = match alg {
                    CaKeyAlgorithm::Rsa2048 => KeySize::Rsa2048,
                    CaKeyAlgorithm::Rsa3072 => KeySize::Rsa3072,
                    _ => KeySize::Rsa4096,
                };
                let key = aws_lc_rs::rsa::KeyPair::generate(size)
                    .map_err(key_error("RSA key generation"))?;
                let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key)
                    .map_err(key_error("PKCS#8 encoding"))?;
                Zeroizing::new(der.as_ref().to_vec())
            }
            CaKeyAlgorithm::EcdsaP256 | CaKeyAlgorithm::EcdsaP384 => {
                let sig_alg = if alg == CaKeyAlgorithm::EcdsaP256 {
                    &ECDSA_P256_SHA256_ASN1_SIGNING
                } else {
                    &ECDSA_P384_SHA384_ASN1_SIGNING
                };
                let key =
                    EcdsaKeyPair::generate(sig_alg).map_err(key_error("EC key generation"))?;
                let doc = key.to_pkcs8v1().map_err(key_error("PKCS#8 encoding"))?;
                Zeroizing::new(doc.as_ref().to_vec())
            }
        };
        Ok((SoftwareSigner::from_pkcs8(&pkcs8)?, pkcs8))
    }

    /// Loads an unencrypted PKCS#8 private key (RSA, or EC on P-256/P-384).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self> {
        let info = pkcs8::PrivateKeyInfo::from_der(der)
            .map_err(|e| Error::key_store(format!("the CA key is not PKCS#8: {e}")))?;
        let key = match info.algorithm.oid {
            oids::RSA_ENCRYPTION => Key::Rsa(
                aws_lc_rs::rsa::KeyPair::from_pkcs8(der)
                    .map_err(|e| Error::key_store(format!("the CA's RSA key is unusable: {e}")))?,
            ),
            oids::EC_PUBLIC_KEY => {
                let curve = info
                    .algorithm
                    .parameters_oid()
                    .map_err(|_| Error::key_store("the CA's EC key names no curve"))?;
                let (alg, sig_oid) = match curve {
                    oids::SECP256R1 => (&ECDSA_P256_SHA256_ASN1_SIGNING, oids::ECDSA_WITH_SHA256),
                    oids::SECP384R1 => (&ECDSA_P384_SHA384_ASN1_SIGNING, oids::ECDSA_WITH_SHA384),
                    other => {
                        return Err(Error::key_store(format!(
                            "EC curve {other} is not supported"
                        )))
                    }
                };
                let key = EcdsaKeyPair::from_pkcs8(alg, der)
                    .map_err(|e| Error::key_store(format!("the CA's EC key is unusable: {e}")))?;
                Key::Ecdsa(key, sig_oid)
            }
            other => {
                return Err(Error::key_store(format!(
                    "CA key algorithm {other} is not supported"
                )))
            }
        };
        let spki_der = match &key {
            Key::Rsa(k) => AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(k.public_key())
                .map_err(key_error("public key encoding"))?
                .as_ref()
                .to_vec(),
            Key::Ecdsa(k, _) => {
                AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(k.public_key())
                    .map_err(key_error("public key encoding"))?
                    .as_ref()
                    .to_vec()
            }
        };
        let spki = SubjectPublicKeyInfoOwned::from_der(&spki_der)
            .map_err(|e| Error::key_store(format!("public key: {e}")))?;
        Ok(SoftwareSigner { key, spki })
    }
}

impl CaSigner for SoftwareSigner {
    fn algorithm(&self) -> AlgorithmIdentifierOwned {
        match &self.key {
            // RFC 4055 §5: the parameters of sha256WithRSAEncryption are NULL.
            Key::Rsa(_) => AlgorithmIdentifierOwned {
                oid: oids::SHA256_WITH_RSA,
                parameters: Some(Any::null()),
            },
            // RFC 5758 §3.2: ECDSA identifiers have absent parameters.
            Key::Ecdsa(_, oid) => AlgorithmIdentifierOwned {
                oid: *oid,
                parameters: None,
            },
        }
    }

    fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(key_error("RSA signing"))?;
                Ok(sig)
            }
            Key::Ecdsa(k, _) => Ok(k
                .sign(&rng, message)
                .map_err(key_error("ECDSA signing"))?
                .as_ref()
                .to_vec()),
        }
    }
}
