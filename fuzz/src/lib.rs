//! A small mutation fuzzer, run by the ordinary test command, for the parsers that face the
//! network: function references, routes, deploy bodies, event messages, the agent's frames.
//!
//! Each target replays its corpus (`fuzz/corpus/<target>/`, one input per file, kept in the
//! repo), then feeds the parser mutations of those inputs — bit flips, interesting bytes,
//! insertions, deletions, truncations, duplications and splices of two inputs — for a bounded
//! number of rounds, from a fixed seed, so every run is the same run and a failure is
//! reproducible. A target passes if its check never panics: the check calls the parser and
//! asserts the target's property (for example, what parses re-parses the same).
//!
//! An input that fails is written to `fuzz/corpus/<target>/crash-<hash>` and named in the
//! panic; once the parser is fixed, that file stays in the corpus as a regression input.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Mutated inputs per target in one test run (on top of the corpus itself).
pub const ROUNDS: usize = 20_000;

/// Runs `check` on every corpus input of `target` and on `rounds` mutations of them.
pub fn run(target: &str, rounds: usize, mut check: impl FnMut(&[u8])) {
    let corpus = corpus(target);
    assert!(!corpus.is_empty(), "the corpus of {target} is empty: add seed inputs under {}", dir(target).display());
    let mut rng = Rng(0x05ee_d0f5_b1ff ^ fnv(target.as_bytes()));
    let mutations = (0..rounds).map(|_| mutate(&mut rng, &corpus));
    for input in corpus.clone().into_iter().chain(mutations) {
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            let saved = save_crash(target, &input);
            panic!("{target}: the check failed on {:?} (saved as {})", String::from_utf8_lossy(&input), saved.display());
        }
    }
}

fn dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir(target)) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.expect("a corpus entry").path()).collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).expect("a corpus file")).collect()
}

fn save_crash(target: &str, input: &[u8]) -> PathBuf {
    let path = dir(target).join(format!("crash-{:016x}", fnv(input)));
    let _ = std::fs::write(&path, input);
    path
}

/// Bytes that tend to sit on the edges parsers get wrong.
const INTERESTING: &[u8] = b"\0\x01\x7f\x80\xff:/%?&=#\"\\{}[],.-+ \n\r\t$*@";

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut input = corpus[rng.below(corpus.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(input.len() + 1);
        let last = at.min(input.len().saturating_sub(1));
        match rng.below(7) {
            0 if !input.is_empty() => input[last] ^= 1 << rng.below(8),
            1 if !input.is_empty() => input[last] = INTERESTING[rng.below(INTERESTING.len())],
            2 => input.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            3 if at < input.len() => drop(input.remove(at)),
            4 => input.truncate(at),
            5 => {
                let end = (at + rng.below(16)).min(input.len());
                let copy = input[at..end].to_vec();
                input.splice(at..at, copy.into_iter().cycle().take((end - at) * rng.below(64)));
            }
            _ => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
        }
    }
    input
}

/// xorshift64*: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_reproducible_and_varied() {
        let corpus = vec![b"hello:world".to_vec(), b"{\"a\":1}".to_vec()];
        let run = |seed| {
            let mut rng = Rng(seed);
            (0..200).map(|_| mutate(&mut rng, &corpus)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let distinct: std::collections::HashSet<_> = run(7).into_iter().collect();
        assert!(distinct.len() > 150, "only {} distinct mutations", distinct.len());
    }
}
