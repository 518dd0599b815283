//! `faktura demo`: every sample booking through the real HTTP route, then what happens to
//! documents later (a proforma paid, cancellations, payments), then a table of every document;
//! then a course booked in instalments, billed on a simulated clock moved on by three months
//! (nobody pays: the reminders and dunning letters follow, then the owner's mail). Between
//! the two: a bank statement imported, which pays two invoices (one by its QR code's RF
//! reference, one by the number typed into the transfer) and leaves a transfer for review.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use faktura_domain::i18n;
use faktura_domain::service::{contract_key, pdf_key, xml_key};
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

/// One document of the demo's end state.
pub struct DemoRow {
    pub tenant: String,
    pub booking: String,
    pub kind: &'static str,
    pub number: String,
    pub customer: String,
    pub lifecycle: &'static str,
    pub payment: &'static str,
    pub total: String,
    pub open: String,
    pub format: &'static str,
    pub pdf: PathBuf,
    pub xml: Option<PathBuf>,
    pub contract: Option<PathBuf>,
    pub mail: PathBuf,
}

/// A customer whose balance is not zero at the end.
pub struct DemoBalance {
    pub tenant: String,
    pub customer: String,
    pub balance: String,
}

pub struct DemoReport {
    pub rows: Vec<DemoRow>,
    pub balances: Vec<DemoBalance>,
    /// The EPC QR code printed on an invoice: its PDF and the code's text.
    pub qr: Option<(PathBuf, String)>,
    /// The bank statement imported: its file and what `faktura import` printed.
    pub statement: Option<(PathBuf, String)>,
    /// The instalments of `events/schedules/`, billed on the demo's own simulated clock.
    pub instalments: Vec<DemoInstalment>,
}

/// One document of the simulated-clock part: an instalment invoice or a reminder.
pub struct DemoInstalment {
    /// `instalment` or `reminder`.
    pub kind: &'static str,
    pub number: String,
    pub issue_date: String,
    pub label: String,
    pub total: String,
    pub pdf: PathBuf,
    pub mail: PathBuf,
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    tenant: &str,
    secrets: &[(String, String)],
    path: &Path,
) -> Result<(u16, String), String> {
    let secret = secrets
        .iter()
        .find(|(id, _)| id == tenant)
        .map(|(_, s)| s.clone())
        .ok_or_else(|| format!("no demo tenant '{tenant}' for {}", path.display()))?;
    let body = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let answer = send_booking(client, base, tenant, &secret, body).await?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    println!(
        "  {tenant:<16} {name:<40} -> {} {}",
        answer.status, answer.body
    );
    Ok((answer.status, answer.body))
}

