//! `skiff-wat-component WIT_DIR WORLD MODULE.wat OUT.wasm`: a core module written in WAT, whose
//! imports and exports follow the canonical ABI of WORLD, becomes a component of that world.
//! Used to build the smallest possible examples (a no-op `wasi:http` handler) without a guest
//! language toolchain.

use anyhow::{bail, Context};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [wit_dir, world, wat, out] = args.as_slice() else {
        bail!("usage: skiff-wat-component WIT_DIR WORLD MODULE.wat OUT.wasm");
    };
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_dir(wit_dir).with_context(|| format!("reading the WIT in {wit_dir}"))?;
    let world = resolve.select_world(&[package], Some(world)).with_context(|| format!("finding world {world}"))?;
    let mut module = wat::parse_file(wat).with_context(|| format!("parsing {wat}"))?;
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)?;
    let component = ComponentEncoder::default().validate(true).module(&module)?.encode().context("encoding the component")?;
    std::fs::write(out, component).with_context(|| format!("writing {out}"))?;
    Ok(())
}
