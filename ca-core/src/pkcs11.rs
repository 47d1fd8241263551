//! The CA key on a PKCS#11 token (an HSM; SoftHSM2 in the tests), through
//! the `cryptoki` crate (SPEC §7).
//!
//! - [`Token`] is one module and one token: it logs in once, keeps a pool
//!   of sessions (as many idle ones as there are workers), and when the
//!   token fails — removed, restarted, sessions lost — it drops every
//!   session, finalizes the module and connects again on the next use, at
//!   most once a second. A wrong PIN is never retried with the same PIN
//!   (tokens lock after a few wrong tries): the PIN file is read again on
//!   each attempt, so an operator who fixes it needs no restart.
//! - [`Pkcs11Signer`] is one key pair on the token, found by its label.
//!   Keys it generates are `CKA_SENSITIVE`, not `CKA_EXTRACTABLE`: the
//!   private key never exists outside the token. Every signature is checked
//!   against the public key before it is used, so a wrong key or a faulty
//!   token cannot put a bad signature into a certificate or a CRL.
//! - While the token cannot sign, signing fails with
//!   [`ErrorKind::SignerUnavailable`](crate::ErrorKind::SignerUnavailable)
//!   (HTTP 503 `signer_unavailable`).
//!
//! RSA signs PKCS#1 v1.5 as `CKM_RSA_PKCS` over a DigestInfo hashed here
//! (every token has that mechanism; only the digest crosses to the token);
//! ECDSA signs the digest with `CKM_ECDSA` and the raw r‖s is encoded as DER.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::asn1::{Any, BitString, ObjectIdentifier, UintRef};
use der::{Decode, Encode, Sequence};
use sha2::Digest;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::oids;
use crate::policy::CaKeyAlgorithm;
use crate::signer::CaSigner;

/// Where the PIN comes from.
#[derive(Clone)]
pub enum PinSource {
    /// Given at start (from the environment).
    Value(Zeroizing<String>),
    /// A file readable only by its owner, read again at every login.
    File(PathBuf),
}

impl std::fmt::Debug for PinSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinSource::Value(_) => f.write_str("PinSource::Value(…)"),
            PinSource::File(p) => write!(f, "PinSource::File({})", p.display()),
        }
    }
}

impl PinSource {
    fn read(&self) -> Result<Zeroizing<String>> {
        match self {
            PinSource::Value(v) => Ok(v.clone()),
            PinSource::File(path) => read_pin_file(path),
        }
    }
}

/// Reads a PIN file, refusing one that others may read.
fn read_pin_file(path: &Path) -> Result<Zeroizing<String>> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| Error::key_store(format!("{}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Error::key_store(format!(
            "{} is readable by others (mode {:o}); run: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Error::key_store(format!("{}: {e}", path.display())))?,
    );
    Ok(Zeroizing::new(
        text.trim_end_matches(['\r', '\n']).to_string(),
    ))
}

/// How to reach the token.
#[derive(Clone, Debug)]
pub struct TokenConfig {
    /// The PKCS#11 module (shared library).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The user PIN.
    pub pin: PinSource,
    /// Idle sessions kept open (the number of workers that sign at once).
    pub sessions: usize,
}

/// A loaded PKCS#11 module, one per library path in the process: its
/// initialization is process-wide, so every token on it shares this.
struct Module {
    ctx: Pkcs11,
    /// Whether the module is initialized; held (shared) by every call into
    /// the module, and exclusively by `C_Initialize` and `C_Finalize`, so
    /// neither runs under a call in flight or beside the other.
    guard: RwLock<bool>,
    /// When `C_Initialize` last failed (tried again at most once a second).
    init_failed: Mutex<Option<(Instant, String)>>,
    /// Bumped by every `C_Finalize`: connections made before are stale
    /// (their session and object handles may name new objects now).
    generation: AtomicU64,
}

