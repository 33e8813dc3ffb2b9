//! Several Skiff nodes as one, coordinated only through etcd (shared state, membership,
//! singleton leases) — no consensus of our own. This crate supplies the cluster adapters of
//! `skiff-state`'s ports ([`etcd::config::EtcdConfigStore`], [`leases::EtcdLeases`],
//! [`blobs::ClusterBlobs`], [`shares::MemberShares`]), the membership every node keeps ([`members::Membership`]), the
//! pure rule for where a call runs ([`placement`]), and both ends' shared pieces of the
//! authenticated internal channel ([`secret`], [`peers`]).

pub mod blobs;
pub mod etcd;
pub mod leases;
pub mod members;
pub mod peers;
pub mod placement;
pub mod secret;
pub mod shares;

pub use members::{MemberOptions, Membership};
pub use peers::Peers;
pub use secret::ClusterSecret;
