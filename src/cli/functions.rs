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
                kind(&f["code"]),
                format!("{} MB", text(&f["memory_mb"])),
                format!("{} s", text(&f["timeout_s"])),
                if f["concurrency"].is_null() { "-".into() } else { text(&f["concurrency"]) },
            ]
        })
        .collect();
    table::print(&["NAME", "VERSION", "CODE", "MEMORY", "TIMEOUT", "CONCURRENCY"], &rows);
    Ok(ExitCode::SUCCESS)
}

pub fn get(client: &Client, name: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let f: Value = client.send(client.request(Method::GET, &format!("/v1/functions/{name}")))?.json()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&f)?);
        return Ok(ExitCode::SUCCESS);
    }
    let env = f["env"].as_object().map(|m| m.iter().map(|(k, v)| format!("{k}={}", text(v))).collect::<Vec<_>>().join(" ")).unwrap_or_default();
    let code = &f["code"];
    let mut rows = vec![vec!["name".into(), text(&f["name"])], vec!["version".into(), text(&f["version"])], vec!["code".into(), kind(code)]];
    if code["type"] == "image" {
        rows.push(vec!["image".into(), text(&code["image"])]);
        rows.push(vec!["image id".into(), text(&code["id"])]);
        rows.push(vec!["provisioned".into(), text(&f["provisioned"])]);
        rows.push(vec!["egress".into(), text(&f["egress"])]);
    } else {
        rows.push(vec!["sha256".into(), text(&code["sha256"])]);
        rows.push(vec!["size".into(), format!("{} bytes", text(&code["size"]))]);
    }
    if let Some(fault) = f["code_fault"].as_str() {
        rows.push(vec!["code fault".into(), fault.to_string()]);
    }
    rows.extend([
        vec!["memory".into(), format!("{} MB", text(&f["memory_mb"]))],
        vec!["timeout".into(), format!("{} s", text(&f["timeout_s"]))],
        vec!["concurrency".into(), if f["concurrency"].is_null() { "unreserved".into() } else { text(&f["concurrency"]) }],
        vec!["env".into(), env],
    ]);
    table::print(&["FIELD", "VALUE"], &rows);
    Ok(ExitCode::SUCCESS)
}

/// "wasm module", "wasm component" or "image".
fn kind(code: &Value) -> String {
    match code["type"].as_str() {
        Some("wasm") => format!("wasm {}", text(&code["format"])),
        Some(other) => other.to_string(),
        None => "-".into(),
    }
}

pub fn remove(client: &Client, name: &str) -> anyhow::Result<ExitCode> {
    client.send(client.request(Method::DELETE, &format!("/v1/functions/{name}")))?;
    println!("deleted {name}");
    Ok(ExitCode::SUCCESS)
}

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
