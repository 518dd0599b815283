//! Render benchmarks: `cargo bench -p faktura-render`.
//!
//! Before criterion runs, a plain loop renders the one-page fixture many times
//! (2,000 under `cargo bench`, set `FAKTURA_RSS_RENDERS` to change) and prints
//! the process's resident memory (VmRSS) before and after, plus the median and
//! 95th percentile of the render times it saw. Under `cargo test --benches`
//! the loop is only 3 renders.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use faktura_render::Renderer;

const ONE_PAGE: &[u8] = include_bytes!("../tests/fixtures/de_b2c.json");
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

fn memory_loop() {
    let full_run = std::env::args().any(|a| a == "--bench");
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
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
