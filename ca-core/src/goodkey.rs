//! Key quality (SPEC §3.2 `weak_key`), in one place.
//!
//! Modelled on Let's Encrypt Boulder's `goodkey` package: one named function
//! per check, each returning the [`Problem`] it found, and one entry point,
//! [`check_key`], that runs them in the order listed there. Every refusal
//! names its check ([`Check::name`]), so the message recorded with
//! `weak_key` says which rule the key broke.
//!
//! Where the rules come from:
//! - sizes: the profile's list, exactly (SPEC §3.2: RSA 2048/3072/4096 and
//!   ECDSA P-256/P-384 by default; Boulder allows only such common sizes);
//! - RSA modulus odd, not a prime power, no factor below 752: NIST SP 800-89
//!   §5.3.3 (partial public-key validation for RSA), CA/B Forum BR §6.1.6;
//! - RSA exponent odd and at least 65537: BR §6.1.6, FIPS 186-5 §5.4
//!   (`2^16 < e`); we also refuse `e >= 2^32`, as Boulder (whose Go type
//!   cannot hold more) effectively does;
//! - close factors: BR §6.1.1.3 (Fermat factorisation, at least 100 rounds);
//! - ROCA: Nemec et al., "The Return of Coppersmith's Attack", ACM CCS 2017
//!   (CVE-2017-15361), as detected by `crocs-muni/roca` and
//!   `titanous/rocacheck` (used by Boulder);
//! - EC points: NIST SP 800-56A rev. 3 §5.6.2.3.3 (on the curve, not the
//!   point at infinity).
//!
//! The checks read only the public key and take a few milliseconds even for
//! RSA-4096; none of them is constant-time, which is fine for public data.

use std::fmt;
use std::sync::LazyLock;

use rsa::traits::PublicKeyParts;
use rsa::BigUint;

use crate::error::{Error, Reason};
use crate::keys::{KeyAlgorithm, PublicKey};

/// The named key-quality checks, in the order [`check_key`] runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Check {
    /// The EC curve is one the profile allows.
    EcCurve,
    /// The EC point is on its curve and is not the point at infinity.
    EcPoint,
    /// The RSA modulus has exactly one of the profile's sizes.
    RsaModulusSize,
    /// The RSA modulus is odd.
    RsaEvenModulus,
    /// The RSA public exponent is odd, at least 65537 and below 2^32.
    RsaExponent,
    /// The RSA modulus has no prime factor below 752.
    RsaSmallFactors,
    /// The RSA modulus is not a perfect power (in particular not p^k).
    RsaPrimePower,
    /// The RSA modulus's factors are not close enough for Fermat's method.
    RsaFermat,
    /// The RSA modulus does not carry the ROCA (Infineon) fingerprint.
    RsaRoca,
}

impl Check {
    /// The check's stable name, as it appears in refusal messages.
    pub fn name(self) -> &'static str {
        match self {
            Check::EcCurve => "ec_curve",
            Check::EcPoint => "ec_point",
            Check::RsaModulusSize => "rsa_modulus_size",
            Check::RsaEvenModulus => "rsa_even_modulus",
            Check::RsaExponent => "rsa_exponent",
            Check::RsaSmallFactors => "rsa_small_factors",
            Check::RsaPrimePower => "rsa_prime_power",
            Check::RsaFermat => "rsa_fermat",
            Check::RsaRoca => "rsa_roca",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a key was refused: the check and what it found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    check: Check,
    detail: String,
}

impl Problem {
    fn new(check: Check, detail: impl Into<String>) -> Self {
        Problem {
            check,
            detail: detail.into(),
        }
    }

    /// The check that failed.
    pub fn check(&self) -> Check {
        self.check
    }

    /// What it found, for people.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.detail)
    }
}

impl std::error::Error for Problem {}

impl From<Problem> for Error {
    fn from(p: Problem) -> Self {
        Error::reason(Reason::WeakKey, p.to_string())
    }
}

/// Every key-quality check that applies to `key`, in order; the first
/// failure is the answer (SPEC §3.2 `weak_key`).
///
/// RSA: [`rsa_modulus_size`], [`rsa_even_modulus`], [`rsa_exponent`],
/// [`rsa_small_factors`], [`rsa_prime_power`], [`rsa_fermat`], [`rsa_roca`].
/// EC: [`ec_curve`], [`ec_point`].
pub fn check_key(
    key: &PublicKey,
    rsa_sizes: &[usize],
    ec_curves: &[KeyAlgorithm],
) -> Result<(), Problem> {
    match (key.algorithm(), key.rsa()) {
        (KeyAlgorithm::Rsa { .. }, Some(rsa)) => {
            let (n, e) = (rsa.n(), rsa.e());
            rsa_modulus_size(n.bits(), rsa_sizes)?;
            rsa_even_modulus(n)?;
            rsa_exponent(e)?;
            rsa_small_factors(n)?;
            rsa_prime_power(n)?;
            rsa_fermat(n)?;
            rsa_roca(n)
        }
        (alg, _) => {
            ec_curve(alg, ec_curves)?;
            ec_point(alg, key.subject_public_key())
        }
    }
}

