//! Reserved concurrency split between the ready nodes: a function reserved `r` executions gets
//! `r / n` on each of the `n` ready nodes, and the `r % n` left over go to the first nodes of
//! its rendezvous order (its home first). Every node computes the same split from the same
//! membership in etcd, so the shares add up to `r` and no node asks anyone on the call path.
//!
//! A node that is not a member right now (its lease lapsed: paused, or cut off from etcd) has no
//! share: by then the others have divided its part among themselves. When a node joins, it
//! takes its share as soon as it sees itself ready, while the others shrink theirs as soon as
//! their watch delivers the same change — milliseconds apart; that window is the one place the
//! sum can briefly exceed `r`.

use crate::members::{LeaseId, Membership};
use crate::placement;
use skiff_state::shares::ConcurrencyShares;
use tokio::sync::watch;

pub struct MemberShares {
    members: Membership,
    lease: watch::Receiver<Option<LeaseId>>,
}

impl MemberShares {
    pub fn new(members: Membership) -> Self {
        let lease = members.lease();
        Self { members, lease }
    }
}

impl ConcurrencyShares for MemberShares {
    fn share(&self, function: &str, reserved: u32) -> u32 {
        if self.lease.borrow().is_none() {
            return 0;
        }
        let ready = self.members.ready();
        let order = placement::order(function, &ready);
        match order.iter().position(|n| n.name == self.members.me().name) {
            Some(i) => split(reserved, order.len(), i),
            None => 0,
        }
    }
}

/// The part of `reserved` that the node at `position` of `nodes` gets.
pub fn split(reserved: u32, nodes: usize, position: usize) -> u32 {
    let n = nodes as u32;
    reserved / n + u32::from((position as u32) < reserved % n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_reservation_with_the_rest_at_the_front() {
        for reserved in 0..20 {
            for nodes in 1..6 {
                let shares: Vec<u32> = (0..nodes).map(|i| split(reserved, nodes, i)).collect();
                assert_eq!(shares.iter().sum::<u32>(), reserved, "{reserved} over {nodes}: {shares:?}");
                assert!(shares.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1), "{shares:?}");
            }
        }
        assert_eq!((0..3).map(|i| split(4, 3, i)).collect::<Vec<_>>(), [2, 1, 1]);
    }
}
