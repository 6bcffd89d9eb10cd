//! Replays the fuzz seeds and every kept crasher (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`) through the same harnesses the cargo-fuzz
//! targets run, so a fixed crash stays fixed without a nightly toolchain.

use std::path::Path;

use clickgate::fuzzing;

fn replay(target: &str, harness: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut ran = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            if path.file_name().is_some_and(|n| n == ".keep") {
                continue;
            }
            let data = std::fs::read(&path).expect("corpus file");
            harness(&data);
            // Every prefix too: truncation is the commonest hostile edit.
            for cut in (0..data.len()).step_by(data.len() / 64 + 1) {
                harness(&data[..cut]);
            }
            ran += 1;
        }
    }
    assert!(ran > 0, "no corpus for {target}");
}

#[test]
fn body_decoding_corpus_never_panics() {
    replay("body_decoding", fuzzing::body_decoding);
}

#[test]
fn event_parsing_corpus_never_panics() {
    replay("event_parsing", fuzzing::event_parsing);
}
