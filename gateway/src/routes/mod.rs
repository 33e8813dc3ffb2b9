//! The handlers, one module per route prefix.

pub(crate) mod counts;
pub(crate) mod events;
pub(crate) mod flags;
pub(crate) mod function_url;
pub(crate) mod functions;
pub(crate) mod keys;
pub(crate) mod lambda;
pub(crate) mod lambda_api;
pub(crate) mod services;
pub(crate) mod tasks;
pub(crate) mod triggers;
