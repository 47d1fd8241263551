//! An in-process server over the real actix-web stack on a real database,
//! with the `openssl` command line as the client software.

#![allow(dead_code)]

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header;
use actix_web::{test, web, App};
use ca_api::state::AppState;
use ca_authority::{Authority, ManualClock};
use ca_core::keystore;
use ca_tests::{TestCa, TestDb};
use chrono::Utc;
use serde_json::{json, Value};

pub const ADMIN_PASSWORD: &str = "Bootstrap1Pass";
pub const MAX_BODY: usize = 64 * 1024;

pub struct Env {
    pub t: TestCa,
    pub reg: Arc<Authority>,
    pub clock: Arc<ManualClock>,
}

impl Env {
    pub fn new(db: &TestDb) -> Env {
        Env::open(db, false)
    }

    /// As the server opens it: with the delegated OCSP responder's key in
    /// the key store and its certificate issued.
    pub fn with_ocsp_responder(db: &TestDb) -> Env {
        let env = Env::open(db, true);
        env.reg
            .renew_ocsp_responder_if_due()
            .unwrap()
            .expect("issued");
        env
    }

    fn open(db: &TestDb, ocsp_key: bool) -> Env {
        let t = TestCa::new();
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let p = ca_tests::policies();
        let data = t.path().join("data");
        let (ca, _) = keystore::open_or_create(&data, &p.ca, None, Utc::now()).unwrap();
        let mut authority =
            Authority::open(&db.url, Arc::new(ca), Arc::new(p), clock.clone()).unwrap();
        if ocsp_key {
            let key = keystore::open_or_create_ocsp_key(&data, None).unwrap();
            authority = authority.with_ocsp_key(Box::new(key));
        }
        let reg = Arc::new(authority);
        reg.bootstrap_admin(ADMIN_PASSWORD).unwrap();
        reg.publish_crl("system").unwrap();
        Env { t, reg, clock }
    }

    pub fn data(&self) -> web::Data<AppState> {
        web::Data::new(AppState::new(self.reg.clone()))
    }
}

/// The application exactly as the server builds it.
pub async fn app(
    env: &Env,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    let data = env.data();
    test::init_service(
        App::new()
            .wrap(actix_web::middleware::from_fn(
                ca_api::refuse_control_characters,
            ))
            .wrap(ca_api::json_errors())
            .wrap(actix_web::middleware::from_fn(ca_api::server::log_request))
            .configure(move |c| ca_api::configure(c, data.clone(), MAX_BODY)),
    )
    .await
}

/// A response: status, headers, body.
pub struct Resp {
    pub status: u16,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

pub async fn call<S, B>(
    app: &S,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
    extra: &[(&str, &str)],
) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = test::TestRequest::default()
        .method(method.parse().unwrap())
        .uri(path);
    if let Some(t) = token {
        req = req.insert_header((header::AUTHORIZATION, format!("Bearer {t}")));
    }
    if let Some((ct, bytes)) = body {
        req = req
            .insert_header((header::CONTENT_TYPE, ct))
            .set_payload(bytes);
    }
    for (k, v) in extra {
        req = req.insert_header((*k, *v));
    }
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = test::read_body(resp).await.to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

pub async fn post_json<S, B>(app: &S, path: &str, token: Option<&str>, v: Value) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    call(
        app,
        "POST",
        path,
        token,
        Some(("application/json", v.to_string().into_bytes())),
        &[],
    )
    .await
}

pub async fn get<S, B>(app: &S, path: &str, token: Option<&str>) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    call(app, "GET", path, token, None, &[]).await
}

/// Logs in as the bootstrap admin and changes the password; returns a token.
pub async fn admin<S, B>(app: &S) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = post_json(
        app,
        "/api/v1/admin/session",
        None,
        json!({"username": "admin", "password": ADMIN_PASSWORD}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = r.json()["token"].as_str().unwrap().to_string();
    if r.json()["must_change_password"] == true {
        let c = post_json(
            app,
            "/api/v1/admin/password",
            Some(&token),
            json!({"old_password": ADMIN_PASSWORD, "new_password": "Changed1Pass"}),
        )
        .await;
        assert_eq!(c.status, 204, "{}", String::from_utf8_lossy(&c.body));
    }
    token
}

/// Adds an operator with a role and returns a usable token for them.
pub async fn operator<S, B>(app: &S, admin: &str, name: &str, role: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = post_json(
        app,
        "/api/v1/admin/operators",
        Some(admin),
        json!({"username": name, "role": role, "password": "First1Pass"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = post_json(
        app,
        "/api/v1/admin/session",
        None,
        json!({"username": name, "password": "First1Pass"}),
    )
    .await;
    let token = r.json()["token"].as_str().unwrap().to_string();
    let c = post_json(
        app,
        "/api/v1/admin/password",
        Some(&token),
        json!({"old_password": "First1Pass", "new_password": "Second2Pass"}),
    )
    .await;
    assert_eq!(c.status, 204);
    token
}

/// Registers an organisation and a person; returns (org id, person JSON).
pub async fn org_and_person<S, B>(app: &S, token: &str) -> (String, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let o = post_json(app, "/api/v1/admin/organizations", Some(token), json!({
        "name": "ООО Ромашка", "inn": "7701234567", "ogrn": "1027700132195", "agreement_number": "КБ-17"
    })).await;
    assert_eq!(o.status, 201, "{}", String::from_utf8_lossy(&o.body));
    let org = o.json()["id"].as_str().unwrap().to_string();
    let until = (Utc::now() + chrono::Duration::days(200)).to_rfc3339();
    let p = post_json(app, "/api/v1/admin/persons", Some(token), json!({
        "organization_id": org, "full_name": "Иванов Иван Иванович", "position": "Генеральный директор",
        "email": "ivanov@romashka.example", "authority_document": "Доверенность 12", "authority_valid_until": until
    })).await;
    assert_eq!(p.status, 201, "{}", String::from_utf8_lossy(&p.body));
    (org, p.json())
}

/// `openssl req -subj` for the registered person.
pub const SUBJ: &str =
    "/C=RU/O=ООО Ромашка/OGRN=1027700132195/title=Генеральный директор/CN=Иванов Иван Иванович";

/// A P-256 key and PEM CSR with the person's subject: `<name>.key`, `<name>.csr.pem`.
pub fn csr_pem(t: &TestCa, name: &str, subj: &str) -> String {
    csr_pem_with(t, name, subj, &[])
}

/// The same with `openssl req -addext` extensions.
pub fn csr_pem_with(t: &TestCa, name: &str, subj: &str, extensions: &[&str]) -> String {
    let (key, out) = (format!("{name}.key"), format!("{name}.csr.pem"));
    let mut args = ca_tests::p256_req_args(&key, subj);
    args.extend(["-out", &out]);
    args.extend(ca_tests::addext_args(extensions));
    t.openssl(&args);
    t.openssl(&[
        "req",
        "-in",
        &format!("{name}.csr.pem"),
        "-outform",
        "DER",
        "-out",
        &format!("{name}.csr"),
    ]);
    String::from_utf8(t.read(&format!("{name}.csr.pem"))).unwrap()
}
