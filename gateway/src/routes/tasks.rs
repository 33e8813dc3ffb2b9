//! `/v1/tasks`: run one-off tasks from an ECS task definition, list and describe them (in the
//! shape of ECS's `DescribeTasks`), stop them, read their output.

use crate::body::read_json;
use crate::errors::{error_response, reply};
use crate::http::{bytes_response, Resp};
use crate::route::Route;
use hyper::{Request, StatusCode};
use skiff_api::task::TaskRequest;
use skiff_services::Services;

/// A task definition with ten containers and their environments fits well within this.
const MAX_TASK_BODY: usize = 256 * 1024;

pub(crate) async fn handle(services: &Services, route: Route<'_>, query: Option<&str>, req: Request<crate::http::ReqBody>) -> Resp {
    let listed = |tasks| serde_json::json!({ "tasks": tasks });
    match route {
        Route::RunTask => match read_json::<TaskRequest>(req, MAX_TASK_BODY, "task request").await {
            Ok(request) => reply(StatusCode::OK, services.run_task(request).await.map(listed)),
            Err(resp) => resp,
        },
        Route::ListTasks => reply(StatusCode::OK, services.tasks().await.map(listed)),
        Route::GetTask { id } => reply(StatusCode::OK, services.task(id).await),
        Route::StopTask { id } => reply(StatusCode::OK, services.stop_task(id).await),
        Route::TaskLogs { id } => match super::counts::TAIL.read(query) {
            Ok(lines) => match services.task_logs(id, lines).await {
                Ok(text) => bytes_response(StatusCode::OK, "text/plain; charset=utf-8", text),
                Err(e) => error_response(&e),
            },
            Err(resp) => resp,
        },
        other => unreachable!("not a tasks route: {other:?}"),
    }
}
