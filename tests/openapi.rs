//! The native API against its OpenAPI description (`docs/openapi.json`), by schemathesis
//! (PyPI, installed by scripts/install-deps.sh) on a live server with a token: generated valid
//! and invalid requests for every operation, a bounded number each, with a fixed seed. No answer
//! may be a 5xx, every answer must match its documented status, type and schema, invalid input
//! must be refused, and a refused request must change nothing (the check in
//! `tests/schemathesis/skiff_hooks.py` compares what the server holds before and after).

mod common;

use common::Server;
use serde_json::json;
use std::path::Path;
use std::process::Command;

const TOKEN: &str = "openapi-test-token";
/// Examples per operation and phase: enough to reach each field's edge cases, bounded in time.
const MAX_EXAMPLES: &str = "10";

#[test]
fn schemathesis_finds_no_server_error_and_no_refusal_that_changes_anything() {
    let server = Server::start_with(&["--token", TOKEN]);
    // A function for the examples to find (the document's example name), so the operations on
    // one function are tested past their 404.
    let code = std::fs::read(common::fixture("echo")).unwrap();
    use base64::Engine as _;
    let body = json!({ "wasm_base64": base64::engine::general_purpose::STANDARD.encode(code) });
    let resp = server
        .http()
        .put(format!("{}/v1/functions/echo", server.url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text());

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("st")
        .current_dir(root)
        .args(["run", "docs/openapi.json", "--url", &server.url])
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        // A schema-valid request can still be refused for what no schema says (an image not in
        // the engine, a name nobody deployed, a callback host that does not resolve), so the
        // one check that expects every valid request to succeed is left out.
        .args(["--checks", "all", "--exclude-checks", "positive_data_acceptance"])
        .args(["--phases", "examples,coverage,fuzzing", "--max-examples", MAX_EXAMPLES, "--seed", "20261203"])
        .args(["--request-timeout", "30", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "skiff_hooks")
        .env("PYTHONPATH", root.join("tests/schemathesis"))
        .env("SKIFF_URL", &server.url)
        .env("SKIFF_TOKEN", TOKEN)
        .output()
        .expect("schemathesis (`st`) is installed by scripts/install-deps.sh");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found failures:\n{report}");
    assert!(report.contains("Tested: 37"), "every operation was tested:\n{report}");
    // And the server is still there, answering.
    assert_eq!(server.get("/healthz").status(), 200, "{}", server.stderr());
}
