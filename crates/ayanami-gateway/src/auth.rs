//! Credentials for the routes of the composition's `auth` groups: bearer
//! tokens or users and passwords, read from the environment or a file when
//! the gateway starts, compared in constant time.
//!
//! A request that passes reaches its flow without its `Authorization`
//! header, and with `auth` naming its group and user, so that no secret
//! travels on the bus or into a log.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use axum::http::{Response, StatusCode};
use axum::middleware::Next;
use ayanami_composition::{AuthGroup, AuthScheme, SecretSource};
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::response;

/// Why the secrets of a group could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set, or not UTF-8.
    #[error("auth group `{group}`: the environment variable `{variable}` is not set")]
    MissingEnv {
        /// The group.
        group: String,
        /// The variable.
        variable: String,
    },
    /// The file could not be read.
    #[error("auth group `{group}`: cannot read `{path}`")]
    File {
        /// The group.
        group: String,
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// There is no secret in it, or a line of a `basic` group has no `:`.
    #[error("auth group `{group}`: {reason}")]
    Malformed {
        /// The group.
        group: String,
        /// What is wrong, without the secret.
        reason: String,
    },
}

/// Who a request proved to be, handed to the request variable as `auth`.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) group: Arc<str>,
    pub(crate) user: Option<String>,
}

/// One group with its secrets loaded.
struct Group {
    name: Arc<str>,
    scheme: AuthScheme,
    prefixes: Vec<String>,
    /// Tokens, or `(user, password)` pairs.
    tokens: Vec<Vec<u8>>,
    users: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Every group of the gateway, ready to check requests.
pub(crate) struct Guard {
    groups: Vec<Group>,
}

impl Guard {
    /// Reads the secrets of `groups`; relative files are under `dir`.
    pub(crate) fn load(groups: &[AuthGroup], dir: &Path) -> Result<Self, SecretError> {
        let groups = groups
            .iter()
            .map(|group| load_group(group, dir))
            .collect::<Result<_, _>>()?;
        Ok(Self { groups })
    }

    /// The group whose longest prefix covers `path`, if any, with that
    /// prefix. A path is checked as sent and as a function may read it
    /// (decoded, without empty and `.` segments, with `..` resolved or
    /// not), so that no spelling of a protected path slips past.
    fn group(&self, path: &str) -> Option<(&Group, &str)> {
        spellings(path)
            .iter()
            .filter_map(|spelling| self.longest(spelling))
            .max_by_key(|(_, prefix)| prefix.len())
    }

    fn longest(&self, path: &str) -> Option<(&Group, &str)> {
        let covering = |prefix: &&String| {
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        self.groups
            .iter()
            .filter_map(|g| {
                let longest = g.prefixes.iter().filter(covering).max_by_key(|p| p.len())?;
                Some((g, longest.as_str()))
            })
            .max_by_key(|(_, prefix)| prefix.len())
    }
}

/// `path` as sent, decoded with its empty and `.` segments dropped, and
/// that again with each `..` taking away the segment before it.
fn spellings(path: &str) -> [String; 3] {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let segments: Vec<&str> = decoded
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let mut resolved: Vec<&str> = Vec::with_capacity(segments.len());
    for segment in &segments {
        if *segment == ".." {
            resolved.pop();
        } else {
            resolved.push(segment);
        }
    }
    let join = |segments: &[&str]| {
        segments
            .iter()
            .fold(String::new(), |path, s| path + "/" + s)
    };
    [path.to_owned(), join(&segments), join(&resolved)]
}

fn load_group(group: &AuthGroup, dir: &Path) -> Result<Group, SecretError> {
    let text = match &group.secrets {
        SecretSource::Env(variable) => {
            std::env::var(variable).map_err(|_| SecretError::MissingEnv {
                group: group.name.clone(),
                variable: variable.clone(),
            })?
        }
        SecretSource::File(path) => {
            std::fs::read_to_string(dir.join(path)).map_err(|source| SecretError::File {
                group: group.name.clone(),
                path: path.display().to_string(),
                source,
            })?
        }
    };
    parse_secrets(group, &text)
}

/// The group with the secrets in `text`: one a line, blank lines skipped.
fn parse_secrets(group: &AuthGroup, text: &str) -> Result<Group, SecretError> {
    let malformed = |reason: &str| SecretError::Malformed {
        group: group.name.clone(),
        reason: reason.to_owned(),
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return Err(malformed("no secret given; write one per line"));
    }
    let mut loaded = Group {
        name: group.name.as_str().into(),
        scheme: group.scheme,
        prefixes: group.paths.clone(),
        tokens: Vec::new(),
        users: Vec::new(),
    };
    for (index, line) in lines.iter().enumerate() {
        match group.scheme {
            AuthScheme::Bearer => loaded.tokens.push(line.as_bytes().to_vec()),
            AuthScheme::Basic => {
                let Some((user, password)) = line.split_once(':') else {
                    let reason = format!("secret {} is not `user:password`", index + 1);
                    return Err(malformed(&reason));
                };
                loaded
                    .users
                    .push((user.as_bytes().to_vec(), password.as_bytes().to_vec()));
            }
        }
    }
    Ok(loaded)
}

/// The middleware: requests under a group pass with valid credentials,
/// and get `401` with a challenge otherwise.
pub(crate) async fn layer(
    State(guard): State<Arc<Guard>>,
    mut request: Request,
    next: Next,
) -> Response<Body> {
    let Some((group, prefix)) = guard.group(request.uri().path()) else {
        return next.run(request).await;
    };
    let given = request.headers_mut().remove(AUTHORIZATION);
    if let Some(identity) = given.as_ref().and_then(|value| group.check(value)) {
        request.extensions_mut().insert(identity);
        return next.run(request).await;
    }
    // Counted under the group's prefix rather than the path a client
    // chose, so that refused requests cannot grow the metrics without end.
    let method = request.method().as_str();
    let route = format!("{prefix}/*");
    ayanami_metrics::metrics().request(method, &route, 401, Duration::ZERO);
    let (group_name, status) = (&*group.name, 401);
    let path = request.uri().path();
    tracing::info!(%method, path, status, group = group_name, "request refused: no valid credentials");
    group.challenge(given.is_some())
}

impl Group {
    /// Who the `Authorization` value proves to be, if it is valid.
    fn check(&self, value: &HeaderValue) -> Option<Identity> {
        let (scheme, credentials) = value.to_str().ok()?.trim().split_once(' ')?;
        let credentials = credentials.trim();
        let identity = |user| Identity {
            group: self.name.clone(),
            user,
        };
        match self.scheme {
            AuthScheme::Bearer if scheme.eq_ignore_ascii_case("bearer") => {
                let given = credentials.as_bytes();
                // Every token is compared, whichever matches, so that the
                // time taken tells nothing of which one nearly did.
                let matched = self
                    .tokens
                    .iter()
                    .fold(subtle::Choice::from(0), |found, token| {
                        found | token.ct_eq(given)
                    });
                bool::from(matched).then(|| identity(None))
            }
            AuthScheme::Basic if scheme.eq_ignore_ascii_case("basic") => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(credentials)
                    .ok()?;
                let split = decoded.iter().position(|b| *b == b':')?;
                let (user, password) = (&decoded[..split], &decoded[split + 1..]);
                let mut matched = subtle::Choice::from(0);
                for (known_user, known_password) in &self.users {
                    matched |= known_user.ct_eq(user) & known_password.ct_eq(password);
                }
                let user = String::from_utf8_lossy(user).into_owned();
                bool::from(matched).then(|| identity(Some(user)))
            }
            _ => None,
        }
    }

