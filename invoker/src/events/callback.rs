//! `X-Callback-Url`: when an asynchronous invocation ends (success, or failure after its last
//! attempt), its final status is POSTed there. The POST happens before the event is acked, so a
//! crash in between repeats it: callbacks are at least once, like the invocation itself. A
//! receiver that stays down is given up on after a few tries; the status stays queryable.

use crate::InvokerError;
use skiff_api::InvocationStatus;
use std::time::Duration;

const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Checks a callback URL when the event is accepted, so a bad one is a 400 then, not a silent
/// failure later.
pub(crate) fn validate(url: &str) -> Result<(), InvokerError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| InvokerError::invalid(format!("invalid callback URL {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() || url.len() > 2048 {
        return Err(InvokerError::invalid(format!("invalid callback URL {url:?}: expected an http(s) URL")));
    }
    Ok(())
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(TIMEOUT).build().expect("HTTP client")
}

pub(crate) async fn deliver(client: &reqwest::Client, url: &str, status: &InvocationStatus) {
    let body = serde_json::to_vec(status).expect("json");
    let mut wait = Duration::from_millis(200);
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-skiff-request-id", &status.request_id)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => return,
            Ok(resp) => tracing::warn!(url, attempt, status = %resp.status(), "callback refused"),
            Err(e) => tracing::warn!(url, attempt, "callback failed: {e}"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    tracing::warn!(url, request_id = %status.request_id, "callback given up");
}
