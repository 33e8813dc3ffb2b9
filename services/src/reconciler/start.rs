//! Starting copies of a revision: a node chosen for each (placement, over what every service
//! already placed), then the orders sent to the nodes in parallel.

use super::copy::Copy;
use super::Reconciler;
use crate::fleet::CopyOrder;
use crate::placement::{choose, Candidate};
use skiff_api::ServiceConfig;

impl Reconciler {
    pub(super) async fn start(&mut self, config: &ServiceConfig, count: u32) {
        let nodes = self.place(config, count);
        let order = CopyOrder {
            fence: self.fence.clone(),
            service: config.name.clone(),
            revision: config.revision,
            incarnation: config.created_ms,
            spec: config.spec.clone(),
        };
        let starts = nodes.iter().map(|(node, placeholder)| {
            let host = self.fleet.host(node);
            let order = &order;
            async move {
                let result = match host {
                    Some(host) => host.start(order).await,
                    None => Err(crate::error::ServiceError::Node { node: node.clone(), message: "no longer ready".into(), unreachable: true }),
                };
                (node.clone(), placeholder.clone(), result)
            }
        });
        let need = self.need();
        for (node, placeholder, result) in futures_util::future::join_all(starts).await {
            self.registry.tally.remove(&placeholder);
            match result {
                Ok(started) => {
                    self.registry.tally.add(&started.id, &node, &config.name, need);
                    self.watch_exit(&node, &started.id);
                    self.copies.push(Copy::new(started.id, node, config.revision, started.address, false));
                }
                Err(e) => {
                    self.last_error = Some(format!("starting a copy on {node}: {e}"));
                    self.unproven_failure(config.revision);
                }
            }
        }
    }

    /// Chooses a node for each of `count` copies, one after another, each counted in the tally
    /// under a placeholder id until it has started. Copies that fit nowhere stay pending.
    fn place(&mut self, config: &ServiceConfig, count: u32) -> Vec<(String, String)> {
        let ready = self.fleet.ready();
        let need = self.need();
        let mut chosen = Vec::new();
        self.pending = None;
        for _ in 0..count {
            let used = self.registry.tally.used(&config.name);
            let candidates: Vec<Candidate> = ready.iter().map(|node| Candidate { node, used: used.get(&node.name).copied().unwrap_or_default() }).collect();
            match choose(&candidates, need, &config.placement, rand_u64()) {
                Ok(node) => {
                    let placeholder = format!("placing-{}", uuid::Uuid::new_v4().simple());
                    self.registry.tally.add(&placeholder, &node.name, &config.name, need);
                    chosen.push((node.name.clone(), placeholder));
                }
                Err(why) => {
                    self.pending = Some(why.to_string());
                    break;
                }
            }
        }
        chosen
    }
}

/// A random number for the random strategy (a v4 UUID's random bits).
fn rand_u64() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}
