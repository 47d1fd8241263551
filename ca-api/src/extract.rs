//! A JSON body whose errors wait: extractors run concurrently, so a broken
//! body could otherwise answer 400 before the login and role checks answer
//! 401/403. Handlers call [`JsonBody::take`] after authorisation.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body, parsed, with any error kept for later.
pub struct JsonBody<T>(Result<T, ApiError>);

impl<T> JsonBody<T> {
    /// The body, or the error that parsing it gave.
    pub fn take(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let fut = web::Json::<T>::from_request(req, payload);
        Box::pin(async move {
            Ok(JsonBody(fut.await.map(web::Json::into_inner).map_err(
                |e| {
                    // The JsonConfig error handler already built our error body.
                    crate::error::transport(e.error_response().status(), e.to_string())
                },
            )))
        })
    }
}
