//! Command-line interface.

mod analyze;
mod batch;
mod compare;
mod extract;
mod probe;
mod watch;

use crate::batch::discover::ShardArg;
use crate::budget::Budget;
use crate::command;
use crate::report::output::Destination;
use crate::report::{self, text};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "portmortem",
    version,
    about = "Forensic analysis of FTP control channels in packet captures: proves where a PORT, a reply or a file name was corrupted or rewritten in transit."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Every analysing command's exit codes, for the end of its `--help`.
macro_rules! exit_codes {
    () => {
        "Exit codes: 0 no error finding, 1 at least one error finding, 2 a usage error or an input that could not be read (completely)."
    };
}

const ANALYZE_EXAMPLES: &str = concat!(
    "Examples:\n",
    "  portmortem analyze capture.pcap                       a report on the terminal\n",
    "  portmortem analyze -r capture.pcapng.gz -o report.html one HTML file for a ticket\n",
    "  portmortem analyze -q --min-severity error *.pcap     only what failed\n",
    "  portmortem analyze -o events.ndjson capture.pcap      one JSON object per line (SIEM, DuckDB)\n\n",
    exit_codes!()
);
const COMPARE_EXAMPLES: &str = concat!(
    "Examples:\n",
    "  portmortem compare inside.pcap outside.pcap           sides worked out from the captures\n",
    "  portmortem compare --client-side c.pcap --server-side s.pcap -o diff.html\n\n",
    exit_codes!()
);
const BATCH_EXAMPLES: &str = concat!(
    "Examples:\n",
    "  portmortem batch /var/cap                             every capture under it, a summary\n",
    "  portmortem batch --shard auto -f ndjson -o part.ndjson /archive   one shard of a job array\n",
    "  find /cap -mtime -1 | portmortem batch -              paths from standard input\n\n",
    exit_codes!()
);
const EXTRACT_EXAMPLES: &str = concat!(
    "Examples:\n",
    "  portmortem extract capture.pcap -s s1 -o evidence.pcapng        the control connection\n",
    "  portmortem extract capture.pcap -s s1,s3 --with-data -o e.pcapng and the data connections\n\n",
    "Exit codes: 0 written, no session written has an error finding; 1 written, and one has; 2 a usage error, a capture that could not be opened, or an output that could not be written."
);
const MERGE_EXAMPLES: &str = concat!(
    "Examples:\n",
    "  portmortem merge shard-*.ndjson                       the summary of every shard\n",
    "  portmortem merge -o archive.html shard-*.ndjson       as a page for a ticket\n\n",
    "Exit codes: 0 no error finding, 1 at least one error finding, 2 a usage error, a file that is not a whole `batch -f ndjson` output, or a capture the batches could not read (completely)."
);
const WATCH_EXAMPLES: &str = concat!(
    "Examples:\n",
    "  tcpdump -i eth0 -U -w - tcp | portmortem watch -      NDJSON events when piped\n",
    "  portmortem watch -i eth0 --evidence-dir /var/lib/pm   live, with the flight recorder\n",
    "  portmortem watch --dir /var/cap -f text               a tcpdump ring buffer\n\n",
    exit_codes!()
);