impl Module {
    /// The module at `path`, loaded once per process.
    fn load(path: &Path) -> Result<Arc<Module>> {
        static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
        let mut modules = MODULES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(m) = modules.get(path) {
            return Ok(m.clone());
        }
        let ctx = Pkcs11::new(path)
            .map_err(|e| Error::key_store(format!("PKCS#11 module {}: {e}", path.display())))?;
        let module = Arc::new(Module {
            ctx,
            guard: RwLock::new(false),
            init_failed: Mutex::new(None),
            generation: AtomicU64::new(0),
        });
        modules.insert(path.to_path_buf(), module.clone());
        Ok(module)
    }

    /// The shared guard over an initialized module, initializing it first
    /// (exclusively) when needed.
    fn shared(&self) -> Result<RwLockReadGuard<'_, bool>> {
        for _ in 0..3 {
            {
                let shared = self.guard.read().unwrap_or_else(|e| e.into_inner());
                if *shared {
                    return Ok(shared);
                }
            }
            let mut exclusive = self.guard.write().unwrap_or_else(|e| e.into_inner());
            if *exclusive {
                continue;
            }
            let mut failed = self.init_failed.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, error)) = &*failed {
                if at.elapsed() < RECONNECT_INTERVAL {
                    return Err(Error::signer_unavailable(error.clone()));
                }
            }
            match self
                .ctx
                .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            {
                Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
                    *failed = None;
                    *exclusive = true;
                }
                Err(e) => {
                    let e = ck("C_Initialize")(e);
                    *failed = Some((Instant::now(), e.message().to_string()));
                    return Err(e);
                }
            }
        }
        Err(Error::signer_unavailable(
            "the PKCS#11 module was finalized again and again; try later",
        ))
    }

    /// Finalizes the module once no call is in flight, so the next use
    /// initializes it afresh (a module may read its slots only then).
    fn reinitialize(&self, seen: u64) {
        let mut exclusive = self.guard.write().unwrap_or_else(|e| e.into_inner());
        // Someone else did it meanwhile.
        if !*exclusive || self.generation.load(Ordering::SeqCst) != seen {
            return;
        }
        let _ = self.ctx.clone().finalize();
        *exclusive = false;
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// One logged-in connection to the token; replaced as a whole when the
/// token fails.
struct Connection {
    /// The module generation it was made in.
    generation: u64,
    slot: Slot,
    idle: Mutex<Vec<Session>>,
    /// Private key handles by label (valid for this connection only).
    keys: Mutex<HashMap<String, ObjectHandle>>,
}

enum State {
    Connected(Arc<Connection>),
    Down {
        error: String,
        at: Option<Instant>,
        /// SHA-256 of a PIN the token refused: not tried again.
        refused_pin: Option<[u8; 32]>,
    },
}

/// A token on a PKCS#11 module.
pub struct Token {
    config: TokenConfig,
    module: Arc<Module>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("module", &self.config.module)
            .field("token", &self.config.token_label)
            .finish_non_exhaustive()
    }
}

/// Time between two attempts to reach a token that failed.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// The messages of key errors before the label is added.
const KEY_MISSING: &str = "the key is not on the token";
const KEY_AMBIGUOUS: &str = "several keys have the label";

fn ck(what: &str) -> impl Fn(CkError) -> Error + '_ {
    move |e| Error::signer_unavailable(format!("PKCS#11 {what}: {e}"))
}

/// What an operation on a session can end in besides its value.
enum OpError {
    /// The module said no.
    Ck(CkError),
    /// No private key under the label (the session is fine).
    KeyMissing,
    /// More than one private key under the label.
    KeyAmbiguous,
}

impl From<CkError> for OpError {
    fn from(e: CkError) -> Self {
        OpError::Ck(e)
    }
}

/// A failed connection attempt: the error, a PIN the token refused, and
/// whether the module should be finalized before the next attempt.
type ConnectError = (Error, Option<[u8; 32]>, bool);

