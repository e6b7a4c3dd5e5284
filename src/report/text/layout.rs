//! Laying text out in the reader's width without breaking a value.
//!
//! A table is drawn by comfy-table when every column can be as wide as
//! its longest word (an address, a hash, a rule id, "tcp.stream"), so
//! comfy-table's dynamic arrangement wraps only between words. When the
//! columns cannot all be that wide, the table is written as one record
//! per row instead, as `kubectl describe` and `git log` do: the row's
//! first cell, then each other column's title and value, wrapped between
//! fields. Paragraphs are wrapped between words the same way.
//!
//! A single word wider than the whole width (a SHA-256 at 60 columns, a
//! long URL) stands on a line of its own, unbroken, so it can still be
//! copied; it is the only line that may pass the width.

use comfy_table::{Attribute, Color, ColumnConstraint, ContentArrangement, Table, Width, presets};
use std::fmt;
use unicode_width::UnicodeWidthStr;

/// How a cell is coloured on a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tint {
    /// Red and bold: an error.
    Error,
    /// Yellow: a warning, or a line that differs between the taps.
    Warning,
    /// Cyan: information.
    Info,
}

impl Tint {
    fn comfy(self, c: comfy_table::Cell) -> comfy_table::Cell {
        match self {
            Tint::Error => c.fg(Color::Red).add_attribute(Attribute::Bold),
            Tint::Warning => c.fg(Color::Yellow),
            Tint::Info => c.fg(Color::Cyan),
        }
    }

    fn ansi(self) -> anstyle::Style {
        use anstyle::AnsiColor;
        match self {
            Tint::Error => AnsiColor::Red.on_default().bold(),
            Tint::Warning => AnsiColor::Yellow.on_default(),
            Tint::Info => AnsiColor::Cyan.on_default(),
        }
    }
}

/// One cell: its text, and its colour on a terminal.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    text: String,
    tint: Option<Tint>,
}

impl Cell {
    pub fn new(text: impl fmt::Display) -> Self {
        Cell {
            text: text.to_string(),
            tint: None,
        }
    }

    /// The cell coloured `tint` where colour is used.
    pub fn tinted(mut self, tint: Option<Tint>) -> Self {
        self.tint = tint;
        self
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell { text, tint: None }
    }
}

impl From<&String> for Cell {
    fn from(text: &String) -> Self {
        Cell::new(text)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::new(text)
    }
}

/// A table for a terminal of `width` columns (see the module comment).
pub struct Grid {
    header: Option<Vec<String>>,
    /// Columns whose values say what they are: a record shows them
    /// without their title.
    bare: Vec<usize>,
    rows: Vec<Vec<Cell>>,
    width: usize,
    color: bool,
}

impl Grid {
    pub fn new(width: u16, color: bool) -> Self {
        Grid {
            header: None,
            bare: Vec::new(),
            rows: Vec::new(),
            width: usize::from(width),
            color,
        }
    }

    /// The column titles. A table without them is a list of (name,
    /// value) rows.
    pub fn set_header<T: Into<String>>(&mut self, titles: impl IntoIterator<Item = T>) {
        self.header = Some(titles.into_iter().map(Into::into).collect());
    }

    /// Columns a record shows without their title (an address, a
    /// severity: the value says what it is).
    pub fn bare(&mut self, columns: &[usize]) {
        self.bare = columns.to_vec();
    }

