//! Where a call should run, as pure functions over the ready nodes.
//!
//! Each function has a home: the first node in its rendezvous (highest-random-weight) order.
//! Every node computes the same order from the same membership, so calls of one function
//! arriving anywhere meet on one node and reuse its warm workers, like OpenWhisk's sharding
//! balancer; when a node joins or leaves only the functions whose home it is (or becomes) move.
//! The rest of the order is the fallback when the home cannot take the call.

use skiff_api::NodeInfo;

/// The nodes in `function`'s rendezvous order.
pub fn order<'a>(function: &str, nodes: &'a [NodeInfo]) -> Vec<&'a NodeInfo> {
    let mut ranked: Vec<(u64, &NodeInfo)> = nodes.iter().map(|n| (weight(function, &n.name), n)).collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    ranked.into_iter().map(|(_, n)| n).collect()
}

/// The nodes to try for a call that arrived here, in turn (`None` is this node). A call starts
/// where it arrived when a worker is warm here (no hop beats one hop) or this node is the home;
/// otherwise at the home, then down the order, reaching this node in its turn. Every node
/// appears once; this node always appears, last if it is missing from its own view (its lease
/// lapsed), so a call is refused only when no node can take it.
pub fn path(function: &str, me: &str, ready: &[NodeInfo], warm_here: bool) -> Vec<Option<NodeInfo>> {
    let ranked = order(function, ready);
    let home_here = ranked.first().is_none_or(|home| home.name == me);
    let others = ranked.iter().filter(|n| n.name != me).map(|n| Some((*n).clone()));
    if home_here || warm_here {
        return std::iter::once(None).chain(others).collect();
    }
    let mut path: Vec<Option<NodeInfo>> = ranked.into_iter().map(|n| if n.name == me { None } else { Some(n.clone()) }).collect();
    if !path.contains(&None) {
        path.push(None);
    }
    path
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
            attributes: Default::default(),
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
    fn a_call_starts_where_it_is_warm_or_at_home_and_otherwise_walks_the_order() {
        let ready = [node("a"), node("b"), node("c")];
        let f = "echo";
        let ranked: Vec<String> = order(f, &ready).iter().map(|n| n.name.clone()).collect();
        let (home, other) = (&ranked[0], &ranked[1]);
        let names = |p: Vec<Option<NodeInfo>>| p.into_iter().map(|n| n.map_or("here".to_string(), |n| n.name)).collect::<Vec<_>>();
        assert_eq!(names(path(f, home, &ready, false)), ["here", &ranked[1], &ranked[2]]);
        assert_eq!(names(path(f, other, &ready, true)), ["here", home, &ranked[2]]);
        assert_eq!(names(path(f, other, &ready, false)), [home, "here", &ranked[2]]);
        assert_eq!(names(path(f, "outsider", &ready, false)), [home, &ranked[1], &ranked[2], "here"]);
        assert_eq!(names(path(f, "a", &[], false)), ["here"]);
    }
}