impl Token {
    /// Loads the module (once per process). Reaching the token happens on
    /// first use, so a server can start while its token is away and recover
    /// when it comes.
    pub fn open(config: TokenConfig) -> Result<Arc<Token>> {
        Ok(Arc::new(Token {
            module: Module::load(&config.module)?,
            config,
            state: Mutex::new(State::Down {
                error: "not connected yet".into(),
                at: None,
                refused_pin: None,
            }),
        }))
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.config.token_label
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current connection, connecting if the last attempt is old
    /// enough. Called with the module's shared guard held. The flag of an
    /// error asks for the module to be finalized.
    fn connection(&self) -> std::result::Result<Arc<Connection>, (Error, bool)> {
        let mut state = self.state();
        let generation = self.module.generation.load(Ordering::SeqCst);
        let refused = match &*state {
            State::Connected(c) if c.generation == generation => return Ok(c.clone()),
            // The module was finalized (for another token, or this one):
            // sessions and handles are gone; connect again at once.
            State::Connected(_) => None,
            State::Down {
                error,
                at: Some(at),
                ..
            } if at.elapsed() < RECONNECT_INTERVAL => {
                return Err((Error::signer_unavailable(error.clone()), false))
            }
            State::Down { refused_pin, .. } => *refused_pin,
        };
        match self.connect(refused, generation) {
            Ok(c) => {
                let c = Arc::new(c);
                *state = State::Connected(c.clone());
                Ok(c)
            }
            Err((e, refused_pin, reinitialize)) => {
                *state = State::Down {
                    error: e.message().to_string(),
                    at: Some(Instant::now()),
                    refused_pin,
                };
                Err((e, reinitialize))
            }
        }
    }

    /// Reads the PIN, finds the token on the initialized module, opens a
    /// session and logs in. A failure closes what it opened.
    fn connect(
        &self,
        refused: Option<[u8; 32]>,
        generation: u64,
    ) -> std::result::Result<Connection, ConnectError> {
        // A PIN file that cannot be read now may be fixed without a restart.
        let pin = self
            .config
            .pin
            .read()
            .map_err(|e| (Error::signer_unavailable(e.message()), refused, false))?;
        let pin_hash: [u8; 32] = sha2::Sha256::digest(pin.as_bytes()).into();
        if refused == Some(pin_hash) {
            let e = Error::signer_unavailable(format!(
                "the token {:?} refused this PIN; not trying it again (change the PIN \
                 file or restart with the right PIN)",
                self.config.token_label
            ));
            return Err((e, refused, false));
        }
        // Not found: the module may list only the tokens it saw at
        // C_Initialize, so it is finalized before the next attempt.
        let slot = self.find_slot().map_err(|e| (e, refused, true))?;
        let session = self
            .module
            .ctx
            .open_rw_session_no_drop(slot)
            .map_err(|e| (ck("C_OpenSession")(e), refused, true))?;
        let auth = AuthPin::from(pin.as_str().to_string());
        match session.login(UserType::User, Some(&auth)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(
                rv @ (RvError::PinIncorrect | RvError::PinLocked | RvError::PinExpired),
                _,
            )) => {
                let _ = session.close();
                let e = Error::signer_unavailable(format!(
                    "the token {:?} refused the PIN: {rv:?}",
                    self.config.token_label
                ));
                return Err((e, Some(pin_hash), false));
            }
            Err(e) => {
                let _ = session.close();
                return Err((ck("C_Login")(e), refused, true));
            }
        }
        Ok(Connection {
            generation,
            slot,
            idle: Mutex::new(vec![session]),
            keys: Mutex::new(HashMap::new()),
        })
    }

    fn find_slot(&self) -> Result<Slot> {
        let ctx = &self.module.ctx;
        let slots = ctx
            .get_slots_with_initialized_token()
            .map_err(ck("C_GetSlotList"))?;
        for slot in slots {
            let Ok(info) = ctx.get_token_info(slot) else {
                continue;
            };
            if info.label().trim_end() == self.config.token_label {
                return Ok(slot);
            }
        }
        Err(Error::signer_unavailable(format!(
            "no token labelled {:?} in {}",
            self.config.token_label,
            self.config.module.display()
        )))
    }

