//! `skiff-layers`: fails when Skiff's structure bends. Two rules, both from ARCHITECTURE.md:
//!
//! 1. **Crates depend only downwards.** Each workspace crate has a layer; a crate may depend
//!    (normal or build dependencies) only on Skiff crates in lower layers.
//! 2. **No circles between a crate's top-level modules.** Module `a` uses module `b` when a file
//!    of `a` names `crate::b`; those edges must form no cycle.
//!
//! Run by the test suite (`cargo nextest run --workspace` includes this crate's test), or by
//! hand: `cargo run -p skiff-layers -- <repo root>`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The layer order, lowest first. A crate not listed here is a violation too: every crate
/// must be placed.
const LAYERS: &[(&str, u8)] = &[
    ("skiff-api", 0),
    ("skiff-workers", 0),
    ("skiff-agent", 0),
    ("skiff-layers", 0),
    ("skiff-fuzz", 0),
    ("skiff-wat-component", 0),
    ("skiff-c-component", 0),
    ("skiff-state", 1),
    ("skiff-invoker", 2),
    ("skiff-services", 2),
    ("skiff-cluster", 2),
    ("skiff-gateway", 3),
    ("skiff", 4),
    ("skiff-bench", 4),
];

fn layer(name: &str) -> Option<u8> {
    LAYERS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
}

fn read_toml(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.parse().map_err(|e| format!("{}: {e}", path.display()))
}

/// Every workspace crate: its name and directory.
fn crates(root: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let workspace = read_toml(&root.join("Cargo.toml"))?;
    let members = workspace["workspace"]["members"].as_array().ok_or("workspace.members missing")?;
    let mut dirs: Vec<PathBuf> = members.iter().filter_map(|m| m.as_str()).map(|m| root.join(m)).collect();
    dirs.push(root.to_path_buf());
    let mut out = Vec::new();
    for dir in dirs {
        let manifest = read_toml(&dir.join("Cargo.toml"))?;
        let name = manifest["package"]["name"].as_str().ok_or("package.name missing")?.to_string();
        out.push((name, dir));
    }
    Ok(out)
}

fn crate_violations(root: &Path) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    for (name, dir) in crates(root)? {
        let Some(own) = layer(&name) else {
            problems.push(format!("{name} has no layer: place it in LAYERS"));
            continue;
        };
        let manifest = read_toml(&dir.join("Cargo.toml"))?;
        for section in ["dependencies", "build-dependencies"] {
            let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) else { continue };
            for dep in deps.keys().filter(|d| d.starts_with("skiff")) {
                match layer(dep) {
                    Some(l) if l < own => {}
                    Some(l) => problems.push(format!("{name} (layer {own}) depends on {dep} (layer {l})")),
                    None => problems.push(format!("{name} depends on {dep}, which has no layer")),
                }
            }
        }
    }
    Ok(problems)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src` belongs to (`lib`/`main` for the crate root).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

/// Top-level module edges of one crate: `a -> b` when a file of `a` names `crate::b`.
fn module_edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(src, file);
        if from == "lib" || from == "main" {
            continue; // the crate root declares and re-exports everything
        }
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if name != from && modules.contains(&name) {
                edges.entry(from.clone()).or_default().insert(name);
            }
        }
        // `use crate::{a, b::c}` names several modules at once.
        for (i, _) in text.match_indices("crate::{") {
            let group: String = text[i + 8..].chars().take_while(|c| *c != '}').collect();
            for item in group.split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if name != from && modules.contains(&name) {
                    edges.entry(from.clone()).or_default().insert(name);
                }
            }
        }
    }
    edges
}

/// One cycle in `edges`, if there is any.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(node: &str, edges: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|start| visit(start, edges, &mut Vec::new(), &mut done))
}

fn module_violations(root: &Path) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    for (name, dir) in crates(root)? {
        if let Some(cycle) = find_cycle(&module_edges(&dir.join("src"))) {
            problems.push(format!("{name}: modules in a circle: {}", cycle.join(" -> ")));
        }
    }
    Ok(problems)
}

fn check(root: &Path) -> Result<Vec<String>, String> {
    let mut problems = crate_violations(root)?;
    problems.extend(module_violations(root)?);
    Ok(problems)
}

fn main() -> ExitCode {
    let root = std::env::args().nth(1).map_or_else(|| PathBuf::from("."), PathBuf::from);
    match check(&root) {
        Ok(problems) if problems.is_empty() => {
            println!("layers: ok");
            ExitCode::SUCCESS
        }
        Ok(problems) => {
            for p in problems {
                eprintln!("layers: {p}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("layers: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_keeps_its_layers() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        assert_eq!(check(&root).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn an_upward_dependency_and_a_module_circle_are_caught() {
        let dir = tempfile_dir();
        std::fs::write(dir.join("Cargo.toml"), "[workspace]\nmembers = [\"low\"]\n[package]\nname = \"skiff-state\"\n[dependencies]\nskiff-api = {}\n")
            .unwrap();
        std::fs::create_dir_all(dir.join("low/src")).unwrap();
        std::fs::write(dir.join("low/Cargo.toml"), "[package]\nname = \"skiff-api\"\n[dependencies]\nskiff-gateway = {}\n").unwrap();
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/a.rs"), "use crate::b::X;").unwrap();
        std::fs::write(dir.join("src/b.rs"), "use crate::{a, c};").unwrap();
        let problems = check(&dir).unwrap();
        assert!(problems.iter().any(|p| p.contains("skiff-api (layer 0) depends on skiff-gateway")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("a -> b -> a")), "{problems:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("skiff-layers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