    /// `401` with the challenge a client needs to try again.
    fn challenge(&self, had_credentials: bool) -> Response<Body> {
        let realm = &self.name;
        let challenge = match (self.scheme, had_credentials) {
            (AuthScheme::Bearer, false) => format!("Bearer realm=\"{realm}\""),
            (AuthScheme::Bearer, true) => {
                format!("Bearer realm=\"{realm}\", error=\"invalid_token\"")
            }
            (AuthScheme::Basic, _) => format!("Basic realm=\"{realm}\", charset=\"UTF-8\""),
        };
        let mut response = response::text(StatusCode::UNAUTHORIZED, "Unauthorized".to_owned());
        // Group names are checked to be letters, digits, `_` and `-`.
        if let Ok(value) = HeaderValue::try_from(challenge) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(secrets: &str, scheme: AuthScheme, paths: &[&str]) -> Guard {
        let group = AuthGroup {
            name: "g".to_owned(),
            scheme,
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            secrets: SecretSource::Env("UNUSED".to_owned()),
        };
        let groups = vec![parse_secrets(&group, secrets).unwrap()];
        Guard { groups }
    }

    #[test]
    fn prefixes_cover_whole_segments_and_the_longest_wins() {
        let guard = group("t", AuthScheme::Bearer, &["/admin"]);
        assert_eq!(guard.group("/admin").map(|(_, p)| p), Some("/admin"));
        assert!(guard.group("/admin/users/1").is_some());
        assert!(guard.group("/administrator").is_none());
        assert!(guard.group("/").is_none());
    }

    #[test]
    fn tokens_and_users_match_exactly_and_nothing_else_does() {
        let ok = |g: &Group, v: &str| g.check(&HeaderValue::from_str(v).unwrap()).is_some();
        let bearer = group(" first \n\nsecond\n", AuthScheme::Bearer, &[""]);
        let one = bearer.group("/x").unwrap().0;
        assert!(ok(one, "Bearer first") && ok(one, "bearer  second"));
        for wrong in [
            "Bearer firs",
            "Bearer first2",
            "Bearer",
            "Basic first",
            "first",
        ] {
            assert!(!ok(one, wrong), "{wrong}");
        }

        let basic = group("alice:pa:ss\n", AuthScheme::Basic, &[""]);
        let one = basic.group("/").unwrap().0;
        let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert!(ok(one, &format!("Basic {}", encode("alice:pa:ss"))));
        for wrong in ["alice:pa", "alice:pa:ss2", "bob:pa:ss", "alicepa:ss"] {
            assert!(!ok(one, &format!("Basic {}", encode(wrong))), "{wrong}");
        }
        assert!(!ok(one, "Basic !!!"));
    }

    #[test]
    fn empty_secrets_and_basic_lines_without_a_colon_are_refused_without_showing_them() {
        let named = |scheme| AuthGroup {
            name: "g".to_owned(),
            scheme,
            paths: vec![String::new()],
            secrets: SecretSource::Env("UNUSED".to_owned()),
        };
        let error = parse_secrets(&named(AuthScheme::Bearer), " \n")
            .err()
            .unwrap();
        assert_eq!(
            error.to_string(),
            "auth group `g`: no secret given; write one per line"
        );
        let error = parse_secrets(&named(AuthScheme::Basic), "a:b\nhunter2")
            .err()
            .unwrap();
        assert_eq!(
            error.to_string(),
            "auth group `g`: secret 2 is not `user:password`"
        );
    }
}
