//! Requesters' public keys: what they are, and checking their signatures.
//!
//! Verification uses the pure-Rust `rsa`, `p256` and `p384` crates (SPEC §7:
//! they are safe for public-key operations; the CA's own private key lives in
//! [`crate::signer`] on aws-lc-rs).

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::goodkey;
use crate::oids;

/// Largest RSA modulus we will even parse; the profile decides what is allowed.
const RSA_PARSE_LIMIT_BITS: usize = 16384;

/// The algorithm and size of a public key, as the key policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA with a modulus of this many bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::EcP256 => f.write_str("ECDSA P-256"),
            KeyAlgorithm::EcP384 => f.write_str("ECDSA P-384"),
        }
    }
}

/// A digest algorithm allowed in signatures (SHA-2 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// The digest algorithm named by a digest `AlgorithmIdentifier` OID.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            oids::SHA256 => Some(DigestAlgorithm::Sha256),
            oids::SHA384 => Some(DigestAlgorithm::Sha384),
            oids::SHA512 => Some(DigestAlgorithm::Sha512),
            _ => None,
        }
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            DigestAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
            DigestAlgorithm::Sha384 => Sha384::digest(data).to_vec(),
            DigestAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// A signature algorithm: the key family and the digest it signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureAlgorithm {
    rsa: bool,
    digest: DigestAlgorithm,
}

impl SignatureAlgorithm {
    /// Reads a signature `AlgorithmIdentifier`. CMS SignerInfos may name the
    /// bare key algorithm (`rsaEncryption`), in which case `digest` (the
    /// SignerInfo's digestAlgorithm) supplies the hash.
    pub fn from_identifier(
        alg: &AlgorithmIdentifierOwned,
        digest: Option<DigestAlgorithm>,
    ) -> Option<Self> {
        use DigestAlgorithm::*;
        let (rsa, named) = match alg.oid {
            oids::SHA256_WITH_RSA => (true, Some(Sha256)),
            oids::SHA384_WITH_RSA => (true, Some(Sha384)),
            oids::SHA512_WITH_RSA => (true, Some(Sha512)),
            oids::ECDSA_WITH_SHA256 => (false, Some(Sha256)),
            oids::ECDSA_WITH_SHA384 => (false, Some(Sha384)),
            oids::ECDSA_WITH_SHA512 => (false, Some(Sha512)),
            oids::RSA_ENCRYPTION => (true, None),
            oids::EC_PUBLIC_KEY => (false, None),
            _ => return None,
        };
        let digest = match (named, digest) {
            (Some(n), Some(d)) if n != d => return None,
            (Some(n), _) => n,
            (None, d) => d?,
        };
        Some(SignatureAlgorithm { rsa, digest })
    }

    /// The digest this algorithm signs.
    pub fn digest(self) -> DigestAlgorithm {
        self.digest
    }
}

/// Why a public key cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedKey(pub String);

impl From<goodkey::Problem> for UnsupportedKey {
    fn from(p: goodkey::Problem) -> Self {
        UnsupportedKey(p.to_string())
    }
}

