//! The whole pipeline over a byte buffer: read, decode, reassemble, FTP,
//! rules, and every report format; JSON must stay valid JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portmortem::analysis::{Options, analyze_reader};
use portmortem::capture::CaptureReader;
use portmortem::capture::input::{HashMode, open_reader};
use portmortem::report::{html, markdown, model, text};

fuzz_target!(|data: &[u8]| {
    let src = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(opened) = open_reader("fuzz".into(), src, HashMode::Off) else {
        return;
    };
    let Ok(reader) = CaptureReader::from_opened(opened) else {
        return;
    };
    let mut opts = Options::default();
    opts.engine.ports = vec![2121];
    let r = analyze_reader(reader, &opts, &mut |_| {});
    let results = vec![r];
    let rep = model::analyze_report(&results, Default::default());
    let json = serde_json::to_vec(&rep).unwrap();
    serde_json::from_slice::<serde_json::Value>(&json).expect("valid JSON");
    let style = text::Style {
        color: false,
        width: 100,
        dialogue: true,
    };
    let mut out = Vec::new();
    text::render(&rep, &style, &mut out).unwrap();
    markdown::render(&rep, &mut out).unwrap();
    html::render(&rep, &mut out).unwrap();
});
