//! Reads PDFs back the way a person's viewer would: poppler's `pdftotext` and `pdfinfo`
//! (installed by `scripts/test`).

use std::io::Write;
use std::process::{Command, Stdio};

fn run(tool: &str, args: &[&str], pdf: &[u8]) -> String {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool} ({e}); install poppler-utils (scripts/test does)")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(pdf)
        .expect("write pdf");
    let out = child.wait_with_output().expect("pdf tool output");
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 text")
}

/// The text of every page, pages separated by form feeds (`\f`).
pub fn text(pdf: &[u8]) -> String {
    run("pdftotext", &["-layout", "-enc", "UTF-8", "-", "-"], pdf)
}

/// The text with all runs of white space folded to one space (layout-independent checks).
pub fn flat_text(pdf: &[u8]) -> String {
    text(pdf).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The QR codes on the pages of `pdf` as a banking app reads them: rasterised by pdftoppm,
/// decoded by zxing-cpp, EPC fields split and the IBAN and BIC checked by schwifty
/// (`scripts/read_payment_codes.py`, in the venv `scripts/install-test-tools` makes).
pub fn payment_codes(pdf: &[u8]) -> serde_json::Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    let script = root.join("scripts/read_payment_codes.py");
    let out = run(
        python.to_str().expect("utf-8 path"),
        &[script.to_str().expect("utf-8 path"), "-"],
        pdf,
    );
    serde_json::from_str(&out).expect("the script prints JSON")
}

pub fn page_count(pdf: &[u8]) -> usize {
    let info = run("pdfinfo", &["-"], pdf);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("pdfinfo reports pages")
}