    pub fn add_row<T: Into<Cell>>(&mut self, cells: impl IntoIterator<Item = T>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    fn columns(&self) -> usize {
        self.header
            .iter()
            .map(Vec::len)
            .chain(self.rows.iter().map(Vec::len))
            .max()
            .unwrap_or(0)
    }

    /// Each column's longest word, titles included.
    fn longest_words(&self) -> Vec<usize> {
        let mut longest = vec![0; self.columns()];
        let header = self
            .header
            .iter()
            .flat_map(|h| h.iter().map(String::as_str));
        let header = header.enumerate();
        let cells = self
            .rows
            .iter()
            .flat_map(|r| r.iter().map(|c| c.text.as_str()).enumerate());
        for (i, text) in header.chain(cells) {
            // The names of a list are short and stay whole.
            let w = if self.header.is_none() && i == 0 {
                text.width()
            } else {
                longest_word(text)
            };
            longest[i] = longest[i].max(w);
        }
        longest
    }

    /// The table drawn in a grid, or None when its words do not fit.
    ///
    /// comfy-table shares the width out by its own measure and splits a
    /// word wider than its column; a column it made narrower than its
    /// longest word is given that word's width as its least, and the
    /// rest shared again, until no word is split. (Bounding every column
    /// at once would fix each at its least and leave width unused.)
    fn grid(&self) -> Option<String> {
        let longest = self.longest_words();
        // A border before each column and after the last, and a space of
        // padding on each side of every column.
        let least = 1 + longest.iter().map(|w| w + 3).sum::<usize>();
        if least > self.width {
            return None;
        }
        // The arrangement depends mostly on each column's widest line and
        // the bounds: it is found on the few rows that hold those (a
        // table of a thousand sessions is laid out once, not per pass),
        // then checked on the whole table, and found on the whole table
        // where the sample misled.
        let all: Vec<usize> = (0..self.rows.len()).collect();
        // The whole table with these bounds, if it keeps every word and
        // the width.
        let whole = |bounded: &[bool]| {
            let drawn = self.comfy(&all, &longest, bounded, false).to_string();
            let words = column_widths(&drawn)
                .iter()
                .zip(&longest)
                .all(|(w, l)| w.saturating_sub(2) >= *l);
            let fits = drawn.lines().all(|l| l.width() <= self.width);
            (words && fits).then_some(drawn)
        };
        let (bounded, plain) = self
            .bounds(&self.widest_rows(), &longest)
            .and_then(|b| whole(&b).map(|d| (b, d)))
            .or_else(|| {
                let b = self.bounds(&all, &longest)?;
                whole(&b).map(|d| (b, d))
            })?;
        Some(if self.color {
            self.comfy(&all, &longest, &bounded, true).to_string()
        } else {
            plain
        })
    }

    /// Which columns need their longest word as their least for `rows`
    /// to be drawn with no word split; None when comfy-table cannot.
    fn bounds(&self, rows: &[usize], longest: &[usize]) -> Option<Vec<bool>> {
        let mut bounded = vec![false; longest.len()];
        for _ in 0..=longest.len() {
            let drawn = self.comfy(rows, longest, &bounded, false).to_string();
            let mut split = false;
            for (i, w) in column_widths(&drawn).iter().enumerate() {
                if longest.get(i).is_some_and(|&l| w.saturating_sub(2) < l) {
                    if bounded[i] {
                        // comfy-table could not give it its least.
                        return None;
                    }
                    bounded[i] = true;
                    split = true;
                }
            }
            if !split {
                return Some(bounded);
            }
        }
        None
    }

    /// The rows that hold, for some column, its widest line or its
    /// longest word.
    fn widest_rows(&self) -> Vec<usize> {
        let mut best: Vec<(usize, usize, usize, usize)> = vec![(0, 0, 0, 0); self.columns()];
        for (r, row) in self.rows.iter().enumerate() {
            for (i, c) in row.iter().enumerate() {
                let line = c.text.lines().map(|l| l.width()).max().unwrap_or(0);
                let word = longest_word(&c.text);
                let b = &mut best[i];
                if line > b.0 {
                    (b.0, b.1) = (line, r);
                }
                if word > b.2 {
                    (b.2, b.3) = (word, r);
                }
            }
        }
        let mut rows: Vec<usize> = best.iter().flat_map(|b| [b.1, b.3]).collect();
        rows.sort_unstable();
        rows.dedup();
        rows.retain(|&r| r < self.rows.len());
        rows
    }

    fn comfy(&self, rows: &[usize], longest: &[usize], bounded: &[bool], color: bool) -> Table {
        let mut t = Table::new();
        t.load_style(presets::UTF8_FULL_CONDENSED);
        t.set_content_arrangement(ContentArrangement::Dynamic);
        t.set_width(u16::try_from(self.width).unwrap_or(u16::MAX));
        if color {
            t.enforce_styling();
        } else {
            t.force_no_tty();
        }
        if let Some(h) = &self.header {
            t.set_header(h.clone());
        }
        for r in rows.iter().filter_map(|&i| self.rows.get(i)) {
            t.add_row(r.iter().map(|c| {
                let cell = comfy_table::Cell::new(&c.text);
                match c.tint {
                    Some(tint) if color => tint.comfy(cell),
                    _ => cell,
                }
            }));
        }
        for (i, w) in longest.iter().enumerate() {
            if bounded.get(i) == Some(&true)
                && let (Some(c), Ok(w)) = (t.column_mut(i), u16::try_from(*w))
            {
                c.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(w + 2)));
            }
        }
        t
    }

    /// One record per row: the first cell, then `title value` for every
    /// other cell that has a value, wrapped between fields; a table
    /// without titles as aligned `name  value` lines.
    fn records(&self) -> String {
        let mut out = String::new();
        match &self.header {
            Some(h) => {
                for r in &self.rows {
                    let fields: Vec<(String, String)> = r
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| !c.text.is_empty())
                        .map(|(i, c)| {
                            let title = if i == 0 || self.bare.contains(&i) {
                                ""
                            } else {
                                h.get(i).map_or("", String::as_str)
                            };
                            let text = self.paint(c);
                            if title.is_empty() {
                                (c.text.clone(), text)
                            } else {
                                (format!("{title} {}", c.text), format!("{title} {text}"))
                            }
                        })
                        .collect();
                    pack(&fields, self.width, &mut out);
                }
            }
            None => {
                let names = self.rows.iter().filter_map(|r| r.first());
                let key = names.map(|c| c.text.width()).max().unwrap_or(0);
                for r in &self.rows {
                    let name = r.first().map_or("", |c| c.text.as_str());
                    let value: Vec<&str> = r.iter().skip(1).map(|c| c.text.as_str()).collect();
                    let first = format!("{name:key$}  ");
                    let hang = " ".repeat(key + 2);
                    // The value hangs under itself where its words fit
                    // there, else four columns in.
                    let fits = longest_word(&value.join(" ")) + key + 2 <= self.width;
                    let rest = if fits { hang.as_str() } else { "    " };
                    out.push_str(&fill(&value.join(" "), self.width, &first, rest));
                    out.push('\n');
                }
            }
        }
        out.pop();
        out
    }

    fn paint(&self, c: &Cell) -> String {
        match c.tint {
            Some(t) if self.color => {
                let s = t.ansi();
                format!("{}{}{}", s.render(), c.text, s.render_reset())
            }
            _ => c.text.clone(),
        }
    }
}

