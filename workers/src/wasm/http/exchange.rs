//! A function URL's request handed to the component as it is: the request body streams in as
//! the client sends it, and the response goes to the caller as soon as the component sets it,
//! its body streaming while the component writes (cut after [`MAX_RESPONSE_BYTES`]).
//!
//! The execution ends once the guest returned and its response body is through (or the client
//! went away). A guest that fails mid-body is dropped at once, which ends the body the client
//! is reading with an error rather than leaving it open until the timeout.

use super::super::run::{classify, Ended, Prepared};
use super::super::warm::Finishing;
use super::response_body::{Guarded, Primed};
use super::{execution, Component, HttpInstance, Outparam};
use crate::{BodyEnd, Capped, ErrorType, Execution, FunctionError, HttpAnswer, HttpBodyError, HttpCall, Outcome};
use crate::{WorkerError, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use bytes::Bytes;
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What the component did with its response, as far as the call's limits let it.
enum Reply {
    /// It set a response; the body ended like this (`None`: not within the call's time).
    Streamed(Option<BodyEnd>),
    /// It answered with a `wasi:http` error code.
    Refused(String),
    /// It set no response.
    Missing,
}

/// The component's response, handed to the caller; or why there is none.
enum Head {
    /// `finishing`: with reuse, when the body was read ahead to its end (the client may have
    /// it all before the guest has returned).
    Sent {
        end: oneshot::Receiver<BodyEnd>,
        finishing: Option<Finishing<HttpInstance>>,
    },
    Refused(String),
    Missing,
}

pub(crate) async fn exchange(component: Component<'_>, call: HttpCall, cold_init: Option<Duration>) -> Result<Execution, WorkerError> {
    let started = Instant::now();
    let HttpCall { request_id, request, respond } = call;
    let mut respond = Some(respond);
    let request = request.map(|body| Capped::new(body, MAX_REQUEST_BYTES).map_err(guest_error));
    let failed = Arc::new(AtomicBool::new(false));
    let (mut instance, calls) = component.instance(&request_id).await;
    let cold_init = component.cold_init(calls, cold_init);
    let (slot, watch) = (&mut respond, failed.clone());
    let send = move |outparam| send_head(outparam, slot, watch, component);
    let (ended, head, instantiated_in) = component.serve(&mut instance, &request_id, request, send).await?;
    let logs = instance.take_logs();
    let (refused, peak) = instance.memory();
    let returned = matches!(ended, Ended::Returned) && !refused;
    // A guest that did not return cleanly may still hold its body open: dropping it ends the
    // body, as a failure.
    failed.store(!returned, Ordering::SeqCst);
    let mut kept = returned.then_some(instance);
    let mut head = head.unwrap_or(Head::Missing);
    if let Head::Sent { finishing: finishing @ Some(_), .. } = &mut head {
        // The guest returned and its body is all read: the instance has nothing left to do
        // for this call, so it is ready for the next one (which may be waiting for it already).
        if let Some(instance) = kept.take() {
            component.give_back(instance, calls + 1, true);
        }
        drop(finishing.take());
    }
    let reply = match head {
        Head::Sent { end, .. } => {
            let deadline = tokio::time::Instant::from_std(started + component.function.spec.timeout);
            Reply::Streamed(tokio::time::timeout_at(deadline, end).await.ok().map(|end| end.unwrap_or(BodyEnd::Abandoned)))
        }
        Head::Refused(why) => Reply::Refused(why),
        Head::Missing => Reply::Missing,
    };
    let outcome = outcome_of(ended, reply, component.function, &logs, refused);
    let clean = matches!(outcome, Outcome::Success(_));
    if !clean {
        failed.store(true, Ordering::SeqCst);
    }
    if let Some(instance) = kept.take() {
        component.give_back(instance, calls + 1, clean);
    }
    if let (Some(respond), Outcome::Error(e)) = (respond, &outcome) {
        let _ = respond.send(HttpAnswer::Failed(e.clone()));
    }
    Ok(execution(started, cold_init, instantiated_in, outcome, logs, peak))
}

/// How a failure of the request body reaches the guest reading it.
fn guest_error(e: HttpBodyError) -> wasmtime_wasi_http::Error {
    match e {
        HttpBodyError::TooLarge { limit } => wasmtime_wasi_http::Error::HttpRequestBodySize(Some(limit as u64)),
        HttpBodyError::Client(_) => wasmtime_wasi_http::Error::ConnectionTerminated,
        HttpBodyError::Function(why) => wasmtime_wasi_http::Error::InternalError(Some(why)),
    }
}

/// How much of a response body already written when its head is set is read ahead (a small
/// body the guest wrote at once then goes out whole, with its length).
const READ_AHEAD_BYTES: usize = 64 * 1024;

/// Hands the component's response to the caller as soon as it is set, its body cut after
/// [`MAX_RESPONSE_BYTES`] and watched for its end.
async fn send_head(outparam: Outparam, respond: &mut Option<oneshot::Sender<HttpAnswer>>, failed: Arc<AtomicBool>, component: Component<'_>) -> Head {
    match outparam.await {
        Ok(Ok(response)) => {
            let (parts, body) = response.into_parts();
            let body = Primed::read_ahead(Guarded::new(body, failed), READ_AHEAD_BYTES);
            // Marked before the client can have it all, so its next call waits for this instance.
            let finishing = if body.is_whole() { component.finishing() } else { None };
            let (body, end) = Capped::watched(body, MAX_RESPONSE_BYTES);
            let response = hyper::Response::from_parts(parts, body.boxed());
            if let Some(respond) = respond.take() {
                // A caller gone already drops the body, which reports it abandoned.
                let _ = respond.send(HttpAnswer::Response(response));
            }
            Head::Sent { end, finishing }
        }
        Ok(Err(code)) => Head::Refused(format!("the handler answered with an error: {code:?}")),
        Err(_) => Head::Missing,
    }
}

/// The execution's outcome: a success once the guest returned and its whole response went out
/// (or the client left), else the failure as Lambda reports it.
fn outcome_of(ended: Ended, reply: Reply, function: &Prepared, logs: &[u8], memory_refused: bool) -> Outcome {
    let unhandled = |why: String| Outcome::Error(FunctionError::new(ErrorType::Unhandled, why));
    match (ended, reply) {
        (Ended::Returned, Reply::Streamed(Some(BodyEnd::Complete | BodyEnd::Abandoned))) if !memory_refused => Outcome::Success(Bytes::new()),
        (Ended::Returned, Reply::Streamed(Some(BodyEnd::TooLarge))) => Outcome::Error(FunctionError::response_too_large()),
        (Ended::Returned, Reply::Streamed(Some(BodyEnd::Failed(why)))) => unhandled(format!("the response body failed: {why}")),
        (Ended::Returned, Reply::Streamed(None)) => Outcome::Error(FunctionError::timed_out(function.spec.timeout)),
        (Ended::Returned, Reply::Refused(why)) => unhandled(why),
        (Ended::Returned, Reply::Missing) => unhandled("the handler returned without setting a response".into()),
        (ended, _) => classify(ended, function, Bytes::new(), logs, memory_refused),
    }
}