    /// Forgets `failed` (if it is still the current connection) and
    /// finalizes the module, so the next use starts afresh.
    fn disconnect(&self, failed: &Arc<Connection>, error: &Error) {
        {
            let mut state = self.state();
            if let State::Connected(c) = &*state {
                if Arc::ptr_eq(c, failed) {
                    // Its sessions are closed by C_Finalize, never on drop.
                    c.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
                    *state = State::Down {
                        error: error.message().to_string(),
                        at: None,
                        refused_pin: None,
                    };
                }
            }
        }
        self.module.reinitialize(failed.generation);
    }

    /// Runs `op` on a session of this token. When the token fails, connects
    /// again and retries once if `retry` (a lost session is reopened).
    fn on_session<T>(
        &self,
        retry: bool,
        op: impl Fn(&Connection, &Session) -> Result<T, OpError>,
    ) -> Result<T> {
        let attempts = if retry { 2 } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            let (conn, result) = {
                let shared = self.module.shared()?;
                let conn = match self.connection() {
                    Ok(c) => c,
                    Err((e, reinitialize)) => {
                        let seen = self.module.generation.load(Ordering::SeqCst);
                        drop(shared);
                        if reinitialize {
                            self.module.reinitialize(seen);
                        }
                        return Err(e);
                    }
                };
                let pooled = conn.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
                // Sessions are closed explicitly, never on drop: a stale
                // handle could name a session of a later connection.
                let session = match pooled {
                    Some(s) => Ok(s),
                    None => self.module.ctx.open_rw_session_no_drop(conn.slot),
                };
                let result = match session {
                    Err(e) => Err(OpError::Ck(e)),
                    Ok(s) => {
                        let result = op(&conn, &s);
                        let healthy = !matches!(&result, Err(OpError::Ck(e)) if is_token_fault(e));
                        let mut idle = conn.idle.lock().unwrap_or_else(|e| e.into_inner());
                        if healthy && idle.len() < self.config.sessions.max(1) {
                            idle.push(s);
                        } else if healthy {
                            drop(idle);
                            let _ = s.close();
                        }
                        // A faulty session is left to C_Finalize.
                        result
                    }
                };
                (conn, result)
            };
            match result {
                Ok(v) => return Ok(v),
                Err(OpError::KeyMissing) => return Err(Error::signer_unavailable(KEY_MISSING)),
                Err(OpError::KeyAmbiguous) => return Err(Error::signer_unavailable(KEY_AMBIGUOUS)),
                Err(OpError::Ck(e)) if is_token_fault(&e) => {
                    let e = ck("operation")(e);
                    self.disconnect(&conn, &e);
                    last = Some(e);
                }
                Err(OpError::Ck(e)) => return Err(ck("operation")(e)),
            }
        }
        Err(last.unwrap_or_else(|| Error::signer_unavailable("the token failed")))
    }

    /// [`on_session`](Self::on_session) with one retry after a reconnection.
    fn with_session<T>(
        &self,
        op: impl Fn(&Connection, &Session) -> Result<T, OpError>,
    ) -> Result<T> {
        self.on_session(true, op)
    }

    /// The private keys labelled `label`.
    fn private_keys(s: &Session, label: &str) -> Result<Vec<ObjectHandle>, CkError> {
        s.find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
    }

    /// The private key labelled `label` on this connection.
    fn private_key(conn: &Connection, s: &Session, label: &str) -> Result<ObjectHandle, OpError> {
        if let Some(h) = conn
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(label)
        {
            return Ok(*h);
        }
        match Token::private_keys(s, label)?.as_slice() {
            [h] => {
                conn.keys
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(label.to_string(), *h);
                Ok(*h)
            }
            [] => Err(OpError::KeyMissing),
            _ => Err(OpError::KeyAmbiguous),
        }
    }

    /// Whether a private key labelled `label` is on the token.
    pub fn has_key(&self, label: &str) -> Result<bool> {
        self.with_session(|_, s| Ok(!Token::private_keys(s, label)?.is_empty()))
    }

    /// The public key of the pair labelled `label`, read from its public
    /// key object.
    pub fn public_key(&self, label: &str) -> Result<SubjectPublicKeyInfoOwned> {
        let attrs = self.with_session(|_, s| {
            let found = s.find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])?;
            let Some(h) = found.first() else {
                return Ok(None);
            };
            Ok(Some(s.get_attributes(
                *h,
                &[
                    AttributeType::KeyType,
                    AttributeType::Modulus,
                    AttributeType::PublicExponent,
                    AttributeType::EcParams,
                    AttributeType::EcPoint,
                ],
            )?))
        })?;
        let attrs = attrs.ok_or_else(|| {
            Error::key_store(format!(
                "no public key labelled {label:?} on token {:?}",
                self.config.token_label
            ))
        })?;
        spki_from_attributes(&attrs)
    }

    /// Generates a key pair labelled `label` on the token: the private key
    /// sensitive, not extractable, not modifiable, usable only to sign.
    pub fn generate(&self, label: &str, alg: CaKeyAlgorithm) -> Result<SubjectPublicKeyInfoOwned> {
        if self.has_key(label)? {
            return Err(Error::key_store(format!(
                "a key labelled {label:?} is already on token {:?}",
                self.config.token_label
            )));
        }
        let mut id = [0u8; 16];
        aws_lc_rs::rand::fill(&mut id).map_err(|_| Error::key_store("CSPRNG failed"))?;
        let common = |private: bool| {
            vec![
                Attribute::Token(true),
                Attribute::Private(private),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id.to_vec()),
            ]
        };
        let mut public = common(false);
        public.extend([
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
        ]);
        let mut private = common(true);
        private.extend([
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Modifiable(false),
            Attribute::Sign(true),
            Attribute::SignRecover(false),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ]);
        let mechanism = match alg {
            CaKeyAlgorithm::Rsa2048 | CaKeyAlgorithm::Rsa3072 | CaKeyAlgorithm::Rsa4096 => {
                let bits: u64 = match alg {
                    CaKeyAlgorithm::Rsa2048 => 2048,
                    CaKeyAlgorithm::Rsa3072 => 3072,
                    _ => 4096,
                };
                public.push(Attribute::ModulusBits(bits.into()));
                public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
                Mechanism::RsaPkcsKeyPairGen
            }
            CaKeyAlgorithm::EcdsaP256 | CaKeyAlgorithm::EcdsaP384 => {
                let curve = if alg == CaKeyAlgorithm::EcdsaP256 {
                    oids::SECP256R1
                } else {
                    oids::SECP384R1
                };
                let params = curve.to_der().map_err(|e| Error::internal(e.to_string()))?;
                public.push(Attribute::EcParams(params));
                Mechanism::EccKeyPairGen
            }
        };
        // Once: a retry after a fault could leave two pairs under the label.
        self.on_session(false, |_, s| {
            s.generate_key_pair(&mechanism, &public, &private)?;
            // Another process may have made one at the same moment: keep
            // none of ours then, and say so.
            if Token::private_keys(s, label)?.len() > 1 {
                for h in s.find_objects(&[Attribute::Id(id.to_vec())])? {
                    s.destroy_object(h)?;
                }
                return Err(OpError::KeyAmbiguous);
            }
            Ok(())
        })
        .map_err(|e| self.name_key(e, label))?;
        self.public_key(label)
    }

    /// What the token says about the private key labelled `label`
    /// (for start-up checks, operators and tests).
    pub fn private_key_facts(&self, label: &str) -> Result<KeyFacts> {
        self.with_session(|conn, s| {
            let h = Token::private_key(conn, s, label)?;
            let attrs = s.get_attributes(
                h,
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                ],
            )?;
            let flag = |t: AttributeType| {
                attrs.iter().any(|a| {
                    a.attribute_type() == t
                        && matches!(
                            a,
                            Attribute::Sensitive(true)
                                | Attribute::Extractable(true)
                                | Attribute::AlwaysSensitive(true)
                                | Attribute::NeverExtractable(true)
                        )
                })
            };
            // A sensitive key must not give its private parts away.
            let readable = s
                .get_attributes(h, &[AttributeType::PrivateExponent, AttributeType::Value])
                .map(|v| !v.is_empty())
                .unwrap_or(false);
            Ok(KeyFacts {
                sensitive: flag(AttributeType::Sensitive),
                extractable: flag(AttributeType::Extractable),
                always_sensitive: flag(AttributeType::AlwaysSensitive),
                never_extractable: flag(AttributeType::NeverExtractable),
                private_value_readable: readable,
            })
        })
        .map_err(|e| self.name_key(e, label))
    }

    /// Signs with the private key labelled `label`.
    fn sign_raw(&self, label: &str, mechanism: &Mechanism, data: &[u8]) -> Result<Vec<u8>> {
        self.with_session(|conn, s| {
            let key = Token::private_key(conn, s, label)?;
            Ok(s.sign(mechanism, key, data)?)
        })
        .map_err(|e| self.name_key(e, label))
    }

    /// Names the key in a "key missing" or "key ambiguous" error.
    fn name_key(&self, e: Error, label: &str) -> Error {
        let token = &self.config.token_label;
        match e.message() {
            KEY_MISSING => Error::signer_unavailable(format!(
                "no private key labelled {label:?} on token {token:?}"
            )),
            KEY_AMBIGUOUS => Error::signer_unavailable(format!(
                "more than one private key labelled {label:?} on token {token:?}: remove all \
                 but the CA's (pkcs11-tool --list-objects shows their ids)"
            )),
            _ => e,
        }
    }

    /// Checks that the token answers and the key is there.
    pub fn check(&self, label: &str) -> Result<()> {
        self.with_session(|conn, s| {
            s.get_session_info()?;
            // Reading an attribute makes the token look at the key itself.
            let key = Token::private_key(conn, s, label)?;
            s.get_attributes(key, &[AttributeType::Sign])?;
            Ok(())
        })
        .map_err(|e| self.name_key(e, label))
    }
}

