//! Choosing the node for a new copy: a pure function over the nodes, what is already placed on
//! them, and the service's placement (ECS's strategies and constraints). The scheduler calls it
//! once per copy and records the result before choosing the next, so copies placed together
//! spread (or pack) as if placed one by one.

use skiff_api::placement::{Constraint, Placement, Strategy};
use skiff_api::NodeInfo;
use std::collections::BTreeMap;

/// What one copy needs of a node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Need {
    pub memory_mb: u32,
    pub cpu: f64,
}

/// What is already placed on a node.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Used {
    pub memory_mb: u64,
    pub cpu: f64,
    /// Copies of the service being placed.
    pub this_service: u32,
}

/// A node with what is placed on it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub node: &'a NodeInfo,
    pub used: Used,
}

impl Candidate<'_> {
    fn free_memory(&self) -> u64 {
        self.node.capacity.memory_mib.saturating_sub(self.used.memory_mb)
    }

    fn free_cpu(&self) -> f64 {
        f64::from(self.node.capacity.cpus) - self.used.cpu
    }
}

/// Why no node could take the copy, per reason, for `skiff service get`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("no node can take a copy: {}", .0.join("; "))]
pub struct Unplaceable(pub Vec<String>);

/// The node for one more copy, or why there is none. `random` picks among the eligible nodes
/// for the random strategy (the caller's random number).
pub fn choose<'a>(candidates: &[Candidate<'a>], need: Need, placement: &Placement, random: u64) -> Result<&'a NodeInfo, Unplaceable> {
    let mut excluded: BTreeMap<String, u32> = BTreeMap::new();
    let eligible: Vec<&Candidate<'a>> = candidates
        .iter()
        .filter(|c| match exclusion(c, need, &placement.constraints) {
            Some(why) => {
                *excluded.entry(why).or_default() += 1;
                false
            }
            None => true,
        })
        .collect();
    if eligible.is_empty() {
        if candidates.is_empty() {
            return Err(Unplaceable(vec!["no node is ready".into()]));
        }
        let total = candidates.len();
        return Err(Unplaceable(excluded.into_iter().map(|(why, n)| format!("{why} ({n} of {total} nodes)")).collect()));
    }
    let chosen = match &placement.strategy {
        Strategy::Spread { attribute: None } => eligible.iter().min_by(|a, b| {
            (a.used.this_service, a.used.memory_mb, &a.node.name).partial_cmp(&(b.used.this_service, b.used.memory_mb, &b.node.name)).expect("ordered")
        }),
        Strategy::Spread { attribute: Some(attribute) } => spread_over(candidates, &eligible, attribute),
        Strategy::Binpack => eligible.iter().min_by_key(|c| (c.free_memory(), &c.node.name)),
        Strategy::Random => eligible.get((random % eligible.len() as u64) as usize),
    };
    Ok(chosen.expect("eligible is not empty").node)
}

/// Spread over an attribute's values: the value with the fewest copies of the service (over
/// every node, eligible or not), then the node within it with the fewest.
fn spread_over<'a, 'b>(all: &[Candidate<'a>], eligible: &'b [&'b Candidate<'a>], attribute: &str) -> Option<&'b &'b Candidate<'a>> {
    let value_of = |c: &Candidate| c.node.attributes.get(attribute).cloned().unwrap_or_default();
    let mut per_value: BTreeMap<String, u32> = BTreeMap::new();
    for c in all {
        *per_value.entry(value_of(c)).or_default() += c.used.this_service;
    }
    eligible.iter().min_by_key(|c| (per_value.get(&value_of(c)).copied().unwrap_or(0), c.used.this_service, c.used.memory_mb, &c.node.name))
}

