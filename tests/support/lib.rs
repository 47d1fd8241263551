//! Helpers for the interoperability tests: a CA in a temporary directory and
//! the real `openssl` command line as the other side.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ca_core::certificate::CertificateParams;
use ca_core::keystore;
use ca_core::policy::{Policies, ProfileKind};
use ca_core::serial::random_serial;
use ca_core::subject::SubjectSpec;
use ca_core::CertificateAuthority;
use chrono::{Duration, Utc};
use der::{Decode, Encode};
use diesel::prelude::*;
use x509_cert::request::CertReq;

/// The repository's shipped policies.
pub fn policies() -> Policies {
    Policies::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")).expect("policies")
}

/// Runs `openssl` in `dir`; panics with its stderr when it fails.
pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    let out = try_openssl(dir, args);
    assert!(
        out.status.success(),
        "openssl {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `openssl` in `dir` and returns whatever happened.
pub fn try_openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line must be installed")
}

/// stdout and stderr of a run, as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A CA created in a temporary data directory, as the server creates it.
pub struct TestCa {
    /// The working directory for files of the test.
    pub dir: tempfile::TempDir,
    /// The CA.
    pub ca: CertificateAuthority,
    /// The policies it runs under.
    pub policies: Policies,
}

/// The registration subject the tests use (Cyrillic, as in production).
pub fn person_subject() -> SubjectSpec {
    SubjectSpec {
        country: Some("RU".into()),
        organization: Some("ООО Ромашка".into()),
        title: Some("Генеральный директор".into()),
        common_name: "Иванов Иван Иванович".into(),
        ..SubjectSpec::default()
    }
}

/// The same subject as an `openssl req -subj` argument.
/// The working profile's KU, EKU and policies as `openssl req -addext`
/// values: what a rotation request must repeat of the certificate it is
/// signed with (1.81.5, `rotation_extensions = "strict"`).
pub const WORKING_EXTENSIONS: [&str; 3] = [
    "keyUsage=critical,digitalSignature,nonRepudiation",
    "extendedKeyUsage=clientAuth,emailProtection",
    "certificatePolicies=1.3.6.1.4.1.99999.1.2",
];

/// `openssl req` arguments for a new P-256 key written to `keyout` and a
/// CSR for `subj` (UTF-8); the caller adds `-out`, `-outform`, `-addext`.
pub fn p256_req_args<'a>(keyout: &'a str, subj: &'a str) -> Vec<&'a str> {
    vec![
        "req",
        "-new",
        "-utf8",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        keyout,
        "-subj",
        subj,
    ]
}

/// A CSR for `subj` (PEM, or DER with `der`) for a new P-256 key that
/// nobody keeps, made by `openssl req`.
pub fn throwaway_p256_csr(subj: &str, der: bool) -> Vec<u8> {
    let mut args = p256_req_args("/dev/null", subj);
    if der {
        args.extend(["-outform", "DER"]);
    }
    let out = Command::new("openssl").args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `-addext` arguments for `extensions`.
pub fn addext_args<'a>(extensions: &[&'a str]) -> Vec<&'a str> {
    extensions.iter().flat_map(|e| ["-addext", e]).collect()
}

pub const PERSON_SUBJ: &str =
    "/C=RU/O=ООО Ромашка/title=Генеральный директор/CN=Иванов Иван Иванович";

impl TestCa {
    /// Creates the CA (key store in `<dir>/data`) and writes `ca.pem`.
    pub fn new() -> TestCa {
        let dir = tempfile::tempdir().expect("tempdir");
        let policies = policies();
        let (ca, opened) =
            keystore::open_or_create(&dir.path().join("data"), &policies.ca, None, Utc::now())
                .expect("CA bootstrap");
        assert_eq!(opened, keystore::Opened::Created);
        std::fs::copy(
            dir.path().join("data").join(keystore::CERT_FILE),
            dir.path().join("ca.pem"),
        )
        .unwrap();
        TestCa { dir, ca, policies }
    }

    /// Creates the CA with its key generated on a PKCS#11 token (labelled
    /// `key_label`, algorithm `alg`) and writes `ca.pem`.
    pub fn on_token(
        token: &std::sync::Arc<ca_core::pkcs11::Token>,
        key_label: &str,
        alg: ca_core::policy::CaKeyAlgorithm,
    ) -> TestCa {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut policies = policies();
        policies.ca.key_algorithm = alg;
        let data = dir.path().join("data");
        let (ca, opened) =
            keystore::open_or_create_on_token(&data, &policies.ca, token, key_label, Utc::now())
                .expect("CA on the token");
        assert_eq!(opened, keystore::Opened::Created);
        std::fs::copy(data.join(keystore::CERT_FILE), dir.path().join("ca.pem")).unwrap();
        TestCa { dir, ca, policies }
    }

