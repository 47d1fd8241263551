//! Test databases (a fresh SQLite file; a fresh PostgreSQL database when
//! `TEST_DATABASE_URL` is set, dropped afterwards) and a registry fixture
//! whose outside party is the `openssl` command line.

#![allow(dead_code)]

use std::sync::Arc;

use ca_authority::{Authority, ManualClock};
use ca_core::api::{CertificateView, RequestView};
use ca_core::api::{NewOrganization, NewPerson, Organization, Person};
use ca_core::keystore;
use ca_core::policy::Policies;
use ca_core::request_status::RequestStatus;
use ca_core::views;
use ca_tests::TestCa;
pub use ca_tests::TestDb;
use chrono::{Duration, Utc};

pub const ORG_NAME: &str = "ООО Ромашка";
pub const OGRN: &str = "1027700132195";
pub const INN: &str = "7701234567";

/// The person's subject as an `openssl req -subj` argument.
pub fn subj(full_name: &str, position: &str) -> String {
    format!("/C=RU/O={ORG_NAME}/OGRN={OGRN}/title={position}/CN={full_name}")
}

/// The authority seen through the API's views: the tests assert on what
/// client software and operators are shown.
pub struct Reg(pub Authority);

/// A submission as the client sees it.
#[derive(Debug)]
pub struct Submitted {
    pub view: RequestView,
    pub created: bool,
}

impl std::ops::Deref for Reg {
    type Target = Authority;
    fn deref(&self) -> &Authority {
        &self.0
    }
}

impl Reg {
    pub fn submit_request(&self, body: &[u8]) -> ca_core::Result<Submitted> {
        self.0.submit_request(body).map(|s| Submitted {
            view: views::request(&s.request),
            created: s.created,
        })
    }

    pub fn request(&self, id: &str) -> ca_core::Result<RequestView> {
        self.0.request(id).map(|r| views::request(&r))
    }

    pub fn requests(&self, status: Option<&str>) -> ca_core::Result<Vec<RequestView>> {
        let status = status.map(|s| RequestStatus::from_code(s).expect("a status"));
        self.0.requests(status).map(|rs| views::requests(&rs))
    }

    pub fn approve(&self, actor: &str, id: &str) -> ca_core::Result<RequestView> {
        self.0.approve(actor, id).map(|r| views::request(&r))
    }

    pub fn reject(
        &self,
        actor: &str,
        id: &str,
        reasons: &[String],
        comment: Option<&str>,
    ) -> ca_core::Result<RequestView> {
        self.0
            .reject(actor, id, reasons, comment)
            .map(|r| views::request(&r))
    }

    pub fn confirm_act(
        &self,
        actor: &str,
        id: &str,
        fingerprint: &str,
    ) -> ca_core::Result<RequestView> {
        self.0
            .confirm_act(actor, id, fingerprint)
            .map(|r| views::request(&r))
    }

    pub fn certificate(
        &self,
        serial: &str,
        operator: bool,
    ) -> ca_core::Result<(CertificateView, Option<Vec<u8>>)> {
        let (c, der) = self.0.certificate(serial)?;
        Ok((
            views::certificate(&c, self.0.now(), operator, &self.0.policies().profiles),
            der,
        ))
    }

    pub fn certificates(
        &self,
        person: Option<&str>,
        status: Option<&str>,
    ) -> ca_core::Result<Vec<CertificateView>> {
        let now = self.0.now();
        Ok(self
            .0
            .certificates(person)?
            .iter()
            .map(|c| views::certificate(c, now, true, &self.0.policies().profiles))
            .filter(|v| status.is_none_or(|s| v.status == s))
            .collect())
    }

    pub fn register_person(&self, actor: &str, new: NewPerson) -> ca_core::Result<Person> {
        self.0
            .register_person(actor, new)
            .map(|p| views::person(&p))
    }
}

/// A CA, a registry on `db`, one organisation and one person.
pub struct World {
    pub t: TestCa,
    pub reg: Arc<Reg>,
    pub clock: Arc<ManualClock>,
    pub org: Organization,
    pub person: Person,
}

pub fn policies() -> Policies {
    ca_tests::policies()
}

/// A registry for the CA whose key store is `<dir>/data`, on `url`.
pub fn open_registry(dir: &std::path::Path, url: &str, clock: Arc<ManualClock>) -> Reg {
    open_registry_with(dir, url, clock, policies())
}

/// The same under other policies.
pub fn open_registry_with(
    dir: &std::path::Path,
    url: &str,
    clock: Arc<ManualClock>,
    p: Policies,
) -> Reg {
    let (ca, _) = keystore::open_or_create(&dir.join("data"), &p.ca, None, Utc::now()).unwrap();
    Reg(Authority::open(url, Arc::new(ca), Arc::new(p), clock).unwrap())
}

impl World {
    pub fn new(db: &TestDb) -> World {
        World::with_policies(db, policies())
    }

    /// A world whose `profiles.toml` is the repository's edited by `edit`.
    pub fn with_profiles(db: &TestDb, edit: impl FnOnce(String) -> String) -> World {
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let dir = tempfile::tempdir().unwrap();
        for file in ["ca.toml", "rules.toml", "calendar.toml"] {
            std::fs::copy(source.join(file), dir.path().join(file)).unwrap();
        }
        let text = std::fs::read_to_string(source.join("profiles.toml")).unwrap();
        std::fs::write(dir.path().join("profiles.toml"), edit(text)).unwrap();
        World::with_policies(db, Policies::load(dir.path()).unwrap())
    }

