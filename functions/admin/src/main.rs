//! `faktura-admin`: operator commands for a deployed stack. Credentials and region come from
//! the usual AWS environment (profile, `AWS_REGION`, `AWS_ENDPOINT_URL` for moto).
//!
//!   faktura-admin secret                      # a new webhook secret (whsec_...)
//!   faktura-admin api-key                     # a new API key
//!   faktura-admin tenant put --table T --file tenants.toml
//!   faktura-admin migrate --table T           # release-1 items to today's (idempotent)
//!   faktura-admin dev-stack --name faktura-dev  # on moto: table, bucket, bus, queues, rules

use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use clap::{Parser, Subcommand};
use faktura_aws::DynamoStore;
use faktura_domain::ports::api_key_hash;

#[derive(Parser)]
#[command(name = "faktura-admin", about = "Operate a deployed Faktura stack")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prints a new Standard Webhooks secret (32 random bytes) for a booking platform.
    Secret,
    /// Prints a new API key (32 random bytes) for the API.
    ApiKey,
    /// Tenants in the stack's table.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Creates the stack's data plane (table, bucket, bus, queues, rules) on a local AWS such as
    /// moto (`AWS_ENDPOINT_URL`), for running the functions under `cargo lambda watch`. Prints
    /// the functions' environment.
    DevStack {
        #[arg(long, default_value = "faktura-dev")]
        name: String,
    },
    /// Brings release-1 items forward: invoices become documents (with their ledger charge and
    /// an audit entry), pending work becomes jobs. Safe to run again; readers never need it.
    Migrate {
        #[arg(long, env = "FAKTURA_TABLE")]
        table: String,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Creates or replaces the tenants of a TOML file (the format of
    /// functions/faktura/tenants.example.toml). API keys are stored as SHA-256 hashes; keys a
    /// tenant had before and the file lacks stop working.
    Put {
        /// The stack's table (output `TableName` of the stack).
        #[arg(long, env = "FAKTURA_TABLE")]
        table: String,
        #[arg(long)]
        file: PathBuf,
    },
}

fn random_bytes() -> Result<[u8; 32], String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(bytes)
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Secret => println!("whsec_{}", STANDARD.encode(random_bytes()?)),
        Command::ApiKey => println!("fk_{}", URL_SAFE_NO_PAD.encode(random_bytes()?)),
        Command::DevStack { name } => dev_stack(&name).await?,
        Command::Migrate { table } => {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let report = DynamoStore::new(&sdk, &table)
                .migrate_release1()
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "migrated {} release-1 invoice(s) to documents; {} pending release-1 work item(s) became jobs",
                report.documents, report.jobs
            );
        }
        Command::Tenant(TenantCommand::Put { table, file }) => {
            let tenants = faktura_http::tenants::load(&file)?;
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let store = DynamoStore::new(&sdk, &table);
            for tenant in &tenants {
                let hashes: Vec<String> = tenant.api_keys.iter().map(|k| api_key_hash(k)).collect();
                store
                    .put_tenant(&tenant.record, &hashes)
                    .await
                    .map_err(|e| format!("tenant {}: {e}", tenant.record.tenant.id))?;
                println!(
                    "stored tenant {} ({} webhook secret(s), {} API key(s)) in {table}",
                    tenant.record.tenant.id,
                    tenant.record.webhook_secrets.len(),
                    hashes.len()
                );
            }
        }
    }
    Ok(())
}

async fn dev_stack(name: &str) -> Result<(), String> {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        return Err("dev-stack is for local endpoints: set AWS_ENDPOINT_URL (e.g. moto)".into());
    }
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let stack = faktura_admin::dev_stack::create(&sdk, name, 30).await?;
    println!("FAKTURA_TABLE={}", stack.table);
    println!("FAKTURA_BUCKET={}", stack.bucket);
    println!("FAKTURA_EVENT_BUS={}", stack.bus);
    println!("FAKTURA_S3_PATH_STYLE=true");
    for queue in &stack.queues {
        eprintln!(
            "queue for {} ({}): {}",
            queue.route.worker, queue.route.name, queue.url
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faktura-admin: {e}");
            ExitCode::FAILURE
        }
    }
}
