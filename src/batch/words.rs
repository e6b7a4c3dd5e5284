//! Words the archive's reports share: a feature's name, counts with
//! their noun and thousands separators.

/// The words for a feature, in tables.
pub fn label(feature: &str) -> String {
    match feature {
        "port_string" => "string in the announced port".into(),
        "address_string" => "string in the announced address".into(),
        "line_length_change" => "line length change (server's echo)".into(),
        "port_low_byte" => "data-port low byte".into(),
        "port_high_byte" => "data-port high byte".into(),
        "address" => "announced address".into(),
        "server_software" => "server software".into(),
        "hour_utc" => "hour (UTC)".into(),
        f => match f.strip_prefix("address_octet_") {
            Some(n) => format!("address octet {n}"),
            None => f.to_string(),
        },
    }
}

/// A feature's value as a noun phrase: "data-port low byte 227", "the
/// digit string 227 in the announced port", "the string 22_ in …".
pub fn value(feature: &str, value: &str) -> String {
    let string = |v: &str| {
        if v.bytes().all(|b| b.is_ascii_digit()) {
            format!("the digit string {v}")
        } else {
            format!("the string {v}")
        }
    };
    match feature {
        "port_string" => format!("{} in the announced port", string(value)),
        "address_string" => format!("{} in the announced address", string(value)),
        "line_length_change" => format!("a line length change of {value} (server's echo)"),
        f => format!("{} {value}", label(f)),
    }
}

/// How a failed transfer failed, in words, from its name in the JSON
/// output ("refused" → "connection refused").
pub fn failure(name: &str) -> &str {
    crate::ftp::data::Failure::ALL
        .into_iter()
        .find(|f| f.name() == name)
        .map_or(name, |f| f.describe())
}

/// A count and its noun: "1 file", "3,040 files".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// 3040 → "3,040".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