/// The algorithm-and-size part alone ([`rsa_modulus_size`] or [`ec_curve`]),
/// for callers that only know the [`KeyAlgorithm`].
pub fn check_algorithm(
    alg: KeyAlgorithm,
    rsa_sizes: &[usize],
    ec_curves: &[KeyAlgorithm],
) -> Result<(), Problem> {
    match alg {
        KeyAlgorithm::Rsa { bits } => rsa_modulus_size(bits, rsa_sizes),
        ec => ec_curve(ec, ec_curves),
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = items.collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

/// `rsa_modulus_size`: the modulus has exactly one of the allowed sizes.
/// Sizes in between are refused too (Boulder allows 2048, 3072 and 4096
/// only, the sizes key generators actually produce).
pub fn rsa_modulus_size(bits: usize, allowed: &[usize]) -> Result<(), Problem> {
    if allowed.contains(&bits) {
        return Ok(());
    }
    Err(Problem::new(
        Check::RsaModulusSize,
        format!(
            "an RSA modulus of {bits} bits is not allowed (allowed: {})",
            list(allowed.iter().map(|b| format!("{b} bits")))
        ),
    ))
}

/// `ec_curve`: the curve is one the profile allows.
pub fn ec_curve(alg: KeyAlgorithm, allowed: &[KeyAlgorithm]) -> Result<(), Problem> {
    if !matches!(alg, KeyAlgorithm::Rsa { .. }) && allowed.contains(&alg) {
        return Ok(());
    }
    Err(Problem::new(
        Check::EcCurve,
        format!(
            "{alg} is not allowed (allowed curves: {})",
            list(allowed.iter().map(ToString::to_string))
        ),
    ))
}

/// `ec_point`: the SEC 1 encoding is a point on the curve and not the point
/// at infinity (NIST SP 800-56A rev. 3 §5.6.2.3.3 steps 1–3; step 4, the
/// order, holds for every point of these prime-order curves).
///
/// The `p256`/`p384` decoders already refuse points off the curve and the
/// identity; this names the refusal and refuses the one-octet infinity
/// encoding `0x00` (SEC 1 §2.3.3) explicitly rather than by accident.
pub fn ec_point(alg: KeyAlgorithm, sec1: &[u8]) -> Result<(), Problem> {
    if sec1.iter().all(|b| *b == 0) {
        return Err(Problem::new(
            Check::EcPoint,
            "the point at infinity (identity) is not a public key",
        ));
    }
    let on_curve = match alg {
        KeyAlgorithm::EcP256 => p256::PublicKey::from_sec1_bytes(sec1).is_ok(),
        KeyAlgorithm::EcP384 => p384::PublicKey::from_sec1_bytes(sec1).is_ok(),
        KeyAlgorithm::Rsa { .. } => false,
    };
    if on_curve {
        Ok(())
    } else {
        Err(Problem::new(
            Check::EcPoint,
            format!("not a valid point on {alg} (off the curve or badly encoded)"),
        ))
    }
}

/// `rsa_even_modulus`: the modulus is odd (SP 800-89 §5.3.3); an even one
/// has the factor 2.
pub fn rsa_even_modulus(n: &BigUint) -> Result<(), Problem> {
    if is_odd(n) {
        Ok(())
    } else {
        Err(Problem::new(Check::RsaEvenModulus, "the modulus is even"))
    }
}

/// `rsa_exponent`: the public exponent is odd, at least 65537 (BR §6.1.6,
/// FIPS 186-5 §5.4) and below 2^32. A small exponent is how broken
/// padding or low-entropy messages turn into recovered plaintext; nobody
/// generates exponents of 32 bits or more.
pub fn rsa_exponent(e: &BigUint) -> Result<(), Problem> {
    let detail = if !is_odd(e) {
        "is even"
    } else if *e < BigUint::from(65_537u32) {
        "is smaller than 65537"
    } else if e.bits() > 32 {
        "is 2^32 or more"
    } else {
        return Ok(());
    };
    Err(Problem::new(
        Check::RsaExponent,
        format!("the public exponent {e} {detail}"),
    ))
}

/// The primes below 2000, for the small-factor product and the exponents of
/// the perfect-power check.
static SMALL_PRIMES: LazyLock<Vec<u32>> = LazyLock::new(|| {
    const LIMIT: usize = 2000;
    let mut composite = vec![false; LIMIT];
    let mut primes = Vec::new();
    for i in 2..LIMIT {
        if !composite[i] {
            primes.push(i as u32);
            for j in (i * i..LIMIT).step_by(i) {
                composite[j] = true;
            }
        }
    }
    primes
});

/// The product of every prime below 752 (SP 800-89 §5.3.3), computed once.
static SMALL_PRIMORIAL: LazyLock<BigUint> = LazyLock::new(|| {
    SMALL_PRIMES
        .iter()
        .take_while(|p| **p < 752)
        .fold(BigUint::from(1u32), |all, p| all * *p)
});

/// `rsa_small_factors`: no prime below 752 divides the modulus: one gcd
/// with their product, as Boulder does (SP 800-89 §5.3.3, BR §6.1.6).
pub fn rsa_small_factors(n: &BigUint) -> Result<(), Problem> {
    let common = gcd(n.clone(), SMALL_PRIMORIAL.clone());
    if common == BigUint::from(1u32) {
        return Ok(());
    }
    let factor = SMALL_PRIMES
        .iter()
        .find(|p| small(&(&common % **p)) == 0)
        .copied()
        .unwrap_or(0);
    Err(Problem::new(
        Check::RsaSmallFactors,
        format!("the modulus is divisible by the small prime {factor}"),
    ))
}

/// `rsa_prime_power`: the modulus is not a perfect power `m^k`, `k >= 2`
/// (SP 800-89 §5.3.3 "not a power of a prime"; any perfect power is
/// factored by an integer root).
///
/// It is enough to try prime `k` (an `m^(ab)` is also the `a`-th power of
/// `m^b`). Once [`rsa_small_factors`] has passed, `m > 751 > 2^9`, so
/// `k <= bits / 9`; every prime `k` up to that bound is tried, which makes
/// the check complete for moduli without small factors (the order of
/// [`check_key`]). On other inputs it still finds every power with such `k`.
///
/// Most `k` are ruled out without a bignum root: for a prime `q = jk + 1`,
/// an `m^k` not divisible by `q` has `(n mod q)^j = 1 (mod q)` (Fermat's
/// little theorem), which other numbers pass about once in `k` times.
pub fn rsa_prime_power(n: &BigUint) -> Result<(), Problem> {
    let bound = (n.bits() / 9).max(2);
    for (k, witnesses) in POWER_WITNESSES
        .iter()
        .take_while(|(k, _)| *k as usize <= bound)
    {
        let k = *k;
        let ruled_out = witnesses.iter().any(|&q| {
            let r = small(&(n % q));
            r != 0 && pow_mod(r, u64::from((q - 1) / k), u64::from(q)) != 1
        });
        if ruled_out {
            continue;
        }
        let root = n.nth_root(k);
        if pow(&root, k) == *n {
            return Err(Problem::new(
                Check::RsaPrimePower,
                format!(
                    "the modulus is a perfect {k}{} power",
                    if k == 2 { "nd" } else { "th" }
                ),
            ));
        }
    }
    Ok(())
}

/// For each prime exponent `k` the perfect-power check may need (up to the
/// parse limit of 16384 bits / 9), six primes `q = 1 (mod k)`.
static POWER_WITNESSES: LazyLock<Vec<(u32, [u32; 6])>> = LazyLock::new(|| {
    let is_prime = |q: u32| q > 1 && (2..).take_while(|d| d * d <= q).all(|d| q % d != 0);
    SMALL_PRIMES
        .iter()
        .take_while(|k| **k <= 16_384 / 9)
        .map(|&k| {
            let mut found = [0u32; 6];
            let mut candidates = (1..).map(|j| j * k + 1).filter(|q| is_prime(*q));
            for q in &mut found {
                *q = candidates
                    .next()
                    .expect("there are infinitely many primes 1 mod k");
            }
            (k, found)
        })
        .collect()
});

fn pow_mod(mut base: u64, mut exp: u64, m: u64) -> u64 {
    let mut result = 1 % m;
    base %= m;
    while exp > 0 {
        if exp & 1 == 1 {
            result = result * base % m;
        }
        base = base * base % m;
        exp >>= 1;
    }
    result
}

/// Fermat rounds: the BR (§6.1.1.3) ask for at least 100; Boulder runs 110.
pub const FERMAT_ROUNDS: u32 = 110;

/// `rsa_fermat`: the two factors are not so close that Fermat's method
/// finds them (BR §6.1.1.3; Boulder's `checkPrimeFactorsTooClose`).
///
/// `n = a² − b² = (a + b)(a − b)`: starting at `a = ⌈√n⌉`, each round tests
/// whether `b² = a² − n` is a perfect square, then moves `a` up by one
/// (`b²` grows by `2a + 1`). The factors themselves are not reported.
pub fn rsa_fermat(n: &BigUint) -> Result<(), Problem> {
    let mut a = n.sqrt();
    if &a * &a != *n {
        a += 1u32;
    }
    let mut b2 = &a * &a - n;
    for round in 0..FERMAT_ROUNDS {
        if is_square(&b2) {
            return Err(Problem::new(
                Check::RsaFermat,
                format!(
                    "the modulus factors by Fermat's method in round {}: its two factors are too close together",
                    round + 1
                ),
            ));
        }
        b2 += (&a << 1usize) + 1u32;
        a += 1u32;
    }
    Ok(())
}

/// The 17 primes of the ROCA fingerprint and, for each, the order of 65537
/// modulo it: the relations table of `crocs-muni/roca` pull request 40, as
/// used by `titanous/rocacheck` (Boulder's ROCA check). These are exactly the
/// primes up to 167 (the range of the original `roca` detector) modulo which
/// 65537 generates a proper subgroup; modulo the others it generates the
/// whole group, so every modulus would pass them.
pub const ROCA_PRIMES: [(u32, u32); 17] = [
    (11, 2),
    (13, 6),
    (17, 8),
    (19, 9),
    (37, 3),
    (53, 26),
    (61, 20),
    (71, 35),
    (73, 24),
    (79, 13),
    (97, 6),
    (103, 51),
    (107, 53),
    (109, 54),
    (127, 42),
    (151, 50),
    (157, 78),
];

/// For each ROCA prime `p`, the subgroup of `(Z/pZ)*` generated by
/// `65537 mod p`, as a bit set of residues (every `p` is below 192).
static ROCA_SUBGROUPS: LazyLock<[[u64; 3]; 17]> = LazyLock::new(|| {
    let mut sets = [[0u64; 3]; 17];
    for (set, (p, _)) in sets.iter_mut().zip(ROCA_PRIMES) {
        let g = 65_537 % p;
        let mut x = 1u32;
        loop {
            set[(x / 64) as usize] |= 1 << (x % 64);
            x = x * g % p;
            if x == 1 {
                break;
            }
        }
    }
    sets
});

/// True when `n mod p` lies in the subgroup generated by 65537 for every
/// ROCA prime `p`: the fingerprint of a modulus whose primes have the form
/// `k·M + (65537^a mod M)` (Nemec et al. 2017, §2.1 and §2.3). A modulus
/// chosen at random has it with probability below 10^-9.
pub fn roca_fingerprint(n: &BigUint) -> bool {
    ROCA_PRIMES
        .iter()
        .zip(ROCA_SUBGROUPS.iter())
        .all(|((p, _), set)| {
            let r = small(&(n % *p));
            set[(r / 64) as usize] >> (r % 64) & 1 == 1
        })
}

/// `rsa_roca`: the modulus does not carry the ROCA fingerprint
/// (CVE-2017-15361; keys from Infineon RSALib smart cards and TPMs, whose
/// private keys can be computed).
pub fn rsa_roca(n: &BigUint) -> Result<(), Problem> {
    if roca_fingerprint(n) {
        Err(Problem::new(
            Check::RsaRoca,
            "the modulus has the ROCA fingerprint (CVE-2017-15361, Infineon RSALib): its private key can be computed",
        ))
    } else {
        Ok(())
    }
}

fn is_odd(x: &BigUint) -> bool {
    x.to_bytes_le().first().is_some_and(|b| b & 1 == 1)
}

/// A value known to fit in 64 bits (a remainder by a small number).
fn small(x: &BigUint) -> u64 {
    x.to_bytes_le()
        .iter()
        .take(8)
        .rev()
        .fold(0u64, |all, b| (all << 8) | u64::from(*b))
}

fn gcd(mut a: BigUint, mut b: BigUint) -> BigUint {
    let zero = BigUint::from(0u32);
    while b != zero {
        let r = &a % &b;
        a = b;
        b = r;
    }
    a
}

fn pow(base: &BigUint, mut k: u32) -> BigUint {
    let mut result = BigUint::from(1u32);
    let mut square = base.clone();
    while k > 0 {
        if k & 1 == 1 {
            result = &result * &square;
        }
        k >>= 1;
        if k > 0 {
            square = &square * &square;
        }
    }
    result
}

/// Whether `x` is a perfect square: residues modulo 64, 63, 65 and 11 rule
/// out all but about 1 in 100 non-squares before the integer square root.
fn is_square(x: &BigUint) -> bool {
    let r = small(&(x % (64u32 * 63 * 65 * 11)));
    let residue = |m: u64| (0..m).any(|j| j * j % m == r % m);
    if ![64, 63, 65, 11].into_iter().all(residue) {
        return false;
    }
    let root = x.sqrt();
    &root * &root == *x
}

#[cfg(test)]
mod tests {
    //! One test per check, each on a key built to fail it (generated here;
    //! no key material is stored), and good keys that pass them all.

    use super::*;
    use der::asn1::{BitString, UintRef};
    use der::Encode;
    use rand_core::{OsRng, RngCore};
    use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

    use crate::keys::UnsupportedKey;
    use crate::oids;

    const SIZES: &[usize] = &[2048, 3072, 4096];
    const CURVES: &[KeyAlgorithm] = &[KeyAlgorithm::EcP256, KeyAlgorithm::EcP384];

    fn big(x: u64) -> BigUint {
        BigUint::from(x)
    }

    /// A random number of exactly `bits` bits with its top two bits set (so
    /// a product of two has exactly twice as many bits), odd.
    fn random_top(bits: usize) -> BigUint {
        let mut bytes = vec![0u8; bits.div_ceil(8)];
        OsRng.fill_bytes(&mut bytes);
        let x = BigUint::from_bytes_be(&bytes) >> (bytes.len() * 8 - bits);
        let top = (big(3) << (bits - 2)) + 1u32;
        x | top
    }

    fn random_below(limit: &BigUint) -> BigUint {
        let mut bytes = vec![0u8; limit.bits().div_ceil(8) + 8];
        OsRng.fill_bytes(&mut bytes);
        BigUint::from_bytes_be(&bytes) % limit
    }

    /// Trial division, then Miller–Rabin to 12 bases: ample for test primes.
    fn is_probable_prime(n: &BigUint) -> bool {
        for p in SMALL_PRIMES.iter() {
            if *n == big(u64::from(*p)) {
                return true;
            }
            if small(&(n % *p)) == 0 {
                return false;
            }
        }
        let one = big(1);
        let n1 = n - &one;
        let s = n1.trailing_zeros().unwrap();
        let d = &n1 >> s;
        'bases: for a in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
            let mut x = big(a).modpow(&d, n);
            if x == one || x == n1 {
                continue;
            }
            for _ in 1..s {
                x = &x * &x % n;
                if x == n1 {
                    continue 'bases;
                }
            }
            return false;
        }
        true
    }

    fn next_prime(from: &BigUint) -> BigUint {
        let mut c = from | big(1);
        while !is_probable_prime(&c) {
            c += 2u32;
        }
        c
    }

    fn random_prime(bits: usize) -> BigUint {
        next_prime(&random_top(bits))
    }

    /// The SubjectPublicKeyInfo of an RSA key (n, e), encoded by hand so that
    /// keys the `rsa` crate would refuse can be built too.
    fn rsa_spki(n: &BigUint, e: &BigUint) -> SubjectPublicKeyInfoOwned {
        let (nb, eb) = (n.to_bytes_be(), e.to_bytes_be());
        let pkcs1 = rsa::pkcs1::RsaPublicKey {
            modulus: UintRef::new(&nb).unwrap(),
            public_exponent: UintRef::new(&eb).unwrap(),
        }
        .to_der()
        .unwrap();
        SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: oids::RSA_ENCRYPTION,
                parameters: Some(der::asn1::Null.into()),
            },
            subject_public_key: BitString::from_bytes(&pkcs1).unwrap(),
        }
    }

    fn rsa_key(n: &BigUint, e: u64) -> Result<PublicKey, UnsupportedKey> {
        PublicKey::from_spki(&rsa_spki(n, &big(e)))
    }

    fn ec_spki(curve: der::asn1::ObjectIdentifier, point: &[u8]) -> SubjectPublicKeyInfoOwned {
        SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: oids::EC_PUBLIC_KEY,
                parameters: Some(der::Any::encode_from(&curve).unwrap()),
            },
            subject_public_key: BitString::from_bytes(point).unwrap(),
        }
    }

    fn p256_point() -> Vec<u8> {
        let key = p256::ecdsa::SigningKey::random(&mut OsRng);
        key.verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    /// The modulus of a freshly generated, good RSA key.
    fn good_modulus(bits: usize) -> BigUint {
        let key = rsa::RsaPrivateKey::new(&mut OsRng, bits).unwrap();
        key.n().clone()
    }

    fn refused_by(key: &PublicKey) -> Check {
        check_key(key, SIZES, CURVES).unwrap_err().check()
    }

    #[test]
    fn good_rsa_and_ec_keys_pass_every_check() {
        let n = good_modulus(2048);
        check_key(&rsa_key(&n, 65_537).unwrap(), SIZES, CURVES).unwrap();
        assert!(!roca_fingerprint(&n));
        let key = PublicKey::from_spki(&ec_spki(oids::SECP256R1, &p256_point())).unwrap();
        check_key(&key, SIZES, CURVES).unwrap();
        let p384 = p384::ecdsa::SigningKey::random(&mut OsRng);
        let point = p384.verifying_key().to_encoded_point(true);
        let key = PublicKey::from_spki(&ec_spki(oids::SECP384R1, point.as_bytes())).unwrap();
        check_key(&key, SIZES, CURVES).unwrap();
    }

    #[test]
    fn rsa_modulus_size_must_be_one_of_the_allowed_sizes() {
        // 2304 bits lies between two allowed sizes: refused all the same.
        let key = rsa_key(&good_modulus(2304), 65_537).unwrap();
        let problem = check_key(&key, SIZES, CURVES).unwrap_err();
        assert_eq!(problem.check(), Check::RsaModulusSize);
        assert!(problem.to_string().starts_with("rsa_modulus_size: "));
        assert!(problem.detail().contains("2304"), "{problem}");
        check_key(&key, &[2304], CURVES).unwrap();
        for ok in [2048, 3072, 4096] {
            check_algorithm(KeyAlgorithm::Rsa { bits: ok }, SIZES, CURVES).unwrap();
        }
        for bad in [1024, 2047, 2049, 2560, 4095, 8192] {
            let p = check_algorithm(KeyAlgorithm::Rsa { bits: bad }, SIZES, CURVES).unwrap_err();
            assert_eq!(p.check(), Check::RsaModulusSize);
        }
    }

    #[test]
    fn rsa_even_modulus_is_refused_and_named_when_parsed() {
        let n = good_modulus(2048);
        rsa_even_modulus(&n).unwrap();
        let even = &n + 1u32;
        assert_eq!(
            rsa_even_modulus(&even).unwrap_err().check(),
            Check::RsaEvenModulus
        );
        // The rsa crate cannot even load such a key; the refusal names the check.
        let err = rsa_key(&even, 65_537).unwrap_err();
        assert!(err.0.starts_with("rsa_even_modulus: "), "{}", err.0);
    }

    #[test]
    fn rsa_exponent_must_be_odd_at_least_65537_and_below_2_32() {
        for ok in [65_537u64, 65_539, (1 << 32) - 1] {
            rsa_exponent(&big(ok)).unwrap();
        }
        for bad in [1u64, 3, 17, 65_535, 65_538, 1 << 20, (1 << 32) + 1] {
            let p = rsa_exponent(&big(bad)).unwrap_err();
            assert_eq!(p.check(), Check::RsaExponent, "{bad}");
        }
        // e = 3 on an otherwise good modulus: loads, and is refused as weak.
        let key = rsa_key(&good_modulus(2048), 3).unwrap();
        let problem = check_key(&key, SIZES, CURVES).unwrap_err();
        assert_eq!(problem.check(), Check::RsaExponent);
        assert!(problem.detail().contains("smaller than 65537"), "{problem}");
        // An even exponent cannot be loaded at all; named as this check.
        let err = rsa_key(&good_modulus(2048), 65_536).unwrap_err();
        assert!(err.0.starts_with("rsa_exponent: "), "{}", err.0);
    }

    #[test]
    fn rsa_small_factors_below_752_are_found() {
        // n = 3·p, a 2048-bit modulus with the factor 3.
        let mut p = next_prime(&((big(1) << 2046) + random_below(&(big(1) << 2043))));
        while (&p * 3u32).bits() != 2048 {
            p = next_prime(&(p + 2u32));
        }
        let n = &p * 3u32;
        let key = rsa_key(&n, 65_537).unwrap();
        let problem = check_key(&key, SIZES, CURVES).unwrap_err();
        assert_eq!(problem.check(), Check::RsaSmallFactors);
        assert!(problem.detail().ends_with("prime 3"), "{problem}");
        // 751 is the largest prime below 752; 757 the first one above.
        let q = random_prime(1024);
        assert_eq!(
            rsa_small_factors(&(&q * 751u32)).unwrap_err().check(),
            Check::RsaSmallFactors
        );
        rsa_small_factors(&(&q * 757u32)).unwrap();
        rsa_small_factors(&good_modulus(2048)).unwrap();
    }

    #[test]
    fn rsa_prime_power_is_found() {
        // p² of 2048 bits: refused as a prime power (before Fermat sees it).
        let p = random_prime(1024);
        let key = rsa_key(&(&p * &p), 65_537).unwrap();
        assert_eq!(refused_by(&key), Check::RsaPrimePower);
        // Cubes, fifth and higher prime powers of primes above 751.
        let q = random_prime(300);
        for k in [3u32, 5, 7] {
            let p = rsa_prime_power(&pow(&q, k)).unwrap_err();
            assert!(p.detail().contains(&format!("perfect {k}th")), "{p}");
        }
        // The largest prime exponent the bound must reach at 2048 bits: the
        // smallest admissible base (757, the first prime above 751) to it.
        let k = *SMALL_PRIMES
            .iter()
            .rev()
            .find(|k| pow(&big(757), **k).bits() <= 2048)
            .unwrap();
        assert_eq!(k, 211);
        assert!(rsa_prime_power(&pow(&big(757), k)).is_err(), "757^{k}");
        rsa_prime_power(&(&p * &q)).unwrap();
        rsa_prime_power(&good_modulus(2048)).unwrap();
    }

    #[test]
    fn rsa_fermat_finds_close_factors() {
        // p and q adjacent primes of 1024 bits.
        let p = random_prime(1024);
        let q = next_prime(&(&p + 2u32));
        let key = rsa_key(&(&p * &q), 65_537).unwrap();
        let problem = check_key(&key, SIZES, CURVES).unwrap_err();
        assert_eq!(problem.check(), Check::RsaFermat);
        assert!(
            !problem.to_string().contains(&p.to_string()),
            "no factors in messages"
        );
        // Reach: |p − q| ≈ 2^514 factors in a couple of rounds; 2^520 would
        // need about 8,000 and is left to the keys' randomness.
        let near = next_prime(&(&p + (big(1) << 514)));
        assert!(rsa_fermat(&(&p * &near)).is_err());
        let far = next_prime(&(&p + (big(1) << 520)));
        rsa_fermat(&(&p * &far)).unwrap();
        rsa_fermat(&good_modulus(2048)).unwrap();
    }

    #[test]
    fn roca_subgroups_match_the_published_relations_table() {
        for ((p, order), set) in ROCA_PRIMES.iter().zip(ROCA_SUBGROUPS.iter()) {
            let size: u32 = set.iter().map(|w| w.count_ones()).sum();
            assert_eq!(size, *order, "order of 65537 mod {p}");
            // The subgroup of order r is exactly {x : x^r = 1 (mod p)}.
            for x in 1..*p {
                let in_set = set[(x / 64) as usize] >> (x % 64) & 1 == 1;
                let root_of_unity = big(u64::from(x))
                    .modpow(&big(u64::from(*order)), &big(u64::from(*p)))
                    == big(1);
                assert_eq!(in_set, root_of_unity, "{x} mod {p}");
            }
        }
    }

    /// The number modulo the product of the ROCA primes whose residues are
    /// `residues` (Chinese remainder theorem).
    fn crt(residues: &[u64; 17]) -> (BigUint, BigUint) {
        let m = ROCA_PRIMES.iter().fold(big(1), |all, (p, _)| all * *p);
        let mut x = big(0);
        for ((p, _), r) in ROCA_PRIMES.iter().zip(residues) {
            let p = u64::from(*p);
            let others = &m / p;
            let inv = big(small(&(&others % p as u32))).modpow(&big(p - 2), &big(p));
            x += &others * &inv * *r;
        }
        (x % &m, m)
    }

    #[test]
    fn roca_fingerprint_on_numbers_built_by_crt() {
        let member = |p: u32| {
            let g = u64::from(65_537 % p);
            big(g).modpow(&big(OsRng.next_u64() % 1000), &big(u64::from(p)))
        };
        for _ in 0..20 {
            let mut residues = [0u64; 17];
            for (r, (p, _)) in residues.iter_mut().zip(ROCA_PRIMES) {
                *r = small(&member(p));
            }
            let (x, m) = crt(&residues);
            let n = x + m * random_below(&(big(1) << 1900));
            assert!(roca_fingerprint(&n));
            // One residue outside its subgroup (2 is not a power of 65537
            // mod 11, whose subgroup is {1, 10}) and the fingerprint is gone.
            residues[0] = 2;
            let (x, m) = crt(&residues);
            assert!(!roca_fingerprint(
                &(x + m * random_below(&(big(1) << 1900)))
            ));
        }
        for _ in 0..3 {
            assert!(!roca_fingerprint(&good_modulus(2048)));
        }
    }

    #[test]
    fn rsa_roca_refuses_a_modulus_built_like_rsalib_keys() {
        // Nemec et al. §2.1: for 2048-bit keys each prime is k·M + (65537^a
        // mod M), M the product of the first 126 primes, k and a random.
        let m = SMALL_PRIMES
            .iter()
            .take(126)
            .fold(big(1), |all, p| all * *p);
        let lo = (big(3) << 1022) / &m + 1u32;
        let hi = (big(1) << 1024) / &m;
        let roca_prime = || loop {
            let k = &lo + random_below(&(&hi - &lo));
            let a = big(OsRng.next_u64());
            let p = k * &m + big(65_537).modpow(&a, &m);
            if is_probable_prime(&p) {
                return p;
            }
        };
        let n = roca_prime() * roca_prime();
        assert_eq!(n.bits(), 2048);
        let key = rsa_key(&n, 65_537).unwrap();
        let problem = check_key(&key, SIZES, CURVES).unwrap_err();
        assert_eq!(problem.check(), Check::RsaRoca);
        assert!(problem.detail().contains("CVE-2017-15361"), "{problem}");
    }

    #[test]
    fn ec_point_at_infinity_and_off_the_curve_are_refused() {
        for infinity in [&[0u8][..], &[]] {
            let p = ec_point(KeyAlgorithm::EcP256, infinity).unwrap_err();
            assert_eq!(p.check(), Check::EcPoint);
            assert!(p.detail().contains("infinity"), "{p}");
        }
        let good = p256_point();
        ec_point(KeyAlgorithm::EcP256, &good).unwrap();
        let mut off = good.clone();
        *off.last_mut().unwrap() ^= 1;
        let p = ec_point(KeyAlgorithm::EcP256, &off).unwrap_err();
        assert!(p.detail().contains("P-256"), "{p}");
        // A P-256 point is not a P-384 point.
        assert!(ec_point(KeyAlgorithm::EcP384, &good).is_err());
        // Parsing names the check: the identity never becomes a PublicKey.
        for bad in [&[0u8][..], &off] {
            let err = PublicKey::from_spki(&ec_spki(oids::SECP256R1, bad)).unwrap_err();
            assert!(err.0.starts_with("ec_point: "), "{}", err.0);
        }
        // A curve the profile does not allow.
        let key = PublicKey::from_spki(&ec_spki(oids::SECP256R1, &good)).unwrap();
        let p = check_key(&key, SIZES, &[KeyAlgorithm::EcP384]).unwrap_err();
        assert_eq!(p.check(), Check::EcCurve);
    }

    #[test]
    fn the_first_failing_check_is_the_answer() {
        // 2304 bits and e = 3: the size is reported, as check_key lists it first.
        let key = rsa_key(&good_modulus(2304), 3).unwrap();
        assert_eq!(refused_by(&key), Check::RsaModulusSize);
        let e: Error = check_key(&key, SIZES, CURVES).unwrap_err().into();
        assert!(e.has(Reason::WeakKey));
        assert!(e.message().starts_with("rsa_modulus_size: "), "{e}");
    }

    /// Not a test: `cargo test -p ca-core --lib goodkey::tests::timing --
    /// --ignored --nocapture` prints what the full check costs.
    #[test]
    #[ignore]
    fn timing() {
        for bits in [2048, 4096] {
            let key = rsa_key(&good_modulus(bits), 65_537).unwrap();
            let start = std::time::Instant::now();
            for _ in 0..20 {
                check_key(&key, &[bits], CURVES).unwrap();
            }
            eprintln!("RSA-{bits}: {:?} per check_key", start.elapsed() / 20);
            let n = key.rsa().unwrap().n().clone();
            type RsaCheck = fn(&BigUint) -> Result<(), Problem>;
            let each: [(&str, RsaCheck); 4] = [
                ("small", rsa_small_factors),
                ("power", rsa_prime_power),
                ("fermat", rsa_fermat),
                ("roca", rsa_roca),
            ];
            for (name, f) in each {
                let start = std::time::Instant::now();
                for _ in 0..20 {
                    f(&n).unwrap();
                }
                eprintln!("  {name}: {:?}", start.elapsed() / 20);
            }
        }
    }
}