#[derive(Subcommand)]
enum Cmd {
    /// Analyse captures one by one: FTP sessions, commands, replies, data
    /// connections, and every finding.
    #[command(
        after_long_help = ANALYZE_EXAMPLES,
        override_usage = "portmortem analyze [OPTIONS] <CAPTURE>...\n       portmortem analyze [OPTIONS] -r <CAPTURE>..."
    )]
    Analyze(AnalyzeArgs),
    /// Compare two captures taken on both sides of a firewall: the same
    /// FTP sessions, line by line, and what the device in between did.
    #[command(
        after_long_help = COMPARE_EXAMPLES,
        override_usage = "portmortem compare [OPTIONS] <A> <B>\n       portmortem compare [OPTIONS] --client-side <FILE> --server-side <FILE>",
        mut_arg("sessions", |a| a.help(
            "List only this session at either tap (`s3` or `3`: each capture's s3) and the pairs it is in; repeatable, or comma-separated"
        )),
        mut_arg("findings_only", |a| a.help(
            "List only the session pairs and sessions that a listed finding is about (both captures stay in the report)"
        ))
    )]
    Compare(CompareArgs),
    /// Analyse an archive: every capture under the given directories,
    /// globs or files (`-` reads more paths from standard input), in
    /// parallel, with a summary of what the failures have in common.
    #[command(after_long_help = BATCH_EXAMPLES)]
    Batch(BatchArgs),
    /// Write the packets of chosen sessions to a small pcapng for a ticket,
    /// with a comment on each frame that carries a finding.
    #[command(
        after_long_help = EXTRACT_EXAMPLES,
        mut_arg("show_passwords", |a| a.help(
            "Keep PASS arguments in the packets written (they are masked with `*` by default)"
        ))
    )]
    Extract(ExtractArgs),
    /// Combine `batch --format ndjson` outputs (e.g. of `--shard` runs)
    /// into the summary one run over all of them would give.
    #[command(after_long_help = MERGE_EXAMPLES)]
    Merge(MergeArgs),
    /// List the rules this tool reports: id, the evidence it needs, its
    /// highest severity, and what it proves.
    Rules(RulesArgs),
    /// Follow a capture stream (`tcpdump -U -w - | portmortem watch -`) and
    /// write each finding as an event the moment it is established (a
    /// damaged line's echo, a wrong-port connection), or when its session
    /// ends, stalls or goes silent, with session and statistics events
    /// between.
    #[command(after_long_help = WATCH_EXAMPLES)]
    Watch(watch::WatchArgs),
    /// Reproduce a path's rewriting on demand: log in to an FTP server (or
    /// `portmortem reflect`) and send test lines — every PORT octet value,
    /// digit strings in file names, PASV/EPSV, split and odd line shapes —
    /// then say which ones the path altered and how.
    Probe(probe::ProbeArgs),
    /// A small FTP server for the far side of a path that reports, in each
    /// reply, exactly the bytes it received (for `probe --reflector`).
    Reflect(probe::ReflectArgs),
    /// Print a shell completion script (e.g. `portmortem completions bash >
    /// /etc/bash_completion.d/portmortem`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `portmortem man > portmortem.1`.
    Man,
    /// Print the JSON Schema of a machine-readable output (the files in
    /// `docs/schema/`), generated from the types that write it.
    Schema {
        #[arg(value_enum)]
        output: command::schema::Document,
    },
}

#[derive(Args)]
struct RulesArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    format: RulesFormat,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum RulesFormat {
    Text,
    Json,
    /// The README's table.
    Markdown,
}

#[derive(Args)]
struct BatchArgs {
    /// Directories (walked recursively), capture files, quoted globs, or
    /// `-` for a list of paths on standard input. Captures are recognised
    /// by content: pcap, pcapng, and gzip, zstd, xz, bzip2 or lz4 of either.
    #[arg(required = true, value_name = "PATH")]
    inputs: Vec<String>,
    #[command(flatten)]
    analysis: Analysis,
    /// Worker threads (default: every core).
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    /// Only the files of shard K of N (by a hash of their path), to spread
    /// an archive over machines; combine the outputs with `merge`. `auto`:
    /// from a Slurm job array or a Kubernetes Indexed Job
    /// (docs/scale-out.md).
    #[arg(long, value_name = "K/N|auto")]
    shard: Option<ShardArg>,
    /// Read a capture that holds both legs of a device (taken on the
    /// device itself) as one capture, not as two legs compared, as
    /// `analyze --one-view` does.
    #[arg(long)]
    one_view: bool,
    #[command(flatten)]
    report: BatchReportArgs,
    /// No progress bar (there is none anyway when standard error is not a
    /// terminal).
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args)]
struct ExtractArgs {
    /// The capture to take the packets from.
    #[arg(value_name = "CAPTURE")]
    capture: PathBuf,
    /// Session id as reports number them (`s1`); repeatable, or comma-separated.
    #[arg(
        short,
        long = "session",
        value_name = "ID",
        required = true,
        value_delimiter = ','
    )]
    sessions: Vec<String>,
    /// Also the sessions' data connections.
    #[arg(long)]
    with_data: bool,
    /// The pcapng file to write (`-`: standard output, if not a terminal).
    #[arg(short, long, value_name = "FILE", required = true)]
    output: PathBuf,
    #[command(flatten)]
    analysis: Analysis,
}

#[derive(Args)]
struct MergeArgs {
    /// Files written by `batch --format ndjson` (`-` for standard input).
    #[arg(required = true, value_name = "RESULTS")]
    results: Vec<PathBuf>,
    #[command(flatten)]
    report: BatchReportArgs,
}

