//! Route paths on any text: refused with a reason, or turned into
//! segments whose tokens are valid subject tokens.
#![no_main]

libfuzzer_sys::fuzz_target!(|path: &str| {
    let Ok(segments) = ayanami_event::parse_route(path) else {
        return;
    };
    for segment in segments {
        let token = segment.token();
        assert!(
            !token.is_empty() && !token.contains(['.', '*', '>', ' ']),
            "{token:?}"
        );
    }
});
