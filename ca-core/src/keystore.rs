//! The CA's key store on disk: `ca.key.pem` (PKCS#8, optionally encrypted
//! with a passphrase) and `ca.cert.pem`, in the data directory.
//!
//! - First start: a key is generated, the key file written owner-only (0600,
//!   directory 0700), and a self-signed CA certificate made from `ca.toml`.
//! - Later starts, or a CA issued by a parent: both files are loaded and
//!   checked to belong together; a key file that others may read is refused.
//!
//! The key never leaves this module and [`crate::signer`] except as a signer.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use der::pem::LineEnding;
use pkcs8::{EncryptedPrivateKeyInfo, SecretDocument};
use zeroize::Zeroizing;

use std::sync::Arc;

use der::Decode;

use crate::authority::{CertificateAuthority, PublicationUrls};
use crate::error::{Error, ErrorKind, Result};
use crate::pkcs11::{Pkcs11Signer, RsaHash, Token};
use crate::policy::CaPolicy;
use crate::signer::SoftwareSigner;

/// The private key file name.
pub const KEY_FILE: &str = "ca.key.pem";
/// The CA certificate file name.
pub const CERT_FILE: &str = "ca.cert.pem";

/// PBKDF2-HMAC-SHA256 rounds for an encrypted key file (OWASP 2023 figure).
const PBKDF2_ROUNDS: u32 = 600_000;

/// Whether the CA was created now or loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    /// A new key and self-signed certificate were written.
    Created,
    /// An existing key and certificate were loaded.
    Loaded,
}

/// Opens the CA in `dir`, creating it on first start.
///
/// `passphrase` encrypts a new key file and decrypts an encrypted one.
pub fn open_or_create(
    dir: &Path,
    policy: &CaPolicy,
    passphrase: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Result<(CertificateAuthority, Opened)> {
    let key_path = dir.join(KEY_FILE);
    let cert_path = dir.join(CERT_FILE);
    match (key_path.exists(), cert_path.exists()) {
        (true, true) => Ok((
            load(&key_path, &cert_path, policy, passphrase)?,
            Opened::Loaded,
        )),
        (false, false) => Ok((create(dir, policy, passphrase, now)?, Opened::Created)),
        (true, false) => Err(Error::key_store(format!(
            "{} exists but {} does not: put the CA certificate for this key there \
             (or remove the key if an interrupted first start left it)",
            key_path.display(),
            cert_path.display()
        ))),
        (false, true) => Err(Error::key_store(format!(
            "{} exists but its key {} does not",
            cert_path.display(),
            key_path.display()
        ))),
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::key_store(format!("{}: {e}", path.display()))
}

fn create(
    dir: &Path,
    policy: &CaPolicy,
    passphrase: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Result<CertificateAuthority> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_error(dir))?;
    let (signer, pkcs8) = SoftwareSigner::generate(policy.key_algorithm)?;
    let key_pem = key_to_pem(&pkcs8, passphrase)?;
    let ca = CertificateAuthority::create_self_signed(Box::new(signer), policy, now)?;
    let cert_pem = der::pem::encode_string("CERTIFICATE", LineEnding::LF, ca.certificate_der())
        .map_err(|e| Error::internal(e.to_string()))?;
    // Both go to temporary names first; the certificate is renamed into place
    // last, so a crash leaves either nothing or a key without a certificate,
    // which the next start reports instead of silently making a second CA.
    let key_tmp = dir.join(format!("{KEY_FILE}.tmp"));
    let cert_tmp = dir.join(format!("{CERT_FILE}.tmp"));
    write_new(&key_tmp, key_pem.as_bytes(), 0o600)?;
    write_new(&cert_tmp, cert_pem.as_bytes(), 0o644)?;
    fs::rename(&key_tmp, dir.join(KEY_FILE)).map_err(io_error(&key_tmp))?;
    fs::rename(&cert_tmp, dir.join(CERT_FILE)).map_err(io_error(&cert_tmp))?;
    Ok(ca)
}

fn write_new(path: &PathBuf, bytes: &[u8], mode: u32) -> Result<()> {
    let _ = fs::remove_file(path); // a leftover from an interrupted start
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_error(path))?;
    f.write_all(bytes).map_err(io_error(path))?;
    f.sync_all().map_err(io_error(path))
}

