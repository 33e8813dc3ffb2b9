//! Builds a `wasi:http` component from C, in two steps around the C compiler:
//!
//! - `skiff-c-component bindings WIT_DIR WORLD OUT_DIR`: the C bindings of WORLD: a `.c`, a
//!   `.h`, and an object holding the world's component type, linked in with them.
//! - `skiff-c-component wrap MODULE.wasm OUT.wasm`: a core module built with wasi-libc (which
//!   imports WASI preview 1) becomes a component of the world its linked type names, its
//!   preview 1 imports served by wasmtime's proxy adapter (the one for `wasi:http/proxy`: no
//!   filesystem, no command line).

use anyhow::{bail, Context};
use wit_component::ComponentEncoder;
use wit_parser::{Resolve, WorldId};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["bindings", wit_dir, world, out_dir] => bindings(wit_dir, world, out_dir),
        ["wrap", module, out] => wrap(module, out),
        _ => bail!("usage: skiff-c-component bindings WIT_DIR WORLD OUT_DIR | wrap MODULE.wasm OUT.wasm"),
    }
}

fn world(wit_dir: &str, world: &str) -> anyhow::Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_dir(wit_dir).with_context(|| format!("reading the WIT in {wit_dir}"))?;
    let id = resolve.select_world(&[package], Some(world)).with_context(|| format!("finding world {world}"))?;
    Ok((resolve, id))
}

fn bindings(wit_dir: &str, world_name: &str, out_dir: &str) -> anyhow::Result<()> {
    let (mut resolve, id) = world(wit_dir, world_name)?;
    let opts = wit_bindgen_c::Opts::default();
    let mut files = wit_bindgen_core::Files::default();
    opts.build().generate(&mut resolve, id, &mut files).context("generating the C bindings")?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {out_dir}"))?;
    for (name, contents) in files.iter() {
        let path = format!("{out_dir}/{name}");
        std::fs::write(&path, contents).with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

fn wrap(module: &str, out: &str) -> anyhow::Result<()> {
    let core = std::fs::read(module).with_context(|| format!("reading {module}"))?;
    use wasi_preview1_component_adapter_provider::{WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER};
    let component = ComponentEncoder::default()
        .validate(true)
        .module(&core)?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER)?
        .encode()
        .context("encoding the component")?;
    std::fs::write(out, component).with_context(|| format!("writing {out}"))?;
    Ok(())
}
