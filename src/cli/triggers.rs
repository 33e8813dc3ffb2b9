//! `skiff trigger add|ls|rm`: queue triggers.

use super::{table, Client};
use clap::{Args, Subcommand};
use serde_json::Value;
use skiff_api::{TriggerConfig, TriggerRequest};
use std::process::ExitCode;

#[derive(Args)]
pub struct TriggerArgs {
    #[command(subcommand)]
    command: TriggerCommand,
}

#[derive(Subcommand)]
enum TriggerCommand {
    /// Deliver a queue's messages to a function in batches.
    Add {
        #[arg(long)]
        function: String,
        #[arg(long)]
        queue: String,
        /// Bind the queue to this exchange (RabbitMQ).
        #[arg(long)]
        exchange: Option<String>,
        #[arg(long, requires = "exchange")]
        routing_key: Option<String>,
        /// Most messages per invocation (default 10).
        #[arg(long)]
        batch_size: Option<u32>,
        /// How long a batch may wait to fill up, in ms (default 0).
        #[arg(long)]
        batch_window_ms: Option<u32>,
        /// Batches in flight at once (default 1).
        #[arg(long)]
        concurrency: Option<u32>,
        /// Retries of a failed message before it is dead-lettered (default 3).
        #[arg(long)]
        max_retries: Option<u32>,
        /// Delay before the first retry in ms, doubled for each further one (default 1000).
        #[arg(long)]
        retry_delay_ms: Option<u32>,
    },
    /// List triggers.
    Ls,
    /// Remove a trigger (its queue and dead letters stay).
    Rm { id: super::name::Name },
}

pub fn run(client: &Client, args: TriggerArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    match args.command {
        TriggerCommand::Add { function, queue, exchange, routing_key, batch_size, batch_window_ms, concurrency, max_retries, retry_delay_ms } => {
            let request = TriggerRequest { function, queue, exchange, routing_key, batch_size, batch_window_ms, concurrency, max_retries, retry_delay_ms };
            let t: TriggerConfig = client.send(client.request(reqwest::Method::POST, "/v1/triggers").json(&request))?.json()?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&t)?);
            } else {
                println!("{}", t.id);
            }
        }
        TriggerCommand::Ls => {
            let all: Value = client.send(client.request(reqwest::Method::GET, "/v1/triggers"))?.json()?;
            let header = ["ID", "FUNCTION", "QUEUE", "EXCHANGE", "BATCH", "WINDOW_MS", "CONCURRENCY"];
            table::listing(&all, as_json, "triggers", &header, |t| {
                let s = |k: &str| t[k].as_str().unwrap_or("-").to_string();
                vec![
                    s("id"),
                    s("function"),
                    s("queue"),
                    s("exchange"),
                    t["batch_size"].to_string(),
                    t["batch_window_ms"].to_string(),
                    t["concurrency"].to_string(),
                ]
            })?;
        }
        TriggerCommand::Rm { id } => {
            client.send(client.request(reqwest::Method::DELETE, &format!("/v1/triggers/{id}")))?;
            println!("removed trigger {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
