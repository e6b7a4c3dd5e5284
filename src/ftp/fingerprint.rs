//! Which FTP server is talking, from its banner and reply wording.
//!
//! The rules need it to say what a server does with a damaged PORT
//! (docs/middleboxes.md, "Servers"): BSD-lineage servers echo the line they
//! received; vsftpd, ProFTPD, Pure-FTPd and FileZilla Server read `22_` as
//! 22 and connect to the wrong port; pyftpdlib rejects without an echo.

use serde::Serialize;

/// What a server implementation does with a PORT whose octet has a
/// non-digit (`…,22_`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PortHandling {
    /// Rejects it and quotes the line in the reply.
    EchoesLine,
    /// Reads the leading digits (sscanf/atoi) and accepts it.
    ReadsLeadingDigits,
    /// Rejects it without quoting it.
    Rejects,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Server {
    /// The software (`vsftpd`, `GNU inetutils ftpd`, `ProFTPD`…).
    pub name: &'static str,
    /// How it reads a damaged PORT argument, which predicts where it connects.
    pub port_handling: PortHandling,
}

const KNOWN: &[(&[u8], &str, PortHandling)] = &[
    (b"vsftpd", "vsftpd", PortHandling::ReadsLeadingDigits),
    (b"proftpd", "ProFTPD", PortHandling::ReadsLeadingDigits),
    (b"pure-ftpd", "Pure-FTPd", PortHandling::ReadsLeadingDigits),
    (
        b"filezilla server",
        "FileZilla Server",
        PortHandling::ReadsLeadingDigits,
    ),
    (
        b"gnu inetutils",
        "GNU inetutils ftpd",
        PortHandling::EchoesLine,
    ),
    (b"wu-", "wu-ftpd", PortHandling::EchoesLine),
    (b"pyftpdlib", "pyftpdlib", PortHandling::Rejects),
    (
        b"microsoft ftp service",
        "Microsoft IIS FTP",
        PortHandling::Unknown,
    ),
    (
        b"ftp server (version 6",
        "BSD ftpd",
        PortHandling::EchoesLine,
    ),
    (b"serv-u", "Serv-U", PortHandling::Unknown),
    (b"qtcp", "IBM i QTCP", PortHandling::Unknown),
];

/// Identifies the server from its banner (and any other reply text).
pub fn identify<'a>(texts: impl IntoIterator<Item = &'a [u8]>) -> Option<Server> {
    for t in texts {
        let lower = t.to_ascii_lowercase();
        for (needle, name, handling) in KNOWN {
            if lower.windows(needle.len()).any(|w| w == *needle) {
                return Some(Server {
                    name,
                    port_handling: *handling,
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_common_servers() {
        let s = identify([&b"220 (vsFTPd 3.0.3)"[..]]).unwrap();
        assert_eq!(s.name, "vsftpd");
        assert_eq!(s.port_handling, PortHandling::ReadsLeadingDigits);
        let s = identify([&b"220 srv FTP server (GNU inetutils 2.4) ready."[..]]).unwrap();
        assert_eq!(s.port_handling, PortHandling::EchoesLine);
        assert!(identify([&b"220 hello"[..]]).is_none());
    }
}