/// Where and how `batch` and `merge` write their results.
#[derive(Args)]
struct BatchReportArgs {
    /// Output format [default: from the -o file's extension (.txt, .json,
    /// .ndjson, .md, .html), else text].
    #[arg(short, long, value_enum)]
    format: Option<BatchFormat>,
    /// Write the report to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    look: Look,
    /// JSON: indented (the default is compact).
    #[arg(long)]
    pretty: bool,
}

impl BatchReportArgs {
    /// The format, once an output onto one of `inputs` is refused (that
    /// first, whatever else is wrong with the call): batch's and merge's
    /// one check of their report arguments.
    fn checked_format<'a>(
        &self,
        inputs: impl IntoIterator<Item = &'a std::path::Path>,
    ) -> Result<BatchFormat, String> {
        if let Some(o) = self.output.as_deref() {
            crate::report::output::refuse_inputs(o, inputs).map_err(|e| e.to_string())?;
        }
        self.format()
    }

    /// The format: `-f`, else the output file's extension, else text.
    fn format(&self) -> Result<BatchFormat, String> {
        let f = chosen(
            self.format,
            self.output.as_deref(),
            BatchFormat::of,
            "text, json, ndjson, markdown or html",
        )?;
        if self.pretty && f != BatchFormat::Json {
            return Err("--pretty indents JSON: give it with -f json".into());
        }
        Ok(f)
    }
}

/// How a text report looks: its colour and its width.
#[derive(Args, Clone, Copy)]
struct Look {
    /// Colour in text output.
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    color: report::ColorChoice,
    /// Text output: lay it out in N columns (at least 60) [default:
    /// $COLUMNS, else the terminal's width, else 120].
    #[arg(long, value_name = "N", value_parser = width_arg)]
    width: Option<u16>,
}

impl Look {
    /// The text style for an output.
    fn style(self, to_terminal: bool, dialogue: bool) -> text::Style {
        text::Style::for_output(
            report::use_color(self.color, to_terminal),
            to_terminal,
            dialogue,
            self.width,
        )
    }
}

fn width_arg(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(n) if n >= report::MIN_WIDTH => Ok(n),
        _ => Err(format!(
            "give a number of columns of at least {}",
            report::MIN_WIDTH
        )),
    }
}

/// What `batch` and `merge` write.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum BatchFormat {
    /// The archive's summary for people.
    Text,
    /// One document: every capture's record and findings, the skipped
    /// files, and the summary.
    Json,
    /// One JSON line per capture (batch: as each finishes; merge: as read)
    /// or skipped file, then a summary line.
    Ndjson,
    /// The summary as GitHub/GitLab/Jira-flavoured Markdown, for a ticket.
    Markdown,
    /// The summary as one self-contained HTML file.
    Html,
}

impl BatchFormat {
    fn of(f: Format) -> Option<Self> {
        Some(match f {
            Format::Text => BatchFormat::Text,
            Format::Json => BatchFormat::Json,
            Format::Ndjson => BatchFormat::Ndjson,
            Format::Markdown => BatchFormat::Markdown,
            Format::Html => BatchFormat::Html,
            Format::Csv | Format::Ftplog => return None,
        })
    }
}

/// The one rule every command follows for its output format: `-f`, else
/// the format the `-o` file's extension names, else text. An extension
/// that names no format the command writes is refused, naming the ones
/// it does (`offered`), rather than writing text into `report.xml`.
fn chosen<F: Copy>(
    flag: Option<F>,
    output: Option<&std::path::Path>,
    of: impl Fn(Format) -> Option<F>,
    offered: &str,
) -> Result<F, String> {
    if let Some(f) = flag {
        return Ok(f);
    }
    let Some(path) = output else {
        return of(Format::Text).ok_or_else(|| "no text format".to_string());
    };
    let Some(ext) = path.extension() else {
        return of(Format::Text).ok_or_else(|| "no text format".to_string());
    };
    let ext = ext.to_string_lossy().to_ascii_lowercase();
    Format::of_extension(&ext).and_then(&of).ok_or_else(|| {
        format!(
            "-o {}: this command does not write .{ext} files; give -f {offered}, or name the file after one of them",
            crate::escape::printable(&path.display().to_string())
        )
    })
}

