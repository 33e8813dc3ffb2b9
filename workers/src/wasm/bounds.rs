//! What a deploy may ask the compiler to do. Compile time and memory grow with the number of
//! functions, and tables and memories beyond the instance pool's limits can never run, so code
//! is scanned first (a pass that allocates nothing per function) and refused with the bound
//! it exceeds, before any compiling.

use crate::WorkerError;
use wasmparser::{Parser, Payload};

/// Largest linear memory a guest can have: wasm32's 4 GiB address space. A function configured
/// with more memory than this still gets at most this much for its Wasm heap.
pub(crate) const MAX_LINEAR_MEMORY: u64 = 4 << 30;
/// Elements of one table (each instance's tables come out of the pool).
pub(crate) const MAX_TABLE_ELEMENTS: usize = 1 << 17;

/// Function bodies in one module or component (all its modules together). The Python
/// component built by componentize-py, CPython and all, has 13,572; a module of 100,000 empty
/// functions takes over 30 s and 700 MB to compile.
pub const MAX_FUNCTIONS: u32 = 50_000;

/// Checks `binary` (a module or a component) against the deploy bounds.
pub(crate) fn check(binary: &[u8]) -> Result<(), WorkerError> {
    let refuse = |what: String| Err(WorkerError::InvalidCode(what));
    let mut functions: u32 = 0;
    for payload in Parser::new(0).parse_all(binary) {
        // A malformed binary is reported by the compiler, with its own message.
        let Ok(payload) = payload else { return Ok(()) };
        match payload {
            Payload::CodeSectionStart { count, .. } => {
                functions = functions.saturating_add(count);
                if functions > MAX_FUNCTIONS {
                    return refuse(format!("the code has more than {MAX_FUNCTIONS} functions"));
                }
            }
            Payload::TableSection(tables) => {
                for table in tables.into_iter().flatten() {
                    if table.ty.initial > MAX_TABLE_ELEMENTS as u64 {
                        return refuse(format!("a table of {} elements exceeds the limit of {MAX_TABLE_ELEMENTS}", table.ty.initial));
                    }
                }
            }
            Payload::MemorySection(memories) => {
                for memory in memories.into_iter().flatten() {
                    let bytes = memory.initial.saturating_mul(1 << memory.page_size_log2.unwrap_or(16));
                    if bytes > MAX_LINEAR_MEMORY {
                        return refuse(format!("a memory of {bytes} bytes at start exceeds the limit of {MAX_LINEAR_MEMORY}"));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap()
    }

    #[test]
    fn tables_memories_and_function_counts_are_bounded() {
        assert!(check(&wat(r#"(module (table 100 funcref) (memory 1) (func) (func))"#)).is_ok());
        let table = check(&wat(r#"(module (table 10000000 funcref))"#)).unwrap_err().to_string();
        assert!(table.contains("10000000 elements"), "{table}");
        let memory = check(&wat(r#"(module (memory i64 100000))"#)).unwrap_err().to_string();
        assert!(memory.contains("exceeds the limit"), "{memory}");
        let many = format!("(module {})", "(func)".repeat(MAX_FUNCTIONS as usize + 1));
        let count = check(&wat(&many)).unwrap_err().to_string();
        assert!(count.contains("more than"), "{count}");
    }

    #[test]
    fn the_python_component_fits() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions/hello-py/build/hello.wasm");
        let binary = std::fs::read(path).expect("functions/hello-py is built by scripts/build-functions.sh");
        let mut functions = 0;
        for payload in Parser::new(0).parse_all(&binary).flatten() {
            if let Payload::CodeSectionStart { count, .. } = payload {
                functions += count;
            }
        }
        println!("hello-py functions: {functions}");
        assert!(check(&binary).is_ok(), "{functions} functions");
    }
}