/// Why `candidate` cannot take the copy, if it cannot.
fn exclusion(candidate: &Candidate, need: Need, constraints: &[Constraint]) -> Option<String> {
    for constraint in constraints {
        match constraint {
            Constraint::DistinctNode if candidate.used.this_service > 0 => return Some("distinct-node: a copy runs there already".into()),
            Constraint::MemberOf(e) if !e.matches(&candidate.node.attributes) => return Some(format!("member-of {e} not satisfied")),
            _ => {}
        }
    }
    if candidate.free_memory() < u64::from(need.memory_mb) {
        return Some(format!("less than {} MiB of memory free", need.memory_mb));
    }
    if candidate.free_cpu() + 1e-9 < need.cpu {
        return Some(format!("less than {} CPUs free", need.cpu));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::Capacity;

    fn node(name: &str, zone: &str, memory_mib: u64) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            advertise: format!("http://{name}"),
            capacity: Capacity { memory_mib, cpus: 2, max_concurrency: 8 },
            joined_ms: 0,
            attributes: BTreeMap::from([("zone".to_string(), zone.to_string())]),
        }
    }

    fn placement(strategy: &str, constraints: &[&str]) -> Placement {
        Placement {
            strategy: Strategy::try_from(strategy.to_string()).unwrap(),
            constraints: constraints.iter().map(|c| Constraint::try_from(c.to_string()).unwrap()).collect(),
        }
    }

    const NEED: Need = Need { memory_mb: 256, cpu: 0.25 };

    /// Places `count` copies one after another, as the scheduler does.
    fn place(nodes: &[NodeInfo], count: usize, p: &Placement) -> Result<Vec<String>, Unplaceable> {
        let mut used: BTreeMap<String, Used> = BTreeMap::new();
        let mut chosen = Vec::new();
        for i in 0..count {
            let candidates: Vec<Candidate> = nodes.iter().map(|n| Candidate { node: n, used: used.get(&n.name).copied().unwrap_or_default() }).collect();
            let node = choose(&candidates, NEED, p, i as u64 * 7)?;
            let u = used.entry(node.name.clone()).or_default();
            u.memory_mb += 256;
            u.cpu += 0.25;
            u.this_service += 1;
            chosen.push(node.name.clone());
        }
        Ok(chosen)
    }

    #[test]
    fn spread_puts_one_copy_per_node_before_doubling_up() {
        let nodes = [node("a", "x", 4096), node("b", "x", 4096), node("c", "y", 4096)];
        let mut got = place(&nodes, 3, &placement("spread", &[])).unwrap();
        got.sort();
        assert_eq!(got, ["a", "b", "c"]);
        assert_eq!(place(&nodes, 6, &placement("spread", &[])).unwrap().iter().filter(|n| *n == "a").count(), 2);
    }

    #[test]
    fn spread_by_attribute_balances_zones_first() {
        let nodes = [node("a", "x", 4096), node("b", "x", 4096), node("c", "y", 4096)];
        let got = place(&nodes, 2, &placement("spread:zone", &[])).unwrap();
        assert!(got.contains(&"c".to_string()), "{got:?}");
    }

    #[test]
    fn binpack_fills_one_node_before_the_next() {
        let nodes = [node("a", "x", 1024), node("b", "x", 1024), node("c", "x", 1024)];
        assert_eq!(place(&nodes, 5, &placement("binpack", &[])).unwrap(), ["a", "a", "a", "a", "b"]);
    }

    #[test]
    fn constraints_exclude_nodes_and_say_why_nothing_fits() {
        let nodes = [node("a", "x", 4096), node("b", "y", 4096), node("c", "y", 512)];
        let got = place(&nodes, 2, &placement("spread", &["member-of attribute:zone == y"])).unwrap();
        assert!(got.iter().all(|n| n == "b" || n == "c"), "{got:?}");
        let err = place(&nodes, 1, &placement("spread", &["member-of attribute:zone == z"])).unwrap_err();
        assert_eq!(err.to_string(), "no node can take a copy: member-of attribute:zone == z not satisfied (3 of 3 nodes)");
        let err = place(&nodes, 4, &placement("spread", &["distinct-node"])).unwrap_err();
        assert_eq!(err.to_string(), "no node can take a copy: distinct-node: a copy runs there already (3 of 3 nodes)");
        let small = [node("a", "x", 200)];
        assert_eq!(place(&small, 1, &Placement::default()).unwrap_err().0, ["less than 256 MiB of memory free (1 of 1 nodes)"]);
        assert_eq!(place(&[], 1, &Placement::default()).unwrap_err().0, ["no node is ready"]);
    }

    #[test]
    fn random_stays_within_the_eligible_nodes() {
        let nodes = [node("a", "x", 4096), node("b", "y", 4096), node("c", "y", 4096)];
        let got = place(&nodes, 12, &placement("random", &["member-of attribute:zone != x"])).unwrap();
        assert!(got.iter().all(|n| n != "a"));
    }
}
