//! Flow instance IDs: UUID v4, written as 32 lowercase hex digits.

use std::fmt;
use std::str::FromStr;

/// The ID of one flow instance, the first token of every event subject.
///
/// It prints as 32 lowercase hex digits. Parsing also accepts the
/// hyphenated form an outside publisher may send.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(u128);

/// A subject token that is not an ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError(String);

impl std::error::Error for IdError {}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not an ID: expected 32 hex digits", self.0)
    }
}

impl Id {
    /// A new random ID (UUID v4).
    #[must_use]
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().as_u128())
    }

    /// The ID as a number, for cheap hashing.
    #[must_use]
    pub fn as_u128(self) -> u128 {
        self.0
    }
}

impl Default for Id {
    fn default() -> Self {
        Self::new()
    }
}

impl FromStr for Id {
    type Err = IdError;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        let valid = match token.len() {
            32 => token.bytes().all(|b| b.is_ascii_hexdigit()),
            36 => uuid::Uuid::try_parse(token).is_ok(),
            _ => false,
        };
        if !valid {
            return Err(IdError(token.to_owned()));
        }
        uuid::Uuid::try_parse(token)
            .map(|uuid| Self(uuid.as_u128()))
            .map_err(|_| IdError(token.to_owned()))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_print_as_32_lowercase_hex_digits() {
        let text = Id::new().to_string();
        assert_eq!(text.len(), 32);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }

    #[test]
    fn hyphenated_and_plain_forms_are_the_same_id() {
        let plain: Id = "0123456789abcdef0123456789abcdef".parse().unwrap();
        let hyphenated: Id = "01234567-89ab-cdef-0123-456789abcdef".parse().unwrap();
        assert_eq!(plain, hyphenated);
        assert_eq!(plain.to_string(), "0123456789abcdef0123456789abcdef");
    }

    #[test]
    fn tokens_that_are_not_ids_are_refused() {
        for token in [
            "*",
            "",
            "abc",
            "0123456789abcdef0123456789abcdeg",
            "urn:uuid:x",
        ] {
            assert!(token.parse::<Id>().is_err(), "{token}");
        }
    }
}
