//! TiCDC's Kafka sink URI, `kafka://host1:9092,host2:9092/topic?k=v&…`, taken apart as
//! TiCDC reads it: the brokers are the comma-separated host list
//! (`strings.Split(sinkURI.Host, ",")`, tiflow `pkg/sink/kafka/options.go:232`), the topic is
//! the path without its slashes and must not be empty (`cdc/sink/util/helper.go:31-39`), and
//! the query is decoded as Go's `url.ParseQuery` does (`%XX`, `+` as a space); a parameter
//! given twice counts with its first value, as `url.Values.Get` and gin's form binding take
//! it. Schemes `kafka` and `kafka+ssl` are accepted (`pkg/sink/sink_type.go:44-46`; `+ssl`
//! does not itself turn TLS on).
//!
//! Guarantees: no panic on any input; every error says what is wrong and what a Kafka sink
//! URI looks like.

use std::fmt;

/// A parsed Kafka sink URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkUri {
    pub scheme: String,
    /// `host:port` of each bootstrap broker, in order.
    pub brokers: Vec<String>,
    /// The default topic.
    pub topic: String,
    /// Decoded query parameters in order of appearance, first occurrence of each name only.
    pub params: Vec<(String, String)>,
    /// Names given more than once (only their first value is used).
    pub repeated: Vec<String>,
}

/// Why a sink URI cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sink URI {}: {reason}; expected kafka://HOST:PORT[,HOST:PORT…]/TOPIC?protocol=…&…", masked(.uri))]
pub struct UriError {
    pub uri: String,
    pub reason: String,
}

impl SinkUri {
    pub fn parse(text: &str) -> Result<SinkUri, UriError> {
        let err = |reason: String| UriError {
            uri: text.to_string(),
            reason,
        };
        let text = text.trim();
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| err("no scheme (kafka://)".to_string()))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "kafka" && scheme != "kafka+ssl" {
            return Err(err(format!(
                "scheme {scheme:?} is not a Kafka sink (this daemon writes to Kafka only; TiCDC's mysql, tidb, pulsar, s3, … sinks have no equivalent here)"
            )));
        }
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], &before_query[i..]),
            None => (before_query, ""),
        };
        if authority.contains('@') {
            return Err(err(
                "credentials before the host are not read by TiCDC's Kafka sink: use sasl-user and sasl-password parameters".to_string(),
            ));
        }
        let mut brokers = Vec::new();
        for b in authority.split(',') {
            let b = b.trim();
            if b.is_empty() {
                continue;
            }
            let port_ok = b
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !port_ok {
                return Err(err(format!("broker {b:?} is not HOST:PORT")));
            }
            brokers.push(b.to_string());
        }
        if brokers.is_empty() {
            return Err(err("no broker address".to_string()));
        }
        let topic = decode(path.trim_matches('/'), false).map_err(err)?;
        if topic.is_empty() {
            return Err(err(
                "no topic is specified (the path is the default topic, as in TiCDC)".to_string(),
            ));
        }
        let mut params: Vec<(String, String)> = Vec::new();
        let mut repeated = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode(k, true).map_err(err)?;
            let v = decode(v, true).map_err(err)?;
            if params.iter().any(|(n, _)| *n == k) {
                if !repeated.contains(&k) {
                    repeated.push(k);
                }
                continue;
            }
            params.push((k, v));
        }
        Ok(SinkUri {
            scheme,
            brokers,
            topic,
            params,
            repeated,
        })
    }
}

/// Percent-decoding as Go's `url.QueryUnescape` (`plus_is_space`) or `PathUnescape`.
fn decode(s: &str, plus_is_space: bool) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad %-escape in {s:?}"))?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} does not decode to UTF-8"))
}

/// The URI with the values of secret parameters replaced by `***`, for messages and comments.
pub fn masked(uri: &str) -> String {
    let Some((head, query)) = uri.split_once('?') else {
        return uri.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret_param(k) => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{head}?{}", parts.join("&"))
}

/// Parameters whose value is a secret.
pub fn is_secret_param(name: &str) -> bool {
    matches!(
        name,
        "sasl-password" | "sasl-gssapi-password" | "sasl-oauth-client-secret"
    )
}

impl fmt::Display for SinkUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}/{}",
            self.scheme,
            self.brokers.join(","),
            self.topic
        )?;
        for (i, (k, v)) in self.params.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            if is_secret_param(k) {
                write!(f, "{sep}{k}=***")?;
            } else {
                write!(f, "{sep}{k}={v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_brokers_topic_and_parameters_apart() {
        let u = SinkUri::parse("kafka://127.0.0.1:9092,127.0.0.1:9093/topic-name?protocol=canal-json&kafka-version=2.4.0&protocol=avro&sasl-password=a%26b+c").expect("parses");
        assert_eq!(u.scheme, "kafka");
        assert_eq!(u.brokers, vec!["127.0.0.1:9092", "127.0.0.1:9093"]);
        assert_eq!(u.topic, "topic-name");
        assert_eq!(
            u.params,
            vec![
                ("protocol".to_string(), "canal-json".to_string()),
                ("kafka-version".to_string(), "2.4.0".to_string()),
                ("sasl-password".to_string(), "a&b c".to_string()),
            ]
        );
        assert_eq!(u.repeated, vec!["protocol"]);
        assert!(!u.to_string().contains("a&b"), "{u}");
    }

    #[test]
    fn rejects_what_is_not_a_kafka_sink() {
        for (uri, why) in [
            ("mysql://root@127.0.0.1:3306/", "not a Kafka sink"),
            ("kafka://127.0.0.1:9092", "no topic"),
            ("kafka://127.0.0.1:9092/", "no topic"),
            ("kafka:///t", "no broker"),
            ("kafka://broker/t", "HOST:PORT"),
            ("kafka://u:p@h:9092/t", "sasl-user"),
            ("127.0.0.1:9092/t", "no scheme"),
            ("kafka://h:9092/t?sasl-password=%zz", "%-escape"),
        ] {
            let e = SinkUri::parse(uri).expect_err(uri);
            assert!(e.to_string().contains(why), "{uri}: {e}");
        }
    }

    #[test]
    fn masks_secrets() {
        assert_eq!(
            masked("kafka://h:1/t?sasl-user=u&sasl-password=hunter2"),
            "kafka://h:1/t?sasl-user=u&sasl-password=***"
        );
    }
}
