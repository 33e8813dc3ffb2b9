//! Lambda's control plane, so the AWS CLI and SDKs manage functions as on AWS. Each operation
//! decodes its body with `skiff_api::lambda` (pure, where the field rules live), runs on the
//! same [`Deployer`](skiff_invoker::Deployer) the native `/v1` API uses, and answers in
//! Lambda's shapes: one implementation behind both APIs.

mod aliases;
mod functions;
mod mappings;
mod settings;
mod urls;
mod versions;

use crate::errors::{error_response, AwsError};
use crate::http::{query_param, Resp};
use crate::route::LambdaRoute;
use hyper::Request;
use skiff_api::lambda::FunctionRef;
use skiff_api::{FunctionConfig, Invalid, VersionRef};
use skiff_invoker::Invoker;

/// What the operations need: the functions, and the region their ARNs name.
pub(crate) struct LambdaApi<'s> {
    pub(crate) invoker: &'s Invoker,
    pub(crate) region: &'s str,
}

/// Each operation answers `Err` with the error response it stopped at, so its steps read as
/// a sequence of `?`s.
pub(crate) async fn handle(api: &LambdaApi<'_>, route: LambdaRoute<'_>, query: Option<&str>, req: Request<crate::http::ReqBody>) -> Resp {
    use LambdaRoute::*;
    let answer = match route {
        CreateFunction => functions::create(api, req).await,
        ListFunctions => functions::list(api, query),
        GetFunction { function } => functions::get(api, function, query),
        GetConfiguration { function } => functions::get_configuration(api, function, query),
        UpdateConfiguration { function } => functions::update_configuration(api, function, req).await,
        UpdateCode { function } => functions::update_code(api, function, req).await,
        DeleteFunction { function } => functions::delete(api, function, query).await,
        PutConcurrency { function } => settings::put_concurrency(api, function, req).await,
        GetConcurrency { function } => settings::get_concurrency(api, function),
        DeleteConcurrency { function } => settings::delete_concurrency(api, function).await,
        PutEventInvokeConfig { function } => settings::put_event_invoke_config(api, function, req).await,
        GetEventInvokeConfig { function } => settings::get_event_invoke_config(api, function),
        DeleteEventInvokeConfig { function } => settings::delete_event_invoke_config(api, function).await,
        PublishVersion { function } => versions::publish(api, function, req).await,
        ListVersions { function } => versions::list(api, function, query),
        CreateAlias { function } => aliases::create(api, function, req).await,
        ListAliases { function } => aliases::list(api, function, query),
        GetAlias { function, alias } => aliases::get(api, function, alias),
        UpdateAlias { function, alias } => aliases::update(api, function, alias, req).await,
        DeleteAlias { function, alias } => aliases::delete(api, function, alias).await,
        CreateUrlConfig { function } => urls::create(api, function, req).await,
        GetUrlConfig { function } => urls::get(api, function, &req),
        UpdateUrlConfig { function } => urls::update(api, function, req).await,
        DeleteUrlConfig { function } => urls::delete(api, function).await,
        ListUrlConfigs { function } => urls::list(api, function, &req),
        CreateEventSourceMapping => mappings::create(api, req).await,
        ListEventSourceMappings => mappings::list(api, query).await,
        GetEventSourceMapping { id } => mappings::get(api, id).await,
        DeleteEventSourceMapping { id } => mappings::delete(api, id).await,
        AccountSettings => Ok(settings::account(api)),
    };
    answer.unwrap_or_else(|error| error)
}

/// The function a path segment names, with `?Qualifier=` applied.
pub(crate) fn function_ref(raw: &str, query: Option<&str>) -> Result<FunctionRef, Invalid> {
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    FunctionRef::parse(&decoded).and_then(|r| r.with_query_qualifier(query_param(query, "Qualifier")))
}

/// [`function_ref`], or the 400 that says why not.
fn target(raw: &str, query: Option<&str>) -> Result<FunctionRef, Resp> {
    function_ref(raw, query).map_err(|e| invalid(&e))
}

/// The function a path names, which must be the function itself (`$LATEST`): settings belong
/// to the function, not to a version.
fn unqualified(raw: &str) -> Result<String, Resp> {
    let reference = target(raw, None)?;
    match reference.qualifier {
        Some(q) if reference.version() != Some(VersionRef::Latest) => {
            Err(AwsError::InvalidParameterValue.response(format!("this operation applies to the function, not to its qualifier {q}")))
        }
        _ => Ok(reference.name),
    }
}

/// The function as it is now (its `$LATEST`).
fn current(api: &LambdaApi<'_>, name: &str) -> Result<FunctionConfig, Resp> {
    api.invoker.get(name).map_err(|e| error_response(&e))
}

pub(crate) fn invalid(e: &Invalid) -> Resp {
    AwsError::InvalidParameterValue.response(e.to_string())
}
