//! The real `ca-api` binary on loopback and the real `ca-cli` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const ADMIN_PASSWORD: &str = "Bootstrap1Pass";

/// The `ca-api` binary beside this test's binaries; built if missing (when
/// only this package's tests were asked for).
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let bin = dir.join("ca-api");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", "ca-api", "--bin", "ca-api"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "building ca-api failed");
    }
    bin
}

pub struct Server {
    server: ca_tests::RunningServer,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// With more environment variables for the server.
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let server = ca_tests::RunningServer::start_with(
            &server_binary(),
            &dir.path().join("data"),
            ca_tests::free_port(),
            None,
            ADMIN_PASSWORD,
            env,
        );
        let url = server.url.clone();
        Server { server, url, dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// What a `ca-cli` run did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// Runs `ca-cli args…` against `server` with `stdin`.
pub fn cli(server: &Server, args: &[&str], stdin: &str) -> Run {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ca-cli"))
        .args(args)
        .env("CA_SERVER", &server.url)
        .env("CA_CLI_TOKEN_FILE", server.path().join("token"))
        .current_dir(server.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs and expects exit 0.
pub fn ok(server: &Server, args: &[&str], stdin: &str) -> Run {
    let r = cli(server, args, stdin);
    assert_eq!(
        r.code, 0,
        "ca-cli {args:?}\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    r
}

/// Logs in as admin and changes the bootstrap password.
pub fn admin(server: &Server) {
    ok(
        server,
        &["login", "--username", "admin", "--password-stdin"],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    ok(
        server,
        &["passwd", "--password-stdin"],
        &format!("{ADMIN_PASSWORD}\nOperator1Pass\n"),
    );
    ok(
        server,
        &["login", "--username", "admin", "--password-stdin"],
        "Operator1Pass\n",
    );
}

/// Runs openssl in the server's temp directory.
pub fn openssl(server: &Server, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(server.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new P-256 key `<name>.key` and a CSR for `subj` in `<name>.csr`
/// (PEM, or DER with `der`), made by openssl in the server's directory.
pub fn p256_csr(server: &Server, name: &str, subj: &str, der: bool) {
    let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
    let mut args = ca_tests::p256_req_args(&key, subj);
    args.extend(["-out", &csr]);
    if der {
        args.extend(["-outform", "DER"]);
    }
    openssl(server, &args);
}

/// `content` signed into a CMS envelope `out` (DER) with `signer` and `key`,
/// as client software sends a request.
pub fn envelope(server: &Server, content: &str, signer: &str, key: &str, out: &str) {
    ca_tests::cms_sign_in(server.path(), content, signer, key, out, &[]);
}
