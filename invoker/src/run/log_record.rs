//! The invocation's log in Lambda's shape, so tools that read Lambda's tail logs read ours.

use skiff_api::FunctionConfig;
use skiff_workers::{Execution, Outcome};
use std::time::Duration;

pub(crate) fn lambda_log(request_id: &str, config: &FunctionConfig, execution: &Execution) -> String {
    let mut log = format!("START RequestId: {request_id} Version: {}\n", config.executed_version());
    log.push_str(&String::from_utf8_lossy(&execution.logs));
    if !log.ends_with('\n') {
        log.push('\n');
    }
    if let Outcome::Error(e) = &execution.outcome {
        log.push_str(&format!("[ERROR] {}: {}\n", e.error_type.as_str(), e.message));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    log.push_str(&format!(
        "END RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
        ms(execution.duration),
        ms(execution.duration).ceil() as u64,
        config.memory_mb,
        execution.max_memory_bytes.div_ceil(1 << 20),
    ));
    if let Some(init) = execution.init_duration {
        log.push_str(&format!("\tInit Duration: {:.2} ms", ms(init)));
    }
    log.push('\n');
    log
}
