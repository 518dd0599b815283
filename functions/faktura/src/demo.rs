//! `faktura demo`: every sample booking through the real HTTP route, then a table of results.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use faktura_domain::i18n;
use faktura_domain::model::InvoiceStatus;
use faktura_domain::service::{pdf_key, xml_key};
use faktura_domain::values::Id;

use crate::app::{LocalApp, LocalConfig, is_ours_or_empty};
use crate::client::send_booking;
use crate::tenants;

/// One sample booking: the tenant it goes to and its file.
pub struct Sample {
    pub tenant: String,
    pub path: PathBuf,
}

/// The sample bookings: `events/webhooks/<tenant id>/*.json`, in name order.
pub fn samples(events_dir: &Path) -> Result<Vec<Sample>, String> {
    let root = events_dir.join("webhooks");
    let mut out = Vec::new();
    let mut tenants: Vec<_> = std::fs::read_dir(&root)
        .map_err(|e| format!("cannot read {}: {e}", root.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .collect();
    tenants.sort_by_key(|e| e.file_name());
    for t in tenants {
        let mut files: Vec<_> = std::fs::read_dir(t.path())
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for path in files {
            out.push(Sample {
                tenant: t.file_name().to_string_lossy().into_owned(),
                path,
            });
        }
    }
    Ok(out)
}

/// `events/` next to the current directory, else the one in the source tree.
pub fn default_events_dir() -> PathBuf {
    let here = PathBuf::from("events");
    if here.join("webhooks").is_dir() {
        here
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
    }
}

pub struct DemoRow {
    pub tenant: String,
    pub booking: String,
    pub number: String,
    pub customer: String,
    pub total: String,
    pub format: &'static str,
    pub pdf: PathBuf,
    pub xml: Option<PathBuf>,
    pub mail: PathBuf,
}

pub async fn run(data_dir: &Path, events_dir: &Path) -> Result<Vec<DemoRow>, String> {
    if !is_ours_or_empty(data_dir) {
        return Err(format!(
            "{} exists and was not made by faktura; choose another --data-dir",
            data_dir.display()
        ));
    }
    if data_dir.exists() {
        std::fs::remove_dir_all(data_dir)
            .map_err(|e| format!("cannot clear {}: {e}", data_dir.display()))?;
    }
    let samples = samples(events_dir)?;
    let demo_tenants = tenants::demo();
    let secrets: Vec<(String, String)> = demo_tenants
        .iter()
        .map(|t| {
            (
                t.record.tenant.id.to_string(),
                t.record.webhook_secrets[0].clone(),
            )
        })
        .collect();
    let mut app = LocalApp::start(LocalConfig::new(data_dir.to_path_buf(), demo_tenants)).await?;
    let addr = app.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let base = format!("http://{addr}");
    println!(
        "Faktura demo: serving on {base}, data in {}",
        data_dir.display()
    );
    println!(
        "Sending {} sample bookings from {} ...",
        samples.len(),
        events_dir.display()
    );

    let client = reqwest::Client::new();
    let mut accepted: Vec<(String, String, Id)> = Vec::new();
    for sample in &samples {
        let secret = secrets
            .iter()
            .find(|(id, _)| *id == sample.tenant)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| {
                format!(
                    "no demo tenant '{}' for {}",
                    sample.tenant,
                    sample.path.display()
                )
            })?;
        let body = std::fs::read(&sample.path)
            .map_err(|e| format!("cannot read {}: {e}", sample.path.display()))?;
        let answer = send_booking(&client, &base, &sample.tenant, &secret, body).await?;
        let name = sample
            .path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        println!(
            "  {:<16} {:<40} -> {} {}",
            sample.tenant, name, answer.status, answer.body
        );
        if answer.status == 202 {
            let v: serde_json::Value =
                serde_json::from_str(&answer.body).map_err(|e| e.to_string())?;
            let invoice_id: Id = v["invoice_id"]
                .as_str()
                .unwrap_or_default()
                .parse()
                .map_err(|e: faktura_domain::money::ValueError| e.0)?;
            accepted.push((
                sample.tenant.clone(),
                v["booking_id"].as_str().unwrap_or_default().to_string(),
                invoice_id,
            ));
        }
    }
    if let Some(first) = samples.first() {
        let secret = &secrets
            .iter()
            .find(|(id, _)| *id == first.tenant)
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let body = std::fs::read(&first.path).map_err(|e| e.to_string())?;
        let answer = send_booking(&client, &base, &first.tenant, secret, body).await?;
        println!(
            "Sent the first booking again (a platform retry): {} {} - nothing new is created.",
            answer.status, answer.body
        );
    }

    println!("Waiting for invoices to be issued, rendered and mailed ...");
    let started = Instant::now();
    let mut rows = Vec::new();
    for (tenant, booking, invoice_id) in &accepted {
        let tenant_id: Id = tenant
            .parse()
            .map_err(|e: faktura_domain::money::ValueError| e.0)?;
        let stored = loop {
            if let Some(s) = app
                .stores
                .invoices
                .invoice(&tenant_id, invoice_id)
                .await
                .map_err(|e| e.to_string())?
                && s.status == InvoiceStatus::Sent
            {
                break s;
            }
            if started.elapsed() > Duration::from_secs(300) {
                return Err(format!(
                    "invoice for booking {booking} was not sent within 5 minutes"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let inv = &stored.invoice;
        rows.push(DemoRow {
            tenant: tenant.clone(),
            booking: booking.clone(),
            number: inv.number.to_string(),
            customer: inv.buyer.legal_name().to_string(),
            total: i18n::money(inv.language, inv.totals.amount_due, inv.currency),
            format: inv.einvoice.as_str(),
            pdf: app.document_path(&pdf_key(inv)),
            xml: inv
                .einvoice
                .has_xml()
                .then(|| app.document_path(&xml_key(inv))),
            mail: app.outbox_path(inv.id.as_str()),
        });
    }
    println!(
        "All {} invoices sent in {:.1} s.\n",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    app.shutdown().await;
    Ok(rows)
}

pub fn print_table(rows: &[DemoRow]) {
    println!(
        "{:<16} {:<14} {:<16} {:<34} {:>14}  FORMAT",
        "TENANT", "BOOKING", "NUMBER", "CUSTOMER", "AMOUNT DUE"
    );
    for r in rows {
        let customer: String = r.customer.chars().take(34).collect();
        println!(
            "{:<16} {:<14} {:<16} {:<34} {:>14}  {}",
            r.tenant, r.booking, r.number, customer, r.total, r.format
        );
        println!("    pdf:  {}", r.pdf.display());
        if let Some(xml) = &r.xml {
            println!("    xml:  {}", xml.display());
        }
        println!("    mail: {}", r.mail.display());
    }
}