/// Errors after which the connection is not trusted any more.
fn is_token_fault(e: &CkError) -> bool {
    match e {
        CkError::Pkcs11(rv, _) => matches!(
            rv,
            RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::DeviceMemory
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::SessionCount
                | RvError::UserNotLoggedIn
                | RvError::CryptokiNotInitialized
                | RvError::ObjectHandleInvalid
                | RvError::KeyHandleInvalid
                | RvError::GeneralError
                | RvError::FunctionFailed
                | RvError::SlotIdInvalid
        ),
        _ => false,
    }
}

/// The attributes that show a private key cannot leave the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyFacts {
    /// CKA_SENSITIVE.
    pub sensitive: bool,
    /// CKA_EXTRACTABLE.
    pub extractable: bool,
    /// CKA_ALWAYS_SENSITIVE.
    pub always_sensitive: bool,
    /// CKA_NEVER_EXTRACTABLE.
    pub never_extractable: bool,
    /// Whether the token handed out CKA_PRIVATE_EXPONENT or CKA_VALUE.
    pub private_value_readable: bool,
}

impl KeyFacts {
    /// Generated on the token and never able to leave it.
    pub fn never_left_the_token(&self) -> bool {
        self.sensitive
            && !self.extractable
            && self.always_sensitive
            && self.never_extractable
            && !self.private_value_readable
    }
}

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

