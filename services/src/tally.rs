//! What the scheduler has placed on each node, over every service it schedules: the "used"
//! side of placement. Only the scheduling node keeps one; it is rebuilt from what each
//! reconciler adopts when a node takes the scheduler's lease.

use crate::placement::{Need, Used};
use std::collections::HashMap;
use std::sync::Mutex;

struct Entry {
    node: String,
    service: String,
    need: Need,
}

#[derive(Default)]
pub(crate) struct Tally {
    copies: Mutex<HashMap<String, Entry>>,
}

impl Tally {
    pub(crate) fn add(&self, id: &str, node: &str, service: &str, need: Need) {
        let entry = Entry { node: node.to_string(), service: service.to_string(), need };
        self.copies.lock().expect("tally lock").insert(id.to_string(), entry);
    }

    pub(crate) fn remove(&self, id: &str) {
        self.copies.lock().expect("tally lock").remove(id);
    }

    /// What is used on each node, counting `service`'s own copies apart.
    pub(crate) fn used(&self, service: &str) -> HashMap<String, Used> {
        let mut used: HashMap<String, Used> = HashMap::new();
        for entry in self.copies.lock().expect("tally lock").values() {
            let u = used.entry(entry.node.clone()).or_default();
            u.memory_mb += u64::from(entry.need.memory_mb);
            u.cpu += entry.need.cpu;
            u.this_service += u32::from(entry.service == service);
        }
        used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_node_and_the_service_apart() {
        let tally = Tally::default();
        let need = Need { memory_mb: 100, cpu: 0.5 };
        tally.add("1", "a", "web", need);
        tally.add("2", "a", "db", need);
        tally.add("3", "b", "web", need);
        let used = tally.used("web");
        assert_eq!((used["a"].memory_mb, used["a"].this_service, used["b"].this_service), (200, 1, 1));
        tally.remove("1");
        assert_eq!(tally.used("web")["a"].this_service, 0);
    }
}