enum Verifier {
    Rsa(rsa::RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// A parsed public key that can verify signatures.
pub struct PublicKey {
    spki: SubjectPublicKeyInfoOwned,
    spki_der: Vec<u8>,
    algorithm: KeyAlgorithm,
    verifier: Verifier,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("sha256", &hex::encode(self.sha256_fingerprint()))
            .finish()
    }
}

impl PublicKey {
    /// Parses a SubjectPublicKeyInfo. RSA and ECDSA P-256/P-384 are known;
    /// any other algorithm is [`UnsupportedKey`].
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, UnsupportedKey> {
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| UnsupportedKey("public key is not a whole number of octets".into()))?;
        let (algorithm, verifier) = match spki.algorithm.oid {
            oids::RSA_ENCRYPTION => {
                let key = rsa::pkcs1::RsaPublicKey::from_der(bits)
                    .map_err(|e| UnsupportedKey(format!("bad RSA public key: {e}")))?;
                let n = rsa::BigUint::from_bytes_be(key.modulus.as_bytes());
                let e = rsa::BigUint::from_bytes_be(key.public_exponent.as_bytes());
                let key = rsa::RsaPublicKey::new_with_max_size(
                    n.clone(),
                    e.clone(),
                    RSA_PARSE_LIMIT_BITS,
                )
                .map_err(|err| {
                    // Name the key-quality check when it is why the key
                    // cannot even be used (even modulus or exponent, SPEC
                    // §3.2 weak_key); the others run in the profile's check.
                    goodkey::rsa_even_modulus(&n)
                        .and_then(|()| goodkey::rsa_exponent(&e))
                        .err()
                        .map_or_else(
                            || UnsupportedKey(format!("unusable RSA public key: {err}")),
                            UnsupportedKey::from,
                        )
                })?;
                let bits = rsa::traits::PublicKeyParts::n(&key).bits();
                (KeyAlgorithm::Rsa { bits }, Verifier::Rsa(key))
            }
            oids::EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                    .ok_or_else(|| UnsupportedKey("EC key without a named curve".into()))?;
                // A point that does not decode is named by the ec_point check
                // (off the curve, or the point at infinity).
                let bad_point = |alg: KeyAlgorithm| {
                    goodkey::ec_point(alg, bits)
                        .err()
                        .map_or_else(|| UnsupportedKey(format!("bad {alg} point")), Into::into)
                };
                match curve {
                    oids::SECP256R1 => (
                        KeyAlgorithm::EcP256,
                        Verifier::P256(
                            p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                                .map_err(|_| bad_point(KeyAlgorithm::EcP256))?,
                        ),
                    ),
                    oids::SECP384R1 => (
                        KeyAlgorithm::EcP384,
                        Verifier::P384(
                            p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                                .map_err(|_| bad_point(KeyAlgorithm::EcP384))?,
                        ),
                    ),
                    other => {
                        return Err(UnsupportedKey(format!("EC curve {other} is not supported")))
                    }
                }
            }
            other => {
                return Err(UnsupportedKey(format!(
                    "key algorithm {other} is not supported"
                )))
            }
        };
        // The key in one encoding only (RSA with NULL parameters, EC points
        // uncompressed): what is hashed for duplicate_key and certified, so
        // re-encoding the same key cannot pass as a new one.
        let spki = canonical_spki(&verifier, spki)?;
        let spki_der = spki
            .to_der()
            .map_err(|e| UnsupportedKey(format!("cannot re-encode the key: {e}")))?;
        Ok(PublicKey {
            spki,
            spki_der,
            algorithm,
            verifier,
        })
    }

    /// The key's algorithm and size.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The SubjectPublicKeyInfo.
    pub fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    /// The DER of the SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The subjectPublicKey bits (for EC keys the uncompressed SEC 1 point).
    pub fn subject_public_key(&self) -> &[u8] {
        self.spki.subject_public_key.raw_bytes()
    }

    /// The RSA key, for the key-quality checks of [`crate::goodkey`].
    pub(crate) fn rsa(&self) -> Option<&rsa::RsaPublicKey> {
        match &self.verifier {
            Verifier::Rsa(key) => Some(key),
            _ => None,
        }
    }

    /// SHA-256 over the DER SubjectPublicKeyInfo: the fingerprint printed on the
    /// acceptance act and used to find duplicate keys.
    pub fn sha256_fingerprint(&self) -> [u8; 32] {
        Sha256::digest(&self.spki_der).into()
    }

    /// The key identifier of RFC 5280 §4.2.1.2 method 1 (SHA-1 of the
    /// subjectPublicKey bits), as openssl and CryptoAPI compute it.
    pub fn key_identifier(&self) -> [u8; 20] {
        key_identifier(&self.spki)
    }

    /// Verifies `signature` over `message` with `alg`, with aws-lc-rs (SPEC
    /// §7: several times the pure-Rust verification here; the RustCrypto
    /// types stay for parsing and the key-quality checks). Any failure is
    /// `false`: the caller reports it with the reason code that fits where
    /// it was. RSA keys below 2048 bits are verified too (through
    /// aws-lc-rs's legacy parameters), so that such a request is refused
    /// as `weak_key` by the profile's check, not as a bad signature.
    pub fn verify(&self, alg: SignatureAlgorithm, message: &[u8], signature: &[u8]) -> bool {
        use aws_lc_rs::signature as sig;
        let small_rsa = matches!(self.algorithm, KeyAlgorithm::Rsa { bits } if bits < 2048);
        let params: &'static dyn sig::VerificationAlgorithm =
            match (self.algorithm, alg.rsa, alg.digest) {
                (KeyAlgorithm::Rsa { .. }, true, DigestAlgorithm::Sha256) if small_rsa => {
                    &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
                }
                (KeyAlgorithm::Rsa { .. }, true, DigestAlgorithm::Sha512) if small_rsa => {
                    &sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
                }
                (KeyAlgorithm::Rsa { .. }, true, DigestAlgorithm::Sha256) => {
                    &sig::RSA_PKCS1_2048_8192_SHA256
                }
                (KeyAlgorithm::Rsa { .. }, true, DigestAlgorithm::Sha384) => {
                    &sig::RSA_PKCS1_2048_8192_SHA384
                }
                (KeyAlgorithm::Rsa { .. }, true, DigestAlgorithm::Sha512) => {
                    &sig::RSA_PKCS1_2048_8192_SHA512
                }
                (KeyAlgorithm::EcP256, false, DigestAlgorithm::Sha256) => {
                    &sig::ECDSA_P256_SHA256_ASN1
                }
                (KeyAlgorithm::EcP256, false, DigestAlgorithm::Sha384) => {
                    &sig::ECDSA_P256_SHA384_ASN1
                }
                (KeyAlgorithm::EcP256, false, DigestAlgorithm::Sha512) => {
                    &sig::ECDSA_P256_SHA512_ASN1
                }
                (KeyAlgorithm::EcP384, false, DigestAlgorithm::Sha256) => {
                    &sig::ECDSA_P384_SHA256_ASN1
                }
                (KeyAlgorithm::EcP384, false, DigestAlgorithm::Sha384) => {
                    &sig::ECDSA_P384_SHA384_ASN1
                }
                (KeyAlgorithm::EcP384, false, DigestAlgorithm::Sha512) => {
                    &sig::ECDSA_P384_SHA512_ASN1
                }
                // Small RSA with SHA-384 (no legacy parameters for it).
                _ => return self.verify_rustcrypto(alg, message, signature),
            };
        sig::UnparsedPublicKey::new(params, self.spki.subject_public_key.raw_bytes())
            .verify(message, signature)
            .is_ok()
    }

    /// The pure-Rust verification, for what aws-lc-rs has no parameters for.
    fn verify_rustcrypto(&self, alg: SignatureAlgorithm, message: &[u8], signature: &[u8]) -> bool {
        let hash = alg.digest.digest(message);
        match (&self.verifier, alg.rsa) {
            (Verifier::Rsa(key), true) => {
                let scheme = match alg.digest {
                    DigestAlgorithm::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                    DigestAlgorithm::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                    DigestAlgorithm::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
                };
                key.verify(scheme, &hash, signature).is_ok()
            }
            (Verifier::P256(key), false) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|sig| key.verify_prehash(&hash, &sig).is_ok()),
            (Verifier::P384(key), false) => p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|sig| key.verify_prehash(&hash, &sig).is_ok()),
            _ => false,
        }
    }
}

