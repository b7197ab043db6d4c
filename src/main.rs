//! `macp-control-plane`: with no subcommand it serves; `demo` drives a real
//! decision run through a running service.

use clap::{Parser, Subcommand};
use macp_control_plane::config::{Config, LogFormat};
use macp_control_plane::service::Service;
use tracing_subscriber::EnvFilter;

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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter =
        EnvFilter::try_new(&cli.config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match cli.config.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let _service = Service::start(&cli.config).await?;
            tokio::signal::ctrl_c().await?;
            tracing::info!("shutting down");
            Ok(())
        }
        Command::Demo { url } => {
            let outcome = macp_control_plane::demo::run(&url).await?;
            if outcome.status != "completed" {
                anyhow::bail!("the demo run ended {}", outcome.status);
            }
            Ok(())
        }
    }
}
