//! Maps keyed by data (an address, a rule id, a failure, a feature's
//! value) written as arrays of `{key, …}` objects. A SIEM or DuckDB maps
//! every object key to a field, so a map keyed by IP address would grow
//! a field per address; as an array it is one field with rows. In memory
//! the maps stay maps (they are summed across captures by key); only the
//! JSON changes shape, and reads back the same.

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use std::collections::BTreeMap;

#[derive(serde::Serialize)]
struct Out<'a, T> {
    key: &'a str,
    #[serde(flatten)]
    value: &'a T,
}

/// One entry of a map as read back, and as the JSON Schema describes
/// it (the fields of `T` beside `key`).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Keyed_{T}")]
pub(crate) struct Keyed<T> {
    /// What the entry is of: the map's key (a rule id, an address, a
    /// feature's value, a way of failing…).
    key: String,
    #[serde(flatten)]
    value: T,
}

/// `{k: {fields}}` as `[{"key": k, fields…}]`.
pub mod keyed {
    use super::*;

    pub fn serialize<S: Serializer, T: Serialize>(
        m: &BTreeMap<String, T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(m.len()))?;
        for (key, value) in m {
            seq.serialize_element(&Out { key, value })?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, T>, D::Error> {
        let v: Vec<Keyed<T>> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(|e| (e.key, e.value)).collect())
    }
}

#[derive(serde::Serialize, schemars::JsonSchema, serde::Deserialize)]
pub(crate) struct Count {
    /// How many there are with this key.
    count: u64,
}

/// Findings per severity (`{severity: count}`), as the JSON Schema
/// describes the map: a severity with none is left out.
#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // The schema's shape only: the map writes the JSON.
pub(crate) struct BySeverity {
    /// Findings of severity `error`: what the path or a device did to the
    /// transfer, proven.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<u64>,
    /// Findings of severity `warning`: likely harm, or a proof that is
    /// not certain.
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<u64>,
    /// Findings of severity `info`: what the capture shows, and what it
    /// could not see.
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<u64>,
}

/// `{k: n}` as `[{"key": k, "count": n}]`.
pub mod counts {
    use super::*;

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, u64>, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(m.len()))?;
        for (key, &count) in m {
            seq.serialize_element(&Out {
                key,
                value: &Count { count },
            })?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, u64>, D::Error> {
        let v: Vec<Keyed<Count>> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(|e| (e.key, e.value.count)).collect())
    }
}

/// A feature's values with their outcomes: `{feature: {value: tally}}`
/// as `[{"key": feature, "values": [{"key": value, tally…}]}]`.
pub(crate) mod nested {
    use super::*;

    #[derive(serde::Serialize)]
    struct Values<'a, T: Serialize> {
        #[serde(serialize_with = "keyed::serialize")]
        values: &'a BTreeMap<String, T>,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(bound = "T: Deserialize<'de>")]
    #[schemars(rename = "Values_{T}")]
    pub(crate) struct ValuesIn<T> {
        /// Each value of the feature with its outcomes.
        #[serde(deserialize_with = "keyed::deserialize")]
        #[schemars(with = "Vec<Keyed<T>>")]
        values: BTreeMap<String, T>,
    }

    pub fn serialize<S: Serializer, T: Serialize>(
        m: &BTreeMap<String, BTreeMap<String, T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(m.len()))?;
        for (key, values) in m {
            seq.serialize_element(&Out {
                key,
                value: &Values { values },
            })?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, BTreeMap<String, T>>, D::Error> {
        let v: Vec<Keyed<ValuesIn<T>>> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(|e| (e.key, e.value.values)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug, Default)]
    struct T {
        #[serde(with = "counts")]
        c: BTreeMap<String, u64>,
        #[serde(with = "nested")]
        n: BTreeMap<String, BTreeMap<String, Tally>>,
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug, Default, Clone)]
    struct Tally {
        failed: u64,
    }

    #[test]
    fn maps_are_arrays_of_keyed_objects_and_read_back() {
        let mut t = T::default();
        t.c.insert("192.0.2.1".into(), 3);
        t.n.entry("port_low_byte".into())
            .or_default()
            .insert("22_".into(), Tally { failed: 2 });
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"{"c":[{"key":"192.0.2.1","count":3}],"n":[{"key":"port_low_byte","values":[{"key":"22_","failed":2}]}]}"#
        );
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), t);
    }
}
