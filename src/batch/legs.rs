//! One file, two legs, in an archive: a capture taken on a device holds
//! every forwarded packet once per leg. `analyze` compares the legs as
//! two views ([`crate::compare::legs_compared`]); a batch record of such a
//! file counts what that comparison reports, so the archive and `analyze`
//! of each file say the same:
//!
//! * one capture, with its two legs named and each leg's frames (a frame
//!   is on one leg, so the views' frame counters add up to the file's,
//!   less the other legs' frames, which are named apart);
//! * one session per session seen on both legs, as the client-side view
//!   recorded it: what the client asked for and what became of it there
//!   (a transfer the device broke failed at the client, whatever the
//!   server saw); a session seen on one leg only is counted as that leg
//!   saw it;
//! * each event once: the comparison's findings (what the device did, by
//!   two views of the same bytes) and each view's own findings left
//!   standing after the comparison reconciled them, as `analyze` lists
//!   them.

use super::Output;
use super::record::{Builder, CaptureLine};
use crate::analysis::CaptureTotals;
use crate::compare::Comparison;
use crate::compare::legs::LegPair;
use crate::rules::Finding;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a file holding two legs of a device was read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct LegsRead {
    /// The leg read as the client-side view.
    pub client_side: LegFrames,
    /// The leg read as the server-side view.
    pub server_side: LegFrames,
    /// Frames of the file's other legs, read by neither view (`batch
    /// --one-view` reads the whole file as one capture).
    pub other_legs_frames: u64,
    /// Sessions seen on both legs: each counted once, as the client-side
    /// view recorded it.
    pub sessions_on_both: u64,
    /// Sessions either view analysed but did not keep (over the memory
    /// budget's share), so could not be matched: the client side's are
    /// counted in `sessions`, the server side's are not.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sessions_not_kept: [u64; 2],
    /// The sentence every report gives of how the file was read.
    pub how: String,
}

fn is_zero(n: &[u64; 2]) -> bool {
    *n == [0, 0]
}

/// One leg: its name and frames (duplicates included, and counted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct LegFrames {
    /// The leg's name, as the capture section of `analyze` names it.
    pub name: String,
    /// Frames recorded on this leg, duplicates included.
    pub frames: u64,
    /// Exact copies of a frame on the same leg, set aside.
    pub duplicates: u64,
}

/// The batch record of a file whose legs were compared (`index`: its
/// position in the archive; `path`: the name it goes by).
pub fn record(cmp: Comparison, pair: &LegPair, index: usize, path: String) -> Output<Finding> {
    let Comparison {
        results,
        sides,
        pairs,
        unmatched,
        findings: compared,
        ..
    } = cmp;
    let mut views = results.into_iter();
    let (Some(client), Some(server)) = (views.next(), views.next()) else {
        // A comparison has two views; were it ever otherwise, the file is
        // said to be unread rather than counted wrong.
        return Output::Capture(Box::new(CaptureLine {
            record: super::record::CaptureRecord::failed(
                index,
                path,
                "the two legs' comparison gave no two views".into(),
            ),
            findings: Vec::new(),
        }));
    };
    // A server-side session seen on both legs speaks through its
    // client-side counterpart.
    let counterpart: BTreeMap<&str, &str> = pairs
        .iter()
        .map(|p| {
            (
                p.server_side_session.as_str(),
                p.client_side_session.as_str(),
            )
        })
        .collect();
    let mut by_session: BTreeMap<(usize, String), Vec<Finding>> = BTreeMap::new();
    let keyed = compared
        .into_iter()
        .chain(client.findings)
        .map(|f| ((0, f.session.clone()), f))
        .chain(server.findings.into_iter().map(|f| {
            let key = match counterpart.get(f.session.as_str()) {
                Some(c) => (0, c.to_string()),
                None => (1, f.session.clone()),
            };
            (key, f)
        }));
    for (key, f) in keyed {
        by_session.entry(key).or_default().push(f);
    }
    let mut b = Builder::new(index, path);
    for s in &client.sessions {
        b.session(s, by_session.remove(&(0, s.name())).unwrap_or_default());
    }
    let one_leg_only: std::collections::BTreeSet<&str> =
        unmatched[1].iter().map(String::as_str).collect();
    for s in server
        .sessions
        .iter()
        .filter(|s| one_leg_only.contains(s.name().as_str()))
    {
        b.session(s, by_session.remove(&(1, s.name())).unwrap_or_default());
    }
    // Findings of sessions not kept are still counted.
    b.loose(by_session.into_values().flatten());
    b.sessions_not_kept(client.sessions_not_kept);
    let leg = |name: Option<&str>| {
        let name = name.unwrap_or_default();
        client
            .info
            .legs
            .iter()
            .find(|l| l.name == name)
            .map(|l| LegFrames {
                name: l.name.clone(),
                frames: l.frames,
                duplicates: l.duplicates,
            })
            .unwrap_or_default()
    };
    let legs = LegsRead {
        client_side: leg(client.info.view.as_deref()),
        server_side: leg(server.info.view.as_deref()),
        other_legs_frames: other_frames(&client.info.legs, &pair.names),
        sessions_on_both: pairs.len() as u64,
        sessions_not_kept: [client.sessions_not_kept, server.sessions_not_kept],
        how: sides.legs.unwrap_or_default(),
    };
    let mut counters = client.counters;
    counters.add(&server.counters);
    let mut info = client.info;
    info.view = None;
    let totals = CaptureTotals {
        info,
        counters,
        error: client.error.or(server.error),
    };
    let mut line: CaptureLine<Finding> = b.finish(totals);
    let r = &mut line.record;
    // Each session once, not once per view.
    r.totals.packets.sessions = r.totals.sessions;
    r.legs = Some(legs);
    Output::Capture(Box::new(line))
}

/// Frames on legs other than the two compared.
fn other_frames(all: &[crate::capture::legs::LegCount], compared: &[String; 2]) -> u64 {
    all.iter()
        .filter(|l| !compared.contains(&l.name))
        .map(|l| l.frames)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::legs::LegCount;

    fn leg(name: &str, frames: u64) -> LegCount {
        LegCount {
            name: name.into(),
            seen_by: "vlan",
            description: None,
            frames,
            duplicates: 0,
            points: Default::default(),
            inside_device: 0,
            changed_inside: 0,
            changed_inside_frames: Vec::new(),
        }
    }

    #[test]
    fn only_the_legs_not_compared_are_other_frames() {
        let all = [leg("VLAN 10", 5), leg("VLAN 20", 7), leg("VLAN 30", 3)];
        let pair = ["VLAN 10".to_string(), "VLAN 20".to_string()];
        assert_eq!(other_frames(&all, &pair), 3);
        assert_eq!(other_frames(&all[..2], &pair), 0);
    }
}
