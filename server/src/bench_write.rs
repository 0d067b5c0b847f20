//! `weir bench-write`: an end-to-end load generator for the write path.
//!
//! Bodies are generated up front (so the client spends its CPU on sending, not formatting)
//! from `--series` distinct series of the shape Telegraf's cpu plugin produces: three tags and
//! two float fields, about 100 bytes per line.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// `weir bench-write`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Distinct series.
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Lines per request body.
    #[arg(long, default_value_t = 5_000)]
    lines_per_request: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// How long to run.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Target database.
    #[arg(long, default_value = "bench")]
    db: String,
    /// Gzip the bodies (as Telegraf does with content_encoding = "gzip").
    #[arg(long)]
    gzip: bool,
}

/// Generates the request bodies covering every series once.
pub fn generate_bodies(series: usize, lines_per_request: usize, gzip: bool) -> Vec<(Bytes, usize)> {
    let mut bodies = Vec::new();
    let mut body = String::with_capacity(lines_per_request * 110);
    let mut lines = 0;
    let base_ts: i64 = 1_700_000_000_000_000_000;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..series.max(1) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let idle = 90.0 + (x % 1_000_000) as f64 / 100_000.0;
        let user = (x % 10_000) as f64 / 1_000.0;
        let host = i / 100;
        let _ = writeln!(
            body,
            "cpu,host=server-{host:05},region=us-west-{},cpu=cpu-{} usage_idle={idle:.6},usage_user={user:.6} {}",
            host % 8,
            i % 100,
            base_ts + (i as i64) * 1_000 + (x % 1000) as i64
        );
        lines += 1;
        if lines == lines_per_request {
            bodies.push((finish(&body, gzip), lines));
            body.clear();
            lines = 0;
        }
    }
    if lines > 0 {
        bodies.push((finish(&body, gzip), lines));
    }
    bodies
}

fn finish(body: &str, gzip: bool) -> Bytes {
    if !gzip {
        return Bytes::from(body.to_string());
    }
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = enc.write_all(body.as_bytes());
    Bytes::from(enc.finish().unwrap_or_default())
}

/// Runs the load and prints points/s and latency percentiles.
pub fn run(url: &str, json: bool, args: BenchArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bodies = Arc::new(generate_bodies(
        args.series,
        args.lines_per_request,
        args.gzip,
    ));
    let body_bytes: usize = bodies.iter().map(|(b, _)| b.len()).sum();
    let lines: usize = bodies.iter().map(|(_, n)| n).sum();
    eprintln!(
        "generated {} bodies, {} lines, {:.1} bytes/line on the wire; running {:?} with {} connections",
        bodies.len(),
        lines,
        body_bytes as f64 / lines.max(1) as f64,
        args.duration,
        args.connections
    );
    let endpoint = format!("{}/write?db={}", url.trim_end_matches('/'), args.db);
    let stop = Arc::new(AtomicBool::new(false));
    let points = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let latencies = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(args.connections)
            .build()
            .unwrap_or_default();
        let mut tasks = Vec::new();
        for _ in 0..args.connections.max(1) {
            let (client, endpoint, bodies) =
                (client.clone(), endpoint.clone(), Arc::clone(&bodies));
            let (stop, points, errors, next) = (
                Arc::clone(&stop),
                Arc::clone(&points),
                Arc::clone(&errors),
                Arc::clone(&next),
            );
            let gzip = args.gzip;
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize % bodies.len();
                    let (body, n) = &bodies[i];
                    let t = Instant::now();
                    let mut req = client.post(&endpoint).body(body.clone());
                    if gzip {
                        req = req.header("Content-Encoding", "gzip");
                    }
                    match req.send().await {
                        Ok(r) if r.status().as_u16() == 204 => {
                            points.fetch_add(*n as u64, Ordering::Relaxed);
                        }
                        Ok(r) => {
                            if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                                let status = r.status();
                                eprintln!(
                                    "first error: {status} {}",
                                    r.text().await.unwrap_or_default()
                                );
                            }
                        }
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!("first error: {e}");
                            }
                        }
                    }
                    lat.push(t.elapsed());
                }
                lat
            }));
        }
        tokio::time::sleep(args.duration).await;
        stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for t in tasks {
            if let Ok(l) = t.await {
                all.extend(l);
            }
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = latencies;
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i].as_secs_f64() * 1000.0
    };
    let total = points.load(Ordering::Relaxed);
    let rate = total as f64 / elapsed;
    let errors = errors.load(Ordering::Relaxed);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "points": total, "seconds": elapsed, "points_per_second": rate,
                "requests": latencies.len(), "errors": errors,
                "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": pct(1.0),
            })
        );
    } else {
        println!(
            "{total} points in {elapsed:.1}s: {rate:.0} points/s; {} requests, {errors} errors; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            latencies.len(),
            pct(0.50),
            pct(0.99),
            pct(1.0)
        );
    }
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
