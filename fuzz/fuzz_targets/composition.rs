//! The composition parser and checker on any text: a mistake is reported,
//! never a panic.
#![no_main]

use std::path::{Path, PathBuf};

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(composition) = ayanami_composition::parse(text, Path::new("f.yaml"), PathBuf::new()) {
        let _ = ayanami_composition::warnings(&composition);
    }
});
