//! The share port: how much of a function's reserved concurrency this node may use. One node
//! uses all of it ([`WholeShare`]); in a cluster the reserved count is split between the ready
//! nodes so that the shares add up to it, and every node admits against its own share only —
//! no round trip to a shared counter on the call path.

pub trait ConcurrencyShares: Send + Sync {
    /// This node's part of `reserved` executions of `function`, now.
    fn share(&self, function: &str, reserved: u32) -> u32;
}

/// A single node: the whole reservation.
pub struct WholeShare;

impl ConcurrencyShares for WholeShare {
    fn share(&self, _function: &str, reserved: u32) -> u32 {
        reserved
    }
}
