//! Lambda's control-plane API as AWS SDKs and the AWS CLI send and read it: the request bodies
//! (PascalCase JSON) turned into Skiff's own requests, Skiff's functions shown in Lambda's
//! shapes, and the paging rules. Pure: the gateway reads bodies, this decides what they mean,
//! so every rule is unit-tested without a server.
//!
//! Fields are checked here with the names the caller used (`MemorySize`, not `memory_mb`),
//! because the SDKs do not check maximums or patterns themselves.

pub mod aliases;
pub mod configuration;
pub mod event_invoke;
pub mod event_source;
pub mod function_url;
pub mod page;
pub mod reference;
pub mod requests;

pub use aliases::{AliasConfiguration, CreateAlias, PublishVersion, UpdateAlias};
pub use configuration::{code_sha256, AccountSettings, FunctionConfiguration, GetFunctionResponse};
pub use event_invoke::{EventInvokeConfig, PutEventInvokeConfig};
pub use event_source::EventSourceMapping;
pub use function_url::{FunctionUrlConfig, PutFunctionUrlConfig};
pub use page::{Page, PageRequest};
pub use reference::FunctionRef;
pub use requests::{CreateFunction, UpdateFunctionCode, UpdateFunctionConfiguration};

/// A field check that failed, named as the caller named the field.
pub(crate) fn field_error(field: &str, problem: impl std::fmt::Display) -> crate::error::Invalid {
    crate::error::Invalid(format!("{field}: {problem}"))
}
