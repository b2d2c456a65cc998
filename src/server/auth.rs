//! Who may change a changefeed's admin state through the HTTP API.
//!
//! The rule, decided once from `[server]`: with `admin-token-file` every mutating request
//! must carry `Authorization: Bearer <token>` (compared in constant time; a missing or wrong
//! token is 401); without a token, mutating requests are allowed only when the server
//! listens on a loopback address (only local users reach it) and are refused with 403
//! otherwise, naming the setting. Read-only endpoints are never checked.

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode, header};

/// The rule for mutating requests.
#[derive(Clone)]
pub enum AdminAuth {
    /// A bearer token is required.
    Token(String),
    /// No token, loopback listener: allowed.
    Loopback,
    /// No token, reachable from other hosts: refused.
    Refused { listen: SocketAddr },
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminAuth::Token(_) => f.write_str("Token(***)"),
            AdminAuth::Loopback => f.write_str("Loopback"),
            AdminAuth::Refused { listen } => write!(f, "Refused {{ listen: {listen} }}"),
        }
    }
}

/// Why a request was refused: the HTTP status and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub status: StatusCode,
    pub message: String,
}

impl AdminAuth {
    /// The rule for a server listening on `listen` with `token` (if configured).
    pub fn new(token: Option<&str>, listen: SocketAddr) -> AdminAuth {
        match token.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => AdminAuth::Token(t.to_string()),
            None if listen.ip().is_loopback() => AdminAuth::Loopback,
            None => AdminAuth::Refused { listen },
        }
    }

    /// Whether a mutating request with `headers` may proceed.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Denied> {
        match self {
            AdminAuth::Loopback => Ok(()),
            AdminAuth::Refused { listen } => Err(Denied {
                status: StatusCode::FORBIDDEN,
                message: format!(
                    "changing a changefeed over the API is off: the server listens on {listen}, which is not a loopback address, and no token is set; set [server] admin-token-file (and send `Authorization: Bearer <token>`), or listen on 127.0.0.1"
                ),
            }),
            AdminAuth::Token(want) => {
                let given = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::trim);
                match given {
                    Some(g) if constant_time_eq(g.as_bytes(), want.as_bytes()) => Ok(()),
                    Some(_) => Err(Denied {
                        status: StatusCode::UNAUTHORIZED,
                        message: "wrong bearer token: send the token of [server] admin-token-file as `Authorization: Bearer <token>`".into(),
                    }),
                    None => Err(Denied {
                        status: StatusCode::UNAUTHORIZED,
                        message: "a bearer token is required: send the token of [server] admin-token-file as `Authorization: Bearer <token>` (the CLI: --token-file)".into(),
                    }),
                }
            }
        }
    }
}

/// Equality whose time does not depend on where the inputs differ (only on their lengths).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(a).expect("header"),
            );
        }
        h
    }

    #[test]
    fn a_token_is_required_when_configured() {
        let a = AdminAuth::new(Some("s3cret\n"), "0.0.0.0:8300".parse().expect("addr"));
        assert_eq!(a.check(&with(Some("Bearer s3cret"))), Ok(()));
        for bad in [
            None,
            Some("Bearer nope"),
            Some("Basic s3cret"),
            Some("Bearer s3cre"),
        ] {
            let e = a.check(&with(bad)).expect_err("refused");
            assert_eq!(e.status, StatusCode::UNAUTHORIZED, "{bad:?}");
        }
        assert!(!format!("{a:?}").contains("s3cret"));
    }

    #[test]
    fn without_a_token_only_loopback_listeners_allow_changes() {
        let local = AdminAuth::new(None, "127.0.0.1:8300".parse().expect("addr"));
        assert_eq!(local.check(&with(None)), Ok(()));
        let v6 = AdminAuth::new(None, "[::1]:8300".parse().expect("addr"));
        assert_eq!(v6.check(&with(None)), Ok(()));
        for listen in ["0.0.0.0:8300", "10.1.2.3:8300", "[::]:8300"] {
            let open = AdminAuth::new(Some("  "), listen.parse().expect("addr"));
            let e = open.check(&with(Some("Bearer x"))).expect_err("refused");
            assert_eq!(e.status, StatusCode::FORBIDDEN, "{listen}");
            assert!(e.message.contains("admin-token-file"), "{}", e.message);
        }
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
