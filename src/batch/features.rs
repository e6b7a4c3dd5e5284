//! How a data setup is described for the archive's patterns
//! (`patterns.rs`): a few features, each a value a failed setup and a
//! working one can share. Records (`record.rs`) count them as captures are
//! read; patterns are found in the counts.
//!
//! A feature may give a setup several values: `port_string` gives every
//! string of three characters in the announced port's text, so
//! `…,124,227` and `…,227,10` share the value `227` (a device that
//! rewrites the digit string `227` wherever it stands damages both), and
//! `…,124,22_` and `…,22_,10` share `22_`.

use crate::escape::escape;
use crate::ftp::address::AddrKind;
use crate::ftp::data::DataSetup;
use crate::ftp::echo::{EchoStyle, find_echo};
use crate::ftp::session::Session;
use std::collections::BTreeSet;

const OCTETS: [&str; 4] = [
    "address_octet_1",
    "address_octet_2",
    "address_octet_3",
    "address_octet_4",
];

/// The features of one data setup: (feature id, value); a feature with
/// several values appears once per value. Octets and port bytes of PORT
/// and 227 are the announced text itself, so `22_` is a value of its own;
/// other forms give the numbers they were read as.
pub fn features(s: &Session, d: &DataSetup) -> Vec<(&'static str, String)> {
    let mut v = vec![("command", d.kind.name().to_string())];
    let f = &d.arg.fields;
    let text = |i: usize| escape(&f[i].text.0);
    match (d.kind, d.arg.strict, d.endpoint) {
        (AddrKind::Port | AddrKind::Pasv, _, _) if f.len() == 6 => {
            v.push(("port_high_byte", text(4)));
            v.push(("port_low_byte", text(5)));
            for (i, name) in OCTETS.iter().enumerate() {
                v.push((name, text(i)));
            }
            v.push(("address", (0..4).map(text).collect::<Vec<_>>().join(".")));
        }
        // 229 carries no address: the endpoint has the control server's.
        (_, Some(strict), Some(ep)) => {
            v.push(("port_high_byte", (strict.port >> 8).to_string()));
            v.push(("port_low_byte", (strict.port & 0xff).to_string()));
            v.push(("address", ep.ip.to_string()));
        }
        _ => {
            for name in ["port_high_byte", "port_low_byte", "address"] {
                v.push((name, "(unreadable)".into()));
            }
        }
    }
    let (address, port) = texts(d);
    for (name, parts) in [("address_string", address), ("port_string", port)] {
        for w in strings(&parts) {
            v.push((name, w));
        }
    }
    if let Some(change) = length_change(s, d) {
        v.push(("line_length_change", change));
    }
    v.push(("server", s.server.to_string()));
    v.push(("client", s.client.ip().to_string()));
    if let Some(sw) = &s.server_software {
        v.push(("server_software", sw.name.to_string()));
    }
    v.push(("hour_utc", format!("{:02}", d.announced_ts.hour_utc())));
    v
}

/// The announced text as written, split into the address's parts and the
/// port's: PORT/227 octets 1–4 and 5–6; EPRT/229 the address (split at
/// `.` and `:`) and the port number; LPRT/228 the address bytes and the
/// two port bytes. Nothing where the fields cannot be told apart.
fn texts(d: &DataSetup) -> (Vec<&[u8]>, Vec<&[u8]>) {
    let f: Vec<&[u8]> = d.arg.fields.iter().map(|x| x.text.0.as_slice()).collect();
    match d.kind {
        AddrKind::Port | AddrKind::Pasv if f.len() == 6 => (f[..4].to_vec(), f[4..].to_vec()),
        AddrKind::Eprt | AddrKind::Epsv if f.len() == 3 => (
            f[1].split(|&b| b == b'.' || b == b':').collect(),
            vec![f[2]],
        ),
        AddrKind::Lprt | AddrKind::Lpsv if f.len() >= 5 => {
            let n = f.len();
            (f[2..n - 3].to_vec(), f[n - 2..].to_vec())
        }
        _ => (Vec::new(), Vec::new()),
    }
}

/// Every string of three bytes inside one part (a part of three bytes or
/// fewer is its own string), escaped, each once.
fn strings(parts: &[&[u8]]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in parts {
        if p.is_empty() {
            continue;
        }
        if p.len() <= 3 {
            out.insert(escape(p));
        } else {
            out.extend(p.windows(3).map(escape));
        }
    }
    out
}

/// How the line's length changed between the client and the server, where
/// the server's reply quotes the whole line it received (BSD ftpd, wu-ftpd,
/// GNU inetutils, IIS, the founding case's server): `0`, `+2`, `-1`
/// bytes. None where the reply quotes nothing (or the verb only).
fn length_change(s: &Session, d: &DataSetup) -> Option<String> {
    if !d.kind.is_active() {
        return None;
    }
    let cmd = s.commands.get(d.command?)?;
    let reply = s.replies.get(d.reply?)?;
    let echo = find_echo(&reply.last().bytes.0, cmd.verb.as_deref())?;
    if echo.style == EchoStyle::VerbOnly {
        return None;
    }
    let delta = echo.quoted.0.len() as i64 - cmd.line.bytes.0.len() as i64;
    Some(if delta > 0 {
        format!("+{delta}")
    } else {
        delta.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_character_strings_of_each_part() {
        let v = strings(&[b"124", b"22_"]);
        assert_eq!(v.into_iter().collect::<Vec<_>>(), ["124", "22_"]);
        let v = strings(&[b"58227"]);
        assert_eq!(v.into_iter().collect::<Vec<_>>(), ["227", "582", "822"]);
        let v = strings(&[b"10", b""]);
        assert_eq!(v.into_iter().collect::<Vec<_>>(), ["10"]);
    }
}