    /// The working directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs openssl in the working directory.
    pub fn openssl(&self, args: &[&str]) -> Output {
        openssl(self.path(), args)
    }

    /// Makes a key and a DER CSR with openssl: `<name>.key`, `<name>.csr`.
    /// `newkey` is an `openssl req -newkey` argument such as `rsa:2048` or
    /// `ec:p256.param`, or `ec-p256` / `ec-p384` for a generated EC key.
    pub fn make_csr(&self, name: &str, newkey: &str) -> Vec<u8> {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        match newkey {
            "ec-p256" | "ec-p384" => {
                let curve = if newkey == "ec-p256" {
                    "P-256"
                } else {
                    "P-384"
                };
                self.openssl(&[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    &format!("ec_paramgen_curve:{curve}"),
                    "-out",
                    &key,
                ]);
            }
            "ed25519" => {
                self.openssl(&["genpkey", "-algorithm", "ED25519", "-out", &key]);
            }
            rsa => {
                let bits = rsa.trim_start_matches("rsa:");
                self.openssl(&[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    &format!("rsa_keygen_bits:{bits}"),
                    "-out",
                    &key,
                ]);
            }
        }
        self.openssl(&[
            "req",
            "-new",
            "-utf8",
            "-key",
            &key,
            "-subj",
            PERSON_SUBJ,
            "-outform",
            "DER",
            "-out",
            &csr,
        ]);
        self.read(&csr)
    }

    /// Issues a certificate under `profile` for the key of a DER CSR and
    /// writes it as `<name>.pem`; returns its DER.
    pub fn issue(&self, name: &str, csr_der: &[u8], profile: ProfileKind) -> Vec<u8> {
        let csr = CertReq::from_der(csr_der).expect("CSR");
        let now = Utc::now();
        let profile = self.policies.profiles.get(profile);
        let (not_before, not_after) = profile.validity(now, None, self.ca.not_after()).unwrap();
        let der = self
            .ca
            .issue(&CertificateParams {
                serial: random_serial().unwrap(),
                subject: person_subject().to_name().unwrap(),
                public_key: csr.info.public_key.clone(),
                not_before,
                not_after,
                profile,
            })
            .expect("issue");
        self.write_pem(&format!("{name}.pem"), "CERTIFICATE", &der);
        der
    }

    /// Wraps `<content>` in CMS SignedData signed by `<signer>.pem` with
    /// `<signer>.key`; `extra` are more `openssl cms -sign` options.
    pub fn cms_sign(
        &self,
        content: &str,
        signer_cert: &str,
        signer_key: &str,
        extra: &[&str],
    ) -> Vec<u8> {
        let out = format!("{content}.p7");
        cms_sign_in(self.path(), content, signer_cert, signer_key, &out, extra);
        self.read(&out)
    }

    /// A self-signed certificate of `<name>.key`, written to `<name>-self.pem`.
    pub fn self_signed(&self, name: &str) -> String {
        let out = format!("{name}-self.pem");
        self.openssl(&[
            "req",
            "-x509",
            "-new",
            "-utf8",
            "-key",
            &format!("{name}.key"),
            "-subj",
            PERSON_SUBJ,
            "-days",
            "30",
            "-out",
            &out,
        ]);
        out
    }

