//! The real proof: every invoice of the matrix is written in each form Faktura can issue it —
//! CII Factur-X EN16931, CII XRechnung 3.0, UBL EN 16931 and UBL XRechnung 3.0 — and each
//! document is checked against what it declares by the official rules
//! (`scripts/validate_einvoice.py`): the XSD, CEN's EN 16931 rules, Factur-X's profile rules
//! for Factur-X documents, and KoSIT's XRechnung rules for documents that declare XRechnung.
//!
//! A document that declares XRechnung must pass KoSIT's rules whenever the domain says the
//! invoice can be an XRechnung (`xrechnung_problems` finds nothing): that is what the webhook
//! checks before it accepts a booking. Where the domain finds problems, KoSIT must find the
//! same BR-DE rules — so the checks at intake and the official rules agree, both ways.
//! One validator process for all files: compiling the stylesheets takes seconds.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use faktura_domain::model::{EInvoiceFormat, Invoice};
use faktura_einvoice::{CiiProfile, Severity, to_cii_with, to_ubl_with, xrechnung_problems_with};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CiiFacturX,
    CiiXRechnung,
    UblEn16931,
    UblXRechnung,
}

impl Kind {
    fn xrechnung(self) -> bool {
        matches!(self, Kind::CiiXRechnung | Kind::UblXRechnung)
    }
}

/// BR-DE rules are the ones both the domain and KoSIT speak about; KoSIT's other rules
/// (Peppol's, BR-DEX) must not fire at all.
fn is_br_de(rule: &str) -> bool {
    rule.starts_with("BR-DE-")
}

#[test]
fn every_document_passes_the_official_rules_for_what_it_declares() {
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
    let mut files: Vec<(PathBuf, usize, Kind, Invoice)> = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut as_xrechnung = case.invoice.clone();
        as_xrechnung.einvoice = EInvoiceFormat::Xrechnung;
        let mut as_plain = case.invoice.clone();
        if as_plain.einvoice == EInvoiceFormat::Xrechnung {
            as_plain.einvoice = EInvoiceFormat::Zugferd;
        }
        // Invoices lacking what XRechnung needs: the domain's checks and KoSIT's must agree on
        // what is missing, rule for rule.
        let mut no_contact = as_xrechnung.clone();
        no_contact.seller.contact_name = None;
        no_contact.seller.phone = None;
        no_contact.buyer_reference = None;
        let mut no_bank = as_xrechnung.clone();
        no_bank.seller.bank = None;
        for (variant, invoice) in [("no-contact", no_contact), ("no-bank", no_bank)] {
            for (kind, suffix, xml) in [
                (
                    Kind::CiiXRechnung,
                    "cii-xrechnung",
                    to_cii_with(&invoice, CiiProfile::XRechnung3, &case.options),
                ),
                (
                    Kind::UblXRechnung,
                    "ubl-xrechnung",
                    to_ubl_with(&invoice, &case.options),
                ),
            ] {
                let path = dir_path.join(format!("{:02}-{}-{variant}-{suffix}.xml", i, case.name));
                std::fs::write(&path, xml).unwrap();
                files.push((path, i, kind, invoice.clone()));
            }
        }
        for kind in [
            Kind::CiiFacturX,
            Kind::CiiXRechnung,
            Kind::UblEn16931,
            Kind::UblXRechnung,
        ] {
            let (suffix, xml) = match kind {
                Kind::CiiFacturX => (
                    "cii-facturx",
                    to_cii_with(&as_plain, CiiProfile::FacturXEn16931, &case.options),
                ),
                Kind::CiiXRechnung => (
                    "cii-xrechnung",
                    to_cii_with(&as_xrechnung, CiiProfile::XRechnung3, &case.options),
                ),
                Kind::UblEn16931 => ("ubl-en16931", to_ubl_with(&as_plain, &case.options)),
                Kind::UblXRechnung => ("ubl-xrechnung", to_ubl_with(&as_xrechnung, &case.options)),
            };
            let path = dir_path.join(format!("{:02}-{}-{suffix}.xml", i, case.name));
            std::fs::write(&path, xml).unwrap();
            let subject = if kind.xrechnung() {
                &as_xrechnung
            } else {
                &as_plain
            };
            files.push((path, i, kind, subject.clone()));
        }
    }
    let paths: Vec<PathBuf> = files.iter().map(|(p, _, _, _)| p.clone()).collect();
    let (verdicts, elapsed) = support::validate(&paths);
    assert_eq!(verdicts.len(), files.len(), "one verdict per file");
    let kosit = verdicts.iter().all(|v| v.kosit);

    let mut failures = Vec::new();
    let mut gaps_seen: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut warnings: BTreeMap<String, usize> = BTreeMap::new();
    let mut agreements = 0;
    for ((path, i, kind, subject), verdict) in files.iter().zip(&verdicts) {
        let case = &cases[*i];
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            verdict.file,
            path.to_string_lossy(),
            "verdicts in file order"
        );
        let want_syntax = if matches!(kind, Kind::UblEn16931 | Kind::UblXRechnung) {
            "ubl"
        } else {
            "cii"
        };
        if verdict.syntax.as_deref() != Some(want_syntax) {
            failures.push(format!("{name}: detected as {:?}", verdict.syntax));
        }
        if verdict.xsd_ok != Some(true) {
            failures.push(format!("{name}: XSD: {:?}", verdict.xsd_error));
        }
        let declares_xrechnung = verdict
            .guideline
            .as_deref()
            .is_some_and(|g| g == faktura_einvoice::XRECHNUNG_3_ID);
        if declares_xrechnung != kind.xrechnung() {
            failures.push(format!(
                "{name}: declares {:?}, which is not what it is",
                verdict.guideline
            ));
        }
        if kind.xrechnung() && kosit && !verdict.rule_sets.iter().any(|r| r.starts_with("kosit")) {
            failures.push(format!("{name}: KoSIT's rules did not run"));
        }
        // What the domain predicts for an XRechnung of this invoice.
        let mut predicted: BTreeSet<String> = BTreeSet::new();
        if kind.xrechnung() {
            predicted = xrechnung_problems_with(subject, &case.options)
                .iter()
                .filter(|p| p.severity() == Severity::Error)
                .map(|p| p.rule.to_string())
                .collect();
        }
        let found_br_de: BTreeSet<String> = verdict
            .errors
            .iter()
            .map(|(id, _)| id.clone())
            .filter(|id| is_br_de(id))
            .collect();
        if kind.xrechnung() && kosit {
            if predicted == found_br_de {
                agreements += 1;
            } else {
                failures.push(format!(
                    "{name}: the domain predicts {predicted:?}, KoSIT finds {found_br_de:?}"
                ));
            }
        }
        for (id, text) in &verdict.errors {
            let expected = case.known_gaps.contains(&id.as_str()) || predicted.contains(id);
            if !expected {
                failures.push(format!("{name}: [{id}] {text}"));
            }
        }
        for gap in &case.known_gaps {
            if verdict.errors.iter().any(|(id, _)| id == gap) {
                gaps_seen.entry(gap).or_default().push(name.clone());
            } else if !kind.xrechnung() && subject == &case.invoice {
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
        "validated {} files ({} invoices × CII Factur-X, CII XRechnung, UBL EN 16931, UBL XRechnung, plus 2 incomplete XRechnung variants each) in {:.1} s; KoSIT rules {}; the domain's BR-DE checks agreed with KoSIT on {agreements} documents",
        files.len(),
        cases.len(),
        elapsed.as_secs_f64(),
        if kosit {
            "applied"
        } else {
            "NOT AVAILABLE (see the validator's note)"
        },
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
