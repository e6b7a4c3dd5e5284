//! Stage 4: FTP control sessions.
//!
//! `line` turns a reassembled byte stream into lines, `message` lines into
//! commands and replies, `address` reads PORT/EPRT/LPRT/227/228/229, `echo`
//! finds a command quoted back in a reply, `data` tracks data connections,
//! `fingerprint` names the server, and `session` ties them together per
//! control connection.

pub mod address;
pub mod data;
pub mod echo;
pub mod fingerprint;
pub mod line;
pub mod live;
pub mod message;
pub mod pairing;
pub mod session;
