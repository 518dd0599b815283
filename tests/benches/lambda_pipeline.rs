//! The AWS path measured: the function binaries under `cargo lambda watch`, the AWS adapters
//! on moto. Prints the webhook function's cold start (process start to first answer), warm
//! webhook latency through the function URL, invoices per second through the whole pipeline
//! (webhook → EventBridge → SQS → issue worker → SQS → mail worker → SES), and each
//! function's peak RSS.
//!
//! `cargo build --release --workspace --bins && cargo bench -p faktura-tests --bench
//! lambda_pipeline` (the bench runs the release binaries beside it). Under `cargo test` (no
//! `--bench`) it runs 3 bookings on the debug binaries as a smoke test.
//!
//! moto is one Python process that serializes every request (see `tests/support/moto.rs`):
//! the throughput is moto's, a floor for AWS rather than a forecast.

use std::time::{Duration, Instant};

use faktura_aws::stack::{ISSUE_ROUTE, MAIL_ROUTE, ROUTES, SCHEDULER_FUNCTION, WEBHOOK_FUNCTION};
use faktura_tests::lambda::Emulator;
use faktura_tests::local::{DEMO, DEMO_SECRET, sample_with};
use faktura_tests::moto::MotoServer;
use faktura_tests::stack::{DEMO_SENDER, TestStack};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (n, cold_runs) = if bench { (200, 5) } else { (3, 1) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let moto = MotoServer::start();
        let stack = TestStack::with_demo_tenants(&moto, DEMO_SENDER, true).await;
        let emulator = Emulator::start();
        let env = stack.function_env();

        // Cold start: process start → first answer (the SDK config, clients and router are
        // built in `main`, as on Lambda's init phase).
        let mut cold = Vec::new();
        for _ in 0..cold_runs {
            let started = Instant::now();
            emulator.start_function(WEBHOOK_FUNCTION, WEBHOOK_FUNCTION, &env);
            let response = emulator
                .http
                .get(emulator.url(WEBHOOK_FUNCTION, "/health"))
                .send()
                .await
                .expect("health");
            assert_eq!(response.status().as_u16(), 200);
            cold.push(started.elapsed());
            emulator.kill(WEBHOOK_FUNCTION);
        }
        cold.sort();
        emulator.start_function(WEBHOOK_FUNCTION, WEBHOOK_FUNCTION, &env);
        emulator.start_function(SCHEDULER_FUNCTION, SCHEDULER_FUNCTION, &env);
        for route in ROUTES {
            emulator.start_function(route.worker, route.worker, &env);
        }

        // Warm webhook latency, one booking after the other.
        let started = Instant::now();
        let mut latencies = Vec::with_capacity(n);
        for i in 0..n {
            let body = sample_with(&format!("bk_bench_{i}"), &[]);
            let t = Instant::now();
            let (status, answer) = emulator
                .post_booking(
                    WEBHOOK_FUNCTION,
                    DEMO,
                    DEMO_SECRET,
                    &format!("msg_bench_{i}"),
                    &body,
                )
                .await;
            latencies.push(t.elapsed());
            assert_eq!(status, 202, "{answer}");
        }
        latencies.sort();

        // Everything through the workers, as the event source mappings would deliver it.
        let workers = [
            (&ISSUE_ROUTE, ISSUE_ROUTE.worker),
            (&MAIL_ROUTE, MAIL_ROUTE.worker),
        ];
        let failures = emulator
            .drain(&stack, &workers, Duration::from_secs(60 + 10 * n as u64))
            .await;
        // `drain` waits a quiet period past the visibility timeout before it returns.
        let elapsed = started.elapsed()
            - Duration::from_secs(faktura_tests::stack::TEST_VISIBILITY_SECONDS as u64 + 1);
        assert_eq!(failures, 0, "{}", emulator.logs(ISSUE_ROUTE.worker));
        let sent = moto.data().await["ses"]["RawMessage"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(sent, n, "one mail per booking");

        let rss = |name: &str| {
            emulator
                .peak_rss_mib(name)
                .first()
                .map_or("?".to_string(), |m| format!("{m:.0} MiB"))
        };
        println!(
            "lambda pipeline on moto ({n} bookings, binaries: {})",
            if bench { "release" } else { "debug" }
        );
        println!(
            "  webhook cold start (process start → first answer): median {} (n = {cold_runs})",
            ms(cold[cold.len() / 2])
        );
        println!(
            "  warm webhook latency via function URL: p50 {}, p99 {}",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99))
        );
        println!(
            "  invoices issued, stored and mailed: {:.1}/s ({n} in {:.1} s)",
            n as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64()
        );
        println!(
            "  peak RSS: webhook {}, issue worker {}, mail worker {}",
            rss(WEBHOOK_FUNCTION),
            rss(ISSUE_ROUTE.worker),
            rss(MAIL_ROUTE.worker)
        );
    });
}
