//! Line protocol parsing throughput, in lines per second: weir's parser
//! (`lines` + `parse_line`) against the `influxdb-line-protocol` crate (`parse_lines`) on the
//! same bodies.
//!
//! ```text
//! cargo bench -p weir-engine --bench line_protocol
//! ```
//!
//! * `cpu`: Telegraf-style `cpu` lines of ~115 bytes with 3 tags, 2 float fields and a
//!   nanosecond timestamp.
//! * `mixed`: lines with escapes, string fields (with escaped quotes), integers, unsigned
//!   integers and booleans.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir_engine::line_protocol::{lines, parse_line, FieldValue, ParsedLine};

const LINES: usize = 10_000;

fn cpu_body() -> String {
    let mut body = String::new();
    for i in 0..LINES as u64 {
        body.push_str(&format!(
            "cpu,host=server-{:05},region=us-west-{},cpu=cpu-total usage_idle={}.{:06},usage_user={}.{:06} {}\n",
            i * 7 % 100_000,
            i % 3,
            90 + i % 10,
            i * 7919 % 1_000_000,
            i % 5,
            i * 104_729 % 1_000_000,
            1_700_000_000_000_000_000u64 + i * 10_000_000_000,
        ));
    }
    body
}

fn mixed_body() -> String {
    let mut body = String::new();
    for i in 0..LINES as u64 {
        body.push_str(&match i % 4 {
            0 => format!(
                "syslog,appname=sshd,facility=auth,host=web-{:03},severity=info message=\"Accepted publickey for deploy from 10.0.{}.{} port {}\",procid=\"{}\",timestamp={}i,version=1i {}\n",
                i % 100, i % 256, i * 13 % 256, 40_000 + i % 20_000, 1000 + i % 9000,
                1_700_000_000_000_000_000u64 + i, 1_700_000_000_000_000_000u64 + i
            ),
            1 => format!(
                "disk,device=sda{},fstype=ext4,host=web-{:03},mode=rw,path=/var/lib/my\\ data free={}u,inodes_free={}i,used_percent={}.{:03} {}\n",
                i % 4, i % 100, i * 4_096_123, i * 17 % 1_000_000, i % 100, i % 1000,
                1_700_000_000_000_000_000u64 + i
            ),
            2 => format!(
                "http_response,method=GET,result=success,server=https://example.com/api?id\\={} content_length={}i,http_response_code=200i,response_time={}e-3,result_code=0i,up=true {}\n",
                i, i * 31 % 100_000, i % 1000, 1_700_000_000_000_000_000u64 + i
            ),
            _ => format!(
                "app\\ events,env=prod,region=eu\\,west msg=\"user \\\"{}\\\" logged in\",ok=t,retries={}i,ratio={} {}\n",
                i, i % 5, i as f64 / 7.0, 1_700_000_000_000_000_000u64 + i
            ),
        });
    }
    body
}

/// Parses every line with weir, returning a checksum so nothing is optimised away. One
/// `ParsedLine` is reused for all lines (its two allocations are amortised over the body).
fn weir_parse(body: &[u8]) -> usize {
    let mut sum = 0usize;
    let mut line = ParsedLine::default();
    for (n, l) in lines(body) {
        parse_line(l, n, &mut line).unwrap();
        sum += line.fields.len() + line.tags.len();
        if let Some((_, FieldValue::Float(v))) = line.fields.first() {
            sum += *v as usize & 1;
        }
    }
    sum
}

fn oracle_parse(body: &str) -> usize {
    let mut sum = 0usize;
    for l in influxdb_line_protocol::parse_lines(body) {
        let l = l.unwrap();
        sum += l.field_set.len() + l.series.tag_set.map_or(0, |t| t.len());
    }
    sum
}

fn bench(c: &mut Criterion) {
    for (name, body) in [("cpu", cpu_body()), ("mixed", mixed_body())] {
        let mut group = c.benchmark_group(format!("line_protocol/{name}"));
        group.throughput(Throughput::Elements(LINES as u64));
        group.measurement_time(Duration::from_secs(4));
        group.bench_function("weir", |b| {
            b.iter(|| weir_parse(black_box(body.as_bytes())))
        });
        group.bench_function("influxdb-line-protocol", |b| {
            b.iter(|| oracle_parse(black_box(&body)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
