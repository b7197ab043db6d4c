//! `macp-control-plane`: with no subcommand it serves; `demo` drives a real
//! decision run through a running service.

use clap::{Parser, Subcommand};
use macp_control_plane::config::Config;
use macp_control_plane::runtime::embedded::EmbeddedRuntime;
use macp_control_plane::service::{shutdown_signal, Service};

#[derive(Debug, Parser)]
#[command(
    name = "macp-control-plane",
    version,
    about = "Event-sourced control plane for MACP coordination runs"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Run the decision-mode demo against a running service.
    Demo {
        /// The service's base URL.
        #[arg(
            long,
            env = "MACP_CONTROL_PLANE_URL",
            default_value = "http://127.0.0.1:3001"
        )]
        url: String,
    },
    /// Drop read models and re-fold them from the log (the service may keep
    /// serving meanwhile), with progress and a summary.
    Rebuild {
        /// Only this projection (default: all). Names: canonical_events,
        /// run_list, run_summary, run_state, sent_messages, run_metrics,
        /// run_artifacts, run_traces, agent_metrics, run_state_snapshots,
        /// audit_log.
        #[arg(long)]
        projection: Option<String>,
        /// Only this run's per-run read models.
        #[arg(long)]
        run: Option<uuid::Uuid>,
    },
    /// Run only the embedded MACP reference runtime (dev-mode auth, storage
    /// as EMBEDDED_RUNTIME_STORAGE under DATA_DIR/runtime), until SIGINT or
    /// SIGTERM: a runtime for services started with RUNTIME_ADDRESS.
    Runtime {
        /// Address to listen on (keep it on loopback: dev-mode auth trusts
        /// whoever connects).
        #[arg(long, env = "RUNTIME_BIND", default_value = "127.0.0.1:50051")]
        bind: std::net::SocketAddr,
    },
    /// Measure ingest, latency, rebuild, replay, fan-out and reads, and
    /// print a table (run a release build).
    Bench(macp_control_plane::bench::BenchArgs),
    /// Verify a run's record and print the report as JSON: with --run, in
    /// the database of DATABASE_URL (its stream's hash chain, its decision
    /// receipt checked again, its read models against a fresh fold, once
    /// the projectors have caught up); with --archive, a run archive file
    /// offline (its chain, its named head, its events load, its receipt).
    /// Exit code 0 when every check passes, 1 when one fails.
    #[command(group(clap::ArgGroup::new("what").required(true).args(["run", "archive"])))]
    Verify {
        /// The run's id.
        #[arg(long)]
        run: Option<uuid::Uuid>,
        /// A run archive (`export --archive`, `GET /runs/:id/archive`).
        #[arg(long)]
        archive: Option<std::path::PathBuf>,
    },
    /// Write a run's archive (its whole stream as stored, with chain
    /// hashes; protobuf, schema in proto/) from the database of
    /// DATABASE_URL to FILE.
    Export {
        /// The run's id.
        #[arg(long)]
        run: uuid::Uuid,
        /// Where to write the archive.
        #[arg(long)]
        archive: std::path::PathBuf,
    },
    /// Append synthetic completed runs to the log (for rebuild and replay
    /// figures on large logs), through the production aggregate.
    Seed {
        #[arg(long, default_value_t = 100)]
        runs: usize,
        /// Contributions per run (each becomes 3 or 4 events).
        #[arg(long, default_value_t = 340)]
        envelopes: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The bench prints a table; the info logs of the runtime it hosts would
    // bury it, so it logs warnings only unless asked otherwise.
    let level = match (&cli.command, cli.config.log_level.as_str()) {
        (Some(Command::Bench(_)), "info") => "warn",
        (_, level) => level,
    };
    let telemetry = macp_control_plane::telemetry::init(
        level,
        cli.config.log_format,
        cli.config.otel_exporter_otlp_endpoint.as_deref(),
    )?;
    let result = run(cli).await;
    telemetry.shutdown();
    result
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let service = Service::start(&cli.config).await?;
            shutdown_signal().await;
            tracing::info!("shutting down");
            let grace = std::time::Duration::from_millis(cli.config.shutdown_grace_ms);
            service.shutdown(grace).await;
            Ok(())
        }
        Command::Rebuild { projection, run } => {
            let store = open_store(&cli.config).await?;
            macp_control_plane::rebuild::run(store, projection, run).await
        }
        Command::Verify { run, archive } => {
            let (report, verified) = match (run, archive) {
                (_, Some(file)) => {
                    let bytes = std::fs::read(&file)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
                    let report = macp_control_plane::archive::verify(&bytes)?;
                    let verified = report.verified;
                    (serde_json::to_value(report)?, verified)
                }
                (Some(run), None) => {
                    let store = open_store(&cli.config).await?;
                    let Some(report) = macp_control_plane::verify::verify_run(&store, run).await?
                    else {
                        anyhow::bail!("the log holds no run {run}");
                    };
                    let verified = report.verified;
                    (serde_json::to_value(report)?, verified)
                }
                (None, None) => anyhow::bail!("verify needs --run or --archive"),
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !verified {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Export { run, archive } => {
            let store = open_store(&cli.config).await?;
            let rows = store.chain_rows(run).await?;
            if rows.is_empty() {
                anyhow::bail!("the log holds no run {run}");
            }
            let bytes =
                prost::Message::encode_to_vec(&macp_control_plane::archive::build(run, &rows));
            std::fs::write(&archive, &bytes)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", archive.display()))?;
            eprintln!(
                "wrote {} events of run {run} to {}",
                rows.len(),
                archive.display()
            );
            Ok(())
        }
        Command::Seed { runs, envelopes } => {
            let store = open_store(&cli.config).await?;
            macp_control_plane::seed::run(&store, runs, envelopes).await?;
            Ok(())
        }
        Command::Runtime { bind } => {
            let storage = cli.config.embedded_runtime_storage();
            let runtime = EmbeddedRuntime::start_on(storage, bind).await?;
            tracing::info!(address = %runtime.address, "MACP runtime serving");
            shutdown_signal().await;
            Ok(())
        }
        Command::Bench(args) => macp_control_plane::bench::run(args).await,
        Command::Demo { url } => {
            let outcome = macp_control_plane::demo::run(&url).await?;
            if outcome.status != "completed" {
                anyhow::bail!("the demo run ended {}", outcome.status);
            }
            Ok(())
        }
    }
}

async fn open_store(config: &Config) -> anyhow::Result<macp_control_plane::store::EventStore> {
    let url = config.resolved_database_url();
    Ok(macp_control_plane::store::EventStore::open(&url).await?)
}
