//! `faktura`: Faktura on your machine. `serve` runs the webhook, the API and the background
//! work on embedded storage; `send` signs and posts an event; `demo` shows it all end to end.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use faktura_local::app::{LocalApp, LocalConfig};
use faktura_local::{client, demo, tenants};

#[derive(Parser)]
#[command(
    name = "faktura",
    version,
    about = "Automated invoicing, running locally on embedded storage"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the booking webhook and the API, and run the background work.
    Serve {
        /// Where the database, PDFs and the mail outbox live.
        #[arg(long, default_value = "data/local")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// A tenants file (see functions/faktura/tenants.example.toml); default: the demo tenants.
        #[arg(long)]
        tenants: Option<PathBuf>,
        /// Start a simulated clock at this RFC 3339 instant (e.g. 2026-12-01T08:00:00+01:00):
        /// time then moves only through POST /v1/dev/clock ({"advance": "P1D"} or {"to": …}).
        #[arg(long, value_name = "INSTANT", value_parser = instant)]
        simulated_clock: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Sign an event file the way a booking platform does and post it.
    Send {
        /// The event JSON, e.g. events/webhooks/demo/01-b2c-gross.json
        event: PathBuf,
        #[arg(long, default_value = tenants::DEMO_TENANT)]
        tenant: String,
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        url: String,
        #[arg(long, default_value = tenants::DEMO_SECRET, env = "FAKTURA_WEBHOOK_SECRET")]
        secret: String,
    },
    /// Import a bank statement (CAMT.053 or MT940) into the running server: each transaction
    /// is recorded once, matched ones pay their invoices, the rest waits for review.
    Import {
        /// The statement file, as the bank exported it.
        file: PathBuf,
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        url: String,
        #[arg(long, default_value = tenants::DEMO_API_KEY, env = "FAKTURA_API_KEY")]
        api_key: String,
    },
    /// Start everything on a fresh data dir, send every sample booking, show the invoices.
    Demo {
        #[arg(long, default_value = "data/demo")]
        data_dir: PathBuf,
        /// The folder holding webhooks/<tenant>/*.json samples.
        #[arg(long)]
        events: Option<PathBuf>,
    },
}

fn instant(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("'{s}' is not an RFC 3339 instant (2026-12-01T08:00:00+01:00): {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = Cli::parse().command;
    // The demo prints its own report; the server logs what it does.
    let default_filter = match command {
        Command::Demo { .. } => "warn",
        _ => "warn,faktura=info,faktura_domain=info,faktura_http=info,faktura_local=info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    faktura_http::install_panic_hook();
    match run(command).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Serve {
            data_dir,
            addr,
            tenants: file,
            simulated_clock,
        } => {
            let tenants = match &file {
                Some(path) => tenants::load(path)?,
                None => {
                    println!(
                        "No --tenants file: serving the demo tenant '{}' (webhook secret {}, API key {}).\n\
                         These credentials are public and for local use only.",
                        tenants::DEMO_TENANT,
                        tenants::DEMO_SECRET,
                        tenants::DEMO_API_KEY
                    );
                    tenants::demo()
                }
            };
            let mut config = LocalConfig::new(data_dir.clone(), tenants);
            config.simulated_clock = simulated_clock;
            let mut app = LocalApp::start(config).await?;
            let bound = app.serve(addr).await?;
            println!(
                "Faktura is listening on http://{bound} (data in {})",
                data_dir.display()
            );
            println!("  POST /v1/webhooks/{{tenant}}/bookings   GET /v1/invoices[/{{id}}[/pdf]]");
            if let Some(t) = simulated_clock {
                println!(
                    "  Simulated clock at {}: POST /v1/dev/clock {{\"advance\": \"P1D\"}} moves it.",
                    t.to_rfc3339()
                );
            }
            println!("Press Ctrl-C to stop.");
            let _ = tokio::signal::ctrl_c().await;
            app.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Send {
            event,
            tenant,
            url,
            secret,
        } => {
            let body = std::fs::read(&event)
                .map_err(|e| format!("cannot read {}: {e}", event.display()))?;
            let answer =
                client::send_booking(&reqwest::Client::new(), &url, &tenant, &secret, body).await?;
            println!("{} {}", answer.status, answer.body);
            Ok(if (200..300).contains(&answer.status) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Import { file, url, api_key } => {
            let body =
                std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let answer =
                client::import_statement(&reqwest::Client::new(), &url, &api_key, body).await?;
            if answer.status != 200 {
                println!("{} {}", answer.status, answer.body);
                return Ok(ExitCode::FAILURE);
            }
            print!("{}", client::import_report(&answer.body)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { data_dir, events } => {
            let events = events.unwrap_or_else(demo::default_events_dir);
            let report = demo::run(&data_dir, &events).await?;
            demo::print_table(&report);
            println!(
                "\nOpen a PDF, or read a mail with any mail client (the .eml files are complete MIME messages).\n\
                 Run `cargo run -p faktura -- serve` to keep a server running."
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
