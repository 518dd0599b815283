//! Render benchmarks: `cargo bench -p faktura-render`.
//!
//! Before criterion runs, a plain loop renders the one-page fixture many times
//! (2,000 under `cargo bench`, set `FAKTURA_RSS_RENDERS` to change) and prints
//! the process's resident memory (VmRSS) before and after, plus the median and
//! 95th percentile of the render times it saw. A second loop renders the same
//! invoice alternately as a plain PDF and as a hybrid (ZUGFeRD / Factur-X:
//! XML embedded, XMP post-processed) and prints both medians and the
//! difference (200 of each under `cargo bench`, `FAKTURA_HYBRID_RENDERS`).
//! Under `cargo test --benches` the loops are only 3 renders each.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use faktura_render::{EmbeddedInvoiceXml, FacturXConformance, Renderer};

const ONE_PAGE: &[u8] = include_bytes!("../tests/fixtures/de_b2c.json");
const ONE_PAGE_XML: &[u8] = include_bytes!("../tests/fixtures/de_b2c_en16931.xml");
const MULTI_PAGE: &[u8] = include_bytes!("../tests/fixtures/de_multipage.json");

/// Resident set size of this process in MiB, from /proc/self/status.
fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn fmt_rss(rss: Option<f64>) -> String {
    rss.map_or_else(|| "n/a".to_owned(), |mib| format!("{mib:.1} MiB"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn hybrid_xml() -> EmbeddedInvoiceXml<'static> {
    EmbeddedInvoiceXml {
        xml: ONE_PAGE_XML,
        conformance: FacturXConformance::En16931,
    }
}

fn memory_loop() {
    let full_run = full_run();
    let renders: usize = std::env::var("FAKTURA_RSS_RENDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full_run { 2000 } else { 3 });

    let rss_start = rss_mib();
    let start = Instant::now();
    let renderer = Renderer::new().expect("renderer loads");
    let load = start.elapsed();
    let start = Instant::now();
    renderer
        .render_pdf(ONE_PAGE, "bench-first")
        .expect("first render");
    let first = start.elapsed();
    let rss_before = rss_mib();

    let mut times = Vec::with_capacity(renders);
    for i in 0..renders {
        let start = Instant::now();
        let pdf = renderer
            .render_pdf(black_box(ONE_PAGE), &format!("bench-{i}"))
            .expect("render");
        times.push(start.elapsed());
        black_box(pdf);
    }
    let rss_after = rss_mib();
    times.sort();

    println!("faktura-render loop: {renders} renders of the one-page fixture");
    println!("  RSS at start: {}", fmt_rss(rss_start));
    println!("  Renderer::new: {load:?}");
    println!("  first render (cold caches): {first:?}");
    println!("  RSS after first render: {}", fmt_rss(rss_before));
    println!("  RSS after {renders} renders: {}", fmt_rss(rss_after));
    if !times.is_empty() {
        let median = percentile(&times, 0.5);
        let p95 = percentile(&times, 0.95);
        let max = times[times.len() - 1];
        println!("  render median {median:?}, p95 {p95:?}, max {max:?}");
    }
}

/// Plain and hybrid renders of the one-page fixture, alternating so that both
/// see the same machine load; the difference of the medians is what embedding
/// the XML and the XMP post-processing cost.
fn hybrid_loop() {
    let renders: usize = std::env::var("FAKTURA_HYBRID_RENDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full_run() { 200 } else { 3 });
    let renderer = Renderer::new().expect("renderer loads");
    let mut plain_times = Vec::with_capacity(renders);
    let mut hybrid_times = Vec::with_capacity(renders);
    let mut sizes = (0, 0);
    for i in 0..renders {
        let ident = format!("bench-hybrid-{i}");
        let start = Instant::now();
        let pdf = renderer
            .render_pdf(black_box(ONE_PAGE), &ident)
            .expect("render");
        plain_times.push(start.elapsed());
        sizes.0 = pdf.len();
        let start = Instant::now();
        let pdf = renderer
            .render_hybrid_pdf(black_box(ONE_PAGE), &ident, hybrid_xml())
            .expect("hybrid render");
        hybrid_times.push(start.elapsed());
        sizes.1 = pdf.len();
    }
    plain_times.sort();
    hybrid_times.sort();
    println!(
        "faktura-render hybrid loop: {renders} plain and {renders} hybrid renders of the \
         one-page fixture ({} byte XML)",
        ONE_PAGE_XML.len()
    );
    if renders > 0 {
        let plain = percentile(&plain_times, 0.5);
        let hybrid = percentile(&hybrid_times, 0.5);
        println!(
            "  plain  median {plain:?}, p95 {:?}, {} bytes",
            percentile(&plain_times, 0.95),
            sizes.0
        );
        println!(
            "  hybrid median {hybrid:?}, p95 {:?}, {} bytes (render + embed + XMP)",
            percentile(&hybrid_times, 0.95),
            sizes.1
        );
        println!(
            "  hybrid - plain (medians): {:?}",
            hybrid.saturating_sub(plain)
        );
    }
}

fn benches(c: &mut Criterion) {
    c.bench_function("renderer_new", |b| {
        b.iter(|| black_box(Renderer::new().expect("renderer loads")))
    });

    let renderer = Renderer::new().expect("renderer loads");
    c.bench_function("render_one_page_warm", |b| {
        b.iter(|| {
            black_box(
                renderer
                    .render_pdf(black_box(ONE_PAGE), "bench")
                    .expect("render"),
            )
        })
    });

    // The same page with its EPC QR code and a payment link (issue 11): the code's SVG is
    // made and laid out per render.
    let with_qr = {
        let mut view: serde_json::Value = serde_json::from_slice(ONE_PAGE).expect("fixture");
        view["payment"]["qr"] = serde_json::Value::from(
            "BCD\n002\n1\nSCT\nBYLADEM1001\nYogastudio Sonnenschein GmbH\nDE02120300000000202051\nEUR119.00\n\nRF25RE202600001",
        );
        view["payment"]["link"] =
            serde_json::Value::from("https://pay.example.com/yoga/RE-2026-00001?amount=119.00");
        serde_json::to_vec(&view).expect("json")
    };
    c.bench_function("render_one_page_with_qr_warm", |b| {
        b.iter(|| {
            black_box(
                renderer
                    .render_pdf(black_box(&with_qr), "bench")
                    .expect("render"),
            )
        })
    });

    c.bench_function("render_hybrid_one_page_warm", |b| {
        b.iter(|| {
            black_box(
                renderer
                    .render_hybrid_pdf(black_box(ONE_PAGE), "bench", hybrid_xml())
                    .expect("hybrid render"),
            )
        })
    });

    let mut group = c.benchmark_group("render_multi_page");
    group.sample_size(20);
    group.bench_function("80_lines_4_pages", |b| {
        b.iter(|| {
            black_box(
                renderer
                    .render_pdf(black_box(MULTI_PAGE), "bench")
                    .expect("render"),
            )
        })
    });
    group.finish();
}

fn main() {
    memory_loop();
    hybrid_loop();
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
