//! `macp-control-plane bench`: the figures users care about, printed as a
//! table. Each figure is the median of `--repeat` runs, with min and max.
//!
//! The service under test is this binary, started as its own process
//! (so that its memory can be read alone), on a fresh SQLite file or a
//! fresh PostgreSQL database, connected to a MACP reference runtime that
//! the bench hosts in-process with memory storage and no rate limits. Load
//! that must come from the runtime (ingest, latency, fan-out) is real
//! sessions with participants sending through the runtime; rebuild and
//! replay seed the log through the production aggregate and fold it with
//! the production projectors.
//!
//! `--tiny` shrinks every size so that CI runs it in seconds; its figures
//! mean nothing and are not asserted anywhere.

mod log_load;
mod measure;
mod runtime_load;
mod server;
mod sweep;

use crate::runtime::embedded::{EmbeddedRuntime, EmbeddedStorage};
use measure::{Figure, Table};
use server::{fresh_database, ServerProcess};
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Seconds-long sizes, for CI (figures not meaningful).
    #[arg(long)]
    pub tiny: bool,
    /// Measurements per figure (median, min and max are reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Engines to measure: sqlite, postgres (postgres needs --postgres-url).
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    pub engines: Vec<String>,
    /// A PostgreSQL server where the bench may create its databases.
    #[arg(long, env = "BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Sessions at each point of the concurrency sweep (default 100,1000,3000;
    /// tiny 4,16).
    #[arg(long, value_delimiter = ',')]
    pub sweep_sessions: Vec<usize>,
    /// Only these figures: ingest, latency, rebuild, replay, fanout, reads, sweep.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

/// How big each figure's workload is.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Concurrent runs of the ingest figure, and envelopes per run at each.
    pub ingest: Vec<(usize, usize)>,
    pub latency_envelopes: usize,
    pub rebuild_runs: usize,
    pub rebuild_envelopes_per_run: usize,
    /// Envelopes of the long run whose replay state is read (two canonical
    /// events each).
    pub replay_envelopes: usize,
    pub fanout_subscribers: usize,
    pub fanout_envelopes: usize,
    pub reads_per_second: u64,
    pub reads_seconds: f64,
    /// Sessions at each point of the concurrency sweep, and the envelopes
    /// sent at every point.
    pub sweep_sessions: Vec<usize>,
    pub sweep_envelopes: usize,
}

impl Sizes {
    fn new(tiny: bool) -> Sizes {
        if tiny {
            Sizes {
                ingest: vec![(1, 40), (10, 8)],
                latency_envelopes: 20,
                rebuild_runs: 4,
                rebuild_envelopes_per_run: 100,
                replay_envelopes: 500,
                fanout_subscribers: 20,
                fanout_envelopes: 5,
                reads_per_second: 200,
                reads_seconds: 0.5,
                sweep_sessions: vec![4, 16],
                sweep_envelopes: 64,
            }
        } else {
            Sizes {
                ingest: vec![(1, 4000), (10, 800), (100, 200)],
                latency_envelopes: 1000,
                rebuild_runs: 1000,
                rebuild_envelopes_per_run: 340,
                replay_envelopes: 50_000,
                fanout_subscribers: 2000,
                fanout_envelopes: 50,
                reads_per_second: 1000,
                reads_seconds: 10.0,
                sweep_sessions: vec![100, 1000, 3000],
                sweep_envelopes: 20_000,
            }
        }
    }
}

/// Every wanted figure on one engine, into `figures` as they are measured.
async fn measure_engine(
    args: &BenchArgs,
    sizes: &Sizes,
    db: &server::BenchDb,
    admin: Option<&str>,
    runtime_address: &str,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let repeat = args.repeat.max(1);
    let wants = |figure: &str| args.only.is_empty() || args.only.iter().any(|o| o == figure);
    let server = ServerProcess::start(db, runtime_address).await?;
    figures.push(server.idle_rss_figure()?);
    if wants("ingest") {
        for &(runs, envelopes) in &sizes.ingest {
            figures.extend(
                runtime_load::ingest(&server, runtime_address, runs, envelopes, repeat).await?,
            );
        }
    }
    if wants("latency") {
        figures.push(
            runtime_load::latency(&server, runtime_address, sizes.latency_envelopes, repeat)
                .await?,
        );
    }
    if wants("fanout") {
        figures.extend(runtime_load::fanout(&server, runtime_address, sizes, repeat).await?);
    }
    if wants("reads") {
        figures.extend(runtime_load::reads(&server, runtime_address, sizes, repeat).await?);
    }
    drop(server);
    if wants("rebuild") {
        figures.push(log_load::rebuild(db, sizes, repeat).await?);
    }
    if wants("replay") {
        figures.extend(log_load::replay(db, runtime_address, sizes, repeat).await?);
    }
    if wants("sweep") {
        sweep::sweep(
            admin,
            &sizes.sweep_sessions,
            sizes.sweep_envelopes,
            repeat,
            figures,
        )
        .await?;
    }
    Ok(())
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let mut sizes = Sizes::new(args.tiny);
    if !args.sweep_sessions.is_empty() {
        sizes.sweep_sessions.clone_from(&args.sweep_sessions);
    }
    let repeat = args.repeat.max(1);
    let started = Instant::now();
    let runtime = EmbeddedRuntime::start(EmbeddedStorage::Memory).await?;
    let runtime_address = runtime.address.to_string();
    let mut table = Table::default();
    for engine in &args.engines {
        let admin = match engine.as_str() {
            "sqlite" => None,
            "postgres" => match &args.postgres_url {
                Some(url) => Some(url.as_str()),
                None => {
                    eprintln!("skipping postgres: no --postgres-url (BENCH_POSTGRES_URL)");
                    continue;
                }
            },
            other => anyhow::bail!("unknown engine {other:?}: use sqlite or postgres"),
        };
        eprintln!("== {engine}");
        let db = fresh_database(admin).await?;
        let mut figures = Vec::new();
        let measured =
            measure_engine(&args, &sizes, &db, admin, &runtime_address, &mut figures).await;
        for figure in figures {
            table.push(engine, figure);
        }
        db.drop_database().await;
        if let Err(error) = measured {
            // What was measured before the failure is still worth reading.
            println!("{}", table.render());
            return Err(error.context(format!("measuring {engine}")));
        }
    }
    println!("{}", table.render());
    println!(
        "bench finished in {:.1} s ({} repeat(s), {} sizes)",
        started.elapsed().as_secs_f64(),
        repeat,
        if args.tiny { "tiny" } else { "full" }
    );
    Ok(())
}
