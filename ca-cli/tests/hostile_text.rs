//! Issue 9 defects 7 and 19 through the real binaries: text an attacker put
//! into the audit trail reaches an auditor's terminal escaped, and revocation
//! reasons are checked by the CLI before the server is asked.

mod support;

use support::*;

#[test]
fn audit_list_prints_hostile_user_names_escaped() {
    let server = Server::start();
    // An anonymous failed login whose user name clears the screen, moves
    // the cursor home and prints a fake result (defect 7).
    let evil = "x\u{1b}[2J\u{1b}[Hverified OK\u{7}\u{9b}0m";
    let r = cli(
        &server,
        &["login", "--username", evil, "--password-stdin"],
        "Wrong1Pass\n",
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    admin(&server);
    for args in [
        &["audit", "list"][..],
        &["audit", "list", "--json"][..],
        &["audit", "list", "--field", "actor"][..],
    ] {
        let out = ok(&server, args, "").stdout;
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?} printed a control character: {out:?}"
        );
        assert!(
            out.contains("verified OK"),
            "{args:?}: the name is still shown"
        );
    }
    let shown = ok(&server, &["audit", "list"], "").stdout;
    // Stored written out (the store escapes a user name's controls; the CLI
    // escapes whatever else arrives raw, see output::safe's test).
    assert!(
        shown.contains(r"x\u{001b}[2J\u{001b}[Hverified OK\u{0007}\u{009b}0m"),
        "{shown}"
    );
}

#[test]
fn revocation_reasons_take_rfc_names_and_unknown_ones_are_usage_errors() {
    let server = Server::start();
    admin(&server);
    // Unknown: exit 2, and the server never saw it (no refusal audited).
    let r = cli(
        &server,
        &[
            "cert",
            "revoke",
            "ab12",
            "--reason",
            "stolen",
            "--document",
            "З-1",
        ],
        "",
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("key_compromise"), "{}", r.stderr);
    // RFC 5280's name reaches the server as its code: the refusal is about
    // the certificate, not the reason.
    let r = cli(
        &server,
        &[
            "cert",
            "revoke",
            "ab12",
            "--reason",
            "keyCompromise",
            "--document",
            "З-1",
        ],
        "",
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("certificate_not_found"), "{}", r.stderr);
    let help = ok(&server, &["cert", "revoke", "--help"], "").stdout;
    for name in ["keyCompromise", "superseded", "cessationOfOperation"] {
        assert!(help.contains(name), "{help}");
    }
}

/// Issue 9 defect 17: the checkpoints export as files openssl verifies.
#[test]
fn audit_checkpoints_export_verifies_with_openssl() {
    let server = Server::start();
    admin(&server);
    ok(&server, &["crl", "publish"], "");
    let listed = ok(
        &server,
        &["--json", "audit", "checkpoints", "--out", "anchors"],
        "",
    )
    .json();
    let last = listed.as_array().unwrap().last().unwrap().clone();
    let records = last["records"].as_i64().unwrap();
    let dir = server.path().join("anchors");
    assert!(dir.join("ca.pem").exists());
    let txt = format!("anchors/checkpoint-{records}.txt");
    let sig = format!("anchors/checkpoint-{records}.sig");
    openssl(
        &server,
        &[
            "x509",
            "-in",
            "anchors/ca.pem",
            "-pubkey",
            "-noout",
            "-out",
            "anchors/ca.pub",
        ],
    );
    let digest = format!("-{}", last["digest"].as_str().unwrap());
    openssl(
        &server,
        &[
            "dgst",
            &digest,
            "-verify",
            "anchors/ca.pub",
            "-signature",
            &sig,
            &txt,
        ],
    );
    let v = ok(&server, &["--json", "audit", "verify"], "").json();
    assert_eq!(
        (v["ok"].as_bool(), v["checkpoints"].as_u64().map(|n| n >= 1)),
        (Some(true), Some(true))
    );
}
