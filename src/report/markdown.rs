//! Markdown to paste into a ticket (GitHub, GitLab and Jira-flavoured
//! Markdown): the verdict first, then the findings table, then each
//! finding's evidence with a Wireshark filter, then the sessions.
//!
//! Everything from a capture is already in escape form (printable ASCII);
//! here it is further kept from being read as Markdown or HTML: quoted
//! lines go in code spans sized to their content, the rest has its
//! special characters escaped, and `|` is escaped inside tables.

use super::batch::Input;
use super::model::{BatchSummary, CompareReport, Report};
use super::page::{self, Align, Block, Inline, Page};
use super::wording::{Span, aligned, diff_runs, spans};
use crate::header::Header;
use crate::rules::Severity;
use std::io::{self, Write};

/// Plain text with Markdown and HTML syntax made literal.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            // A control character (a file name's ESC, a stray CR) is
            // written as its escape, never raw.
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\\\x{b:02x}"));
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// A code span holding `s` exactly (delimited by more backticks than `s`
/// has in a row); in a table, `|` is escaped, which GFM tables require
/// even inside code.
fn code(s: &str, in_table: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || s.starts_with(' ') {
        " "
    } else {
        ""
    };
    let body = if in_table {
        s.replace('|', "\\|")
    } else {
        s.to_string()
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

/// One of our messages, whose quoted lines are between backticks: the
/// quotes become code spans, the rest plain text.
fn message(s: &str, in_table: bool) -> String {
    spans(s)
        .into_iter()
        .map(|sp| match sp {
            Span::Code(c) => code(c, in_table),
            Span::Text(t) => md(t),
            Span::Backtick => "\\`".into(),
        })
        .collect()
}

/// An inline in Markdown; in a table cell `|` is escaped.
fn inline(i: &Inline, in_table: bool) -> String {
    match i {
        Inline::Text(t) => md(t),
        Inline::Code(c, _) => code(c, in_table),
        Inline::Message(m) => message(m, in_table),
        Inline::Strong(t) => format!("**{}**", md(t)),
        Inline::Sev(Severity::Error) => "**error**".into(),
        Inline::Sev(s) => s.name().into(),
        Inline::Link { text, .. } => md(text),
        // An autolink: nothing inside it is escaped, so it stays the URL.
        Inline::Cited(t) => page::cited(t)
            .into_iter()
            .map(|(s, url)| if url { format!("<{s}>") } else { md(s) })
            .collect(),
        Inline::Seq(v) => v.iter().map(|x| inline(x, in_table)).collect(),
    }
}

fn block(b: &Block, out: &mut dyn Write) -> io::Result<()> {
    match b {
        Block::Verdict { headline, rest, .. } => writeln!(
            out,
            "**Verdict:** {}\n",
            message(&format!("{headline}{rest}"), false)
        ),
        Block::Heading { level, body, .. } => writeln!(
            out,
            "{} {}\n",
            "#".repeat(usize::from(*level)),
            inline(body, false)
        ),
        Block::Para(i) => writeln!(out, "{}\n", inline(i, false)),
        Block::List(items) => {
            for it in items {
                writeln!(out, "- {}", inline(&it.body, false))?;
                for c in &it.children {
                    writeln!(out, "  - {}", inline(c, false))?;
                }
            }
            writeln!(out)
        }
        Block::Table(t) => {
            // Column heads are our own words.
            let heads: Vec<&str> = t.heads.iter().map(|(h, _)| h.as_str()).collect();
            let rule: Vec<&str> = t
                .heads
                .iter()
                .map(|(_, a)| if *a == Align::Right { "---:" } else { "---" })
                .collect();
            writeln!(out, "| {} |", heads.join(" | "))?;
            writeln!(out, "|{}|", rule.join("|"))?;
            for r in &t.rows {
                let cells: Vec<String> = r.iter().map(|c| inline(c, true)).collect();
                writeln!(out, "| {} |", cells.join(" | "))?;
            }
            writeln!(out)
        }
        Block::Facts(rows) => {
            writeln!(out, "| | |\n|---|---|")?;
            for (k, v) in rows {
                writeln!(out, "| {} | {} |", md(k), inline(v, true))?;
            }
            writeln!(out)
        }
        Block::Diff {
            first,
            second,
            bytes,
            diff,
        } => {
            let w = first.len().max(second.len());
            writeln!(out, "```text")?;
            if let Some((a, b, marks)) = aligned(bytes, diff) {
                writeln!(out, "{first:w$}  {a}")?;
                writeln!(out, "{second:w$}  {b}")?;
                writeln!(out, "{:w$}  {marks}", "")?;
            } else if let Some((a, b)) = diff_runs(bytes, diff) {
                let join =
                    |r: &[(String, bool)]| r.iter().map(|x| x.0.as_str()).collect::<String>();
                writeln!(out, "{first:w$}  {}", join(&a))?;
                writeln!(out, "{second:w$}  {}", join(&b))?;
            }
            writeln!(out, "```")
        }
        // No pictures in Markdown.
        Block::Legend(_) | Block::Ladder(_) | Block::Timeline(_) | Block::Drawn(_) => Ok(()),
    }
}

/// Writes a page.
pub fn write(p: &Page<'_>, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "# {}\n", md(&p.title))?;
    for b in &p.blocks {
        block(b, out)?;
    }
    let h = p.header;
    writeln!(
        out,
        "---\n_Generated by {} {}; times in {}; passwords redacted unless `show_passwords` is among the options._",
        h.tool.name, h.tool.version, h.time_zone
    )
}

pub fn render(r: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    write(&page::analyze(r), out)
}

pub fn render_compare(r: &CompareReport<'_>, out: &mut dyn Write) -> io::Result<()> {
    write(&page::compare(r), out)
}

pub fn render_batch(
    h: &Header,
    b: &BatchSummary<'_>,
    inputs: &[Input],
    out: &mut dyn Write,
) -> io::Result<()> {
    write(&page::batch(h, b, inputs), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_from_a_capture_becomes_markup() {
        assert_eq!(md("<script>*x*|"), "&lt;script&gt;\\*x\\*\\|");
        assert_eq!(code("a`b", false), "``a`b``");
        assert_eq!(code("`x", true), "`` `x ``");
        assert_eq!(code("a|b", true), "`a\\|b`");
        assert_eq!(
            message("sent `PORT 1` then <b>", false),
            "sent `PORT 1` then &lt;b&gt;"
        );
        // An odd backtick leaves the tail as escaped text.
        assert_eq!(message("a `b` c `d <e>", false), "a `b` c \\`d &lt;e&gt;");
    }
}
