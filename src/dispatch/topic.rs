//! Topic expressions.
//!
//! Owns [`TopicDispatcher`] (tiflow `cdc/sink/dmlsink/mq/dispatcher/topic/expression.go`,
//! `dispatcher.go`, and `event_router.go` `getTopicDispatcher`). Guarantees:
//! * an empty rule means the default topic; a rule made only of `[A-Za-z0-9._-]` is a
//!   hard-coded topic; anything else must have the shape
//!   `P*({schema})?(P*{table})?P*` (Avro: `P*{schema}P*{table}P*`), `P = [A-Za-z0-9._-]`;
//! * substitution replaces every character of the schema/table name outside `P` by one `_`
//!   (case kept), truncates the result to 249 bytes, and turns `.` / `..` into `_` / `__`.

use super::DispatchError;

const MAX_TOPIC_LEN: usize = 249;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-'
}

fn skip_allowed(s: &str) -> &str {
    s.trim_start_matches(allowed)
}

/// TiCDC `topicNameRE`.
fn valid_expression(e: &str) -> bool {
    let mut rest = skip_allowed(e);
    if let Some(r) = rest.strip_prefix("{schema}") {
        rest = r;
    }
    rest = skip_allowed(rest);
    if let Some(r) = rest.strip_prefix("{table}") {
        rest = skip_allowed(r);
    }
    rest.is_empty()
}

/// TiCDC `avroTopicNameRE`.
fn valid_avro_expression(e: &str) -> bool {
    skip_allowed(e)
        .strip_prefix("{schema}")
        .map(skip_allowed)
        .and_then(|r| r.strip_prefix("{table}"))
        .is_some_and(|r| skip_allowed(r).is_empty())
}

/// Where the rows of a table go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicDispatcher {
    /// A fixed topic (the default topic or a hard-coded name).
    Static(String),
    /// An expression with `{schema}` and/or `{table}`.
    Dynamic(String),
}

impl TopicDispatcher {
    /// Builds the dispatcher of a rule's `topic` value.
    pub fn new(rule: &str, default_topic: &str, avro: bool) -> Result<Self, DispatchError> {
        if rule.is_empty() {
            return Ok(TopicDispatcher::Static(default_topic.to_owned()));
        }
        if rule.chars().all(allowed) {
            return Ok(TopicDispatcher::Static(rule.to_owned()));
        }
        let ok = if avro {
            valid_avro_expression(rule)
        } else {
            valid_expression(rule)
        };
        if !ok {
            return Err(DispatchError::InvalidTopicExpression {
                expression: rule.to_owned(),
                reason: if avro {
                    "topic rule for Avro must contain {schema} and {table}"
                } else {
                    "expected [prefix]{schema}[middle][{table}][suffix] with [A-Za-z0-9._-] around"
                },
            });
        }
        Ok(TopicDispatcher::Dynamic(rule.to_owned()))
    }

    /// The topic for a table.
    pub fn substitute(&self, schema: &str, table: &str) -> String {
        match self {
            TopicDispatcher::Static(t) => t.clone(),
            TopicDispatcher::Dynamic(e) => {
                let clean = |s: &str| -> String {
                    s.chars()
                        .map(|c| if allowed(c) { c } else { '_' })
                        .collect()
                };
                let mut t = e
                    .replace("{schema}", &clean(schema))
                    .replace("{table}", &clean(table));
                if t.len() > MAX_TOPIC_LEN {
                    // The expression is validated ASCII and names are cleaned to ASCII.
                    t.truncate(MAX_TOPIC_LEN);
                } else if t == "." {
                    t = "_".into();
                } else if t == ".." {
                    t = "__".into();
                }
                t
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Cases from tiflow release-8.5
    /// `cdc/sink/dmlsink/mq/dispatcher/topic/expression_test.go` TestSubstituteTopicExpression
    /// (lines 37-177); the `.`/`..`/length cases are derived from `Substitute` (:86-101).
    #[test]
    fn substitution() {
        let d = |e: &str| TopicDispatcher::new(e, "default", false).unwrap();
        let cases = [
            ("{schema}", "abc", "", "abc"),
            ("abc{schema}", "def", "", "abcdef"),
            ("{schema}def", "hello", "", "hellodef"),
            ("abc{schema}def", "hello", "", "abchellodef"),
            ("abc{schema}", "DEF", "", "abcDEF"),
            ("abc._-def{schema}abc", "HELLO", "", "abc._-defHELLOabc"),
            (
                "abc_def{schema}",
                "!@#$%^&*()_+.{}",
                "",
                "abc_def____________.__",
            ),
            ("abc{schema}def", "你好", "", "abc__def"),
            ("{schema}_{table}", "hello", "world", "hello_world"),
            ("{schema}_{table}", "HELLO", "WORLD", "HELLO_WORLD"),
            ("{schema}_{table}", "hello", "!@#$%^&*", "hello_________"),
            ("{schema}_{table}", "()_+.{}", "world", "____.___world"),
            (
                "ab.-c_{schema}_{table}_de.-f",
                "hello",
                "WORLD",
                "ab.-c_hello_WORLD_de.-f",
            ),
            (
                "abc_{schema}de._-{table}_fhi",
                "hello",
                "world",
                "abc_hellode._-world_fhi",
            ),
        ];
        for (e, s, t, want) in cases {
            assert_eq!(d(e).substitute(s, t), want, "{e}");
        }
        assert_eq!(d("{table}").substitute("abc", "def"), "def");
        assert_eq!(d("{schema}").substitute(".", "t"), "_");
        assert_eq!(d("{schema}").substitute("..", "t"), "__");
        let long = "a".repeat(300);
        assert_eq!(d("{schema}").substitute(&long, "t").len(), 249);
        assert_eq!(d("").substitute("a", "b"), "default");
        assert_eq!(
            d("hard-coded.topic_1"),
            TopicDispatcher::Static("hard-coded.topic_1".into())
        );
    }

    /// Invalid expressions of expression_test.go:93-129 plus shapes the regex rejects.
    #[test]
    fn validation() {
        for bad in [
            "{{{{schema}",
            "你好{schema}",
            "{schema}}}}}",
            "{xxx}",
            "abc{sch}",
            "{table}_{schema}",
            "{schema}{schema}",
            "abc_{Schema}",
            "{{schema}}",
            "a@b_{schema}",
            "{table}{table}",
            "{schema}_{table}_{table}",
        ] {
            assert!(TopicDispatcher::new(bad, "d", false).is_err(), "{bad}");
        }
        assert!(TopicDispatcher::new("{schema}_{table}", "d", true).is_ok());
        assert!(TopicDispatcher::new("{schema}", "d", true).is_err());
        assert!(TopicDispatcher::new("x_{table}", "d", true).is_err());
        // Avro accepts a hard-coded topic (the code does not reject it).
        assert!(TopicDispatcher::new("fixed", "d", true).is_ok());
    }
}
