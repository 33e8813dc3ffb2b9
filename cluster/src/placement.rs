//! Where a call should run, as pure functions over the ready nodes.
//!
//! Each function has a home: the first node in its rendezvous (highest-random-weight) order.
//! Every node computes the same order from the same membership, so calls of one function
//! arriving anywhere meet on one node and reuse its warm workers, like OpenWhisk's sharding
//! balancer; when a node joins or leaves only the functions whose home it is (or becomes) move.
//! The rest of the order is the fallback when the home cannot take the call.

use skiff_api::NodeInfo;

/// What the receiving node does with a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run it here.
    Local,
    /// Ask these nodes in turn; `None` in the list means "here".
    Forward(Vec<Option<NodeInfo>>),
}

/// The nodes in `function`'s rendezvous order.
pub fn order<'a>(function: &str, nodes: &'a [NodeInfo]) -> Vec<&'a NodeInfo> {
    let mut ranked: Vec<(u64, &NodeInfo)> = nodes.iter().map(|n| (weight(function, &n.name), n)).collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    ranked.into_iter().map(|(_, n)| n).collect()
}

/// A call runs where it arrived when a worker is warm here and a slot is free (no hop beats
/// one hop), or when this node is the home or the only node; otherwise it goes to the home,
/// then down the order, reaching this node in its turn.
pub fn decide(function: &str, me: &str, ready: &[NodeInfo], warm_here: bool) -> Decision {
    let ranked = order(function, ready);
    match ranked.first() {
        None => Decision::Local,
        Some(home) if home.name == me || warm_here => Decision::Local,
        Some(_) => {
            let mut path: Vec<Option<NodeInfo>> =
                ranked.into_iter().map(|n| if n.name == me { None } else { Some(n.clone()) }).collect();
            if !path.contains(&None) {
                path.push(None); // this node is not ready in its own view (its lease lapsed): last resort
            }
            Decision::Forward(path)
        }
    }
}

/// FNV-1a of the pair, then a 64-bit finaliser (splitmix64's) so that near names spread out.
/// Fixed here, not `std`'s hasher, so nodes built by different compilers agree.
fn weight(function: &str, node: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in function.bytes().chain([0u8]).chain(node.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::Capacity;

    fn node(name: &str) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            advertise: format!("http://{name}"),
            capacity: Capacity { memory_mib: 1024, cpus: 2, max_concurrency: 8 },
            joined_ms: 0,
        }
    }

    #[test]
    fn every_node_agrees_on_the_home_and_only_a_leavers_functions_move() {
        let three = [node("a"), node("b"), node("c")];
        let functions: Vec<String> = (0..300).map(|i| format!("fn-{i}")).collect();
        let homes: Vec<String> = functions.iter().map(|f| order(f, &three)[0].name.clone()).collect();
        for name in ["a", "b", "c"] {
            let share = homes.iter().filter(|h| *h == name).count();
            assert!((60..=140).contains(&share), "{name} is home of {share} of 300");
        }
        let two = [node("a"), node("c")];
        for (f, home) in functions.iter().zip(&homes) {
            let new_home = &order(f, &two)[0].name;
            if home != "b" {
                assert_eq!(new_home, home, "{f} moved though its home stayed");
            }
        }
    }

    #[test]
    fn a_call_stays_where_it_is_warm_or_at_home_and_otherwise_walks_the_order() {
        let ready = [node("a"), node("b"), node("c")];
        let f = "echo";
        let ranked: Vec<String> = order(f, &ready).iter().map(|n| n.name.clone()).collect();
        let (home, other) = (&ranked[0], &ranked[1]);
        assert_eq!(decide(f, home, &ready, false), Decision::Local);
        assert_eq!(decide(f, other, &ready, true), Decision::Local);
        let Decision::Forward(path) = decide(f, other, &ready, false) else { panic!("expected a forward") };
        assert_eq!(path.len(), 3);
        assert_eq!(path[0].as_ref().map(|n| &n.name), Some(home));
        assert_eq!(path.iter().filter(|p| p.is_none()).count(), 1, "this node appears once, as itself");
        let Decision::Forward(path) = decide(f, "outsider", &ready, false) else { panic!("expected a forward") };
        assert_eq!(path.last(), Some(&None), "a node missing from its own view still tries itself last");
        assert_eq!(decide(f, "a", &[], false), Decision::Local);
    }
}
