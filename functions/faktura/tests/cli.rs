//! The `faktura` binary as a user runs it: `demo`, `serve` and `send`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_faktura");

fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn demo_turns_every_sample_into_an_invoice_pdf_and_mail() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = Command::new(BIN)
        .current_dir(repo_root())
        .args(["demo", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples = std::fs::read_dir(repo_root().join("events/webhooks"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .count();
    let life = std::fs::read_dir(repo_root().join("events/life"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .count();
    assert_eq!(life, 6, "the demo's life events");
    // Every sample booking is invoiced; the life events add a proforma, its final invoice
    // and two credit notes (the payments make no document). All are mailed.
    let documents = samples + 4;
    assert!(
        stdout.contains(&format!(
            "All {documents} documents issued, {documents} mailed"
        )),
        "{stdout}"
    );
    // Money in: an invoice's QR code, and a statement that pays two invoices and leaves one
    // transfer for review (their rows below show them paid).
    assert!(stdout.contains("EPC QR code (GiroCode)"), "{stdout}");
    assert!(
        stdout.contains("    | BCD\n    | 002\n    | 1\n    | SCT"),
        "{stdout}"
    );
    assert!(
        stdout.contains("3 transaction(s) new, 0 recorded before; 2 matched, 1 for review"),
        "{stdout}"
    );
    assert!(stdout.contains("[creditor_reference]") && stdout.contains("[number_in_text]"));
    let statement = data.join("bank/kontoauszug-camt053.xml");
    assert!(statement.exists(), "the statement file is kept");
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("demo ") || l.starts_with("kleinunternehmer "))
        .filter(|l| !l.contains(".json"))
        .collect();
    assert_eq!(rows.len(), documents, "{stdout}");
    for (kind, state, payment) in [
        ("proforma", "converted", "nothing_due"),
        ("invoice", "cancelled", "overpaid"),
        ("invoice", "partially_credited", "open"),
        ("invoice", "issued", "partially_paid"),
        ("invoice", "issued", "paid"),
        ("credit_note", "issued", "nothing_due"),
    ] {
        assert!(
            rows.iter().any(|r| {
                let cols: Vec<&str> = r.split_whitespace().collect();
                cols.get(2) == Some(&kind) && cols.contains(&state) && cols.contains(&payment)
            }),
            "no {kind} {state} {payment} in\n{stdout}"
        );
    }
    assert!(
        stdout.contains("contract:"),
        "the final invoice's contract: {stdout}"
    );
    assert!(stdout.contains("Customer balances"), "{stdout}");
    assert!(stdout.contains("nothing new is created"), "{stdout}");
    // The course in three instalments, on the demo's own clock: 31 Jan, 28 Feb, 31 Mar.
    let instalments: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("instalment "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(instalments.len(), 3, "{stdout}");
    for (row, (n, day)) in
        instalments
            .iter()
            .zip([(1, "2027-01-31"), (2, "2027-02-28"), (3, "2027-03-31")])
    {
        assert_eq!(row[1], format!("RE-2027-{n:05}"), "{stdout}");
        assert_eq!(row[2], day, "{stdout}");
        assert_eq!(row[3..6], ["Rate", &n.to_string(), "von"], "{stdout}");
        assert_eq!(row.last(), Some(&"€"), "{stdout}");
        assert_eq!(row[row.len() - 2], "800,00", "{stdout}");
    }
    // Nobody pays: each instalment is chased on its days, letters in their own series, then
    // the owner is told of the two whose every level went out.
    let reminders: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("reminder "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let expected = [
        (
            "2027-02-21",
            "Zahlungserinnerung",
            "RE-2027-00001",
            "800,00",
        ),
        ("2027-03-07", "1. Mahnung", "RE-2027-00001", "804,42"),
        ("2027-03-21", "2. Mahnung", "RE-2027-00001", "811,35"),
        (
            "2027-03-21",
            "Zahlungserinnerung",
            "RE-2027-00002",
            "800,00",
        ),
        ("2027-04-04", "1. Mahnung", "RE-2027-00002", "804,42"),
        ("2027-04-18", "2. Mahnung", "RE-2027-00002", "811,35"),
        (
            "2027-04-21",
            "Zahlungserinnerung",
            "RE-2027-00003",
            "800,00",
        ),
    ];
    assert_eq!(reminders.len(), expected.len(), "{stdout}");
    // Two letters may fall on one day (their numbers then in either order): compare as sets.
    let mut got: Vec<(String, String)> = reminders
        .iter()
        .map(|row| (row[2].to_string(), row[3..].join(" ")))
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = expected
        .iter()
        .map(|(day, title, invoice, total)| {
            (day.to_string(), format!("{title} zu {invoice} {total} €"))
        })
        .collect();
    want.sort();
    assert_eq!(got, want, "{stdout}");
    let mut numbers: Vec<&str> = reminders.iter().map(|row| row[1]).collect();
    numbers.sort();
    let series: Vec<String> = (1..=expected.len())
        .map(|n| format!("MA-2027-{n:05}"))
        .collect();
    assert_eq!(numbers, series, "one gapless series: {stdout}");
    let owners = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("owner "))
        .count();
    assert_eq!(owners, 2, "{stdout}");
    // The lessons booked with "billing": "collect" waited for the month's end, became one
    // collective draft on 1 March (the owner's digest said so), and were approved: the next
    // number after the instalments.
    let digest = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("digest "))
        .count();
    assert_eq!(digest, 1, "{stdout}");
    let collective: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("collective "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(collective.len(), 1, "{stdout}");
    assert_eq!(collective[0][1], "RE-2027-00004", "{stdout}");
    assert_eq!(collective[0][collective[0].len() - 2], "130,00", "{stdout}");
    for line in stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("pdf:") || l.trim_start().starts_with("mail:"))
    {
        let path = line.split_once(':').unwrap().1.trim();
        assert!(Path::new(path).is_file(), "{path} is missing");
    }
    // A second demo run wipes its own data dir and starts numbering again.
    let again = Command::new(BIN)
        .current_dir(repo_root())
        .args(["demo", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("-00001"));
}

#[test]
fn demo_refuses_a_folder_it_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious.txt"), "keep me").unwrap();
    let out = Command::new(BIN)
        .args(["demo", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not made by faktura"));
    assert!(dir.path().join("precious.txt").exists());
}

#[test]
fn serve_and_send_like_a_platform() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut banner = String::new();
    let mut lines = BufReader::new(stdout).lines();
    let started = Instant::now();
    while !banner.contains("listening") {
        let line = lines.next().expect("server output").unwrap();
        banner.push_str(&line);
        banner.push('\n');
        assert!(started.elapsed() < Duration::from_secs(30), "{banner}");
    }
    assert!(banner.contains("for local use only"), "{banner}");

    let url = format!("http://127.0.0.1:{port}");
    let event = repo_root().join("events/webhooks/demo/01-b2c-gross.json");
    let sent = Command::new(BIN)
        .arg("send")
        .arg(&event)
        .args(["--url", &url])
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&sent.stdout);
    assert!(sent.status.success(), "{answer}");
    assert!(
        answer.starts_with("202 ") && answer.contains("\"booking_id\":\"bk_1001\""),
        "{answer}"
    );

    let wrong = Command::new(BIN)
        .arg("send")
        .arg(&event)
        .args([
            "--url",
            &url,
            "--secret",
            "whsec_b3RoZXItc2VjcmV0LW9mLWF0LWxlYXN0LTI0LWJ5dGVz",
        ])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stdout).starts_with("401 "));

    // A bank statement as a savings bank exports it: nothing in it pays this server's
    // invoices, so its credits wait for review and its debit is ignored; again: recorded before.
    let statement = repo_root().join("shared/bank/tests/statements/camt053_001_02_sparkasse.xml");
    let import = |file: &std::path::Path| {
        Command::new(BIN)
            .arg("import")
            .arg(file)
            .args(["--url", &url])
            .output()
            .unwrap()
    };
    let first = import(&statement);
    let printed = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{printed}");
    assert!(
        printed.starts_with("1 statement(s): 6 transaction(s) new, 0 recorded before; 0 matched, 5 for review, 1 ignored"),
        "{printed}"
    );
    assert!(printed.contains("ignored (debit)"), "{printed}");
    let again = import(&statement);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 transaction(s) new, 6 recorded before"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    let not_one = import(&repo_root().join("README.md"));
    assert!(!not_one.status.success());
    assert!(String::from_utf8_lossy(&not_one.stdout).starts_with("422 "));
    drop(server);
}
