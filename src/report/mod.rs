//! Stage 7: reports.
//!
//! `model` turns analysis results into the documented JSON document (the
//! single source of what a report says); `text` renders the same model for
//! a terminal. Everything from the captures is escaped on the way in.

pub mod batch;
pub mod clock;
pub mod csv;
pub mod ftplog;
pub mod html;
pub mod markdown;
pub mod model;
pub mod ndjson;
pub mod output;
pub mod page;
pub mod pair;
pub mod probe;
pub mod stream;
pub mod text;
pub mod trim;
pub mod wording;

use crate::rules::{Finding, Severity};

/// Process exit codes.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FINDINGS: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
/// `probe` only: no test line showed how it arrived, so the run is no
/// evidence either way (neither clean nor damaged).
pub const EXIT_NO_EVIDENCE: i32 = 3;

/// 1 when any error-severity finding exists, else 0.
pub fn exit_code(findings: &[Finding]) -> i32 {
    exit_code_of(findings.iter().map(|f| f.severity).max())
}

/// The exit code for findings whose highest severity is `worst`.
pub fn exit_code_of(worst: Option<Severity>) -> i32 {
    if worst == Some(Severity::Error) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

/// When to colour text output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set (https://no-color.org).
    #[default]
    Auto,
    Always,
    Never,
}

/// Whether to colour text output.
pub fn use_color(choice: ColorChoice, to_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

/// Width for text reports when no `--width` is given: `$COLUMNS` when
/// set, else the terminal's own width when the report goes to one
/// (`to_terminal`), else 120 (a file or a pipe: the same output wherever
/// it is written). Never below [`MIN_WIDTH`].
pub fn text_width(to_terminal: bool) -> u16 {
    readers_width(to_terminal).unwrap_or(120).max(MIN_WIDTH)
}

/// The reader's width, where there is one: `$COLUMNS` when set, else the
/// terminal's own width when the output goes to one (`to_terminal`).
pub fn readers_width(to_terminal: bool) -> Option<u16> {
    let env = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<u16>().ok());
    env.or_else(|| to_terminal.then(terminal_columns).flatten())
}

/// The columns of the terminal standard output is, if it is one that
/// knows its width. Its rows do not matter: a terminal whose width was
/// set alone (`stty cols 80` under `script`, some containers' ptys)
/// reports 0 rows, which terminal_size takes for no size at all.
fn terminal_columns() -> Option<u16> {
    let out = std::io::stdout();
    if !rustix::termios::isatty(&out) {
        return None;
    }
    let size = rustix::termios::tcgetwinsize(&out).ok()?;
    (size.ws_col > 0).then_some(size.ws_col)
}

/// The narrowest width text reports are laid out for.
pub const MIN_WIDTH: u16 = 60;
