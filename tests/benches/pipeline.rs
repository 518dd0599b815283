//! End-to-end throughput of the local pipeline: signed webhooks over HTTP in, invoices
//! numbered, PDFs rendered and stored, mails written to the outbox.
//!
//! `cargo bench -p faktura-tests --bench pipeline` (release build) posts 300 bookings, 8 at a
//! time, and prints webhook latency, invoices per second and peak RSS. Under `cargo test`
//! (no `--bench` argument) it runs 5 bookings as a smoke test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use faktura_tests::local::{DEMO, DEMO_SECRET, TestApp, sample_with};
use tokio::sync::Semaphore;

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    field("VmRSS:").max(field("VmHWM:"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize = if bench { 300 } else { 5 };
    let concurrency = 8;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let t = Arc::new(TestApp::start().await);
        let rss_start = rss_mb();
        let started = Instant::now();
        let slots = Arc::new(Semaphore::new(concurrency));
        let mut tasks = Vec::new();
        for i in 0..n {
            let t = t.clone();
            let permit = slots.clone().acquire_owned().await.expect("semaphore");
            tasks.push(tokio::spawn(async move {
                let _permit = permit;
                let body = sample_with(&format!("bk_bench_{i}"), &[]);
                let sent = Instant::now();
                let a = t.post_signed(DEMO, DEMO_SECRET, &body).await;
                assert_eq!(a.status, 202, "{}", a.json);
                (
                    sent.elapsed(),
                    a.json["invoice_id"].as_str().unwrap().to_string(),
                )
            }));
        }
        let mut latencies = Vec::new();
        let mut ids = Vec::new();
        for task in tasks {
            let (latency, id) = task.await.expect("task");
            latencies.push(latency);
            ids.push(id);
        }
        let accepted = started.elapsed();
        for id in &ids {
            t.wait_sent(DEMO, id, Duration::from_secs(600)).await;
        }
        let done = started.elapsed();
        latencies.sort();
        println!(
            "pipeline: {n} bookings, {concurrency} concurrent webhook calls\n  \
             webhook latency p50 {:.1} ms, p99 {:.1} ms; all accepted in {:.2} s\n  \
             all invoices issued, rendered and mailed in {:.2} s = {:.1} invoices/s\n  \
             RSS {:.0} MB at start, {:.0} MB peak",
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            accepted.as_secs_f64(),
            done.as_secs_f64(),
            n as f64 / done.as_secs_f64(),
            rss_start,
            rss_mb(),
        );
        assert_eq!(t.outbox().len(), n);
    });
}
