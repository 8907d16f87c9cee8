//! Subject and pattern checks and matching on any two texts: a valid
//! subject is a valid pattern that matches itself.
#![no_main]

use ayanami_bus::subject::{check_pattern, check_subject, matches};

libfuzzer_sys::fuzz_target!(|input: (&str, &str)| {
    let (pattern, subject) = input;
    let _ = check_pattern(pattern);
    if check_subject(subject).is_ok() {
        assert!(check_pattern(subject).is_ok());
        assert!(matches(subject, subject));
    }
    let _ = matches(pattern, subject);
});