fn key_to_pem(pkcs8: &[u8], passphrase: Option<&[u8]>) -> Result<Zeroizing<String>> {
    let pem_err = |e: pkcs8::Error| Error::key_store(format!("key encoding: {e}"));
    match passphrase {
        None => SecretDocument::try_from(pkcs8)
            .map_err(|e| Error::key_store(e.to_string()))?
            .to_pem("PRIVATE KEY", LineEnding::LF)
            .map_err(|e| Error::key_store(e.to_string())),
        Some(pass) => {
            let mut salt = [0u8; 16];
            let mut iv = [0u8; 16];
            aws_lc_rs::rand::fill(&mut salt).map_err(|_| Error::key_store("CSPRNG failed"))?;
            aws_lc_rs::rand::fill(&mut iv).map_err(|_| Error::key_store("CSPRNG failed"))?;
            let params =
                pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ROUNDS, &salt, &iv)
                    .map_err(|e| Error::key_store(format!("key encryption: {e}")))?;
            pkcs8::PrivateKeyInfo::try_from(pkcs8)
                .and_then(|info| info.encrypt_with_params(params, pass))
                .map_err(pem_err)?
                .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
                .map_err(|e| Error::key_store(e.to_string()))
        }
    }
}

fn load(
    key_path: &Path,
    cert_path: &Path,
    policy: &CaPolicy,
    passphrase: Option<&[u8]>,
) -> Result<CertificateAuthority> {
    let signer = load_key(key_path, passphrase)?;
    CertificateAuthority::new(
        Box::new(signer),
        read_certificate(cert_path)?,
        PublicationUrls::from_policy(policy),
    )
}

/// Reads the PEM CA certificate.
fn read_certificate(cert_path: &Path) -> Result<Vec<u8>> {
    let cert_pem = fs::read_to_string(cert_path).map_err(io_error(cert_path))?;
    let (label, cert_der) = der::pem::decode_vec(cert_pem.as_bytes()).map_err(|e| {
        Error::key_store(format!(
            "{}: not a PEM certificate: {e}",
            cert_path.display()
        ))
    })?;
    if label != "CERTIFICATE" {
        return Err(Error::key_store(format!(
            "{}: PEM label {label:?} is not CERTIFICATE",
            cert_path.display()
        )));
    }
    Ok(cert_der)
}

/// Writes the CA certificate through a temporary name, so a crash leaves
/// either no certificate or the whole one.
fn write_certificate(dir: &Path, der: &[u8]) -> Result<()> {
    let pem = der::pem::encode_string("CERTIFICATE", LineEnding::LF, der)
        .map_err(|e| Error::internal(e.to_string()))?;
    let tmp = dir.join(format!("{CERT_FILE}.tmp"));
    write_new(&tmp, pem.as_bytes(), 0o644)?;
    fs::rename(&tmp, dir.join(CERT_FILE)).map_err(io_error(&tmp))
}

/// Opens the CA whose key is the pair labelled `key_label` on `token`, and
/// whose certificate is `ca.cert.pem` in `dir`.
///
/// - First start (no certificate, no key of that label on the token): the
///   key pair is generated on the token (sensitive, not extractable) and a
///   self-signed certificate written.
/// - A certificate issued by a parent CA for a key made on the token
///   (`pkcs11-tool --keypairgen`) is installed by putting it at
///   `ca.cert.pem`.
/// - A token that cannot be reached at a later start is not fatal: the
///   public key comes from the certificate, reads are served, and signing
///   answers `signer_unavailable` until the token returns.
pub fn open_or_create_on_token(
    dir: &Path,
    policy: &CaPolicy,
    token: &Arc<Token>,
    key_label: &str,
    now: DateTime<Utc>,
) -> Result<(CertificateAuthority, Opened)> {
    if dir.join(KEY_FILE).exists() {
        return Err(Error::key_store(format!(
            "{} exists, but the CA key is configured to be on token {:?}: move the \
             file away (or stop configuring the token) so there is one CA key",
            dir.join(KEY_FILE).display(),
            token.label()
        )));
    }
    let cert_path = dir.join(CERT_FILE);
    if cert_path.exists() {
        let cert_der = read_certificate(&cert_path)?;
        let cert = x509_cert::Certificate::from_der(&cert_der)
            .map_err(|e| Error::key_store(format!("{}: {e}", cert_path.display())))?;
        let spki = cert.tbs_certificate.subject_public_key_info;
        match token.public_key(key_label) {
            Ok(on_token) if on_token != spki => {
                return Err(Error::key_store(format!(
                    "the key labelled {key_label:?} on token {:?} is not the key of {}",
                    token.label(),
                    cert_path.display()
                )))
            }
            Ok(_) => {}
            // Away now: signing waits for it (and checks every signature
            // against the certificate's key); the server reports it.
            Err(e) if e.kind() == ErrorKind::SignerUnavailable => {}
            Err(e) => return Err(e),
        }
        let signer = Pkcs11Signer::new(token.clone(), key_label, spki, RsaHash::Sha256)?;
        return Ok((
            CertificateAuthority::new(
                Box::new(signer),
                cert_der,
                PublicationUrls::from_policy(policy),
            )?,
            Opened::Loaded,
        ));
    }
    if token.has_key(key_label)? {
        return Err(Error::key_store(format!(
            "a key labelled {key_label:?} is on token {:?} but {} does not exist: put the \
             CA certificate for this key there (or delete the key, e.g. with `pkcs11-tool \
             --delete-object --type privkey --label {key_label}`, if an interrupted first \
             start left it)",
            token.label(),
            cert_path.display()
        )));
    }
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let spki = token.generate(key_label, policy.key_algorithm)?;
    let signer = Pkcs11Signer::new(token.clone(), key_label, spki, RsaHash::Sha256)?;
    let ca = CertificateAuthority::create_self_signed(Box::new(signer), policy, now)?;
    write_certificate(dir, ca.certificate_der())?;
    Ok((ca, Opened::Created))
}

