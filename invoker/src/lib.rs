//! Functions: which ones this node serves (a registry fed by the config store's watch), whether
//! a call may run now (admission), running it on the right worker, its asynchronous events and
//! queue triggers, and what is remembered afterwards (logs, metrics).
//!
//! [`Invoker`] is a thin facade over narrow handles — [`Runner`], [`Events`], [`Triggers`],
//! [`Deployer`] — each holding only what it uses. Module order (each uses only those before
//! it; modules import each other by their own paths, never through the re-exports below):
//! `error`, `callback_policy`, `applied`, `metrics`, `logs`, `tasks` → `registry`, `options`,
//! `dead_letters` → `admission`, `builder` → `run`, `deploy` → `events`, `triggers` → `feed` →
//! `facade`.

// redb's error type is large, and some closures return it as is.
#![allow(clippy::result_large_err)]

mod admission;
mod applied;
mod builder;
mod callback_policy;
mod dead_letters;
mod deploy;
mod error;
mod events;
mod facade;
mod feed;
mod logs;
mod metrics;
mod options;
mod registry;
mod run;
mod tasks;
mod triggers;

pub use callback_policy::{CallbackPolicy, Cidr};
pub use deploy::{Deployer, PublishRequest};
pub use error::InvokerError;
pub use events::Events;
pub use facade::Invoker;
pub use metrics::Metrics;
pub use options::{Containers, InvokerOptions, QueueChoice};
pub use run::{HttpServed, InvokeResult, Runner};
pub use triggers::Triggers;
