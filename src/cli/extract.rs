//! `portmortem extract`: the packets of chosen sessions as evidence.

use super::{ExtractArgs, warn};
use crate::capture::Source;
use crate::command;
use crate::report;
use crate::report::output::{Destination, refuse_inputs};
use std::io::IsTerminal;
pub(super) fn extract(a: ExtractArgs) -> i32 {
    if let Err(e) = super::named_captures([a.capture.as_path()]) {
        warn(e);
        return report::EXIT_USAGE;
    }
    if let Err(e) = refuse_inputs(&a.output, [a.capture.as_path()]) {
        warn(e);
        return report::EXIT_USAGE;
    }
    let plan = command::AnalyzePlan::new(&a.analysis.tunables());
    let r = match plan.run(Source::Path(a.capture.clone())) {
        Ok(r) => r,
        Err(e) => {
            warn(e);
            return report::EXIT_USAGE;
        }
    };
    if let Some(e) = &r.error {
        warn(e);
    }
    let to_stdout = a.output.as_os_str() == "-";
    if to_stdout && std::io::stdout().is_terminal() {
        warn("a pcapng file is not for a terminal: give -o FILE or redirect standard output");
        return report::EXIT_USAGE;
    }
    let mut out = match Destination::create(Some(&a.output), [a.capture.as_path()]) {
        Ok(d) => d,
        Err(e) => {
            warn(e);
            return report::EXIT_USAGE;
        }
    };
    let sel = crate::extract::Selection {
        sessions: a.sessions,
        with_data: a.with_data,
        anonymize_key: plan.options.engine.anonymize_key.clone(),
        show_passwords: plan.options.show_passwords,
    };
    let written = crate::extract::extract(&a.capture, &r, &sel, &mut out);
    match written {
        Ok(w) => {
            if let Err(e) = out.commit()
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                warn(format!(
                    "{}: cannot write: {e}",
                    crate::escape::printable(&a.output.to_string_lossy())
                ));
                return report::EXIT_USAGE;
            }
            eprintln!(
                "portmortem: wrote {} packets of tcp.stream {} ({} finding comments) to {}",
                w.packets,
                w.streams
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                w.comments,
                crate::escape::printable(&a.output.to_string_lossy())
            );
            // The exit codes hold here too: 1 when a session written out
            // has an error finding.
            let chosen: Vec<_> = r
                .findings
                .iter()
                .filter(|f| sel.sessions.contains(&f.session))
                .cloned()
                .collect();
            report::exit_code(&chosen)
        }
        Err(e) => {
            // Dropping the uncommitted output removes its temporary file.
            warn(e);
            report::EXIT_USAGE
        }
    }
}
