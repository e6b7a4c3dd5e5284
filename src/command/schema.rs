//! JSON Schemas (draft 2020-12) of every machine-readable output,
//! generated from the types that write it, so the schema cannot drift
//! from the output: `portmortem schema NAME` prints one, `docs/schema/`
//! ships them all, and a test validates every testdata output against
//! them. Fields may be added within a `schema_version`; a change of
//! meaning or a removal bumps it.

use crate::batch::Output;
use crate::rules::Finding;
use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings, json_schema};
use std::borrow::Cow;

/// A document or line format with a schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Document {
    /// `analyze --format json` (compact or `--pretty`).
    Analyze,
    /// `compare --format json`.
    Compare,
    /// Each line of `analyze` and `compare --format ndjson`.
    ReportLines,
    /// `batch` and `merge --format json`.
    Batch,
    /// Each line of `batch --format ndjson` (what `merge` reads).
    BatchLines,
    /// Each line of `watch` (NDJSON events).
    Watch,
    /// `probe --format json`.
    Probe,
    /// `rules --format json`.
    Rules,
}

impl Document {
    pub const ALL: [Document; 8] = [
        Document::Analyze,
        Document::Compare,
        Document::ReportLines,
        Document::Batch,
        Document::BatchLines,
        Document::Watch,
        Document::Probe,
        Document::Rules,
    ];

    /// Its file under `docs/schema/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Document::Analyze => "analyze.schema.json",
            Document::Compare => "compare.schema.json",
            Document::ReportLines => "report-lines.schema.json",
            Document::Batch => "batch.schema.json",
            Document::BatchLines => "batch-lines.schema.json",
            Document::Watch => "watch.schema.json",
            Document::Probe => "probe.schema.json",
            Document::Rules => "rules.schema.json",
        }
    }

    /// The schema, as the serializer writes (a field skipped when empty
    /// is not required).
    pub fn schema(self) -> Schema {
        let g = SchemaSettings::draft2020_12()
            .for_serialize()
            .into_generator();
        match self {
            Document::Analyze => g.into_root_schema_for::<crate::report::model::Report>(),
            Document::Compare => g.into_root_schema_for::<crate::report::model::CompareReport>(),
            Document::ReportLines => g.into_root_schema_for::<crate::report::ndjson::Line>(),
            Document::Batch => {
                g.into_root_schema_for::<crate::report::model::BatchReport<Finding>>()
            }
            Document::BatchLines => g.into_root_schema_for::<BatchLine>(),
            Document::Watch => g.into_root_schema_for::<crate::watch::Event>(),
            Document::Probe => g.into_root_schema_for::<crate::probe::result::ProbeReport>(),
            Document::Rules => g.into_root_schema_for::<Vec<crate::rules::registry::RuleRow>>(),
        }
    }

    /// The schema as shipped: pretty JSON and a final line end.
    pub fn text(self) -> serde_json::Result<String> {
        let mut s = serde_json::to_string_pretty(&self.schema())?;
        s.push('\n');
        Ok(s)
    }
}

/// A line of `batch --format ndjson`: a capture's result or a skipped
/// file (in any order), then one summary. Two types write these lines;
/// this names their union for the schema.
struct BatchLine;

impl JsonSchema for BatchLine {
    fn schema_name() -> Cow<'static, str> {
        "BatchLine".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let result = g.subschema_for::<Output<Finding>>();
        let summary = g.subschema_for::<crate::report::model::SummaryLine>();
        json_schema!({ "oneOf": [result, summary] })
    }
}
