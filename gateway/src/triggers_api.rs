//! `/v1/triggers`: queue triggers (create, list, get, delete); their dead letters are served by
//! `async_api`'s helpers.

use crate::errors::invoker_error;
use crate::http::{empty, json, read_json, Resp};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use skiff_invoker::{Invoker, TriggerRequest};

const MAX_TRIGGER_BODY: usize = 64 * 1024;

pub(crate) async fn add(invoker: &Invoker, req: Request<Incoming>) -> Resp {
    let request: TriggerRequest = match read_json(req, MAX_TRIGGER_BODY, "trigger request").await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match invoker.add_trigger(request).await {
        Ok(trigger) => json(StatusCode::CREATED, &trigger),
        Err(e) => invoker_error(&e),
    }
}

pub(crate) fn list(invoker: &Invoker) -> Resp {
    match invoker.list_triggers() {
        Ok(all) => json(StatusCode::OK, &serde_json::json!({ "triggers": all })),
        Err(e) => invoker_error(&e),
    }
}

pub(crate) fn get(invoker: &Invoker, id: &str) -> Resp {
    match invoker.get_trigger(id) {
        Ok(t) => json(StatusCode::OK, &t),
        Err(e) => invoker_error(&e),
    }
}

pub(crate) async fn remove(invoker: &Invoker, id: &str) -> Resp {
    match invoker.remove_trigger(id).await {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(e) => invoker_error(&e),
    }
}
