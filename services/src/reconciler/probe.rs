//! Health checks: one HTTP GET per due copy, all at once, each bounded by the check's timeout.

use skiff_api::service::HealthCheck;
use std::net::SocketAddr;
use std::time::Duration;

/// Whether each address answered the health check with a 2xx in time, in order.
pub(super) async fn check_all(http: &reqwest::Client, health: &HealthCheck, addrs: &[SocketAddr]) -> Vec<bool> {
    let timeout = Duration::from_millis(health.timeout_ms);
    let checks = addrs.iter().map(|addr| {
        let req = http.get(format!("http://{addr}{}", health.path)).timeout(timeout);
        async move { matches!(req.send().await, Ok(r) if r.status().is_success()) }
    });
    futures_util::future::join_all(checks).await
}
