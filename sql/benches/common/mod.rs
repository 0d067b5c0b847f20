//! What the continuous-query benchmarks share: the input (100k hosts of `cpu`, as the
//! router delivers it) and the memory probe.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use datafusion::arrow::record_batch::RecordBatch;
use weir_engine::batch::RequestBuilder;
use weir_engine::line_protocol::{lines, parse_line, ParsedLine, Precision};
use weir_engine::schema::SchemaRegistry;

/// Resident set size in bytes (Linux), 0 elsewhere.
pub fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The benchmarks' query.
pub const CQ: &str = "CREATE CONTINUOUS QUERY cpu_1m ON telegraf BEGIN SELECT mean(usage_idle) AS usage_idle, max(usage_user) AS usage_user_max INTO cpu_1m FROM cpu GROUP BY time(1m), host END";

/// The start of the window the points are in (2024-01-01T00:00:00Z).
pub const T0: i64 = 1_704_067_200_000_000_000;

/// `series` hosts × `points` points 10 s apart (with jitter), in time order, as batches.
/// With `shuffled`, the hosts of each round arrive in a scrambled order (host `s * 7919 mod
/// series`), so series ids are not in key order and the close has a real sort to do.
pub fn batches(series: usize, points: usize, shuffled: bool) -> Vec<(String, RecordBatch)> {
    let reg = SchemaRegistry::in_memory();
    let mut out = Vec::new();
    let mut body = String::new();
    let mut rows = 0;
    let flush = |body: &mut String, out: &mut Vec<(String, RecordBatch)>| {
        let mut b = RequestBuilder::new("telegraf", &reg, Precision::Nanoseconds, 0, 8192);
        let mut line = ParsedLine::default();
        for (n, l) in lines(body.as_bytes()) {
            parse_line(l, n, &mut line).unwrap();
            b.add_line(n, &line).unwrap();
        }
        for m in b.finish().unwrap() {
            out.push((m.measurement.to_string(), m.batch));
        }
        body.clear();
    };
    for p in 0..points {
        for s in 0..series {
            let s = if shuffled { s * 7_919 % series } else { s };
            let t = T0 + p as i64 * 10_000_000_000 + (s as i64 * 7_919) % 1_000_000_000;
            let idle = 50.0 + ((s * 31 + p * 17) % 500) as f64 / 10.0;
            let user = (s + p) % 100;
            body.push_str(&format!(
                "cpu,host=host-{s:06},cpu=cpu-total,dc=eu usage_idle={idle},usage_user={user}i {t}\n"
            ));
            rows += 1;
            if rows % 8192 == 0 {
                flush(&mut body, &mut out);
            }
        }
    }
    if !body.is_empty() {
        flush(&mut body, &mut out);
    }
    out
}