/// The delegated OCSP responder's key on the token (P-256, labelled
/// `key_label`), generated there on first use.
pub fn open_or_create_ocsp_key_on_token(
    token: &Arc<Token>,
    key_label: &str,
) -> Result<Pkcs11Signer> {
    if !token.has_key(key_label)? {
        token.generate(key_label, crate::policy::CaKeyAlgorithm::EcdsaP256)?;
    }
    Pkcs11Signer::open(token.clone(), key_label, RsaHash::Sha256)
}

/// Reads a PKCS#8 key file (encrypted with `passphrase` or not), refusing
/// one that others may read.
fn load_key(key_path: &Path, passphrase: Option<&[u8]>) -> Result<SoftwareSigner> {
    let mode = fs::metadata(key_path)
        .map_err(io_error(key_path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Error::key_store(format!(
            "{} is readable by others (mode {:o}); run: chmod 600 {}",
            key_path.display(),
            mode & 0o777,
            key_path.display()
        )));
    }
    let key_pem = Zeroizing::new(fs::read_to_string(key_path).map_err(io_error(key_path))?);
    let (label, doc) = SecretDocument::from_pem(&key_pem)
        .map_err(|e| Error::key_store(format!("{}: not a PEM key: {e}", key_path.display())))?;
    let pkcs8 = match label {
        "PRIVATE KEY" => doc,
        "ENCRYPTED PRIVATE KEY" => {
            let pass = passphrase.ok_or_else(|| {
                Error::key_store(format!(
                    "{} is encrypted: set CA_KEY_PASSPHRASE",
                    key_path.display()
                ))
            })?;
            EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
                .and_then(|info| info.decrypt(pass))
                .map_err(|_| {
                    Error::key_store(format!(
                        "{}: cannot decrypt (wrong passphrase?)",
                        key_path.display()
                    ))
                })?
        }
        other => {
            return Err(Error::key_store(format!(
                "{}: PEM label {other:?}; expected PKCS#8 (convert with `openssl pkcs8 -topk8`)",
                key_path.display()
            )))
        }
    };
    let signer = SoftwareSigner::from_pkcs8(pkcs8.as_bytes())?;
    Ok(signer)
}

/// The OCSP responder's key file, beside the CA key.
pub const OCSP_KEY_FILE: &str = "ocsp.key.pem";

/// The delegated OCSP responder's key (RFC 6960 §4.2.2.2): `ocsp.key.pem`
/// in the data directory, P-256, owner-only and encrypted like the CA key;
/// generated on first use. Its certificate is short-lived and issued by
/// the CA at start and before it ends (`ca-authority`), so nothing but the
/// key is kept.
pub fn open_or_create_ocsp_key(dir: &Path, passphrase: Option<&[u8]>) -> Result<SoftwareSigner> {
    let path = dir.join(OCSP_KEY_FILE);
    if path.exists() {
        return load_key(&path, passphrase);
    }
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let (signer, pkcs8) = SoftwareSigner::generate(crate::policy::CaKeyAlgorithm::EcdsaP256)?;
    let pem = key_to_pem(&pkcs8, passphrase)?;
    let tmp = dir.join(format!("{OCSP_KEY_FILE}.tmp"));
    write_new(&tmp, pem.as_bytes(), 0o600)?;
    fs::rename(&tmp, &path).map_err(io_error(&tmp))?;
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::CaSigner;

    /// The OCSP responder's key is made once, owner-only, encrypted like
    /// the CA key when a passphrase is set, and the same key on every start.
    #[test]
    fn the_ocsp_key_is_created_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = open_or_create_ocsp_key(dir.path(), Some(b"pass phrase")).unwrap();
        let path = dir.path().join(OCSP_KEY_FILE);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(fs::read_to_string(&path)
            .unwrap()
            .contains("ENCRYPTED PRIVATE KEY"));
        let again = open_or_create_ocsp_key(dir.path(), Some(b"pass phrase")).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        assert!(open_or_create_ocsp_key(dir.path(), Some(b"wrong")).is_err());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(open_or_create_ocsp_key(dir.path(), Some(b"pass phrase")).is_err());
    }
}
