//! How an HTTP route becomes subject tokens.
//!
//! A route `/users/{id}/files/{*path}` answered for `GET` becomes the
//! events `trig.request.get.users._id.files.__path.out` (the request) and
//! `trig.response.get.users._id.files.__path.in.<var>` (the reply). The
//! rule is collision-free and keeps the direction token findable:
//!
//! - a literal segment is its own token, except that a literal which is
//!   `in`, `out` or `err`, or starts with `_` or `-`, gets one `-` in front;
//! - a parameter `{name}` is `_name` (parameter names start with a letter);
//! - a catch-all `{*name}` is `__name`;
//! - the root `/` has no tokens: `trig.request.get.out`.

use std::fmt;

use crate::is_name;

/// One segment of a route path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteSegment {
    /// A fixed segment such as `hello`.
    Literal(String),
    /// A parameter `{name}` matching one segment.
    Param(String),
    /// A trailing `{*name}` matching the rest of the path.
    CatchAll(String),
}

impl RouteSegment {
    /// The subject token for this segment.
    #[must_use]
    pub fn token(&self) -> String {
        match self {
            Self::Literal(text) if needs_escape(text) => format!("-{text}"),
            Self::Literal(text) => text.clone(),
            Self::Param(name) => format!("_{name}"),
            Self::CatchAll(name) => format!("__{name}"),
        }
    }
}

fn needs_escape(literal: &str) -> bool {
    matches!(literal, "in" | "out" | "err") || literal.starts_with(['_', '-'])
}

/// A route path that cannot be turned into subject tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError(String);

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RouteError {}

/// Splits a route path such as `/hello/{name}` into segments.
///
/// # Errors
///
/// The path must start with `/`, have no empty segment or trailing `/`,
/// use only letters, digits, `_` and `-` in literals, name parameters with
/// a letter first, and put a catch-all only last.
pub fn parse_route(path: &str) -> Result<Vec<RouteSegment>, RouteError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(RouteError(format!("route `{path}` must start with `/`")));
    };
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::with_capacity(parts.len());
    for (index, part) in parts.iter().enumerate() {
        let segment = parse_segment(path, part)?;
        if matches!(segment, RouteSegment::CatchAll(_)) && index + 1 != parts.len() {
            return Err(RouteError(format!(
                "route `{path}`: a catch-all `{part}` must be the last segment"
            )));
        }
        let name = match &segment {
            RouteSegment::Param(name) | RouteSegment::CatchAll(name) => Some(name),
            RouteSegment::Literal(_) => None,
        };
        let taken = |s: &RouteSegment| matches!(s, RouteSegment::Param(n) | RouteSegment::CatchAll(n) if Some(n) == name);
        if segments.iter().any(taken) {
            return Err(RouteError(format!(
                "route `{path}` names parameter `{part}` twice; the first value would be lost, so rename one"
            )));
        }
        segments.push(segment);
    }
    Ok(segments)
}

fn parse_segment(path: &str, part: &str) -> Result<RouteSegment, RouteError> {
    if part.is_empty() {
        return Err(RouteError(format!(
            "route `{path}` has an empty segment; remove the doubled or trailing `/`"
        )));
    }
    let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
        if !is_name(part) {
            return Err(RouteError(format!(
                "route `{path}`: segment `{part}` may hold only ASCII letters, digits, `_` and `-`"
            )));
        }
        return Ok(RouteSegment::Literal(part.to_owned()));
    };
    let (catch_all, name) = match inner.strip_prefix('*') {
        Some(name) => (true, name),
        None => (false, inner),
    };
    let starts_with_letter = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
    if !starts_with_letter || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(RouteError(format!(
            "route `{path}`: parameter `{part}` needs a name of letters, digits and `_`, starting with a letter"
        )));
    }
    Ok(if catch_all {
        RouteSegment::CatchAll(name.to_owned())
    } else {
        RouteSegment::Param(name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(path: &str) -> Vec<String> {
        parse_route(path)
            .unwrap()
            .iter()
            .map(RouteSegment::token)
            .collect()
    }

    #[test]
    fn routes_become_tokens() {
        assert!(tokens("/").is_empty());
        assert_eq!(tokens("/banner"), ["banner"]);
        assert_eq!(tokens("/hello/{name}"), ["hello", "_name"]);
        assert_eq!(tokens("/files/{*path}"), ["files", "__path"]);
        assert_eq!(tokens("/log/in"), ["log", "-in"]);
        assert_eq!(
            tokens("/_name/-x/out/err"),
            ["-_name", "--x", "-out", "-err"]
        );
    }

    #[test]
    fn distinct_routes_never_share_tokens() {
        let routes = [
            "/", "/in", "/-in", "/_a", "/{a}", "/{*a}", "/a", "/-a", "/__a", "/a/b", "/a-b",
        ];
        let mut seen = std::collections::HashSet::new();
        for route in routes {
            assert!(seen.insert(tokens(route)), "{route} collides");
        }
    }

    #[test]
    fn bad_routes_say_what_to_change() {
        let cases = [
            ("banner", "route `banner` must start with `/`"),
            (
                "/a//b",
                "route `/a//b` has an empty segment; remove the doubled or trailing `/`",
            ),
            (
                "/a/",
                "route `/a/` has an empty segment; remove the doubled or trailing `/`",
            ),
            (
                "/a.txt",
                "route `/a.txt`: segment `a.txt` may hold only ASCII letters, digits, `_` and `-`",
            ),
            (
                "/{*rest}/x",
                "route `/{*rest}/x`: a catch-all `{*rest}` must be the last segment",
            ),
            (
                "/{1x}",
                "route `/{1x}`: parameter `{1x}` needs a name of letters, digits and `_`, starting with a letter",
            ),
        ];
        for (path, message) in cases {
            assert_eq!(parse_route(path).unwrap_err().to_string(), message);
        }
    }
}
