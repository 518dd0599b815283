//! The OpenAPI document: generated from the DTOs (`faktura_http::openapi::openapi_json`),
//! committed as `docs/openapi.json` (drift fails here), served at `GET /v1/openapi.json`,
//! valid OpenAPI 3.1 (openapi-spec-validator), and true of the running server: schemathesis
//! fuzzes the local app against it (scripts/api_fuzz.py) and finds no 5xx, no answer outside
//! its schema and nothing stored by a refused request.
//!
//! After a change to the DTOs or the handlers' annotations, regenerate the committed file:
//!
//! ```sh
//! FAKTURA_UPDATE_OPENAPI=1 cargo test -p faktura-tests --test local openapi
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use faktura_tests::local::{DEMO_KEY, TestApp};

const UPDATE_ENV: &str = "FAKTURA_UPDATE_OPENAPI";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn committed_path() -> PathBuf {
    repo_root().join("docs/openapi.json")
}

/// What `docs/openapi.json` must hold: the generated document and a final newline.
fn generated() -> String {
    let json = faktura_http::openapi::openapi_json();
    assert!(
        json.starts_with('{'),
        "the OpenAPI document did not serialize"
    );
    format!("{json}\n")
}

fn python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-test-tools",
        python.display()
    );
    python
}

/// The first line where two texts differ, for a readable drift message.
fn first_difference(a: &str, b: &str) -> String {
    let (mut a_lines, mut b_lines) = (a.lines(), b.lines());
    let mut n = 1;
    loop {
        match (a_lines.next(), b_lines.next()) {
            (None, None) => return "only in line endings".to_string(),
            (x, y) if x == y => n += 1,
            (x, y) => {
                return format!(
                    "line {n}: committed {:?}, generated {:?}",
                    x.unwrap_or("<end>"),
                    y.unwrap_or("<end>")
                );
            }
        }
    }
}

#[test]
fn openapi_committed_document_matches_the_dtos() {
    let path = committed_path();
    let want = generated();
    if std::env::var_os(UPDATE_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &want).expect("docs/openapi.json written");
        eprintln!("openapi: wrote {}", path.display());
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/openapi.json is not the document the DTOs generate ({}).\n\
         Regenerate it and commit the result:\n    \
         {UPDATE_ENV}=1 cargo test -p faktura-tests --test local openapi",
        if have.is_empty() {
            "missing".to_string()
        } else {
            first_difference(&have, &want)
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_is_served_as_committed() {
    let t = TestApp::start().await;
    // The document is public: clients fetch it before they hold a key.
    for key in [None, Some(DEMO_KEY)] {
        let (status, headers, body) = t.get("/v1/openapi.json", key).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(
            headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
            "application/json"
        );
        let served = String::from_utf8(body).expect("UTF-8");
        assert_eq!(
            format!("{served}\n"),
            generated(),
            "GET /v1/openapi.json is not the generated document"
        );
        let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
        assert!(
            format!("{served}\n") == committed,
            "GET /v1/openapi.json differs from docs/openapi.json; regenerate it: \
             {UPDATE_ENV}=1 cargo test -p faktura-tests --test local openapi"
        );
    }
}

#[test]
fn openapi_document_is_valid_openapi_3_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, generated()).unwrap();
    let out = Command::new(python())
        .arg(repo_root().join("scripts/api_fuzz.py"))
        .arg("validate")
        .arg(&file)
        .output()
        .expect("api_fuzz.py runs");
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Schemathesis against the running local app: every operation (the webhook is fuzzed with
/// signatures in `webhook_fuzz`), bounded examples and a fixed seed so CI makes the same
/// requests every run. `FAKTURA_API_FUZZ_EXAMPLES` raises the bound for a longer local run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_fuzz_the_local_server_against_its_document() {
    let t = TestApp::start().await;
    let python = python();
    let script = repo_root().join("scripts/api_fuzz.py");
    let examples = std::env::var("FAKTURA_API_FUZZ_EXAMPLES").unwrap_or_else(|_| "25".into());
    let seed = std::env::var("FAKTURA_API_FUZZ_SEED").unwrap_or_else(|_| "20240611".into());
    let base = t.base.clone();
    let started = Instant::now();
    // The server runs on this runtime: wait for the fuzzer on a blocking thread.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg("fuzz")
            .args(["--base", &base, "--key", DEMO_KEY])
            .args(["--max-examples", &examples, "--seed", &seed])
            .output()
            .expect("api_fuzz.py runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "schemathesis found problems (after {:?}):\n{stdout}\n{stderr}",
        started.elapsed()
    );
}