impl fmt::Display for Grid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.grid() {
            Some(g) => f.write_str(&g),
            None => f.write_str(&self.records()),
        }
    }
}

/// Each column's width, padding included, from a drawn table's top
/// border (`┌────┬───┐`).
fn column_widths(drawn: &str) -> Vec<usize> {
    let top = drawn.lines().next().unwrap_or("");
    let inner = top.trim_start_matches('┌').trim_end_matches('┐');
    inner.split('┬').map(|s| s.chars().count()).collect()
}

/// Appends one record: `fields` (plain text, and as painted) joined by
/// two spaces, a field moved whole to the next line where it does not
/// fit, the record's later lines indented.
fn pack(fields: &[(String, String)], width: usize, out: &mut String) {
    const INDENT: &str = "    ";
    let mut line = 0;
    for (k, (plain, painted)) in fields.iter().enumerate() {
        let w = plain.width();
        if k == 0 {
            if w <= width {
                out.push_str(painted);
                line = w;
            } else {
                out.push_str(&fill(plain, width, "", INDENT));
                line = width;
            }
        } else if line + 2 + w <= width {
            out.push_str("  ");
            out.push_str(painted);
            line += 2 + w;
        } else if INDENT.len() + w <= width {
            out.push('\n');
            out.push_str(INDENT);
            out.push_str(painted);
            line = INDENT.len() + w;
        } else {
            out.push('\n');
            out.push_str(&fill(plain, width, INDENT, "      "));
            line = width;
        }
    }
    out.push('\n');
}

/// The longest space-separated word of `text`, in terminal columns.
pub fn longest_word(text: &str) -> usize {
    text.split([' ', '\n'])
        .map(|w| w.width())
        .max()
        .unwrap_or(0)
}

/// `text` wrapped to `width` between words (never inside one, never at a
/// hyphen), its first line after `first`, the others after `rest`. A word
/// longer than a line stands alone on its line, without the indentation
/// when that is what makes it too long.
/// The longest word [`fill`] keeps whole on a line too narrow for it (a
/// SHA-256 in hex is 64 characters, a cited URL under 100).
const UNBROKEN: usize = 100;

