//! An unmodified AWS SDK (boto3, installed by scripts/install-deps.sh) invokes functions through
//! the gateway: wire format, headers and exception mapping as a real Lambda client sees them.

mod common;

use common::Server;
use serde_json::json;

#[test]
fn boto3_invokes_and_gets_lambda_shaped_errors() {
    let server = Server::start();
    server.deploy_fixture("echo", "echo", json!({}));
    server.deploy_fixture("trap", "trap", json!({}));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/boto3_invoke.py");
    let out = std::process::Command::new("python3").arg(script).arg(&server.url).output().unwrap();
    assert!(
        out.status.success(),
        "boto3 checks failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}