/// Waits until every job of the demo's tenants that is due is done (or failed) and no
/// document waits for its mail (the invoices' dunning jobs wait for their days).
async fn settle(app: &LocalApp, tenants: &[Id]) -> Result<(), String> {
    use faktura_domain::jobs::JobState;
    let started = Instant::now();
    loop {
        let mut busy = false;
        let now = app.stores.clock.now();
        for t in tenants {
            for state in [JobState::Pending, JobState::Running] {
                let page = app
                    .stores
                    .jobs
                    .jobs(t, Some(state), None, 200)
                    .await
                    .map_err(|e| e.to_string())?;
                busy |= page
                    .jobs
                    .iter()
                    .any(|j| state == JobState::Running || j.due_at <= now);
            }
        }
        if !busy {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err("the demo's work did not finish within 5 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn run(data_dir: &Path, events_dir: &Path) -> Result<DemoReport, String> {
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
    let tenant_ids: Vec<Id> = demo_tenants
        .iter()
        .map(|t| t.record.tenant.id.clone())
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
    let started = Instant::now();
    for sample in &samples {
        send(&client, &base, &sample.tenant, &secrets, &sample.path).await?;
    }
    if let Some(first) = samples.first() {
        let secret = secrets
            .iter()
            .find(|(id, _)| *id == first.tenant)
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let body = std::fs::read(&first.path)
            .map_err(|e| format!("cannot read {}: {e}", first.path.display()))?;
        let answer = send_booking(&client, &base, &first.tenant, &secret, body).await?;
        let (status, body) = (answer.status, answer.body);
        println!(
            "Sent the first booking again (a platform retry): {status} {body} - nothing new is created."
        );
    }
    settle(&app, &tenant_ids).await?;

    // The life of documents: a proforma that is paid (the invoice comes with the contract), a
    // partial cancellation, a partial payment, an overpayment and a cancellation after it.
    let life = life_events(events_dir)?;
    if !life.is_empty() {
        println!(
            "\nWhat happens next: {} booking events from {} ...",
            life.len(),
            events_dir.join("life").display()
        );
        for sample in &life {
            send(&client, &base, &sample.tenant, &secrets, &sample.path).await?;
            // Each event is applied before the next one comes, as a platform would send them.
            settle(&app, &tenant_ids).await?;
        }
    }
    settle(&app, &tenant_ids).await?;
    let (qr, statement) = money_in(&app, &client, &base, data_dir).await?;
    settle(&app, &tenant_ids).await?;
    // The demo tenants are in Berlin.
    let today = faktura_domain::values::TimeZone::BERLIN.date_of(app.stores.clock.now());
    let mut rows = Vec::new();
    let mut balances = Vec::new();
    for t in &tenant_ids {
        let mut cursor = None;
        let mut customers = std::collections::BTreeSet::new();
        loop {
            let page = app
                .stores
                .repository
                .documents(t, &Default::default(), cursor.as_deref(), 200)
                .await
                .map_err(|e| e.to_string())?;
            for doc in &page.documents {
                let inv = &doc.content;
                customers.insert(inv.buyer.customer_key.clone());
                let shown = inv.totals.tax_inclusive + inv.totals.rounding;
                rows.push(DemoRow {
                    tenant: t.to_string(),
                    booking: inv
                        .booking_id
                        .as_ref()
                        .map(|b| b.to_string())
                        .unwrap_or_default(),
                    kind: inv.kind.as_str(),
                    number: inv.number.to_string(),
                    customer: inv.buyer.legal_name().to_string(),
                    lifecycle: doc.lifecycle.as_str(),
                    payment: if doc.is_overdue(today) {
                        "overdue"
                    } else {
                        doc.payment_state().as_str()
                    },
                    total: i18n::money(inv.language, shown, inv.currency),
                    open: i18n::money(inv.language, doc.settlement.open(), inv.currency),
                    format: if inv.kind.is_tax_document() {
                        inv.einvoice.as_str()
                    } else {
                        "pdf"
                    },
                    pdf: app.document_path(&pdf_key(inv)),
                    xml: (inv.kind.is_tax_document() && inv.einvoice.has_xml())
                        .then(|| app.document_path(&xml_key(inv))),
                    contract: Some(app.document_path(&contract_key(inv))).filter(|p| p.exists()),
                    mail: app.outbox_path(inv.id.as_str()),
                });
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        for key in customers {
            let ledger = app
                .stores
                .repository
                .ledger(t, &key)
                .await
                .map_err(|e| e.to_string())?;
            let balance = faktura_domain::ledger::balance(&ledger);
            if !balance.is_zero() {
                let customer = app
                    .stores
                    .repository
                    .customer(t, &key)
                    .await
                    .map_err(|e| e.to_string())?;
                balances.push(DemoBalance {
                    tenant: t.to_string(),
                    customer: customer.map(|c| c.company.unwrap_or(c.name)).unwrap_or(key),
                    balance: i18n::money(
                        faktura_domain::values::Language::De,
                        balance,
                        faktura_domain::money::Currency::EUR,
                    ),
                });
            }
        }
    }
    let sent = rows.iter().filter(|r| r.mail.exists()).count();
    println!(
        "\nAll {} documents issued, {sent} mailed, {:.1} s after the first booking came in.\n",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    app.shutdown().await;
    let instalments = instalments(data_dir, events_dir).await?;
    Ok(DemoReport {
        rows,
        balances,
        qr,
        statement,
        instalments,
    })
}

/// Money in: the QR code of the demo tenant's first open invoice, then a bank statement (as
/// the bank would export it) paying it by the code's RF reference and the second open invoice
/// by its number in the transfer text, plus a transfer nobody can place; imported through
/// `POST /v1/bank-statements` as `faktura import` does.
async fn money_in(
    app: &LocalApp,
    client: &reqwest::Client,
    base: &str,
    data_dir: &Path,
) -> Result<(Option<(PathBuf, String)>, Option<(PathBuf, String)>), String> {
    use faktura_bank::sample::{Entry, camt053};
    use faktura_domain::payment_codes::{PaymentRequest, epc_qr_payload};
    let tenant: Id = tenants::DEMO_TENANT
        .parse()
        .map_err(|e: faktura_domain::money::ValueError| e.0)?;
    let open = app
        .stores
        .repository
        .documents(
            &tenant,
            &faktura_domain::ports::DocumentFilter {
                kind: Some(faktura_domain::model::DocumentKind::Invoice),
                payment: Some(faktura_domain::document::PaymentState::Open),
                ..Default::default()
            },
            None,
            200,
        )
        .await
        .map_err(|e| e.to_string())?
        .documents;
    // Invoices nothing happened to since (no credit note): what the code asks is what is open.
    let open: Vec<_> = open
        .into_iter()
        .filter(|d| d.settlement.open() == d.content.totals.amount_due)
        .collect();
    let [first, second, ..] = open.as_slice() else {
        return Ok((None, None));
    };
    let qr = PaymentRequest::of(&first.content).and_then(|request| {
        let bank = first.content.seller.bank.as_ref()?;
        epc_qr_payload(bank, &request)
            .map(|code| (app.document_path(&pdf_key(&first.content)), code))
    });
    let mut by_code = Entry::credit(
        "DEMO-1",
        &first.settlement.open().to_string(),
        &first.content.buyer.name,
        "",
    );
    by_code.creditor_reference =
        PaymentRequest::of(&first.content).map(|r| r.remittance.electronic().to_string());
    let entries = [
        by_code,
        Entry::credit(
            "DEMO-2",
            &second.settlement.open().to_string(),
            &second.content.buyer.name,
            &format!("Rechnung {} vielen Dank", second.content.number),
        ),
        Entry::credit("DEMO-3", "25.00", "Unbekannt", "Kursgebuehr"),
    ];
    let file = data_dir.join("bank").join("kontoauszug-camt053.xml");
    let xml = camt053("DEMO-STATEMENT", &entries);
    std::fs::create_dir_all(file.parent().unwrap_or(data_dir))
        .and_then(|()| std::fs::write(&file, &xml))
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let answer = crate::client::import_statement(client, base, tenants::DEMO_API_KEY, xml).await?;
    if answer.status != 200 {
        return Err(format!(
            "the statement import answered {}: {}",
            answer.status, answer.body
        ));
    }
    Ok((
        qr,
        Some((file, crate::client::import_report(&answer.body)?)),
    ))
}

/// `events/schedules/<tenant>/*.json` (bookings billed in instalments) on a local Faktura of
/// its own (`DIR/instalments`) whose clock is simulated: it starts on the booking's day and is
/// moved on by two months, as `POST /v1/dev/clock` does; each instalment is issued and mailed
/// on its own day.
async fn instalments(data_dir: &Path, events_dir: &Path) -> Result<Vec<DemoInstalment>, String> {
    let root = events_dir.join("schedules").join(tenants::DEMO_TENANT);
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let Some(first) = files.first() else {
        return Ok(Vec::new());
    };
    let booked_at = std::fs::read_to_string(first)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["data"]["booked_at"].as_str().map(str::to_string))
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok_or_else(|| format!("{} has no data.booked_at", first.display()))?;
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
    let mut config = LocalConfig::new(data_dir.join("instalments"), demo_tenants);
    config.simulated_clock = Some(booked_at + chrono::TimeDelta::hours(1));
    let mut app = LocalApp::start(config).await?;
    let addr = app.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let base = format!("http://{addr}");
    let clock = app
        .state
        .dev_clock
        .clone()
        .ok_or("the simulated clock is missing")?;
    println!(
        "\nInstalments, on a simulated clock starting {} (data in {}):",
        clock.now().to_rfc3339(),
        data_dir.join("instalments").display()
    );
    let client = reqwest::Client::new();
    for path in &files {
        send(&client, &base, tenants::DEMO_TENANT, &secrets, path).await?;
    }
    let to = clock
        .now()
        .checked_add_months(chrono::Months::new(3))
        .ok_or("the clock cannot move three months")?;
    let moved = clock.move_to(to).await.map_err(|e| e.message)?;
    println!(
        "  moved the clock to {} ({} stops, {} jobs run on the way)",
        moved.now.to_rfc3339(),
        moved.stops,
        moved.jobs_run
    );
    let tenant: Id = tenants::DEMO_TENANT
        .parse()
        .map_err(|e: faktura_domain::money::ValueError| e.0)?;
    let page = app
        .stores
        .repository
        .documents(&tenant, &Default::default(), None, 200)
        .await
        .map_err(|e| e.to_string())?;
    let out = page
        .documents
        .iter()
        .filter(|doc| {
            doc.collective.is_none()
                && matches!(
                    doc.kind(),
                    faktura_domain::model::DocumentKind::Invoice
                        | faktura_domain::model::DocumentKind::Reminder
                )
        })
        .map(|doc| {
            let inv = &doc.content;
            let (kind, label) = match (&inv.reminder, &inv.preceding) {
                (Some(facts), Some(of)) => (
                    "reminder",
                    format!(
                        "{} zu {}",
                        i18n::reminder_title(inv.language, facts.level),
                        of.number
                    ),
                ),
                _ => (
                    "instalment",
                    inv.lines
                        .first()
                        .map(|l| l.description.clone())
                        .unwrap_or_default(),
                ),
            };
            DemoInstalment {
                kind,
                number: inv.number.to_string(),
                issue_date: inv.issue_date.to_string(),
                label,
                total: i18n::money(inv.language, inv.totals.amount_due, inv.currency),
                pdf: app.document_path(&pdf_key(inv)),
                mail: app.outbox_path(inv.id.as_str()),
            }
        })
        .collect::<Vec<_>>();
    // Invoices whose every level went out: the owner's mail says so.
    let mut out = out;
    // The collected lessons became a collective draft on 1 March, waiting for the owner (the
    // digest told them); the demo approves it now, so it is issued and mailed.
    let pending = faktura_domain::ports::DocumentFilter {
        pending_on: Some(tenants::demo()[0].record.tenant.today(clock.now())),
        ..Default::default()
    };
    let drafts = app
        .stores
        .repository
        .documents(&tenant, &pending, None, 50)
        .await
        .map_err(|e| e.to_string())?
        .documents;
    for draft in &drafts {
        let due = draft
            .collective
            .as_ref()
            .map(|c| c.due_on)
            .unwrap_or_default();
        let digest = std::fs::read_dir(app.outbox_dir.clone())
            .ok()
            .and_then(|d| {
                d.filter_map(Result::ok).map(|e| e.path()).find(|p| {
                    p.file_name().is_some_and(|n| {
                        n.to_string_lossy()
                            .starts_with(&format!("digest-{tenant}-{due}"))
                    })
                })
            })
            .unwrap_or_default();
        out.push(DemoInstalment {
            kind: "digest",
            number: String::new(),
            issue_date: due.to_string(),
            label: "Sammelrechnung wartet auf Freigabe: Mail an den Inhaber".into(),
            total: i18n::money(
                draft.content.language,
                draft.content.totals.amount_due,
                draft.content.currency,
            ),
            pdf: PathBuf::new(),
            mail: digest,
        });
        let r = client
            .post(format!("{base}/v1/invoices/{}/issue", draft.id()))
            .bearer_auth(tenants::DEMO_API_KEY)
            .send()
            .await
            .map_err(|e| format!("approving {}: {e}", draft.id()))?;
        println!(
            "  approved collective draft {} -> {}",
            draft.id(),
            r.status().as_u16()
        );
    }
    settle(&app, std::slice::from_ref(&tenant)).await?;
    for draft in &drafts {
        let Some(doc) = app
            .stores
            .repository
            .document(&tenant, draft.id())
            .await
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        let inv = &doc.content;
        out.push(DemoInstalment {
            kind: "collective",
            number: inv.number.to_string(),
            issue_date: inv.issue_date.to_string(),
            label: format!("Sammelrechnung, {} Positionen", inv.lines.len()),
            total: i18n::money(inv.language, inv.totals.amount_due, inv.currency),
            pdf: app.document_path(&pdf_key(inv)),
            mail: app.outbox_path(inv.id.as_str()),
        });
    }
    for doc in page.documents.iter().filter(|d| d.dunning.exhausted) {
        out.push(DemoInstalment {
            kind: "owner",
            number: doc.content.number.to_string(),
            issue_date: String::new(),
            label: "Mahnstufen ausgeschöpft: Mail an den Inhaber".into(),
            total: i18n::money(
                doc.content.language,
                doc.settlement.open(),
                doc.content.currency,
            ),
            pdf: PathBuf::new(),
            mail: app.outbox_path(&format!("owner-{}", doc.id())),
        });
    }
    app.shutdown().await;
    Ok(out)
}

/// `events/life/<tenant>/*.json`, in name order: what happens to the samples later.
fn life_events(events_dir: &Path) -> Result<Vec<Sample>, String> {
    let root = events_dir.join("life");
    if !root.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for t in std::fs::read_dir(&root)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
    {
        let mut files: Vec<PathBuf> = std::fs::read_dir(t.path())
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

pub fn print_table(report: &DemoReport) {
    println!(
        "{:<16} {:<8} {:<11} {:<16} {:<30} {:<18} {:<14} {:>12} {:>12}  FORMAT",
        "TENANT", "BOOKING", "KIND", "NUMBER", "CUSTOMER", "STATE", "PAYMENT", "TOTAL", "OPEN"
    );
    for r in &report.rows {
        let customer: String = r.customer.chars().take(30).collect();
        println!(
            "{:<16} {:<8} {:<11} {:<16} {:<30} {:<18} {:<14} {:>12} {:>12}  {}",
            r.tenant,
            r.booking,
            r.kind,
            r.number,
            customer,
            r.lifecycle,
            r.payment,
            r.total,
            r.open,
            r.format
        );
        println!("    pdf:  {}", r.pdf.display());
        if let Some(xml) = &r.xml {
            println!("    xml:  {}", xml.display());
        }
        if let Some(contract) = &r.contract {
            println!("    contract: {}", contract.display());
        }
        println!("    mail: {}", r.mail.display());
    }
    if let Some((pdf, code)) = &report.qr {
        println!(
            "\nEvery EUR invoice carries an EPC QR code (GiroCode) for its banking app; this one is on {}:",
            pdf.display()
        );
        for line in code.lines() {
            println!("    | {line}");
        }
    }
    if let Some((file, printed)) = &report.statement {
        println!(
            "\nA bank statement imported (`faktura import {}`):",
            file.display()
        );
        for line in printed.lines() {
            println!("  {line}");
        }
        println!("  The review list: GET /v1/bank-transactions?state=unmatched");
    }
    if !report.balances.is_empty() {
        println!("\nCustomer balances (negative: credit owed to the customer):");
        for b in &report.balances {
            println!("  {:<16} {:<40} {:>12}", b.tenant, b.customer, b.balance);
        }
    }
    if !report.instalments.is_empty() {
        println!(
            "\nInstalment invoices, each issued and mailed on its day; nobody pays, so each is \
             chased (reminder 7 days after its due date, dunning letters at 21 and 35 days, then \
             the owner is told):"
        );
        for i in &report.instalments {
            match i.kind {
                "owner" | "digest" => {
                    println!(
                        "  {:<10} {:<16} {:<10} {:<60} {:>12}",
                        i.kind, i.number, i.issue_date, i.label, i.total
                    );
                    println!("    mail: {}", i.mail.display());
                }
                kind => {
                    println!(
                        "  {kind:<10} {:<16} {:<10} {:<60} {:>12}",
                        i.number, i.issue_date, i.label, i.total
                    );
                    println!("    pdf:  {}", i.pdf.display());
                    println!("    mail: {}", i.mail.display());
                }
            }
        }
    }
}
