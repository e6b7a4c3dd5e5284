//! portmortem: forensic analysis of FTP control channels in packet captures.
//!
//! The modules follow the pipeline, each owning one stage and its types:
//! capture reading → link/IP/TCP decoding → TCP reassembly → FTP sessions →
//! analysis rules → two-capture correlation → archives → reports (text,
//! JSON, Markdown, HTML, and evidence pcapng from `extract`).

pub mod analysis;
pub mod anonymize;
pub mod batch;
pub mod budget;
pub mod capture;
pub mod cli;
pub mod command;
pub mod compare;
pub mod decode;
pub mod diff;
pub mod engine;
pub mod escape;
pub mod extract;
pub mod ftp;
pub mod header;
pub mod mem;
pub mod probe;
pub mod reassembly;
pub mod report;
pub mod rules;
pub mod timestamp;
pub mod watch;