pub fn fill(text: &str, width: usize, first: &str, rest: &str) -> String {
    let opts = textwrap::Options::new(width)
        .initial_indent(first)
        .subsequent_indent(rest)
        .word_separator(textwrap::WordSeparator::AsciiSpace)
        .word_splitter(textwrap::WordSplitter::NoHyphenation)
        // First fit never passes the width; the optimal fit may, to even
        // out the lines.
        .wrap_algorithm(textwrap::WrapAlgorithm::FirstFit)
        .break_words(false);
    let lines: Vec<String> = textwrap::wrap(text, opts)
        .into_iter()
        .map(|l| {
            let word = l.trim_start();
            if l.width() <= width || word.contains(' ') {
                l.into_owned()
            } else if word.width() > UNBROKEN {
                // Longer than any hash or URL (a quoted 227 reply of 160
                // `A`s): broken where it must, each piece under the last.
                let room = width.saturating_sub(rest.width()).max(8);
                let chars: Vec<char> = word.chars().collect();
                let pieces: Vec<String> = chars
                    .chunks(room)
                    .map(|c| format!("{rest}{}", c.iter().collect::<String>()))
                    .collect();
                pieces.join("\n")
            } else {
                // A hash or URL kept whole, to be copied, on a line of
                // its own.
                word.to_string()
            }
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: [&str; 9] = [
        "s1",
        "198.51.100.60:57346 → 203.0.113.10:21",
        "0",
        "3–22",
        "04:29:18.157015",
        "5",
        "PORT wrong-endpoint",
        "vsftpd",
        "closed",
    ];

    fn sessions(width: u16) -> String {
        let mut g = Grid::new(width, false);
        g.set_header(super::super::SESSIONS_HEADER);
        g.bare(&[1]);
        g.add_row(ROW);
        g.to_string()
    }

    fn words(s: &str) -> Vec<&str> {
        s.split(|c: char| c.is_whitespace() || "│┆".contains(c))
            .filter(|w| !w.is_empty() && !w.chars().all(|c| "─┼┬┴┌┐└┘├┤╞╡╪═".contains(c)))
            .collect()
    }

    #[test]
    fn a_table_fits_or_becomes_records_without_breaking_a_word() {
        let wide = sessions(200);
        assert!(wide.starts_with('┌'), "{wide}");
        for width in [60, 80, 100, 120] {
            let t = sessions(width);
            for l in t.lines() {
                assert!(l.width() <= usize::from(width), "{width}: {l:?}\n{t}");
            }
            for w in ROW.iter().flat_map(|c| words(c)) {
                assert!(words(&t).contains(&w), "{width}: `{w}` broken:\n{t}");
            }
        }
        let narrow = sessions(80);
        assert!(
            narrow.starts_with("s1  198.51.100.60:57346 → 203.0.113.10:21  tcp.stream 0"),
            "{narrow}"
        );
    }

    #[test]
    fn a_list_hangs_its_values_and_keeps_a_hash_whole() {
        let hash = "430743063f3a4039fc7cdd930b9affcddb0c2dc1ae1bf99b31b7f27fd4e403e8";
        let mut g = Grid::new(60, false);
        g.add_row(["file".to_string(), format!("2.2 KiB, sha256 {hash}")]);
        g.add_row(["sessions", "1"]);
        let t = g.to_string();
        assert_eq!(t, format!("file      2.2 KiB, sha256\n{hash}\nsessions  1"));
    }

    #[test]
    fn fill_breaks_a_word_wider_than_the_line() {
        let quote = format!("`227 {}`", "A".repeat(120));
        let f = fill(&format!("the server sent {quote} here"), 40, "  ", "  ");
        assert!(f.lines().all(|l| l.width() <= 40), "{f}");
        assert_eq!(
            f.replace(['\n', ' '], ""),
            format!("theserversent{quote}here").replace(' ', "")
        );
    }

    #[test]
    fn fill_keeps_urls_and_hyphenated_words_whole() {
        let text = "see https://raetsel.wordpress.com/2007/07/22/ftp-fine-testing-python/ for the in-path rewrite";
        let f = fill(text, 40, "", "  ");
        assert!(
            f.contains("\nhttps://raetsel.wordpress.com/2007/07/22/ftp-fine-testing-python/\n")
        );
        assert!(f.contains("in-path"), "{f}");
    }
}
