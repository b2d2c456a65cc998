//! Rules of the Kafka login and transport: a SASL mechanism that is built, with both user
//! and password (and no credentials without a mechanism), the password secret resolved;
//! TLS `cert` and `key` together, `insecure-skip-verify` only with TLS and without `ca`,
//! and every PEM file present.

use std::path::Path;

use super::super::Report;
use crate::config::{KafkaConfig, KeyPath, SaslMechanism};

pub(super) fn sasl(r: &mut Report, p: &KeyPath, k: &mut KafkaConfig, base: &Path) {
    match k.sasl_mechanism {
        Some(m @ (SaslMechanism::Gssapi | SaslMechanism::Oauthbearer)) => {
            r.unsupported(
                p.key("sasl-mechanism"),
                format!("sasl-mechanism = {:?}", m.name()),
            );
        }
        Some(_) => {
            if k.sasl_user.as_deref().is_none_or(str::is_empty) {
                r.err(
                    p.key("sasl-user"),
                    "sasl-mechanism is set but sasl-user is missing",
                );
            }
            if k.sasl_password.is_none() {
                r.err(
                    p.key("sasl-password"),
                    "sasl-mechanism is set but sasl-password is missing",
                );
            }
        }
        None => {
            if k.sasl_user.is_some() || k.sasl_password.is_some() {
                let key = if k.sasl_user.is_some() {
                    "sasl-user"
                } else {
                    "sasl-password"
                };
                r.err(p.key(key), "SASL credentials are set but sasl-mechanism is not (plain, scram-sha-256 or scram-sha-512)");
            }
        }
    }
    if let Some(pw) = k.sasl_password.as_mut()
        && let Err(why) = pw.resolve(base)
    {
        r.err(p.key("sasl-password"), why);
    }
}

pub(super) fn tls(r: &mut Report, p: &KeyPath, k: &KafkaConfig, base: &Path) {
    if k.cert.is_some() != k.key.is_some() {
        r.err(
            p.key(if k.cert.is_some() { "key" } else { "cert" }),
            "`cert` and `key` must be set together",
        );
    }
    let tls = k.enable_tls || k.ca.is_some() || k.cert.is_some();
    if k.insecure_skip_verify && !tls {
        r.err(
            p.key("insecure-skip-verify"),
            "insecure-skip-verify needs TLS: set enable-tls = true",
        );
    }
    if k.insecure_skip_verify && k.ca.is_some() {
        r.err(
            p.key("insecure-skip-verify"),
            "insecure-skip-verify and ca contradict each other; keep one",
        );
    }
    for (key, file) in [("ca", &k.ca), ("cert", &k.cert), ("key", &k.key)] {
        if let Some(f) = file {
            let full = base.join(f);
            if !full.is_file() {
                r.err(
                    p.key(key),
                    format!("file {} does not exist or is not a file", full.display()),
                );
            }
        }
    }
}
