//! Greets whoever the event names. The greeting comes from the function's environment
//! (`GREETING`), like the Wasm examples, so `skiff deploy --env` visibly changes it.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn greet(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let name = event.payload.get("name").and_then(Value::as_str).unwrap_or("world");
    let greeting = std::env::var("GREETING").unwrap_or_else(|_| "Hello".to_string());
    eprintln!("greeting {name}");
    Ok(json!({
        "message": format!("{greeting}, {name}!"),
        "function": event.context.env_config.function_name,
        "request_id": event.context.request_id,
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(greet)).await
}
