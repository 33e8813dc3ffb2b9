//! `skiff.toml`: a function's deployable definition, paths relative to the manifest's folder.
//!
//! ```toml
//! name = "hello"
//! wasm = "build/hello.wasm"
//! memory = 128        # MB
//! timeout = 3         # seconds
//! concurrency = 10    # reserved concurrency (optional)
//! # A container function names an image instead of wasm, or builds one from a folder
//! # holding a Dockerfile (`build = "."`; also implied by a Dockerfile next to the manifest):
//! # image = "my-fn:latest"
//! # egress = false      # give the container a network for outbound calls
//! # provisioned = 0     # containers kept started ahead of demand
//! # A zip function on a managed runtime names the runtime and handler instead; the code is the
//! # manifest's folder (or `code = "src"`), zipped without the manifest and hidden files:
//! # runtime = "python3.11"
//! # handler = "app.handler"
//! publish = true      # publish a version after deploying (unchanged code keeps its version)
//! [aliases]           # pointed after deploying and publishing
//! live = "published"  # the version this deploy published; or a number, or "$LATEST"
//! canary = { version = 1, weights = { published = 0.1 } }   # 10% of calls to the new one
//! # reuse = true            # Wasm wasi:http components: keep instances between calls
//! # reuse_max_calls = 10000 # calls one instance serves at most
//! # reuse_idle_s = 300      # an idle instance is dropped after this
//! [env]
//! GREETING = "hi"
//! [events]           # asynchronous invocations (all optional)
//! max_retries = 2
//! max_event_age = 21600   # seconds
//! retry_delay_ms = 1000
//! on_success = "queue:done"   # or "function:NAME"
//! ```

use anyhow::{bail, Context};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: Option<String>,
    pub wasm: Option<PathBuf>,
    pub image: Option<String>,
    /// A folder with a Dockerfile to build the image from.
    pub build: Option<PathBuf>,
    pub egress: Option<bool>,
    pub provisioned: Option<u32>,
    pub memory: Option<u32>,
    pub timeout: Option<u32>,
    pub concurrency: Option<u32>,
    /// A zip function's managed runtime (`python3.11`).
    pub runtime: Option<String>,
    /// A zip function's handler (`app.handler`).
    pub handler: Option<String>,
    /// A zip function's code folder; the manifest's folder by default.
    pub code: Option<PathBuf>,
    /// Publish a version once deployed.
    pub publish: Option<bool>,
    /// Keep Wasm instances between calls.
    pub reuse: Option<bool>,
    pub reuse_max_calls: Option<u32>,
    pub reuse_idle_s: Option<u32>,
    #[serde(default)]
    pub aliases: BTreeMap<String, AliasSpec>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub events: EventSettings,
    /// The manifest file itself (never part of a zip function's code).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// Where an alias routes: one version, or one with a share of calls going to others.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a version (\"published\", a number or \"$LATEST\") or a table { version, weights, description }")]
pub enum AliasSpec {
    Version(VersionName),
    Routed(RoutedAlias),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutedAlias {
    pub version: VersionName,
    /// Other versions and the share of calls each gets (0..1).
    #[serde(default)]
    pub weights: BTreeMap<String, f64>,
    pub description: Option<String>,
}

/// A version as a manifest names it: `published` (the one this deploy published), a number or
/// `$LATEST`, written as a string or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "a version: \"published\", a number or \"$LATEST\"")]
pub enum VersionName {
    Number(u32),
    Text(String),
}

/// The word for "the version this deploy published".
pub const PUBLISHED: &str = "published";

impl VersionName {
    /// The version's number or `$LATEST`, with `published` standing for `published`'s number.
    pub fn resolve(&self, published: Option<&str>) -> anyhow::Result<String> {
        match self {
            VersionName::Number(n) => Ok(n.to_string()),
            VersionName::Text(t) if t == PUBLISHED => match published {
                Some(p) => Ok(p.to_string()),
                None => bail!("an alias names the \"{PUBLISHED}\" version, but nothing is published: set publish = true (or --publish)"),
            },
            VersionName::Text(t) => Ok(t.clone()),
        }
    }

    pub fn is_published(&self) -> bool {
        matches!(self, VersionName::Text(t) if t == PUBLISHED)
    }
}

impl AliasSpec {
    /// The alias's primary version, its weighted others and description.
    pub fn parts(&self) -> (&VersionName, Vec<(VersionName, f64)>, Option<&str>) {
        match self {
            AliasSpec::Version(v) => (v, Vec::new(), None),
            AliasSpec::Routed(r) => {
                let weights = r.weights.iter().map(|(v, w)| (VersionName::Text(v.clone()), *w)).collect();
                (&r.version, weights, r.description.as_deref())
            }
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    pub max_retries: Option<u32>,
    pub max_event_age: Option<u32>,
    pub retry_delay_ms: Option<u32>,
    pub on_success: Option<String>,
}

/// Loads `PATH` (a folder holding `skiff.toml`, or the file itself); relative paths inside are
/// resolved against the manifest's folder.
pub fn load(path: &Path) -> anyhow::Result<Manifest> {
    let file = if path.is_dir() { path.join("skiff.toml") } else { path.to_path_buf() };
    if !file.exists() {
        bail!("no manifest at {}", file.display());
    }
    let text = super::read_text(&file)?;
    let mut manifest: Manifest = toml::from_str(&text).with_context(|| format!("invalid manifest {}", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let resolve = |p: PathBuf| if p.is_relative() { dir.join(p) } else { p };
    manifest.wasm = manifest.wasm.map(resolve);
    manifest.build = manifest.build.map(resolve);
    manifest.code = manifest.code.map(resolve);
    let zip_function = manifest.runtime.is_some() || manifest.handler.is_some();
    if zip_function && manifest.code.is_none() {
        manifest.code = Some(dir.to_path_buf());
    }
    let has_code = manifest.wasm.is_some() || manifest.image.is_some() || manifest.build.is_some() || zip_function;
    if !has_code && dir.join("Dockerfile").is_file() {
        manifest.build = Some(dir.to_path_buf());
    }
    manifest.file = Some(file);
    Ok(manifest)
}

#[cfg(test)]
mod fuzz {
    /// Input: a `skiff.toml`.
    #[test]
    fn manifests_never_panic_the_loader() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("skiff.toml");
        skiff_fuzz::run("manifest", skiff_fuzz::ROUNDS / 4, |input| {
            std::fs::write(&file, input).unwrap();
            let _ = super::load(&file);
        });
    }
}
