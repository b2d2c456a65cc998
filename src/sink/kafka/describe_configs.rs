//! The DescribeConfigs request (API key 32), which rskafka does not implement, written
//! against rskafka's protocol traits at versions 1–3 (the non-flexible ones; Kafka 4
//! accepts 1–4). Field order and types follow Kafka's `DescribeConfigsRequest.json` and
//! `DescribeConfigsResponse.json` message definitions.

use std::io::{Read, Write};

use rskafka::protocol::api_key::ApiKey;
use rskafka::protocol::api_version::{ApiVersion, ApiVersionRange};
use rskafka::protocol::error::Error as ProtocolError;
use rskafka::protocol::messages::{
    ReadVersionedError, ReadVersionedType, RequestBody, WriteVersionedError, WriteVersionedType,
};
use rskafka::protocol::primitives::{Boolean, Int8, Int16, Int32, NullableString, String_};
use rskafka::protocol::traits::{ReadType, WriteError, WriteType};

/// Resource type codes of Kafka's `ConfigResource.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Topic,
    Broker,
}

impl ResourceType {
    fn code(self) -> i8 {
        match self {
            ResourceType::Topic => 2,
            ResourceType::Broker => 4,
        }
    }
}

/// One resource to describe, with the config keys wanted (all when empty).
#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: ResourceType,
    pub name: String,
    pub keys: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DescribeConfigsRequest {
    pub resources: Vec<Resource>,
}

impl RequestBody for DescribeConfigsRequest {
    type ResponseBody = DescribeConfigsResponse;
    const API_KEY: ApiKey = ApiKey::DescribeConfigs;
    const API_VERSION_RANGE: ApiVersionRange =
        ApiVersionRange::new(ApiVersion(Int16(1)), ApiVersion(Int16(3)));
    // Version 4 is the first flexible one; we never send it.
    const FIRST_TAGGED_FIELD_IN_REQUEST_VERSION: ApiVersion = ApiVersion(Int16(4));
}

fn write_len<W: Write>(w: &mut W, n: usize) -> Result<(), WriteVersionedError> {
    let n = i32::try_from(n).map_err(WriteError::from)?;
    Ok(Int32(n).write(w)?)
}

impl<W: Write> WriteVersionedType<W> for DescribeConfigsRequest {
    fn write_versioned(&self, w: &mut W, version: ApiVersion) -> Result<(), WriteVersionedError> {
        let v = version.0.0;
        write_len(w, self.resources.len())?;
        for r in &self.resources {
            Int8(r.kind.code()).write(w)?;
            String_(r.name.clone()).write(w)?;
            if r.keys.is_empty() {
                Int32(-1).write(w)?;
            } else {
                write_len(w, r.keys.len())?;
                for k in &r.keys {
                    String_(k.clone()).write(w)?;
                }
            }
        }
        // include_synonyms (v1+)
        Boolean(false).write(w)?;
        if v >= 3 {
            // include_documentation
            Boolean(false).write(w)?;
        }
        Ok(())
    }
}

/// One config entry of a described resource.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
}

/// The answer for one resource.
#[derive(Debug, Clone)]
pub struct ResourceResult {
    pub error: Option<ProtocolError>,
    pub error_message: Option<String>,
    /// The resource name the answer is for.
    #[allow(dead_code)]
    pub name: String,
    pub configs: Vec<ConfigEntry>,
}

#[derive(Debug, Clone)]
pub struct DescribeConfigsResponse {
    pub results: Vec<ResourceResult>,
}

fn read_len<R: Read>(r: &mut R) -> Result<usize, ReadVersionedError> {
    let n = Int32::read(r)?.0;
    Ok(usize::try_from(n).unwrap_or(0))
}

impl<R: Read> ReadVersionedType<R> for DescribeConfigsResponse {
    fn read_versioned(r: &mut R, version: ApiVersion) -> Result<Self, ReadVersionedError> {
        let v = version.0.0;
        let _throttle_time_ms = Int32::read(r)?;
        let n = read_len(r)?;
        let mut results = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let error = ProtocolError::new(Int16::read(r)?.0);
            let error_message = NullableString::read(r)?.0;
            let _resource_type = Int8::read(r)?;
            let name = String_::read(r)?.0;
            let m = read_len(r)?;
            let mut configs = Vec::with_capacity(m.min(1024));
            for _ in 0..m {
                let name = String_::read(r)?.0;
                let value = NullableString::read(r)?.0;
                let _read_only = Boolean::read(r)?;
                let _config_source = Int8::read(r)?;
                let _is_sensitive = Boolean::read(r)?;
                let synonyms = read_len(r)?;
                for _ in 0..synonyms {
                    let _name = String_::read(r)?;
                    let _value = NullableString::read(r)?;
                    let _source = Int8::read(r)?;
                }
                if v >= 3 {
                    let _config_type = Int8::read(r)?;
                    let _documentation = NullableString::read(r)?;
                }
                configs.push(ConfigEntry { name, value });
            }
            results.push(ResourceResult {
                error,
                error_message,
                name,
                configs,
            });
        }
        Ok(DescribeConfigsResponse { results })
    }
}
