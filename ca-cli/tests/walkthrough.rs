//! The README's operator walkthrough, run as written against a real server.

mod support;

use std::process::Command;

use support::{Server, ADMIN_PASSWORD};

#[test]
fn the_readme_walkthrough_runs() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let block = readme
        .split("<!-- walkthrough:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- walkthrough:end -->").next())
        .expect("README has a walkthrough block");
    let script = block
        .trim()
        .trim_start_matches("```sh")
        .trim_end_matches("```");
    assert!(
        script.contains("ca-cli cert revoke"),
        "the walkthrough lost its steps"
    );
    let server = Server::start();
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_ca-cli"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .env("PATH", path)
        .env("CA_SERVER", &server.url)
        .env("CA_CLI_TOKEN_FILE", server.path().join("token"))
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .current_dir(server.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the walkthrough failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("expected_subject") && stdout.contains("CN=Иванов Иван Иванович"),
        "{stdout}"
    );
    assert!(stdout.contains("revoked"), "{stdout}");
}
