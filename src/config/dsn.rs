//! The SQL store's DSN (`[state.mysql] dsn`): `mysql://USER@HOST[:PORT]/DATABASE`.
//!
//! Parsed strictly, so a typo is a configuration error with its key path rather than a
//! connection failure at run time. A password inside the DSN is refused (it would end up in
//! shell history, process listings and logs): it belongs in `[state.mysql] password`, which is
//! a secret. Query parameters are refused too: TLS and timeouts have their own keys. The
//! rendered form ([`Dsn`]'s `Display`) never carries a password.

use std::fmt;

/// The parts of a valid DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub database: String,
}

/// MySQL's default port (TiDB listens on 4000; write it in the DSN).
pub const DEFAULT_PORT: u16 = 3306;

impl Dsn {
    /// Parses `mysql://USER@HOST[:PORT]/DATABASE`; the error says what is wrong without
    /// repeating a password that may be in the text.
    pub fn parse(text: &str) -> Result<Dsn, String> {
        const SHAPE: &str = "expected mysql://USER@HOST[:PORT]/DATABASE";
        let rest = text
            .strip_prefix("mysql://")
            .ok_or_else(|| format!("the DSN must start with mysql:// ({SHAPE})"))?;
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| format!("the DSN names no database ({SHAPE})"))?;
        if path.contains('?') {
            return Err(format!(
                "the DSN takes no ?parameters: use [state.mysql] tls, connect-timeout and query-timeout ({SHAPE})"
            ));
        }
        let (userinfo, hostport) = authority
            .rsplit_once('@')
            .ok_or_else(|| format!("the DSN names no user ({SHAPE})"))?;
        if userinfo.contains(':') {
            return Err(
                "the DSN contains a password: remove it from the DSN and set [state.mysql] password \
                 (inline, { env = \"VAR\" } or { file = \"path\" }) so it is never logged"
                    .to_string(),
            );
        }
        if userinfo.is_empty() {
            return Err(format!("the DSN names no user ({SHAPE})"));
        }
        let (host, port) = split_host_port(hostport)?;
        let database = path.trim_end_matches('/');
        if database.is_empty() || database.contains('/') {
            return Err(format!("the DSN names no single database ({SHAPE})"));
        }
        Ok(Dsn {
            user: userinfo.to_string(),
            host,
            port,
            database: database.to_string(),
        })
    }
}

fn split_host_port(hostport: &str) -> Result<(String, u16), String> {
    let bad = || format!("invalid host {hostport:?} in the DSN: expected HOST or HOST:PORT");
    // [v6]:port
    if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse::<u16>().map_err(|_| bad())?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return Err(bad()),
        };
        return Ok((host.to_string(), port));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (hostport, DEFAULT_PORT),
    };
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "mysql://{}@{host}:{}/{}",
            self.user, self.port, self.database
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape() {
        let d = Dsn::parse("mysql://cdc@tidb.example:4000/tidb_changefeed").expect("valid");
        assert_eq!(
            d,
            Dsn {
                user: "cdc".into(),
                host: "tidb.example".into(),
                port: 4000,
                database: "tidb_changefeed".into()
            }
        );
        assert_eq!(
            d.to_string(),
            "mysql://cdc@tidb.example:4000/tidb_changefeed"
        );
        let d = Dsn::parse("mysql://cdc@10.0.0.1/state").expect("valid");
        assert_eq!((d.host.as_str(), d.port), ("10.0.0.1", 3306));
        let d = Dsn::parse("mysql://cdc@[::1]:4000/state").expect("valid");
        assert_eq!((d.host.as_str(), d.port), ("::1", 4000));
        assert_eq!(d.to_string(), "mysql://cdc@[::1]:4000/state");
    }

    #[test]
    fn a_password_is_refused_without_being_repeated() {
        let e = Dsn::parse("mysql://cdc:hunter2@tidb:4000/db").expect_err("password");
        assert!(e.contains("[state.mysql] password"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn malformed_dsns_say_what_is_expected() {
        for (dsn, needle) in [
            ("postgres://u@h/db", "mysql://"),
            ("mysql://u@h:4000", "no database"),
            ("mysql://h:4000/db", "no user"),
            ("mysql://u@h:port/db", "invalid host"),
            ("mysql://u@:4000/db", "invalid host"),
            ("mysql://u@h/db?tls=true", "no ?parameters"),
            ("mysql://u@h/a/b", "no single database"),
        ] {
            let e = Dsn::parse(dsn).expect_err(dsn);
            assert!(e.contains(needle), "{dsn}: {e}");
        }
    }
}
