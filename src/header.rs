//! What every machine-readable document opens with: the tool and its
//! version, the schema version, the command, the time zone of its
//! timestamps, and the options that changed its result. Below every
//! command that fills it (analyze, compare, batch, probe, watch) and the
//! reports that print it.

use serde::Serialize;
use std::collections::BTreeMap;

pub const SCHEMA_VERSION: u32 = 3;

#[derive(Serialize, schemars::JsonSchema)]
pub struct Tool {
    /// `portmortem`.
    pub name: &'static str,
    /// Its version.
    pub version: &'static str,
}

pub const TOOL: Tool = Tool {
    name: "portmortem",
    version: env!("CARGO_PKG_VERSION"),
};

/// What every report starts with.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Header {
    /// The version of this document's schema (docs/json-schema.md); a change of
    /// meaning or a removal bumps it.
    pub schema_version: u32,
    /// The tool that wrote it.
    pub tool: &'static Tool,
    /// The command that wrote it (`analyze`, `compare`, `batch`, `merge`,
    /// `probe`, `watch`).
    pub command: &'static str,
    /// Timestamps are RFC 3339 in this zone.
    pub time_zone: &'static str,
    /// Options that change the result (non-default values only).
    pub options: BTreeMap<&'static str, String>,
}

impl Header {
    pub fn new(command: &'static str, options: BTreeMap<&'static str, String>) -> Self {
        Header {
            schema_version: SCHEMA_VERSION,
            tool: &TOOL,
            command,
            time_zone: "UTC",
            options,
        }
    }
}