/// The canonical SubjectPublicKeyInfo of a parsed key.
fn canonical_spki(
    verifier: &Verifier,
    given: &SubjectPublicKeyInfoOwned,
) -> Result<SubjectPublicKeyInfoOwned, UnsupportedKey> {
    let bad = |e: &dyn std::fmt::Display| UnsupportedKey(format!("cannot re-encode the key: {e}"));
    match verifier {
        Verifier::Rsa(key) => {
            use rsa::pkcs8::EncodePublicKey;
            let der = key.to_public_key_der().map_err(|e| bad(&e))?;
            SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(|e| bad(&e))
        }
        Verifier::P256(key) => ec_spki(given, key.to_encoded_point(false).as_bytes()),
        Verifier::P384(key) => ec_spki(given, key.to_encoded_point(false).as_bytes()),
    }
}

fn ec_spki(
    given: &SubjectPublicKeyInfoOwned,
    point: &[u8],
) -> Result<SubjectPublicKeyInfoOwned, UnsupportedKey> {
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: given.algorithm.clone(),
        subject_public_key: der::asn1::BitString::from_bytes(point)
            .map_err(|e| UnsupportedKey(format!("cannot re-encode the key: {e}")))?,
    })
}

/// SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 §4.2.1.2 (1)).
pub fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> [u8; 20] {
    Sha1::digest(spki.subject_public_key.raw_bytes()).into()
}
