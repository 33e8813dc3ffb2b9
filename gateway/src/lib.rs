//! Skiff's HTTP front door. One listener serves the Lambda Invoke API, function URLs, the native
//! control API, logs, metrics and health; every route ends in the invoker.

mod async_api;
mod auth;
mod control_api;
mod errors;
mod function_url;
mod http;
mod invoke_api;
mod router;
mod server;
mod service_proxy;
mod services_api;
mod triggers_api;
mod upstream;

pub use server::{serve, GatewayOptions};
