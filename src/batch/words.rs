//! Words the archive's reports share: a feature's name, counts with
//! their noun and thousands separators.

/// The words for a feature, in tables.
pub fn label(feature: &str) -> String {
    match feature {
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
