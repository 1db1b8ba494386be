//! The fuzz targets' committed inputs, replayed on stable as a normal test: every seed under
//! `tests/fuzz/corpus/<target>/` and every minimized finding under
//! `tests/fuzz/regressions/<target>/` goes through the target's entry point — the same
//! function the libFuzzer binary calls — so CI checks the targets' properties on every run
//! without building the sanitizer toolchain (see README, Fuzzing).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_input_passes_its_target() {
    let root = fuzz_dir();
    let mut failed = Vec::new();
    let mut replayed = 0;
    for (name, run) in platform::fuzzing::TARGETS {
        let seeds = files(&root.join("corpus").join(name));
        assert!(!seeds.is_empty(), "target {name} has no seed corpus");
        let regressions = files(&root.join("regressions").join(name));
        for file in seeds.iter().chain(&regressions) {
            let data = std::fs::read(file).unwrap();
            replayed += 1;
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                failed.push(file.display().to_string());
            }
        }
    }
    assert!(
        failed.is_empty(),
        "inputs that fail their target: {failed:#?}"
    );
    println!("replayed {replayed} inputs");
}

/// Each entry point has its libFuzzer binary and each binary its entry point.
#[test]
fn every_target_has_a_fuzz_binary() {
    let root = fuzz_dir();
    let mut binaries: Vec<String> = files(&root.join("fuzz_targets"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    binaries.sort();
    let mut names: Vec<String> = platform::fuzzing::TARGETS
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    names.sort();
    assert_eq!(binaries, names);
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for name in &names {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} is not a [[bin]] of the fuzz crate"
        );
    }
}