#[derive(Args)]
struct CompareArgs {
    /// The two captures; which is which is inferred unless given below.
    #[arg(value_name = "CAPTURE", num_args = 0..=2)]
    captures: Vec<PathBuf>,
    /// The capture taken on the client's side of the device.
    #[arg(long, value_name = "FILE")]
    client_side: Option<PathBuf>,
    /// The capture taken on the server's side of the device.
    #[arg(long, value_name = "FILE")]
    server_side: Option<PathBuf>,
    /// The second capture's clock minus the first's, in seconds (negative
    /// when it is behind), for taps whose clocks are known to differ and
    /// that share no TCP connection to measure it from (a proxy). An
    /// offset measured from shared connections wins over it.
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    clock_offset: Option<f64>,
    #[command(flatten)]
    report: ReportArgs,
    #[command(flatten)]
    trim: TrimArgs,
    #[command(flatten)]
    analysis: Analysis,
}

/// Where and how `analyze` and `compare` write their report.
#[derive(Args)]
struct ReportArgs {
    /// Output format [default: from the -o file's extension (.txt, .json,
    /// .ndjson, .md, .html, .csv, .log), else text].
    #[arg(short, long, value_enum)]
    format: Option<Format>,
    /// Write the report to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Text output: also print every session's commands and replies, each
    /// with its frames, its time as seconds since the session's start
    /// (`+s`), its direction and the frame of the line it pairs with.
    #[arg(long)]
    dialogue: bool,
    /// JSON: indented (analyze: also sessions in id order, holding every
    /// session until the end). The default is compact JSON (analyze: written
    /// as sessions end).
    #[arg(long)]
    pretty: bool,
    #[command(flatten)]
    look: Look,
}

impl ReportArgs {
    /// The format: `-f`, else the output file's extension, else text
    /// ([`chosen`]).
    fn format(&self) -> Result<Format, String> {
        let f = chosen(
            self.format,
            self.output.as_deref(),
            Some,
            "text, json, ndjson, markdown, html, csv or ftplog",
        )?;
        if self.pretty && f != Format::Json {
            return Err("--pretty indents JSON: give it with -f json".into());
        }
        Ok(f)
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    /// Tables for people at a terminal.
    Text,
    /// One document (docs/json-schema.md).
    Json,
    /// GitHub/GitLab/Jira-flavoured Markdown, for a ticket.
    Markdown,
    /// One self-contained HTML file with ladder diagrams.
    Html,
    /// One row per command, tab-separated, in the shape of Zeek's ftp.log.
    Ftplog,
    /// One row per finding (RFC 4180).
    Csv,
    /// One JSON object per line, each with a `type`: capture, session,
    /// finding and summary; compare adds pair and comparison.
    Ndjson,
}

impl Format {
    /// The format a file extension (lower case, without the dot) names.
    fn of_extension(ext: &str) -> Option<Format> {
        Some(match ext {
            "txt" | "text" => Format::Text,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "md" | "markdown" => Format::Markdown,
            "html" | "htm" => Format::Html,
            "csv" => Format::Csv,
            "log" | "tsv" => Format::Ftplog,
            _ => return None,
        })
    }
}

/// Options shared by every command that analyses captures.
#[derive(Args, Clone)]
#[command(next_help_heading = "Analysis")]
struct Analysis {
    /// Also treat TCP port N as an FTP control port (repeatable).
    #[arg(short = 'p', long = "port", value_name = "N")]
    ports: Vec<u16>,
    /// Do not look for FTP on other ports by its 220 banner.
    #[arg(long)]
    no_banner_detection: bool,
    /// Show PASS arguments instead of `<redacted:N>`.
    #[arg(long)]
    show_passwords: bool,
    /// Seconds of client idleness after PORT/PASV that count as a stall.
    #[arg(long, value_name = "SECS", default_value_t = command::DEFAULT_STALL_SECS)]
    stall_secs: f64,
    /// Most TCP flows tracked at once (least recently active are evicted).
    #[arg(
        long,
        value_name = "N",
        default_value_t = command::DEFAULT_MAX_FLOWS,
        help_heading = "Limits"
    )]
    max_flows: usize,
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = Budget::DEFAULT_MIB,
        help = Budget::help(),
        help_heading = "Limits"
    )]
    max_memory_mb: usize,
    /// Sessions kept in full per capture (past it, only their findings),
    /// for the reports that hold them to the end: `--pretty` JSON,
    /// Markdown, HTML, CSV, ftplog and `--dialogue`. Compact JSON, NDJSON
    /// and the text table write or list every session as it ends.
    #[arg(
        long,
        value_name = "N",
        default_value_t = command::DEFAULT_MAX_SESSIONS,
        help_heading = "Limits"
    )]
    max_sessions: usize,
    /// Replace IP addresses everywhere (headers and the text of FTP lines)
    /// by a keyed, prefix- and class-preserving mapping that keeps every
    /// line's length, so the report can leave the company.
    #[arg(long)]
    anonymize_ips: bool,
    /// The key of the mapping (the same key gives the same mapping across
    /// runs and captures); without it, a random key per run.
    #[arg(long, value_name = "KEY", requires = "anonymize_ips")]
    anonymize_key: Option<String>,
    /// Do not compute the captures' SHA-256 (it costs more CPU than the
    /// analysis; the report then shows no hash).
    #[arg(long)]
    no_hash: bool,
}

