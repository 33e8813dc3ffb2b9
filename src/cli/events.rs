//! `skiff status ID` and `skiff dlq ls|show|redrive`.

use super::{table, Client};
use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::Value;
use std::process::ExitCode;

/// Prints an asynchronous invocation's status. Exits non-zero while it is not yet succeeded
/// only for `failed`, so scripts can tell the end states apart.
pub fn status(client: &Client, id: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let s: Value = client.send(client.request(reqwest::Method::GET, &format!("/v1/invocations/{id}")))?.json()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!("request id: {}", s["request_id"].as_str().unwrap_or(id));
        println!("function:   {}", s["function"].as_str().unwrap_or_default());
        println!("state:      {}", s["state"].as_str().unwrap_or_default());
        println!("attempts:   {}", s["attempts"]);
        if let Some(d) = s.get("dead_letter").and_then(Value::as_str) {
            println!("dead letter: {d}");
        }
        if let Some(r) = s.get("result") {
            println!("result:     {r}");
        }
        if let Some(e) = s.get("error") {
            println!("error:      {}: {}", e["errorType"].as_str().unwrap_or("?"), e["errorMessage"].as_str().unwrap_or(""));
        }
    }
    Ok(if s["state"] == "failed" { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[derive(Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    command: DlqCommand,
}

/// Which dead-letter queue: a function's (by name) or a trigger's (`--trigger ID`).
#[derive(Args)]
struct Source {
    /// The function whose dead letters these are.
    #[arg(required_unless_present = "trigger")]
    function: Option<super::name::Name>,
    /// A trigger's dead letters instead.
    #[arg(long, conflicts_with = "function")]
    trigger: Option<super::name::Name>,
}

impl Source {
    fn path(&self) -> String {
        match (&self.function, &self.trigger) {
            (_, Some(t)) => format!("/v1/triggers/{t}/dlq"),
            (Some(f), None) => format!("/v1/functions/{f}/dlq"),
            (None, None) => unreachable!("clap requires one"),
        }
    }
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List dead-lettered messages.
    Ls {
        #[command(flatten)]
        source: Source,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one dead-lettered message in full.
    Show {
        #[command(flatten)]
        source: Source,
        #[arg(long)]
        id: super::name::Name,
    },
    /// Send dead-lettered messages back for another round of attempts.
    Redrive {
        #[command(flatten)]
        source: Source,
        /// One message; without it, --all is required.
        #[arg(long, conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

pub fn dlq(client: &Client, args: DlqArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    match args.command {
        DlqCommand::Ls { source, limit } => {
            let page: Value = client.send(client.request(reqwest::Method::GET, &format!("{}?limit={limit}", source.path())))?.json()?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&page)?);
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = page["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    let b = &m["body"];
                    let error = b.get("last_error").map(|e| e["errorType"].as_str().unwrap_or("").to_string());
                    let error = error.or_else(|| m["headers"]["x-skiff-error"].as_str().map(str::to_owned));
                    vec![
                        m["id"].as_str().unwrap_or_default().to_string(),
                        b.get("condition").and_then(Value::as_str).unwrap_or("-").to_string(),
                        b.get("attempts").or(m["headers"].get("x-skiff-attempt")).map_or("-".into(), Value::to_string),
                        error.unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            table::print(&["ID", "CONDITION", "ATTEMPTS", "LAST ERROR"], &rows);
            println!("{} in all", page["total"]);
        }
        DlqCommand::Show { source, id } => {
            let m: Value = client.send(client.request(reqwest::Method::GET, &format!("{}/{id}", source.path())))?.json()?;
            println!("{}", serde_json::to_string_pretty(&m)?);
        }
        DlqCommand::Redrive { source, id, all } => {
            let path = match (&id, all) {
                (Some(id), _) => format!("{}/{id}/redrive", source.path()),
                (None, true) => format!("{}/redrive", source.path()),
                (None, false) => bail!("give --id ID to redrive one message, or --all"),
            };
            let r: Value = client.send(client.request(reqwest::Method::POST, &path))?.json()?;
            println!("redriven: {}", r["redriven"]);
        }
    }
    Ok(ExitCode::SUCCESS)
}
