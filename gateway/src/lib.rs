//! Skiff's HTTP front door: HTTP only. One listener serves the Lambda Invoke API, function URLs,
//! the native control API, the service proxy, logs, metrics and health. A request is parsed
//! into a typed [`route::Route`] by a pure function, dispatched by [`router`] to the handler of
//! its prefix under [`routes`], and every failure is answered through one mapping in
//! [`errors`].

// Handlers return `Result<T, Resp>`: the error is the HTTP answer itself, built once and moved
// once to the connection. Boxing it would add an allocation to every refusal and a `Box` to
// every early return, for no gain on a path that ends the request anyway.
#![allow(clippy::result_large_err)]

mod accepted;
mod auth;
mod body;
mod cluster;
mod connections;
mod errors;
mod http;
mod lanes;
mod proxy;
mod route;
mod router;
mod routes;
mod server;
mod strict;

pub use auth::Auth;
pub use cluster::fleet::ClusterFleet;
pub use cluster::ClusterGateway;
pub use connections::ConnectionLimits;
pub use lanes::LaneError;
pub use server::{serve, GatewayOptions};
