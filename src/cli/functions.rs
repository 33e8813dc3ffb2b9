use super::{table, Client};
use reqwest::Method;
use serde_json::Value;
use std::process::ExitCode;

pub fn list(client: &Client, as_json: bool) -> anyhow::Result<ExitCode> {
    let body: Value = client.send(client.request(Method::GET, "/v1/functions"))?.json()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&body["functions"])?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = body["functions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|f| {
            vec![
                text(&f["name"]),
                text(&f["version"]),
                text(&f["code"]["format"]),
                format!("{} MB", text(&f["memory_mb"])),
                format!("{} s", text(&f["timeout_s"])),
                if f["concurrency"].is_null() { "-".into() } else { text(&f["concurrency"]) },
            ]
        })
        .collect();
    table::print(&["NAME", "VERSION", "FORMAT", "MEMORY", "TIMEOUT", "CONCURRENCY"], &rows);
    Ok(ExitCode::SUCCESS)
}

pub fn get(client: &Client, name: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let f: Value = client.send(client.request(Method::GET, &format!("/v1/functions/{name}")))?.json()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&f)?);
        return Ok(ExitCode::SUCCESS);
    }
    let env = f["env"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", text(v))).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let rows = vec![
        vec!["name".into(), text(&f["name"])],
        vec!["version".into(), text(&f["version"])],
        vec!["format".into(), text(&f["code"]["format"])],
        vec!["sha256".into(), text(&f["code"]["sha256"])],
        vec!["size".into(), format!("{} bytes", text(&f["code"]["size"]))],
        vec!["memory".into(), format!("{} MB", text(&f["memory_mb"]))],
        vec!["timeout".into(), format!("{} s", text(&f["timeout_s"]))],
        vec!["concurrency".into(), if f["concurrency"].is_null() { "unreserved".into() } else { text(&f["concurrency"]) }],
        vec!["env".into(), env],
    ];
    table::print(&["FIELD", "VALUE"], &rows);
    Ok(ExitCode::SUCCESS)
}

pub fn remove(client: &Client, name: &str) -> anyhow::Result<ExitCode> {
    client.send(client.request(Method::DELETE, &format!("/v1/functions/{name}")))?;
    println!("deleted {name}");
    Ok(ExitCode::SUCCESS)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
