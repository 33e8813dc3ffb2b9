//! Skiff's names on the broker. Every queue and exchange Skiff owns lives under the namespace of
//! one server (its data dir's id) or one cluster, so two of them on one broker never consume each
//! other's events: `skiff.<ns>.fn.<name>`, `skiff.<ns>.dlq.…`, `skiff.<ns>.callbacks`, the
//! exchanges `skiff.<ns>.events` and `skiff.<ns>.delay`, delay queues `skiff.<ns>.delay.<ms>`.
//! Users' queues (trigger sources, destinations) keep the names users gave them.

use crate::queue::{QueueError, QueueKind, QueueRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Namespace {
    prefix: String,
}

impl Namespace {
    /// `id`: 1 to 32 of `[a-z0-9-]`.
    pub(crate) fn new(id: &str) -> Result<Self, QueueError> {
        let valid = (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(QueueError::Refused(format!("invalid queue namespace {id:?}: 1 to 32 of a-z, 0-9 and '-'")));
        }
        Ok(Self { prefix: format!("skiff.{id}") })
    }

    pub(super) fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    pub(super) fn delay_exchange(&self) -> String {
        format!("{}.delay", self.prefix)
    }

    pub(super) fn delay_queue(&self, bucket: u64) -> String {
        format!("{}.delay.{bucket}", self.prefix)
    }

    /// `queue` as it is named on the broker.
    pub(super) fn queue(&self, queue: &QueueRef) -> QueueRef {
        if matches!(queue.kind, QueueKind::External { .. }) {
            return queue.clone();
        }
        let local = queue.name.strip_prefix("skiff.").unwrap_or(&queue.name);
        QueueRef { name: format!("{}.{local}", self.prefix), ..queue.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_names_are_namespaced_and_users_queues_are_not() {
        let ns = Namespace::new("3fa2c1d4e5f6").unwrap();
        assert_eq!(ns.queue(&QueueRef::function("echo")).name, "skiff.3fa2c1d4e5f6.fn.echo");
        assert_eq!(ns.queue(&QueueRef::function_dlq("echo")).name, "skiff.3fa2c1d4e5f6.dlq.fn.echo");
        assert_eq!(ns.queue(&QueueRef::callbacks()).name, "skiff.3fa2c1d4e5f6.callbacks");
        assert_eq!(ns.queue(&QueueRef::destination("orders")).name, "orders");
        assert_eq!((ns.events_exchange(), ns.delay_queue(64)), ("skiff.3fa2c1d4e5f6.events".into(), "skiff.3fa2c1d4e5f6.delay.64".into()));
        for bad in ["", "UPPER", "a.b", "a b", &"x".repeat(33)] {
            assert!(Namespace::new(bad).is_err(), "{bad:?}");
        }
    }
}
