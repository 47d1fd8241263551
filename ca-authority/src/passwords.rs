//! Operator secrets (SPEC §5): argon2id password hashes (a slow salted
//! hash), bearer tokens kept only as SHA-256 hashes.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use sha2::{Digest, Sha256};

use ca_core::{Error, Result};

/// A valid argon2id hash of nothing anyone knows: verifying against it
/// costs what a real check costs, so an unknown user name answers as slowly
/// as a wrong password (no enumeration by timing).
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// argon2id with the crate's defaults (19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("password hashing: {e}")))
}

/// Checks a password against its stored hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The same work as [`verify_password`], for a user who does not exist.
pub(crate) fn verify_decoy(password: &str) {
    let _ = verify_password(DECOY_HASH, password);
}

/// A new bearer token and the hash under which it is stored.
pub fn new_token() -> (String, String) {
    let token = ca_core::random_id() + &ca_core::random_id();
    let hash = token_hash(&token);
    (token, hash)
}

/// SHA-256 of a token, hex: tokens are stored only this way.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A password that meets the rules, for the bootstrap admin.
pub fn generated_password() -> String {
    // 32 hex digits plus a fixed upper/lower/digit tail to meet the rules.
    format!("{}Ca9x", ca_core::random_id())
}
