//! The contract every part of Skiff speaks: what a function, trigger, service or asynchronous
//! invocation looks like on the wire and at rest, the rules a name or a setting must follow,
//! and the kinds of error a request can end in. Pure data and pure checks: nothing here does
//! I/O, so the server, the gateway and the CLI agree by construction.

pub mod access_key;
pub mod arn;
pub mod change;
pub mod error;
pub mod events;
pub mod function;
pub mod iam;
pub mod invocation;
pub mod lambda;
pub mod logs;
pub mod names;
pub mod node;
pub mod placement;
pub mod service;
pub mod task;
pub mod taskdef;
pub mod time;
pub mod trigger;
pub mod url_config;
pub mod version;

pub use error::{ErrorKind, Invalid, ThrottleScope};
pub use events::{Destination, EventConfig, EventConfigUpdate};
pub use function::{CodeInfo, DeployBody, DeployBodyError, DeployMode, DeployRequest, EventsBody, FunctionConfig, Reuse, WasmFormat, ZipInfo};
pub use invocation::{DeadLetter, DeadLetterCondition, DeadLetterPage, InvocationState, InvocationStatus};
pub use logs::LogEntry;
pub use node::{Capacity, NodeInfo, NodeState, NodeView};
pub use placement::{Constraint, Placement, Strategy};
pub use service::{CopyState, EndpointView, ServiceConfig, ServiceRequest, ServiceView};
pub use time::now_ms;
pub use trigger::{TriggerConfig, TriggerRequest};
pub use url_config::{UrlAuth, UrlConfig};
pub use version::{Alias, Qualifier, VersionRef};
