//! What every create-or-update shares, whatever it changes (a function, an alias).

/// Lambda's limit on a function's description.
pub const MAX_DESCRIPTION: usize = 256;

/// Whether a deploy may create the function, update it, or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeployMode {
    /// The native API's `PUT`: creates or updates.
    #[default]
    Upsert,
    /// Lambda's CreateFunction: an existing function is a conflict.
    Create,
    /// Lambda's Update*: a missing function is not found.
    Update,
}