impl Analysis {
    /// The flags as plain values; the command's plan is made from them in
    /// the library ([`command`]), as the Python package makes it.
    fn tunables(&self) -> command::Tunables {
        command::Tunables {
            ports: self.ports.clone(),
            banner_detection: !self.no_banner_detection,
            show_passwords: self.show_passwords,
            stall_secs: self.stall_secs,
            max_flows: self.max_flows,
            max_memory_mb: self.max_memory_mb,
            max_sessions: self.max_sessions,
            anonymize: match (self.anonymize_ips, &self.anonymize_key) {
                (false, _) => command::Anonymize::Off,
                (true, None) => command::Anonymize::RandomKey,
                (true, Some(k)) => command::Anonymize::Keyed(k.clone()),
            },
            hash: !self.no_hash,
        }
    }
}

#[derive(Args)]
struct AnalyzeArgs {
    /// Capture files: pcap, pcapng, or gzip, zstd, xz, bzip2 or lz4 of either (found by content);
    /// `-` reads standard input.
    #[arg(required_unless_present = "read", value_name = "CAPTURE")]
    captures: Vec<PathBuf>,
    /// A capture to read, as tshark, tcpdump and zeek take it (repeatable;
    /// read before the positional ones).
    #[arg(short = 'r', long = "read", value_name = "CAPTURE")]
    read: Vec<PathBuf>,
    /// Read a capture that holds both legs of a device (taken on the
    /// device itself) as one capture, not as two legs compared.
    #[arg(long)]
    one_view: bool,
    #[command(flatten)]
    report: ReportArgs,
    #[command(flatten)]
    trim: TrimArgs,
    #[command(flatten)]
    analysis: Analysis,
}

/// What the report lists (the analysis and its summary stay whole).
#[derive(clap::Args)]
#[command(next_help_heading = "Trim the report")]
struct TrimArgs {
    /// List only this session (`s3` or `3`); repeatable, or comma-separated.
    #[arg(long = "session", value_name = "ID", value_delimiter = ',',
          value_parser = report::trim::Trim::session_id)]
    sessions: Vec<String>,
    /// List only sessions with a listed finding (and, except in JSON,
    /// only captures with one or with a read error).
    #[arg(short = 'q', long)]
    findings_only: bool,
    /// List only findings of this severity or higher.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    min_severity: Option<SeverityArg>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SeverityArg {
    Info,
    Warning,
    Error,
}

impl SeverityArg {
    fn severity(self) -> crate::rules::Severity {
        match self {
            SeverityArg::Info => crate::rules::Severity::Info,
            SeverityArg::Warning => crate::rules::Severity::Warning,
            SeverityArg::Error => crate::rules::Severity::Error,
        }
    }
}

impl TrimArgs {
    fn trim(&self) -> report::trim::Trim {
        report::trim::Trim {
            sessions: self.sessions.clone(),
            findings_only: self.findings_only,
            min_severity: self.min_severity.map(SeverityArg::severity),
        }
    }
}

/// The command line, its help wrapped to the reader's width as the
/// reports are (clap's own look at the terminal finds no width on one that
/// knows only its columns), at most clap's 100.
fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    use std::io::IsTerminal;
    let mut cmd = Cli::command();
    if let Some(w) = report::readers_width(std::io::stdout().is_terminal()) {
        cmd = cmd.term_width(usize::from(w).min(100));
    }
    let matches = cmd.get_matches_mut();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
}

