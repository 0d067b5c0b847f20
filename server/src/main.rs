//! `weir`: the daemon (`weir serve`) and the command-line client for it.

mod api;
mod bench_write;
mod client;
mod config;
mod http;
mod metrics;
mod query_api;
mod replay;
mod serve;
mod subscriptions;
mod table;
mod tap;
mod tasks;
mod topics;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// weir: a stream processor for metrics and events (InfluxQL on Arrow and DataFusion).
#[derive(Debug, Parser)]
#[command(name = "weir", version, about)]
struct Cli {
    /// URL of the weir daemon, for client commands.
    #[arg(
        long,
        global = true,
        env = "WEIR_URL",
        default_value = "http://127.0.0.1:9092"
    )]
    url: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon.
    Serve {
        /// TOML config file; without it, embedded defaults (and WEIR_* variables) apply.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print the effective configuration (defaults, file, environment) as TOML.
    Config {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Execute statements (CREATE, DROP, ENABLE, DISABLE, SHOW) from a file or `-e`.
    Exec(client::ExecArgs),
    /// List tasks.
    Tasks,
    /// Show a task: definition, status, stats, last error, plan.
    Show { name: String },
    /// Enable a task.
    Enable { name: String },
    /// Disable a task (it stops; its definition stays).
    Disable { name: String },
    /// Drop a task.
    Drop { name: String },
    /// List alert topics: level, number of alert IDs, handlers.
    Topics,
    /// Show the latest event of every alert ID of a topic.
    Events { topic: String },
    /// Write line protocol from a file or standard input to the daemon.
    Write(client::WriteArgs),
    /// Load generator: post generated line protocol to a running daemon and report points/s.
    BenchWrite(bench_write::BenchArgs),
    /// Run SQL over the Parquet archive (tables `db.rp.measurement`).
    Query(query_api::QueryArgs),
    /// Dry run: what a task would produce from recorded points (printed, nothing is written).
    Replay(replay::ReplayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let config = match config::Config::load(config.as_deref()) {
                Ok(c) => c,
                Err(e) => return fail(&e.to_string()),
            };
            init_logging(&config.log);
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return fail(&format!("cannot start the runtime: {e}")),
            };
            match runtime.block_on(serve::serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "weir stopped with an error");
                    fail(&e.to_string())
                }
            }
        }
        Command::Config { config } => match config::Config::load(config.as_deref()) {
            Ok(c) => {
                print!("{}", c.to_toml());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        },
        Command::Write(args) => client::write(&cli.url, cli.json, args),
        Command::Exec(args) => client::exec(&cli.url, cli.json, args),
        Command::Tasks => client::tasks(&cli.url, cli.json),
        Command::Topics => client::topics(&cli.url, cli.json),
        Command::Events { topic } => client::events(&cli.url, cli.json, &topic),
        Command::Show { name } => client::show(&cli.url, cli.json, &name),
        Command::Enable { name } => client::set_status(&cli.url, cli.json, &name, "enabled"),
        Command::Disable { name } => client::set_status(&cli.url, cli.json, &name, "disabled"),
        Command::Drop { name } => client::drop_task(&cli.url, cli.json, &name),
        Command::BenchWrite(args) => bench_write::run(&cli.url, cli.json, args),
        Command::Query(args) => query_api::run(&cli.url, cli.json, args),
        Command::Replay(args) => replay::run(&cli.url, cli.json, args),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

fn init_logging(log: &config::LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
