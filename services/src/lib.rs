//! Services: long-running copies of a container image kept at a desired count, healthy,
//! load-balanced through the gateway (`/svc/NAME/...`) and updated without downtime — Amazon ECS
//! services, placed on the nodes of a [`fleet`] (one node, or a cluster).
//!
//! Each service has a [`Shared`](shared::Shared) record (its desired state as a `watch`, the
//! route the proxy picks copies from, what its copies are doing) and one [`reconciler`] task,
//! which acts only while this node holds the scheduler's lease — one scheduler for every
//! service, so placement sees everything placed. Every change to a definition goes through
//! the [`registry`](registry::Registry) under its control lock, which serialises writers (the
//! API, the autoscaler, a rollback), stores the result with compare-and-swap on its revision,
//! then publishes it to the reconciler. What the scheduler placed is stored too
//! (`Collection::Placements`); every other node routes `/svc` traffic and answers the API by it.
//!
//! Module order (each uses only those before it): `error`, `placement`, `endpoints`,
//! `autoscale` → `fleet`, `tally`, `shared` → `registry` → `reconciler`, `task_runner`, `follow`
//! → `services` → `deploy`, `tasks` (the API's further methods on [`Services`]).

mod autoscale;
mod deploy;
pub mod endpoints;
mod error;
pub mod fleet;
mod follow;
pub mod placement;
mod reconciler;
mod registry;
mod services;
mod shared;
mod tally;
mod task_runner;
mod tasks;

pub use endpoints::{InFlight, RouteLookup, ServiceRoute};
pub use error::ServiceError;
pub use services::{FleetMaker, Services, StartOptions, SCHEDULER_LEASE};
