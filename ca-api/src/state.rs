//! What every handler shares.

use std::sync::Arc;

use ca_authority::Authority;

/// Application state.
pub struct AppState {
    /// The CA's use cases (database, CA, policies, clock behind them).
    pub authority: Arc<Authority>,
    /// Counters and gauges served on the metrics address.
    pub metrics: crate::metrics::Metrics,
    /// Password hashing (argon2id, 19 MiB each) runs at most this many at a
    /// time, so a flood of logins cannot exhaust memory.
    hashing: tokio::sync::Semaphore,
}

impl AppState {
    /// State for `authority`, hashing on as many threads as there are cores.
    pub fn new(authority: Arc<Authority>) -> AppState {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        AppState {
            authority,
            metrics: crate::metrics::Metrics::new(),
            hashing: tokio::sync::Semaphore::new(cores),
        }
    }

    /// Runs password work `f` when a hashing slot is free; 503 after 10 s.
    pub async fn hashing<T, F>(&self, f: F) -> Result<T, crate::error::ApiError>
    where
        F: FnOnce() -> ca_core::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit =
            tokio::time::timeout(std::time::Duration::from_secs(10), self.hashing.acquire())
                .await
                .map_err(|_| {
                    ca_core::Error::new(
                        ca_core::ErrorKind::Unavailable,
                        "too many logins at once; try again",
                    )
                })?
                .map_err(|_| ca_core::Error::internal("hashing closed"))?;
        let result = blocking(f).await;
        drop(permit);
        result
    }
}

/// Runs blocking work of the use cases off the async workers.
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
