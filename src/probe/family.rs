//! The families of test lines a probe sends; the traces and the cases
//! both name theirs.

use serde::Serialize;

/// A family of test cases.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// PORT with each value in the port's low octet (octet 6).
    #[serde(rename = "port-octet-6")]
    PortOctet6,
    /// PORT with each value in the port's high octet (octet 5).
    #[serde(rename = "port-octet-5")]
    PortOctet5,
    Eprt,
    /// Digit strings in file names (`SIZE`/`MDTM`/`CWD`/`RETR`).
    Names,
    /// PASV/EPSV (and, with a reflector, crafted 227/228/229).
    Passive,
    /// Line shapes ALGs mishandle.
    Shapes,
}

impl Family {
    pub const ALL: [Family; 6] = [
        Family::PortOctet6,
        Family::PortOctet5,
        Family::Eprt,
        Family::Names,
        Family::Passive,
        Family::Shapes,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Family::PortOctet6 => "PORT, octet 6 (port low byte)",
            Family::PortOctet5 => "PORT, octet 5 (port high byte)",
            Family::Eprt => "EPRT",
            Family::Names => "file names",
            Family::Passive => "passive replies",
            Family::Shapes => "line shapes",
        }
    }

    /// Short name in the conclusion.
    pub(super) fn place(self) -> &'static str {
        match self {
            Family::PortOctet6 => "PORT octet 6",
            Family::PortOctet5 => "PORT octet 5",
            Family::Eprt => "EPRT",
            Family::Names => "file names",
            Family::Passive => "passive replies",
            Family::Shapes => "line shapes",
        }
    }
}
