//! How a data setup is described for the archive's patterns
//! (`patterns.rs`): a few features, each a value a failed setup and a
//! working one can share. Records (`record.rs`) count them as captures are
//! read; patterns are found in the counts.

use crate::escape::escape;
use crate::ftp::address::AddrKind;
use crate::ftp::data::DataSetup;
use crate::ftp::session::Session;

const OCTETS: [&str; 4] = [
    "address_octet_1",
    "address_octet_2",
    "address_octet_3",
    "address_octet_4",
];

/// The features of one data setup: (feature id, value). Octets and port
/// bytes of PORT and 227 are the announced text itself, so `22_` is a
/// value of its own; other forms give the numbers they were read as.
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
    v.push(("server", s.server.to_string()));
    v.push(("client", s.client.ip().to_string()));
    if let Some(sw) = &s.server_software {
        v.push(("server_software", sw.name.to_string()));
    }
    v.push(("hour_utc", format!("{:02}", d.announced_ts.hour_utc())));
    v
}
