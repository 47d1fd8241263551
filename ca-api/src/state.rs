//! What every handler shares.

use std::sync::Arc;

use ca_store::Registry;

/// Application state.
pub struct AppState {
    /// The registry (database, CA, policies, clock).
    pub registry: Arc<Registry>,
}

/// Runs blocking registry work off the async workers.
pub async fn blocking<T, F>(f: F) -> Result<T, crate::error::ApiError>
where
    F: FnOnce() -> ca_core::Result<T> + Send + 'static,
    T: Send + 'static,
{
    actix_web::web::block(f)
        .await
        .map_err(|e| ca_core::Error::internal(format!("worker: {e}")))?
        .map_err(Into::into)
}