/// Runs the command line; returns the process exit code.
pub fn run() -> i32 {
    let cli = parse();
    match cli.cmd {
        Cmd::Analyze(a) => analyze::analyze(a),
        Cmd::Compare(c) => compare::compare(c),
        Cmd::Batch(b) => batch::batch_cmd(b),
        Cmd::Merge(m) => batch::merge_cmd(m),
        Cmd::Extract(x) => extract::extract(x),
        Cmd::Rules(r) => rules(r),
        Cmd::Probe(p) => probe::probe_cmd(p),
        Cmd::Watch(w) => watch::watch_cmd(w),
        Cmd::Reflect(r) => probe::reflect_cmd(r),
        Cmd::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "portmortem", &mut out);
            print_all(&out)
        }
        Cmd::Schema { output } => match output.text() {
            Ok(t) => print_all(t.as_bytes()),
            Err(e) => {
                warn(format!("cannot write the schema: {e}"));
                report::EXIT_USAGE
            }
        },
        Cmd::Man => {
            let mut out = Vec::new();
            match clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut out) {
                Ok(()) => print_all(&out),
                Err(e) => {
                    warn(format!("cannot render the man page: {e}"));
                    report::EXIT_USAGE
                }
            }
        }
    }
}

/// Writes bytes to standard output; a closed pipe is not an error.
fn print_all(bytes: &[u8]) -> i32 {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            warn(format!("cannot write: {e}"));
            report::EXIT_USAGE
        }
        _ => report::EXIT_OK,
    }
}

fn rules(a: RulesArgs) -> i32 {
    use crate::rules::registry;
    let text = match a.format {
        RulesFormat::Json => {
            serde_json::to_string_pretty(&registry::rows()).unwrap_or_default() + "\n"
        }
        RulesFormat::Markdown => registry::markdown_table(),
        RulesFormat::Text => {
            use std::io::IsTerminal;
            let tty = std::io::stdout().is_terminal();
            let mut t = text::Grid::new(report::text_width(tty), false);
            t.set_header(["rule", "evidence", "highest severity", "what it proves"]);
            t.bare(&[1, 2, 3]);
            for r in registry::rows() {
                t.add_row([
                    r.id.id().to_string(),
                    r.evidence.name().to_string(),
                    r.severity.name().to_string(),
                    r.summary.to_string(),
                ]);
            }
            format!("{t}\n")
        }
    };
    print_all(text.as_bytes())
}

/// Renders a report in a format (the style is for text).
type Render<'a> = dyn Fn(&mut dyn Write, Format, &text::Style) -> std::io::Result<()> + 'a;

/// Writes a report in its format and returns the exit code (2 when the
/// report cannot be written). `inputs` are the captures it describes: the
/// output may be none of them.
fn write_report(
    args: &ReportArgs,
    inputs: &[&std::path::Path],
    code: i32,
    render: &Render<'_>,
) -> i32 {
    let mut out = match Destination::create(args.output.as_deref(), inputs.iter().copied()) {
        Ok(x) => x,
        Err(e) => {
            warn(format!("cannot write the report: {e}"));
            return report::EXIT_USAGE;
        }
    };
    let style = args.look.style(out.is_terminal(), args.dialogue);
    // Each command checked the format before it started.
    let format = args.format().unwrap_or(Format::Text);
    let mut written = render(&mut out, format, &style);
    if format == Format::Json {
        written = written.and_then(|_| writeln!(out));
    }
    if delivered(written, out) {
        code
    } else {
        report::EXIT_USAGE
    }
}

/// Refuses, before anything is read or written, a capture named on the
/// command line that is not there or is a directory, saying what to run
/// instead: a mistake in the call, not a capture that could not be read.
fn named_captures<'a>(paths: impl IntoIterator<Item = &'a std::path::Path>) -> Result<(), String> {
    for p in paths {
        if p.as_os_str() == "-" {
            continue;
        }
        let name = crate::escape::printable(&p.display().to_string());
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                return Err(format!(
                    "{name} is a directory: to analyse every capture under it, run `portmortem batch {name}`"
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("{name}: no such file"));
            }
            // Unreadable for another reason (permissions): the capture's
            // own error says so, in the report.
            Err(_) => {}
        }
    }
    Ok(())
}

/// Says something on standard error, its control characters escaped
/// (messages quote file names and capture bytes).
fn warn(msg: impl std::fmt::Display) {
    eprintln!("portmortem: {}", crate::escape::printable(&msg.to_string()));
}

/// Puts a written report in place; false, after saying why, when it could
/// not be written (the destination is then untouched). A reader that
/// stopped early (`| head`) is not an error.
fn delivered(written: std::io::Result<()>, out: Destination) -> bool {
    match written.and_then(|_| out.commit()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            warn(format!("cannot write the report: {e}"));
            false
        }
        _ => true,
    }
}