    pub fn with_policies(db: &TestDb, policies: Policies) -> World {
        let t = TestCa::new();
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let reg = Arc::new(open_registry_with(
            t.path(),
            &db.url,
            clock.clone(),
            policies,
        ));
        let org = reg
            .0
            .register_organization(
                "registrar",
                NewOrganization {
                    name: ORG_NAME.into(),
                    inn: INN.into(),
                    ogrn: OGRN.into(),
                    agreement_number: "КБ-2026/17".into(),
                    webhook_url: None,
                    contact_email: None,
                },
            )
            .map(|o| views::organization(&o))
            .unwrap();
        let person = World::add_person(
            &reg,
            &org,
            "Иванов Иван Иванович",
            "Генеральный директор",
            200,
        );
        World {
            t,
            reg,
            clock,
            org,
            person,
        }
    }

    pub fn add_person(
        reg: &Reg,
        org: &Organization,
        name: &str,
        position: &str,
        authority_days: i64,
    ) -> Person {
        reg.register_person(
            "registrar",
            NewPerson {
                organization_id: org.id.clone(),
                full_name: name.into(),
                position: position.into(),
                email: "director@romashka.example".into(),
                authority_document: "Доверенность № 12".into(),
                authority_valid_until: reg.now() + Duration::days(authority_days),
            },
        )
        .unwrap()
    }

    /// A key and DER CSR `<name>.key`/`<name>.csr` with the person's subject.
    pub fn csr(&self, name: &str, person: &Person) -> Vec<u8> {
        self.csr_with_subject(name, &subj(&person.full_name, &person.position))
    }

    pub fn csr_with_subject(&self, name: &str, subject: &str) -> Vec<u8> {
        self.csr_with(name, subject, &[])
    }

    /// A CSR for a planned rotation of a working certificate: the person's
    /// subject and the working profile's extensions (1.81.5).
    pub fn rotation_csr(&self, name: &str, person: &Person) -> Vec<u8> {
        self.csr_with(
            name,
            &subj(&person.full_name, &person.position),
            &ca_tests::WORKING_EXTENSIONS,
        )
    }

    /// A CSR with `subject` and `openssl req -addext` extensions.
    pub fn csr_with(&self, name: &str, subject: &str, extensions: &[&str]) -> Vec<u8> {
        let key = format!("{name}.key");
        self.t.openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ]);
        let out = format!("{name}.csr");
        let mut args = vec![
            "req", "-new", "-utf8", "-key", &key, "-subj", subject, "-outform", "DER", "-out", &out,
        ];
        args.extend(ca_tests::addext_args(extensions));
        self.t.openssl(&args);
        self.t.read(&format!("{name}.csr"))
    }

    /// A technological certificate for `person`: `<name>.key`, `<name>.pem`.
    pub fn technological(&self, name: &str, person: &Person) -> String {
        let csr = self.csr(name, person);
        let req = <x509_cert::request::CertReq as der::Decode>::from_der(&csr).unwrap();
        let (serial, der) = self
            .reg
            .issue_technological("registrar", &person.id, req.info.public_key)
            .unwrap();
        self.t
            .write_pem(&format!("{name}.pem"), "CERTIFICATE", &der);
        serial
    }

    /// A CMS envelope of `<csr>.csr` signed with `<signer>.pem`/`<signer>.key`.
    pub fn envelope(&self, csr: &str, signer: &str) -> Vec<u8> {
        self.t.cms_sign(
            &format!("{csr}.csr"),
            &format!("{signer}.pem"),
            &format!("{signer}.key"),
            &[],
        )
    }

    /// A working certificate for `person` through an approved initial
    /// request: files `<name>.key`, `<name>.pem`. Returns the serial.
    pub fn working(&self, name: &str, person: &Person) -> String {
        let tech = format!("{name}-tech");
        self.technological(&tech, person);
        self.csr(name, person);
        let sub = self
            .reg
            .submit_request(&self.envelope(name, &tech))
            .unwrap();
        assert_eq!(sub.view.status, "pending", "{:?}", sub.view);
        let view = self.reg.approve("registrar", &sub.view.id).unwrap();
        let der = self.reg.request_certificate(&view.id).unwrap();
        self.t
            .write_pem(&format!("{name}.pem"), "CERTIFICATE", &der);
        view.certificate_serial.unwrap()
    }

    /// Whether `openssl verify -crl_check` accepts `<cert>` with `<crl>`.
    pub fn verifies(&self, crl: &str, cert: &str) -> bool {
        let at = self.reg.now().timestamp().to_string();
        ca_tests::try_openssl(
            self.t.path(),
            &[
                "verify",
                "-attime",
                &at,
                "-crl_check",
                "-CAfile",
                "ca.pem",
                "-CRLfile",
                crl,
                cert,
            ],
        )
        .status
        .success()
    }

    /// The current CRL written to `<file>` (PEM).
    pub fn crl(&self, file: &str) -> String {
        let (_, der) = self.reg.current_crl().unwrap().expect("a CRL");
        self.t.write_pem(file, "X509 CRL", &der);
        file.to_string()
    }
}

/// Runs `scenario` on every configured backend, naming the backend on failure.
pub fn on_each_backend(scenario: impl Fn(&TestDb)) {
    for db in TestDb::all() {
        eprintln!("-- backend: {}", db.name);
        scenario(&db);
    }
}
