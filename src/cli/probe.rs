//! `probe` and `reflect` on the command line.

use super::{delivered, warn};
use crate::probe::reflect::Reflector;
use crate::probe::result::{Family, ProbeReport, conclusion};
use crate::probe::{Limits, Probe, Target};
use crate::report::output::Destination;
use crate::report::{self, probe as render};
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Args)]
pub(super) struct ProbeArgs {
    /// The FTP server to probe: `ftp://[USER@]HOST[:PORT]` (anonymous when
    /// no user). Give `--reflector` instead when the far end runs
    /// `portmortem reflect`.
    #[arg(value_name = "URL", required_unless_present = "reflector")]
    url: Option<String>,
    /// The far end is `portmortem reflect` at this URL: exact byte diffs
    /// in both directions.
    #[arg(long, value_name = "URL", conflicts_with = "url")]
    reflector: Option<String>,
    /// Read the password from this environment variable (otherwise
    /// ~/.netrc, then a prompt on the terminal). Never on the command line.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// Test families to run (default: all). `trace` alone runs none and
    /// traces the founding lines.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<FamilyArg>,
    /// Find the hop that changes each altered line (or, with nothing
    /// altered, the founding PORT lines with 227): send it again with the
    /// IP TTL set to 1, 2, 3, … and read the routers' ICMP Time Exceeded
    /// quotes. Needs root or CAP_NET_RAW (and, for replies, a reflector
    /// that has it).
    #[arg(long)]
    trace: bool,
    /// The most hops a traced line is sent over.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u8).range(1..=64))]
    max_hops: u8,
    /// Commands per second at most.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Commands in all at most.
    #[arg(long, default_value_t = 5000)]
    max_commands: usize,
    /// Seconds the whole run may take at most.
    #[arg(long, default_value_t = 600)]
    time_budget: u64,
    /// Seconds without a reply before a line counts as dropped.
    #[arg(long, default_value_t = 5.0)]
    reply_timeout: f64,
    /// Output format [default: from the -o file's extension (.txt, .json,
    /// .md, .html), else text].
    #[arg(short, long, value_enum)]
    format: Option<ProbeFormat>,
    /// Text output: lay it out in N columns (at least 60) [default:
    /// $COLUMNS, else the terminal's width, else 120].
    #[arg(long, value_name = "N", value_parser = super::width_arg)]
    width: Option<u16>,
    /// Write the report here (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// No progress line on standard error.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ProbeFormat {
    /// The conclusion, then a table per test family and per trace.
    Text,
    /// One document (`portmortem schema probe`).
    Json,
    /// GitHub/GitLab/Jira-flavoured Markdown, for a ticket.
    Markdown,
    /// One self-contained HTML file.
    Html,
}