    /// Reads a file of the working directory.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Writes a file into the working directory.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Writes DER as PEM.
    pub fn write_pem(&self, name: &str, label: &str, der: &[u8]) -> PathBuf {
        let pem = der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap();
        self.write(name, pem.as_bytes())
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// The serial of a DER certificate.
pub fn serial_of(cert_der: &[u8]) -> x509_cert::serial_number::SerialNumber {
    x509_cert::Certificate::from_der(cert_der)
        .unwrap()
        .tbs_certificate
        .serial_number
}

/// Re-encodes a value to DER (for tampering tests).
pub fn to_der<T: Encode>(v: &T) -> Vec<u8> {
    v.to_der().unwrap()
}

/// `openssl cms -sign` in `dir`: `content` wrapped in a DER SignedData
/// envelope `out`, signed with `signer_cert` and `signer_key`, as client
/// software sends a request; `extra` are more options.
pub fn cms_sign_in(
    dir: &Path,
    content: &str,
    signer_cert: &str,
    signer_key: &str,
    out: &str,
    extra: &[&str],
) {
    let mut args = vec![
        "cms",
        "-sign",
        "-binary",
        "-nodetach",
        "-outform",
        "DER",
        "-in",
        content,
        "-signer",
        signer_cert,
        "-inkey",
        signer_key,
        "-out",
        out,
    ];
    args.extend_from_slice(extra);
    openssl(dir, &args);
}

/// A time `days` from now.
pub fn days_from_now(days: i64) -> chrono::DateTime<Utc> {
    Utc::now() + Duration::days(days)
}

/// One database for one test.
pub struct TestDb {
    pub url: String,
    pub name: &'static str,
    drop_with: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("ca.sqlite3").display().to_string();
        TestDb {
            url,
            name: "sqlite",
            drop_with: None,
            _dir: Some(dir),
        }
    }

    /// PostgreSQL: terminates every connection to this database (as an
    /// administrator or a restarting server would), the caller's pools'
    /// included. Nothing for SQLite.
    pub fn terminate_connections(&self) {
        let Some((admin, name)) = &self.drop_with else {
            return;
        };
        let mut conn = diesel::PgConnection::establish(admin).unwrap();
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .execute(&mut conn)
        .unwrap();
    }

    /// A new database on the server `TEST_DATABASE_URL` points at.
    pub fn postgres() -> Option<TestDb> {
        let admin = std::env::var("TEST_DATABASE_URL").ok()?;
        let name = format!("ca_test_{}", &ca_core::random_id()[..16]);
        let mut conn =
            diesel::PgConnection::establish(&admin).expect("TEST_DATABASE_URL must be reachable");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        Some(TestDb {
            url: format!("{base}/{name}"),
            name: "postgres",
            drop_with: Some((admin, name)),
            _dir: None,
        })
    }

    /// SQLite, and PostgreSQL when configured.
    pub fn all() -> Vec<TestDb> {
        let mut v = vec![TestDb::sqlite()];
        v.extend(TestDb::postgres());
        v
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.drop_with {
            if let Ok(mut conn) = diesel::PgConnection::establish(admin) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

/// A server binary (`ca-api`) running on loopback for end-to-end tests.
pub struct RunningServer {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RunningServer {
    /// Starts `binary` with its data in `data_dir` on `port` (SQLite unless
    /// `database_url`), the bootstrap admin password `admin_password`, and
    /// waits until `/health` answers.
    pub fn start(
        binary: &Path,
        data_dir: &Path,
        port: u16,
        database_url: Option<&str>,
        admin_password: &str,
    ) -> RunningServer {
        RunningServer::start_with(binary, data_dir, port, database_url, admin_password, &[])
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The same with more environment variables.
    pub fn start_with(
        binary: &Path,
        data_dir: &Path,
        port: u16,
        database_url: Option<&str>,
        admin_password: &str,
        env: &[(&str, &str)],
    ) -> RunningServer {
        use std::process::Stdio;
        let mut cmd = Command::new(binary);
        cmd.envs(env.iter().copied());
        cmd.env("CA_LISTEN", format!("127.0.0.1:{port}"))
            .env("CA_DATA_DIR", data_dir)
            .env(
                "CA_POLICIES_DIR",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies"),
            )
            .env("CA_BOOTSTRAP_ADMIN_PASSWORD", admin_password)
            .env("CA_TICK_SECONDS", "1")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(url) = database_url {
            cmd.env("DATABASE_URL", url);
        }
        let server = RunningServer {
            child: cmd.spawn().expect("start the server"),
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if health_ok(port) {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the server did not come up on port {port}");
    }

    /// SIGTERM, then the exit status (a clean shutdown exits 0).
    pub fn stop(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// `GET /health` answers 200 (plain HTTP/1.1, no client library needed).
fn health_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    if write!(
        s,
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.starts_with("HTTP/1.1 200")
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where Debian's `softhsm2` puts its PKCS#11 module (`SOFTHSM2_MODULE`
/// overrides). The token tests need it: `.ci/run` installs softhsm2.
pub fn softhsm_module() -> PathBuf {
    if let Ok(m) = std::env::var("SOFTHSM2_MODULE") {
        return PathBuf::from(m);
    }
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect("the SoftHSM2 PKCS#11 module is missing: apt-get install softhsm2 (see .ci/run)")
}

/// A SoftHSM2 token store of the test's own: a configuration file, a token
/// directory, and initialised tokens made with `softhsm2-util`.
pub struct SoftHsm {
    dir: tempfile::TempDir,
    /// The configuration file (`SOFTHSM2_CONF`).
    pub conf: PathBuf,
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// The user PIN of every token made here.
    pub pin: String,
}

impl SoftHsm {
    /// A new, empty token store.
    pub fn new() -> SoftHsm {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        SoftHsm {
            dir,
            conf,
            module: softhsm_module(),
            pin: "1234-Test".into(),
        }
    }

    /// The token directory (move it away to take the tokens away).
    pub fn tokens_dir(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }

    /// Initialises a token labelled `label` in the first free slot.
    pub fn init_token(&self, label: &str) {
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", &self.pin, "--so-pin", "5678-SO"])
            .output()
            .expect("softhsm2-util (apt-get install softhsm2)");
        assert!(out.status.success(), "softhsm2-util: {}", text(&out));
    }

    /// `pkcs11-tool` (OpenSC) on this store, logged in: the outside view of
    /// the token.
    pub fn pkcs11_tool(&self, token: &str, args: &[&str]) -> Output {
        Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", &self.conf)
            .arg("--module")
            .arg(&self.module)
            .args(["--token-label", token, "--login", "--pin", &self.pin])
            .args(args)
            .output()
            .expect("pkcs11-tool (apt-get install opensc)")
    }

    /// The server's environment for the CA key on token `label`.
    pub fn server_env(&self, label: &str) -> Vec<(String, String)> {
        vec![
            ("SOFTHSM2_CONF".into(), self.conf.display().to_string()),
            ("CA_PKCS11_MODULE".into(), self.module.display().to_string()),
            ("CA_PKCS11_TOKEN".into(), label.into()),
            ("CA_PKCS11_PIN".into(), self.pin.clone()),
        ]
    }
}

impl Default for SoftHsm {
    fn default() -> Self {
        SoftHsm::new()
    }
}

/// A real SMTP server process (Python's aiosmtpd, `smtp_sink.py`) that
/// keeps every letter it receives, decoded, for the test to read. Killed
/// when dropped.
pub struct SmtpSink {
    child: std::process::Child,
    file: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl SmtpSink {
    /// Starts it on `port`, writing letters to `file`; waits until it listens.
    pub fn start(port: u16, file: &Path) -> SmtpSink {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(file)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (and `pip install aiosmtpd`)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        SmtpSink {
            child,
            file: file.to_path_buf(),
            port,
        }
    }

    /// `smtp://127.0.0.1:<port>`, as `CA_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The letters received so far, oldest first.
    pub fn letters(&self) -> Vec<serde_json::Value> {
        letters_in(&self.file)
    }
}

/// The letters an [`SmtpSink`] wrote to `file` (also after it stopped).
pub fn letters_in(file: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL cluster of the test's own (`initdb` in a temporary
/// directory, on a free port), so that a test may stop and restart the
/// server under a load without touching the shared one. Run as root (as CI
/// does), the server runs as the `postgres` user. Stopped when dropped.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl PgCluster {
    /// `initdb` and start; panics with the reason when PostgreSQL's server
    /// binaries are not installed.
    pub fn start() -> PgCluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|p| p.join("initdb").exists())
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        let cluster = PgCluster {
            dir,
            bin,
            port: free_port(),
        };
        cluster.hand_to_postgres();
        cluster.run(
            "initdb",
            &["-A", "trust", "-U", "postgres", "--no-sync", "-D"],
        );
        cluster.pg_ctl(&["start"]);
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Hands the directory to `postgres` when running as root.
    fn hand_to_postgres(&self) {
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(self.dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown the cluster directory");
        }
    }

    /// Runs a server binary with `args` and the data directory last, as
    /// `postgres` when root.
    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).arg(self.data()).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, action: &[&str]) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {}",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let mut args = vec![
            "-w",
            "-t",
            "60",
            "-l",
            log.to_str().unwrap(),
            "-o",
            &options,
        ];
        args.extend_from_slice(action);
        args.push("-D");
        self.run("pg_ctl", &args);
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `sql` with `psql` as the superuser on database `postgres`
    /// (one statement per `-c`, so ALTER SYSTEM and CREATE DATABASE run
    /// outside a transaction block); panics with psql's message on failure.
    pub fn sql(&self, statements: &[&str]) {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            // The session itself may write even when the cluster is made
            // read-only by default.
            .env("PGOPTIONS", "-c default_transaction_read_only=off");
        for s in statements {
            cmd.args(["-c", s]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "psql {statements:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server at once, as a crash or a killed host would (no
    /// checkpoint; the next start replays the WAL), then starts it again.
    pub fn crash_and_restart(&self) {
        self.pg_ctl(&["-m", "immediate", "stop"]);
        self.pg_ctl(&["start"]);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.pg_ctl(&["-m", "immediate", "stop"])
        }));
    }
}

/// A process's resident size, in bytes (Linux `/proc/<process>/status`;
/// `process` is a pid or `self`).
pub fn resident_bytes(process: &str) -> u64 {
    status_bytes(process, "VmRSS:")
}

/// A process's peak resident size since it started or since
/// [`reset_peak_resident`], in bytes.
pub fn peak_resident_bytes(process: &str) -> u64 {
    status_bytes(process, "VmHWM:")
}

/// Resets a process's peak resident size to its size now (Linux: 5 to
/// `clear_refs`) and returns that size, in bytes.
pub fn reset_peak_resident(process: &str) -> u64 {
    std::fs::write(format!("/proc/{process}/clear_refs"), "5").unwrap();
    resident_bytes(process)
}

fn status_bytes(process: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}
