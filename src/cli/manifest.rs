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
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub events: EventSettings,
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
    let mut manifest: Manifest =
        toml::from_str(&text).with_context(|| format!("invalid manifest {}", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let resolve = |p: PathBuf| if p.is_relative() { dir.join(p) } else { p };
    manifest.wasm = manifest.wasm.map(resolve);
    manifest.build = manifest.build.map(resolve);
    if manifest.wasm.is_none() && manifest.image.is_none() && manifest.build.is_none() && dir.join("Dockerfile").is_file() {
        manifest.build = Some(dir.to_path_buf());
    }
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
