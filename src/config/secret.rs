//! Secrets in the configuration (SASL passwords, later registry credentials).
//!
//! A secret is written inline (`sasl-password = "…"`), read from an environment variable
//! (`sasl-password = { env = "KAFKA_PASSWORD" }`) or from a file
//! (`sasl-password = { file = "/run/secrets/kafka" }`, trailing newline removed). It is
//! resolved once when the configuration is loaded, so a missing variable or unreadable file
//! is a configuration error with its key path. `Debug`, `Display` and `Serialize` never show
//! the value: they print where it came from, so `check` and logs are safe to share.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Where a secret is taken from, as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Inline,
    Env(String),
    File(PathBuf),
}

/// A resolved secret value with its source. The value is only reachable through
/// [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    source: SecretSource,
    value: Option<String>,
}

impl Secret {
    pub fn inline(value: impl Into<String>) -> Self {
        Secret {
            source: SecretSource::Inline,
            value: Some(value.into()),
        }
    }

    /// A secret read from `path` (resolve it with [`Secret::resolve`]).
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Secret {
            source: SecretSource::File(path.into()),
            value: None,
        }
    }

    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// Reads the value from its environment variable or file. Inline secrets are already
    /// resolved. `base` is the directory relative file paths are resolved against.
    pub fn resolve(&mut self, base: &std::path::Path) -> Result<(), String> {
        match &self.source {
            SecretSource::Inline => Ok(()),
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(v) => {
                    self.value = Some(v);
                    Ok(())
                }
                Err(_) => Err(format!(
                    "environment variable {var} is not set (or not valid UTF-8); set it or write the secret another way"
                )),
            },
            SecretSource::File(path) => {
                let full = base.join(path);
                match std::fs::read_to_string(&full) {
                    Ok(v) => {
                        self.value = Some(v.trim_end_matches(['\r', '\n']).to_string());
                        Ok(())
                    }
                    Err(e) => Err(format!("cannot read secret file {}: {e}", full.display())),
                }
            }
        }
    }

    /// The secret's value; empty until [`Secret::resolve`] succeeded for env/file secrets.
    pub fn expose(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }
}

/// Parameters of an external-storage URI whose values are secrets (TiCDC's
/// `util.MaskSensitiveDataInURI` masks the same), compared after TiCDC's normalization
/// (lower case, `_` as `-`).
const URI_SECRETS: &[&str] = &[
    "access-key",
    "secret-access-key",
    "session-token",
    "account-key",
    "sas-token",
    "encryption-key",
    "password",
];

/// `uri` with the value of every secret query parameter replaced by `***`, for logs,
/// status and `check`.
pub fn mask_uri_secrets(uri: &str) -> String {
    let Some((base, query)) = uri.split_once('?') else {
        return uri.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _))
                if URI_SECRETS.contains(&k.to_ascii_lowercase().replace('_', "-").as_str()) =>
            {
                format!("{k}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            SecretSource::Inline => f.write_str("***"),
            SecretSource::Env(v) => write!(f, "*** (from env {v})"),
            SecretSource::File(p) => write!(f, "*** (from file {})", p.display()),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({self})")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, { env = \"VAR\" } or { file = \"path\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret::inline(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
                let mut source = None;
                while let Some(key) = map.next_key::<String>()? {
                    if source.is_some() {
                        return Err(de::Error::custom(
                            "a secret takes exactly one of `env` or `file`",
                        ));
                    }
                    let value: String = map.next_value()?;
                    source = Some(match key.as_str() {
                        "env" => SecretSource::Env(value),
                        "file" => SecretSource::File(PathBuf::from(value)),
                        other => return Err(de::Error::unknown_field(other, &["env", "file"])),
                    });
                }
                let source = source
                    .ok_or_else(|| de::Error::custom("a secret table needs `env` or `file`"))?;
                Ok(Secret {
                    source,
                    value: None,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::inline("hunter2");
        assert!(!format!("{s} {s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn from_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pw"), "s3cret\n").expect("write");
        let mut s = Secret {
            source: SecretSource::File("pw".into()),
            value: None,
        };
        s.resolve(dir.path()).expect("resolve");
        assert_eq!(s.expose(), "s3cret");
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
