//! `skiff nodes`.

use super::{table, Client};
use reqwest::Method;
use skiff_api::NodeView;
use std::process::ExitCode;

#[derive(serde::Deserialize)]
struct NodeList {
    nodes: Vec<NodeView>,
}

pub fn list(client: &Client, as_json: bool) -> anyhow::Result<ExitCode> {
    let list: NodeList = client.send(client.request(Method::GET, "/v1/nodes"))?.json()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&serde_json::to_value(&list.nodes)?)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = list
        .nodes
        .iter()
        .map(|n| {
            let c = &n.info.capacity;
            vec![
                n.info.name.clone(),
                n.info.advertise.clone(),
                n.state.as_str().to_string(),
                format!("{} MiB", c.memory_mib),
                c.cpus.to_string(),
                c.max_concurrency.to_string(),
                n.in_flight.map_or("-".into(), |i| i.to_string()),
                if n.scheduler { "yes" } else { "" }.to_string(),
                n.info.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
            ]
        })
        .collect();
    table::print(&["NAME", "ADVERTISE", "STATE", "MEMORY", "CPUS", "MAX CONCURRENCY", "IN FLIGHT", "SCHEDULER", "ATTRIBUTES"], &rows);
    Ok(ExitCode::SUCCESS)
}
