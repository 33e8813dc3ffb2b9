//! The reconciler and the fleet's nodes: adopting what runs when a term starts, following each
//! copy until it stops, giving up the copies of a node that was lost, and sweeping a node that
//! comes back of copies it should no longer run.

use super::copy::{short, Copy};
use super::Reconciler;
use crate::fleet::{FoundCopy, StopOrder};
use crate::placement::Need;
use std::collections::HashSet;
use std::time::Duration;

/// How long to wait before asking an unreachable node again whether a copy stopped.
const ASK_AGAIN: Duration = Duration::from_secs(1);

impl Reconciler {
    /// Finds the copies already running on every ready node (left by an earlier server or an
    /// earlier scheduler): running ones of this service's life are adopted (and checked before
    /// they take traffic), the others removed.
    pub(super) async fn adopt(&mut self) {
        let name = self.shared.route.name.clone();
        let incarnation = self.shared.config.borrow().created_ms;
        let need = self.need();
        for node in self.fleet.ready() {
            self.known_nodes.insert(node.name.clone());
            let Some(host) = self.fleet.host(&node.name) else { continue };
            let found = match host.list(&name).await {
                Ok(found) => found,
                Err(e) => {
                    self.last_error = Some(format!("listing copies on {}: {e}", node.name));
                    continue;
                }
            };
            for c in found {
                match (c.running && c.incarnation == incarnation, c.address) {
                    (true, Some(address)) => {
                        self.watch_exit(&node.name, &c.id);
                        self.registry.tally.add(&c.id, &node.name, &name, need);
                        self.copies.push(Copy::new(c.id, node.name.clone(), c.revision, address, true));
                    }
                    _ => {
                        let _ = host.stop(&StopOrder { fence: self.fence.clone(), id: c.id, grace_s: 0 }).await;
                    }
                }
            }
        }
        // What the route still holds from following the placements record and was not found
        // running is gone: out of rotation now, not when its requests start failing.
        let adopted: Vec<&str> = self.copies.iter().map(|c| short(&c.id)).collect();
        self.shared.route.retain(|id| adopted.contains(&id));
        if !self.copies.is_empty() {
            tracing::info!(service = %name, adopted = self.copies.len(), "adopted running copies");
        }
    }

    /// Reports on the exits channel when copy `id` on `node` stops. Gives up quietly once the
    /// node is no longer ready: the node-loss check replaces the copy then.
    pub(super) fn watch_exit(&self, node: &str, id: &str) {
        let fleet = self.fleet.clone();
        let tx = self.exits_tx.clone();
        let (node, id) = (node.to_string(), id.to_string());
        tokio::spawn(async move {
            loop {
                let Some(host) = fleet.host(&node) else { return };
                match host.wait_stopped(&id).await {
                    Ok(()) => {
                        let _ = tx.send(id);
                        return;
                    }
                    Err(_) => tokio::time::sleep(ASK_AGAIN).await,
                }
            }
        });
    }

    /// Compares the ready nodes with the last tick's: the copies of a node that is gone are
    /// given up (to be replaced), a node that is back is swept of this service's copies.
    pub(super) async fn check_nodes(&mut self) {
        let ready: HashSet<String> = self.fleet.ready().into_iter().map(|n| n.name).collect();
        let lost: Vec<usize> = (0..self.copies.len()).filter(|&i| !ready.contains(&self.copies[i].node)).collect();
        for i in lost.into_iter().rev() {
            let copy = self.copies.remove(i);
            tracing::warn!(service = %self.shared.route.name, node = %copy.node, container = %short(&copy.id), "node lost: replacing its copy");
            self.last_error = Some(format!("node {} was lost with copy {}", copy.node, short(&copy.id)));
            self.shared.route.remove(&copy.id);
            self.registry.tally.remove(&copy.id);
        }
        let back: Vec<String> = ready.iter().filter(|n| !self.known_nodes.contains(*n)).cloned().collect();
        for node in back {
            let kept: HashSet<String> = self.copies.iter().map(|c| c.id.clone()).collect();
            self.sweep(&node, |c| !kept.contains(&c.id)).await;
        }
        self.known_nodes = ready;
    }

    /// Stops the copies of this service's life on `node` that `unwanted` picks.
    pub(super) async fn sweep(&self, node: &str, unwanted: impl Fn(&FoundCopy) -> bool) {
        let Some(host) = self.fleet.host(node) else { return };
        let incarnation = self.shared.config.borrow().created_ms;
        let Ok(found) = host.list(&self.shared.route.name).await else { return };
        for c in found.into_iter().filter(|c| c.incarnation == incarnation && unwanted(c)) {
            tracing::info!(service = %self.shared.route.name, node, container = %short(&c.id), "stopping a copy no longer placed there");
            let _ = host.stop(&StopOrder { fence: self.fence.clone(), id: c.id, grace_s: 0 }).await;
        }
    }

    /// What one copy of the current revision needs of a node.
    pub(super) fn need(&self) -> Need {
        let config = self.shared.config.borrow();
        Need { memory_mb: config.spec.memory_mb, cpu: config.spec.cpu }
    }
}