impl ProbeFormat {
    fn of(f: super::Format) -> Option<Self> {
        Some(match f {
            super::Format::Text => ProbeFormat::Text,
            super::Format::Json => ProbeFormat::Json,
            super::Format::Markdown => ProbeFormat::Markdown,
            super::Format::Html => ProbeFormat::Html,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum FamilyArg {
    /// PORT sweeps of octets 6 and 5.
    Port,
    Eprt,
    /// Digit strings in file names.
    Names,
    /// PASV/EPSV (crafted 227/228/229 with a reflector).
    Passive,
    /// Split, pipelined, lower-case, bare-LF and long lines.
    Shapes,
    /// No test family: only trace the founding lines (implies --trace).
    Trace,
}

#[derive(Args)]
pub(super) struct ReflectArgs {
    /// Address and port to listen on, e.g. `0.0.0.0:21` or `[::]:2121`.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// No line per command on standard error.
    #[arg(short, long)]
    quiet: bool,
}

/// A parsed `ftp://` URL.
struct Url {
    user: Option<String>,
    host: String,
    port: u16,
}

fn parse_url(s: &str) -> Result<Url, String> {
    let u = url::Url::parse(s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    if u.scheme() != "ftp" {
        return Err(format!("`{s}`: only ftp:// URLs"));
    }
    if u.password().is_some() {
        return Err(
            "a password in the URL would be visible to every user of this machine; use --password-env, ~/.netrc or the prompt".into(),
        );
    }
    let host = u
        .host_str()
        .ok_or_else(|| format!("`{s}` names no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    // The user name as typed: percent-escapes decoded (a `+` stays a `+`).
    let user = (!u.username().is_empty()).then(|| {
        percent_encoding::percent_decode_str(u.username())
            .decode_utf8_lossy()
            .into_owned()
    });
    Ok(Url {
        user,
        host,
        port: u.port().unwrap_or(21),
    })
}

/// The password for `user` at `host`: the environment variable, then
/// ~/.netrc, then a prompt.
fn password(args: &ProbeArgs, host: &str, user: &str) -> Result<String, String> {
    if let Some(var) = &args.password_env {
        return std::env::var(var).map_err(|_| format!("${var} is not set"));
    }
    if let Some(p) = netrc_password(host, user) {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("password for {user}@{host}: "))
            .map_err(|e| format!("cannot read the password: {e}"));
    }
    Err(format!(
        "no password for {user}@{host}: give --password-env VAR, a ~/.netrc entry, or run on a terminal"
    ))
}

/// `machine HOST login USER password PASS` from ~/.netrc.
fn netrc_password(host: &str, user: &str) -> Option<String> {
    let home = std::env::var_os("HOME")?;
    let text = std::fs::read_to_string(PathBuf::from(home).join(".netrc")).ok()?;
    netrc_lookup(&text, host, user)
}

fn netrc_lookup(text: &str, host: &str, user: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        if words[i] == "machine" && words.get(i + 1) == Some(&host) || words[i] == "default" {
            let (mut login, mut pass) = (None, None);
            let mut j = i + if words[i] == "default" { 1 } else { 2 };
            while j + 1 < words.len() && words[j] != "machine" && words[j] != "default" {
                match words[j] {
                    "login" => login = Some(words[j + 1]),
                    "password" => pass = Some(words[j + 1]),
                    _ => {}
                }
                j += 2;
            }
            if login.is_none_or(|l| l == user)
                && let Some(p) = pass
            {
                return Some(p.to_string());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    None
}

pub(super) fn probe_cmd(args: ProbeArgs) -> i32 {
    let format = match super::chosen(
        args.format,
        args.output.as_deref(),
        ProbeFormat::of,
        "text, json, markdown or html",
    ) {
        Ok(f) => f,
        Err(e) => {
            warn(e);
            return report::EXIT_USAGE;
        }
    };
    let reflector = args.reflector.is_some();
    let raw = args
        .reflector
        .as_deref()
        .or(args.url.as_deref())
        .unwrap_or_default();
    let url = match parse_url(raw) {
        Ok(u) => u,
        Err(e) => {
            warn(e);
            return report::EXIT_USAGE;
        }
    };
    let addr = match (url.host.as_str(), url.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    {
        Some(a) => a,
        None => {
            warn(format!("cannot resolve {}", url.host));
            return report::EXIT_USAGE;
        }
    };
    let (user, pass) = match &url.user {
        Some(u) if u != "anonymous" && u != "ftp" => match password(&args, &url.host, u) {
            Ok(p) => (u.clone(), p),
            Err(e) => {
                warn(e);
                return report::EXIT_USAGE;
            }
        },
        _ => ("anonymous".into(), "portmortem@".into()),
    };
    let display = format!("ftp://{}@{}", crate::escape::printable(&user), addr);
    let target = Target {
        display,
        addr,
        user,
        password: pass,
        reflector,
    };
    let families: Vec<Family> = if args.only.is_empty() {
        Family::ALL.to_vec()
    } else {
        Family::ALL
            .into_iter()
            .filter(|f| {
                args.only.iter().any(|o| {
                    matches!(
                        (o, f),
                        (FamilyArg::Port, Family::PortOctet6 | Family::PortOctet5)
                            | (FamilyArg::Eprt, Family::Eprt)
                            | (FamilyArg::Names, Family::Names)
                            | (FamilyArg::Passive, Family::Passive)
                            | (FamilyArg::Shapes, Family::Shapes)
                    )
                })
            })
            .collect()
    };
    let limits = Limits {
        rate: args.rate,
        max_commands: args.max_commands,
        budget: Duration::from_secs(args.time_budget),
        // Out of range (inf, NaN): the default.
        reply_timeout: Duration::try_from_secs_f64(args.reply_timeout.max(0.1))
            .unwrap_or(Limits::default().reply_timeout),
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C is the default one: it ends the process.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::Relaxed) {
                std::process::exit(130);
            }
        });
    }
    let show = !args.quiet && std::io::stderr().is_terminal();
    let count = std::sync::atomic::AtomicUsize::new(0);
    let progress = |c: &crate::probe::result::Case| {
        let n = count.fetch_add(1, Ordering::Relaxed) + 1;
        if show {
            eprint!(
                "\r\x1b[Kprobe: {n} tests, last: {} {} → {}",
                c.family.title(),
                crate::escape::printable(&c.name),
                c.outcome.name()
            );
        }
    };
    let mut p = Probe::new(&target, limits, &stop, &progress);
    if args.trace || args.only.contains(&FamilyArg::Trace) {
        p = p.tracing(args.max_hops);
    }
    let started = crate::timestamp::Timestamp::now().rfc3339();
    let run = p.run(&families);
    if show {
        eprintln!();
    }
    if let Err(e) = run {
        warn(e);
        return report::EXIT_USAGE;
    }
    let mut options = BTreeMap::new();
    if reflector {
        options.insert("reflector", "yes".to_string());
    }
    options.insert("started", started);
    let rep = ProbeReport {
        header: crate::header::Header::new("probe", options),
        target: target.display.clone(),
        far_end: if reflector { "reflector" } else { "server" },
        commands_sent: p.commands,
        reconnects: p.reconnects,
        duration_secs: p.elapsed().as_secs_f64(),
        stopped: p.stopped.clone(),
        notes: p.notes.clone(),
        conclusion: conclusion(&p.cases, &p.traces),
        altered: p.cases.iter().any(|c| c.is_damage()) || p.traces.iter().any(|t| t.is_damage()),
        no_evidence: !p.cases.is_empty()
            && p.cases
                .iter()
                .all(|c| c.outcome == crate::probe::result::Outcome::NotEvident),
        cases: std::mem::take(&mut p.cases),
        traces: std::mem::take(&mut p.traces),
        traced_lines: p.traced_lines,
    };
    let mut out = match Destination::create(args.output.as_deref(), []) {
        Ok(o) => o,
        Err(e) => {
            warn(format!("cannot write the report: {e}"));
            return report::EXIT_USAGE;
        }
    };
    let written = match format {
        ProbeFormat::Json => serde_json::to_writer_pretty(&mut out, &rep)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out)),
        ProbeFormat::Text => {
            let width = args
                .width
                .unwrap_or_else(|| report::text_width(out.is_terminal()));
            render::render_text(&rep, width, &mut out)
        }
        ProbeFormat::Markdown => render::render_markdown(&rep, &mut out),
        ProbeFormat::Html => render::render_html(&rep, &mut out),
    };
    if !delivered(written, out) {
        return report::EXIT_USAGE;
    }
    if rep.altered {
        report::EXIT_FINDINGS
    } else if rep.no_evidence {
        report::EXIT_NO_EVIDENCE
    } else {
        report::EXIT_OK
    }
}

pub(super) fn reflect_cmd(args: ReflectArgs) -> i32 {
    let r = match Reflector::bind(args.listen) {
        Ok(r) => r,
        Err(e) => {
            warn(format!("cannot listen on {}: {e}", args.listen));
            return report::EXIT_USAGE;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed));
    }
    eprintln!(
        "portmortem reflect: listening on {}",
        r.local_addr().map_or(args.listen, |a| a)
    );
    let quiet = args.quiet;
    let log = move |l: String| {
        if !quiet {
            eprintln!("reflect: {}", crate::escape::printable(&l));
        }
    };
    match r.serve(&stop, &log) {
        Ok(()) => report::EXIT_OK,
        Err(e) => {
            warn(format!("reflect stopped: {e}"));
            report::EXIT_USAGE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("ftp://alice@192.0.2.7:2121").unwrap();
        assert_eq!(
            (u.user.as_deref(), u.host.as_str(), u.port),
            (Some("alice"), "192.0.2.7", 2121)
        );
        let u = parse_url("ftp://a%40b+c@h").unwrap();
        assert_eq!(u.user.as_deref(), Some("a@b+c"));
        let u = parse_url("ftp://[2001:db8::1]").unwrap();
        assert_eq!((u.user, u.host.as_str(), u.port), (None, "2001:db8::1", 21));
        assert!(parse_url("ftp://a:secret@h").is_err());
        assert!(parse_url("http://h").is_err());
    }

    #[test]
    fn netrc() {
        let t = "machine a login bob password x\nmachine h login alice password s3cret\ndefault login anon password d";
        assert_eq!(netrc_lookup(t, "h", "alice").as_deref(), Some("s3cret"));
        assert_eq!(netrc_lookup(t, "h", "carol"), None);
        assert_eq!(netrc_lookup(t, "a", "bob").as_deref(), Some("x"));
    }
}