fn spki_from_attributes(attrs: &[Attribute]) -> Result<SubjectPublicKeyInfoOwned> {
    let bad = |m: &str| Error::key_store(format!("the token's public key: {m}"));
    let get = |t: AttributeType| attrs.iter().find(|a| a.attribute_type() == t);
    match get(AttributeType::KeyType) {
        Some(Attribute::KeyType(k)) if *k == KeyType::RSA => {
            let (Some(Attribute::Modulus(n)), Some(Attribute::PublicExponent(e))) = (
                get(AttributeType::Modulus),
                get(AttributeType::PublicExponent),
            ) else {
                return Err(bad("RSA without modulus or exponent"));
            };
            let key = RsaPublicKey {
                modulus: UintRef::new(n).map_err(|e| bad(&e.to_string()))?,
                public_exponent: UintRef::new(e).map_err(|e| bad(&e.to_string()))?,
            };
            let der = key.to_der().map_err(|e| bad(&e.to_string()))?;
            Ok(SubjectPublicKeyInfoOwned {
                algorithm: AlgorithmIdentifierOwned {
                    oid: oids::RSA_ENCRYPTION,
                    parameters: Some(Any::null()),
                },
                subject_public_key: BitString::from_bytes(&der).map_err(|e| bad(&e.to_string()))?,
            })
        }
        Some(Attribute::KeyType(k)) if *k == KeyType::EC => {
            let (Some(Attribute::EcParams(params)), Some(Attribute::EcPoint(point))) =
                (get(AttributeType::EcParams), get(AttributeType::EcPoint))
            else {
                return Err(bad("EC without parameters or point"));
            };
            let curve = ObjectIdentifier::from_der(params)
                .map_err(|_| bad("EC parameters are not a named curve"))?;
            let len = match curve {
                oids::SECP256R1 => 65,
                oids::SECP384R1 => 97,
                other => return Err(bad(&format!("curve {other} is not supported"))),
            };
            // CKA_EC_POINT is a DER OCTET STRING; some tokens give it raw.
            let raw = if point.len() == len && point[0] == 4 {
                point.clone()
            } else {
                der::asn1::OctetString::from_der(point)
                    .map_err(|_| bad("EC point is not an OCTET STRING"))?
                    .into_bytes()
            };
            if raw.len() != len || raw[0] != 4 {
                return Err(bad("EC point is not uncompressed"));
            }
            Ok(SubjectPublicKeyInfoOwned {
                algorithm: AlgorithmIdentifierOwned {
                    oid: oids::EC_PUBLIC_KEY,
                    parameters: Some(Any::encode_from(&curve).map_err(|e| bad(&e.to_string()))?),
                },
                subject_public_key: BitString::from_bytes(&raw).map_err(|e| bad(&e.to_string()))?,
            })
        }
        _ => Err(bad("neither RSA nor EC")),
    }
}

