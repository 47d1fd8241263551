//! Test databases (a fresh SQLite file; a fresh PostgreSQL database when
//! `TEST_DATABASE_URL` is set, dropped afterwards) and a registry fixture
//! whose outside party is the `openssl` command line.

#![allow(dead_code)]

use std::sync::Arc;

use ca_core::api::{NewOrganization, NewPerson, Organization, Person};
use ca_core::keystore;
use ca_core::policy::Policies;
use ca_store::{ManualClock, Registry};
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

/// A CA, a registry on `db`, one organisation and one person.
pub struct World {
    pub t: TestCa,
    pub reg: Arc<Registry>,
    pub clock: Arc<ManualClock>,
    pub org: Organization,
    pub person: Person,
}

pub fn policies() -> Policies {
    ca_tests::policies()
}

/// A registry for the CA whose key store is `<dir>/data`, on `url`.
pub fn open_registry(dir: &std::path::Path, url: &str, clock: Arc<ManualClock>) -> Registry {
    let p = policies();
    let (ca, _) = keystore::open_or_create(&dir.join("data"), &p.ca, None, Utc::now()).unwrap();
    Registry::open(url, Arc::new(ca), Arc::new(p), clock).unwrap()
}

impl World {
    pub fn new(db: &TestDb) -> World {
        let t = TestCa::new();
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let reg = Arc::new(open_registry(t.path(), &db.url, clock.clone()));
        let org = reg
            .register_organization(
                "registrar",
                NewOrganization {
                    name: ORG_NAME.into(),
                    inn: INN.into(),
                    ogrn: OGRN.into(),
                    agreement_number: "КБ-2026/17".into(),
                    webhook_url: None,
                },
            )
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
        reg: &Registry,
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
        self.t.openssl(&[
            "req",
            "-new",
            "-utf8",
            "-key",
            &key,
            "-subj",
            subject,
            "-outform",
            "DER",
            "-out",
            &format!("{name}.csr"),
        ]);
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
        ca_tests::try_openssl(
            self.t.path(),
            &[
                "verify",
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
