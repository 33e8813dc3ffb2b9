//! The `skiff` CLI end to end against a real server.

mod common;

use common::Server;
use serde_json::Value;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn deploy_invoke_list_get_logs_and_remove() {
    let server = Server::start();
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/hello-c");
    common::example("hello-c");
    let out = server.cli(&["deploy", manifest_dir.to_str().unwrap(), "--env", "GREETING=Hi", "--memory", "192"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("deployed hello-c version 1"));

    let out = server.cli(&["invoke", "hello-c", "--data", r#"{"name":"Ada"}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(result["message"], "Hi, Ada!");
    assert_eq!(result["memory_mb"], "192");

    let event = server.data_dir.join("event.json");
    std::fs::write(&event, r#"{"name":"File"}"#).unwrap();
    let out = server.cli(&["invoke", "hello-c", "--data", &format!("@{}", event.display())]);
    assert!(stdout(&out).contains("Hi, File!"));
    let out = server.cli_with_stdin(&["invoke", "hello-c", "--data", "-", "--log"], Some(br#"{"name":"Stdin"}"#));
    assert!(stdout(&out).contains("Hi, Stdin!"));
    assert!(stderr(&out).contains("REPORT RequestId:"), "--log prints the tail log: {}", stderr(&out));

    let out = server.cli(&["deploy", "--name", "trap", "--wasm", common::fixture("trap").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.cli(&["invoke", "trap"]);
    assert!(!out.status.success(), "a function error exits non-zero");
    assert!(stderr(&out).contains("Runtime.Unhandled") && stderr(&out).contains("the widget is broken"));
    assert!(stdout(&out).is_empty());

    let out = server.cli(&["ls"]);
    assert!(stdout(&out).starts_with("NAME"), "{}", stdout(&out));
    assert!(stdout(&out).contains("hello-c") && stdout(&out).contains("192 MB"));
    let out = server.cli(&["ls", "--json"]);
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let out = server.cli(&["get", "hello-c", "--json"]);
    let config: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(config["env"]["GREETING"], "Hi");

    let out = server.cli(&["logs", "hello-c"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).matches("START RequestId:").count(), 3, "{}", stdout(&out));
    assert!(stdout(&out).contains("hello-c: handling request"));

    let out = server.cli(&["rm", "hello-c"]);
    assert!(out.status.success());
    let out = server.cli(&["get", "hello-c"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ResourceNotFoundException"), "{}", stderr(&out));
}

#[test]
fn cli_errors_are_clear_and_exit_non_zero() {
    let server = Server::start();
    let bad_manifest = server.data_dir.join("skiff.toml");
    std::fs::write(&bad_manifest, "name = 'x'\nmemroy = 128\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["deploy".into(), bad_manifest.display().to_string()], "unknown field"),
        (vec!["deploy".into(), "--name".into(), "x".into(), "--wasm".into(), "/nonexistent.wasm".into()], "reading /nonexistent.wasm"),
        (vec!["deploy".into(), "--name".into(), "x".into(), "--env".into(), "NOEQUALS".into()], "KEY=VALUE"),
        (vec!["invoke".into(), "nope".into()], "Function not found"),
        (vec!["logs".into(), "nope".into()], "Function not found"),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = server.cli(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
    }
    let unreachable = std::process::Command::new(common::BIN).args(["ls", "--url", "http://127.0.0.1:9"]).output().unwrap();
    assert!(!unreachable.status.success());
    assert!(stderr(&unreachable).contains("cannot reach the skiff server"));
}

/// `skiff publish`, `skiff versions` and `skiff alias`: a canary alias built from the CLI, and
/// `skiff invoke NAME:ALIAS` runs the version it names.
#[test]
fn versions_and_aliases_from_the_cli() {
    let server = Server::start();
    let deploy = |fixture: &str| server.cli(&["deploy", "--name", "web", "--wasm", common::fixture(fixture).to_str().unwrap()]);
    assert!(deploy("echo").status.success());
    let first = server.cli(&["publish", "web", "--description", "echo"]);
    assert_eq!(stdout(&first).trim(), "published web version 1", "{first:?}");
    assert!(deploy("trap").status.success());
    assert!(stdout(&server.cli(&["publish", "web"])).contains("version 2"));
    let listed = stdout(&server.cli(&["versions", "web"]));
    assert!(listed.contains("$LATEST") && listed.contains("echo"), "{listed}");
    let set = server.cli(&["alias", "set", "web", "live", "1", "--weight", "2=0.25"]);
    assert_eq!(stdout(&set).trim(), "web:live -> 1 (0.75), 2 (0.25)", "{set:?}");
    let moved = server.cli(&["alias", "set", "web", "live", "1"]);
    assert_eq!(stdout(&moved).trim(), "web:live -> 1", "{moved:?}");
    let invoked = server.cli(&["invoke", "web:live", "--data", r#"{"v":1}"#]);
    assert!(invoked.status.success() && stdout(&invoked).contains(r#""v":1"#), "{invoked:?}");
    let bad = server.cli(&["alias", "set", "web", "live", "1", "--weight", "2=1.5"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("outside 0..1"), "{bad:?}");
    let ls: serde_json::Value = serde_json::from_str(&stdout(&server.cli(&["--json", "alias", "ls", "web"]))).unwrap();
    assert_eq!(ls[0]["FunctionVersion"], "1", "{ls}");
    assert!(server.cli(&["alias", "rm", "web", "live"]).status.success());
    assert!(stdout(&server.cli(&["alias", "ls", "web"])).lines().count() <= 1, "only the header is left");
}

/// Names go into URL paths, so one that would leave its segment is refused before any request
/// (`skiff rm ../services/x` must not reach `DELETE /v1/services/x`); files are read with a
/// bound (a manifest naming `/dev/zero` fails at once); the token can come from a file, out of
/// the process list.
#[test]
fn names_are_one_path_segment_files_are_bounded_and_the_token_may_be_a_file() {
    let server = Server::start_with(&["--token", "file-token"]);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "file-token\n").unwrap();
    let token_arg = token_file.to_str().unwrap();
    let ok = server.cli(&["--token-file", token_arg, "deploy", "--name", "keep", "--wasm", common::fixture("echo").to_str().unwrap()]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    for name in ["../functions/keep", "keep/../keep", "..", "keep?x=1"] {
        let out = server.cli(&["--token-file", token_arg, "rm", name]);
        assert!(!out.status.success(), "{name} accepted");
        assert!(stderr(&out).contains("is not a name"), "{name}: {}", stderr(&out));
    }
    let listed = server.cli(&["--token-file", token_arg, "ls"]);
    assert!(stdout(&listed).contains("keep"), "{}", stdout(&listed));
    let no_token = server.cli(&["ls"]);
    assert!(!no_token.status.success(), "the server needs its token");

    let manifest = dir.path().join("skiff.toml");
    std::fs::write(&manifest, "name = \"endless\"\nwasm = \"/dev/zero\"\n").unwrap();
    let out = server.cli(&["--token-file", token_arg, "deploy", manifest.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("larger than"), "{}", stderr(&out));
}

/// `skiff deploy` of a folder with `runtime` and `handler`: the folder is zipped and runs on the
/// managed runtime; `publish` and `[aliases]` publish a version and point aliases at it, an
/// unchanged folder keeping its version. A manifest naming a version it does not publish, or a
/// zip function missing its handler, is refused before anything changes. The engine's copy of
/// the image is rebuilt from the stored zip when lost, and removed once the function is.
#[test]
fn a_folder_deploys_as_a_zip_function_and_the_manifest_publishes_and_points_aliases() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_in(&data.path().join("data"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let write_app = |version: u32| {
        std::fs::write(
            dir.path().join("app.py"),
            format!("VERSION = {version}\ndef handler(event, context):\n    return {{'version': VERSION, 'event': event}}\n"),
        )
        .unwrap()
    };
    let manifest = |aliases: &str, publish: bool| {
        let text = format!("name = 'pyfolder'\nruntime = 'python3.11'\nhandler = 'app.handler'\ntimeout = 10\npublish = {publish}\n[aliases]\n{aliases}\n");
        std::fs::write(dir.path().join("skiff.toml"), text).unwrap();
    };
    let folder = dir.path().to_str().unwrap();
    let version_of = |server: &Server, target: &str| {
        let out = server.cli(&["invoke", target, "--data", r#"{"n":1}"#]);
        assert!(out.status.success(), "{target}: {}", stderr(&out));
        let result: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(result["event"]["n"], 1, "{result}");
        result["version"].as_u64().unwrap()
    };
    write_app(1);
    manifest("live = 'published'", true);
    let out = server.cli(&["deploy", folder]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(
        printed.contains("deployed pyfolder version 1") && printed.contains("published pyfolder version 1") && printed.contains("pyfolder:live -> 1"),
        "{printed}"
    );
    assert_eq!(version_of(&server, "pyfolder:live"), 1);
    let config: Value = serde_json::from_str(&stdout(&server.cli(&["get", "pyfolder", "--json"]))).unwrap();
    assert_eq!((config["zip"]["runtime"].as_str(), config["zip"]["handler"].as_str()), (Some("python3.11"), Some("app.handler")), "{config}");

    write_app(2);
    manifest("live = 'published'\nstable = 1\ncanary = { version = 1, weights = { published = 0.25 } }", true);
    let out = server.cli(&["deploy", folder]);
    let printed = stdout(&out);
    assert!(printed.contains("published pyfolder version 2") && printed.contains("pyfolder:live -> 2"), "{printed}{}", stderr(&out));
    assert!(printed.contains("pyfolder:canary -> 1 (0.75), 2 (0.25)"), "{printed}");
    assert_eq!((version_of(&server, "pyfolder:live"), version_of(&server, "pyfolder:stable"), version_of(&server, "pyfolder")), (2, 1, 2));
    let again = server.cli(&["deploy", folder]);
    assert!(stdout(&again).contains("published pyfolder version 2"), "unchanged code keeps its version: {}", stdout(&again));

    let refused = |aliases: &str, publish: bool, expected: &str| {
        manifest(aliases, publish);
        let out = server.cli(&["deploy", folder]);
        assert!(!out.status.success() && stderr(&out).contains(expected), "{aliases}: {}", stderr(&out));
    };
    write_app(3);
    refused("live = 'published'", false, "nothing is published");
    refused("live = { version = 1, weights = { published = 0.5 } }", false, "nothing is published");
    refused("live = { version = 1, colour = 'red' }", true, "a version");
    std::fs::write(dir.path().join("skiff.toml"), "name = 'pyfolder'\nruntime = 'python3.11'\n").unwrap();
    let out = server.cli(&["deploy", folder]);
    assert!(!out.status.success() && stderr(&out).contains("needs a runtime, a handler"), "{}", stderr(&out));
    assert_eq!(version_of(&server, "pyfolder:live"), 2, "a refused deploy changed nothing");
    assert_eq!(version_of(&server, "pyfolder"), 2, "a refused deploy changed nothing");

    // The engine loses both versions' images: a restarted server builds them again from the
    // stored zips at their first calls.
    let images = || {
        let out = std::process::Command::new("docker").args(["images", "-q", "skiff-zip/pyfolder"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(images().len(), 2, "one image per zip: {:?}", images());
    assert!(server.stop().success());
    let lost = std::process::Command::new("docker").arg("rmi").arg("-f").args(images()).output().unwrap();
    assert!(lost.status.success() && images().is_empty(), "{lost:?}");
    let restarted = Server::start_in(&data.path().join("data"), &[]);
    assert_eq!((version_of(&restarted, "pyfolder:stable"), version_of(&restarted, "pyfolder")), (1, 2), "rebuilt from the stored zips");
    assert_eq!(images().len(), 2);

    assert!(restarted.cli(&["rm", "pyfolder"]).status.success());
    assert!(common::eventually(std::time::Duration::from_secs(60), || images().is_empty()), "left behind: {:?}", images());
}

/// `--reuse` and the manifest's `reuse` keys reach the function's config; limits without reuse
/// are refused before anything is sent; `--reuse=false` turns it off again.
#[test]
fn reuse_is_set_from_flags_and_the_manifest() {
    let server = Server::start();
    let component = common::example("noop-http");
    let wasm = component.to_str().unwrap();
    let reuse_of = |name: &str| serde_json::from_str::<Value>(&stdout(&server.cli(&["get", name, "--json"]))).unwrap()["reuse"].clone();
    let out = server.cli(&["deploy", "--name", "flagged", "--wasm", wasm, "--reuse", "--reuse-max-calls", "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(reuse_of("flagged"), serde_json::json!({ "max_calls": 5, "idle_s": 300 }));
    let out = server.cli(&["deploy", "--name", "flagged", "--reuse-idle-s", "9"]);
    assert!(!out.status.success() && stderr(&out).contains("without reuse = true"), "{}", stderr(&out));
    assert!(server.cli(&["deploy", "--name", "flagged", "--reuse=false"]).status.success());
    assert_eq!(reuse_of("flagged"), Value::Null);

    let dir = tempfile::tempdir().unwrap();
    let manifest = format!("name = 'manifested'\nwasm = '{wasm}'\nreuse = true\nreuse_idle_s = 60\n");
    std::fs::write(dir.path().join("skiff.toml"), manifest).unwrap();
    let out = server.cli(&["deploy", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(reuse_of("manifested"), serde_json::json!({ "max_calls": 10000, "idle_s": 60 }));
}