/// The hash an RSA key signs with (PKCS#1 v1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaHash {
    /// sha256WithRSAEncryption.
    Sha256,
    /// sha384WithRSAEncryption.
    Sha384,
    /// sha512WithRSAEncryption.
    Sha512,
}

#[derive(Clone, Copy, Debug)]
enum Scheme {
    Rsa(RsaHash),
    EcdsaP256,
    EcdsaP384,
}

/// DER DigestInfo prefixes (RFC 8017 §9.2, note 1).
const SHA256_PREFIX: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const SHA384_PREFIX: &[u8] = &[
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const SHA512_PREFIX: &[u8] = &[
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

/// A key pair on a token, used as the CA's (or the OCSP responder's) key.
pub struct Pkcs11Signer {
    token: Arc<Token>,
    label: String,
    spki: SubjectPublicKeyInfoOwned,
    scheme: Scheme,
    verifier: aws_lc_rs::signature::UnparsedPublicKey<Vec<u8>>,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("token", &self.token.label())
            .field("key", &self.label)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// The key pair labelled `label` whose public key is `spki` (from the
    /// token or from the CA certificate, so a server can start while the
    /// token is away).
    pub fn new(
        token: Arc<Token>,
        label: &str,
        spki: SubjectPublicKeyInfoOwned,
        rsa_hash: RsaHash,
    ) -> Result<Self> {
        use aws_lc_rs::signature as sig;
        let (scheme, alg): (Scheme, &'static dyn sig::VerificationAlgorithm) =
            match spki.algorithm.oid {
                oids::RSA_ENCRYPTION => (
                    Scheme::Rsa(rsa_hash),
                    match rsa_hash {
                        RsaHash::Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                        RsaHash::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                        RsaHash::Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                    },
                ),
                oids::EC_PUBLIC_KEY => match spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .map(|p| p.decode_as::<ObjectIdentifier>())
                {
                    Some(Ok(oids::SECP256R1)) => (Scheme::EcdsaP256, &sig::ECDSA_P256_SHA256_ASN1),
                    Some(Ok(oids::SECP384R1)) => (Scheme::EcdsaP384, &sig::ECDSA_P384_SHA384_ASN1),
                    _ => {
                        return Err(Error::key_store(
                            "the token's EC key is not on P-256 or P-384",
                        ))
                    }
                },
                other => {
                    return Err(Error::key_store(format!(
                        "key algorithm {other} is not supported"
                    )))
                }
            };
        let verifier =
            sig::UnparsedPublicKey::new(alg, spki.subject_public_key.raw_bytes().to_vec());
        Ok(Pkcs11Signer {
            token,
            label: label.to_string(),
            spki,
            scheme,
            verifier,
        })
    }

    /// Opens the key pair labelled `label`, reading its public key from the token.
    pub fn open(token: Arc<Token>, label: &str, rsa_hash: RsaHash) -> Result<Self> {
        let spki = token.public_key(label)?;
        Pkcs11Signer::new(token, label, spki, rsa_hash)
    }

    /// The token.
    pub fn token(&self) -> &Arc<Token> {
        &self.token
    }
}

fn malformed() -> Error {
    Error::signer_unavailable("the token's ECDSA signature is malformed")
}

impl Pkcs11Signer {
    fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>> {
        self.token.sign_raw(&self.label, &Mechanism::Ecdsa, digest)
    }
}

impl CaSigner for Pkcs11Signer {
    fn algorithm(&self) -> AlgorithmIdentifierOwned {
        match self.scheme {
            Scheme::Rsa(h) => AlgorithmIdentifierOwned {
                oid: match h {
                    RsaHash::Sha256 => oids::SHA256_WITH_RSA,
                    RsaHash::Sha384 => oids::SHA384_WITH_RSA,
                    RsaHash::Sha512 => oids::SHA512_WITH_RSA,
                },
                parameters: Some(Any::null()),
            },
            Scheme::EcdsaP256 => AlgorithmIdentifierOwned {
                oid: oids::ECDSA_WITH_SHA256,
                parameters: None,
            },
            Scheme::EcdsaP384 => AlgorithmIdentifierOwned {
                oid: oids::ECDSA_WITH_SHA384,
                parameters: None,
            },
        }
    }

    fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let signature = match self.scheme {
            Scheme::Rsa(h) => {
                let mut info = Vec::with_capacity(83);
                match h {
                    RsaHash::Sha256 => {
                        info.extend_from_slice(SHA256_PREFIX);
                        info.extend_from_slice(&sha2::Sha256::digest(message));
                    }
                    RsaHash::Sha384 => {
                        info.extend_from_slice(SHA384_PREFIX);
                        info.extend_from_slice(&sha2::Sha384::digest(message));
                    }
                    RsaHash::Sha512 => {
                        info.extend_from_slice(SHA512_PREFIX);
                        info.extend_from_slice(&sha2::Sha512::digest(message));
                    }
                }
                self.token
                    .sign_raw(&self.label, &Mechanism::RsaPkcs, &info)?
            }
            // CKM_ECDSA signs the digest and returns r‖s; certificates
            // carry the DER ECDSA-Sig-Value.
            Scheme::EcdsaP256 => {
                let raw = self.sign_digest(&sha2::Sha256::digest(message))?;
                p256::ecdsa::Signature::from_slice(&raw)
                    .map(|s| s.to_der().as_bytes().to_vec())
                    .map_err(|_| malformed())?
            }
            Scheme::EcdsaP384 => {
                let raw = self.sign_digest(&sha2::Sha384::digest(message))?;
                p384::ecdsa::Signature::from_slice(&raw)
                    .map(|s| s.to_der().as_bytes().to_vec())
                    .map_err(|_| malformed())?
            }
        };
        // A signature that does not verify under the certificate's key
        // (another key under this label, a faulty token) is never used.
        self.verifier.verify(message, &signature).map_err(|_| {
            Error::signer_unavailable(format!(
                "the signature made with key {:?} on token {:?} does not verify under the \
                 CA certificate's public key",
                self.label,
                self.token.label()
            ))
        })?;
        Ok(signature)
    }

    fn check(&self) -> Result<()> {
        self.token.check(&self.label)
    }
}
