//! `/v1/triggers`: queue triggers (create, list, get, delete) and their dead letters.

use crate::body::read_json;
use crate::errors::{error_response, reply};
use crate::http::{empty, Resp};
use crate::route::Route;
use crate::routes::counts::DEAD_LETTER_LIMIT;
use crate::routes::events::redriven;
use hyper::{Request, StatusCode};
use skiff_api::TriggerRequest;
use skiff_invoker::Triggers;

const MAX_TRIGGER_BODY: usize = 64 * 1024;

pub(crate) async fn handle(triggers: &Triggers, route: Route<'_>, query: Option<&str>, req: Request<crate::http::ReqBody>) -> Resp {
    match route {
        Route::ListTriggers => reply(StatusCode::OK, triggers.list().await.map(|all| serde_json::json!({ "triggers": all }))),
        Route::AddTrigger => match read_json::<TriggerRequest>(req, MAX_TRIGGER_BODY, "trigger request").await {
            Ok(request) => reply(StatusCode::CREATED, triggers.add(request).await),
            Err(resp) => resp,
        },
        Route::GetTrigger { id } => reply(StatusCode::OK, triggers.get(id).await),
        Route::RemoveTrigger { id } => match triggers.remove(id).await {
            Ok(()) => empty(StatusCode::NO_CONTENT),
            Err(e) => error_response(&e),
        },
        Route::TriggerDeadLetters { id } => match DEAD_LETTER_LIMIT.read(query) {
            Ok(limit) => reply(StatusCode::OK, triggers.dead_letters(id, limit).await),
            Err(refused) => refused,
        },
        Route::TriggerDeadLetter { id, message } => reply(StatusCode::OK, triggers.dead_letter(id, message).await),
        Route::RedriveTrigger { id, message } => redriven(triggers.redrive(id, message).await),
        other => unreachable!("not a trigger route: {other:?}"),
    }
}
