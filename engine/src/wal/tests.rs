use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;

fn config(dir: &Path, fsync: FsyncPolicy, segment_bytes: u64) -> WalConfig {
    WalConfig {
        dir: dir.to_path_buf(),
        fsync,
        segment_bytes,
    }
}

fn append(db: &str, body: &str) -> Append {
    Append {
        receive_time_ns: 42,
        precision: Precision::Nanoseconds,
        db: db.into(),
        rp: "autogen".into(),
        body: Bytes::from(body.to_string()),
    }
}

fn reopen(dir: &Path) -> (Wal, Vec<WalRecord>) {
    let mut records = Vec::new();
    let wal = Wal::open(
        config(dir, FsyncPolicy::Always, 1 << 20),
        Arc::new(SeqTracker::default()),
        |r| records.push(r),
    )
    .unwrap();
    (wal, records)
}

#[tokio::test]
async fn appended_records_are_replayed_in_order_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    for policy in [
        FsyncPolicy::Always,
        FsyncPolicy::Interval(Duration::from_millis(5)),
    ] {
        let sub = dir
            .path()
            .join(format!("{policy:?}").replace(['(', ')', ' '], "_"));
        let tracker = Arc::new(SeqTracker::default());
        let wal = Wal::open(config(&sub, policy, 1 << 20), Arc::clone(&tracker), |_| {}).unwrap();
        let mut seqs = Vec::new();
        for i in 0..10 {
            seqs.push(wal.append(append("db", &format!("m v={i}"))).await.unwrap());
        }
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        // Records hold a reference until released downstream.
        assert_eq!(tracker.watermark(), 0);
        for s in &seqs {
            tracker.release(*s);
        }
        assert_eq!(tracker.watermark(), 10);
        // Simulate a crash: no close, just drop the handle and reopen.
        drop(wal);
        let (wal2, records) = reopen(&sub);
        assert_eq!(records.len(), 10);
        assert_eq!(&records[3].body[..], b"m v=3");
        assert_eq!(records[3].receive_time_ns, 42);
        // Sequence numbers continue after the replayed ones.
        assert_eq!(wal2.append(append("db", "m v=10")).await.unwrap(), 11);
        wal2.close();
    }
}

#[tokio::test]
async fn concurrent_appends_are_group_committed() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Arc::new(SeqTracker::default());
    let wal = Wal::open(
        config(dir.path(), FsyncPolicy::Always, 1 << 20),
        tracker,
        |_| {},
    )
    .unwrap();
    let mut handles = Vec::new();
    for i in 0..200 {
        let wal = wal.clone();
        handles.push(tokio::spawn(async move {
            wal.append(append("db", &format!("m v={i}"))).await
        }));
    }
    let mut seqs = Vec::new();
    for h in handles {
        seqs.push(h.await.unwrap().unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    let stats = wal.stats();
    assert_eq!(stats.records_written, 200);
    assert!(stats.fsyncs >= 1 && stats.fsyncs <= 200);
    wal.close();
}

#[tokio::test]
async fn torn_tail_is_cut_off_and_later_records_survive() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = reopen(dir.path());
    wal.append(append("db", "m v=1")).await.unwrap();
    wal.append(append("db", "m v=2")).await.unwrap();
    wal.close();
    // Tear the last record in half, as a crash in the middle of a write would.
    let seg = segment::list(dir.path()).unwrap().pop().unwrap();
    let len = std::fs::metadata(&seg.path).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg.path)
        .unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);
    let (wal, records) = reopen(dir.path());
    assert_eq!(records.len(), 1);
    assert_eq!(&records[0].body[..], b"m v=1");
    let seq = wal.append(append("db", "m v=3")).await.unwrap();
    assert_eq!(seq, 2);
    wal.close();
    let (_wal, records) = reopen(dir.path());
    let bodies: Vec<_> = records.iter().map(|r| r.body.clone()).collect();
    assert_eq!(bodies, vec![Bytes::from("m v=1"), Bytes::from("m v=3")]);
}

#[tokio::test]
async fn released_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Arc::new(SeqTracker::default());
    // Tiny segments: every append rolls.
    let wal = Wal::open(config(dir.path(), FsyncPolicy::Always, 1), tracker, |_| {}).unwrap();
    for i in 0..5 {
        wal.append(append("db", &format!("m v={i}"))).await.unwrap();
    }
    // The writer rolls right after answering the last append; a sync orders us after that.
    wal.sync().await.unwrap();
    assert_eq!(segment::list(dir.path()).unwrap().len(), 6);
    wal.release_through(3);
    wal.sync().await.unwrap();
    let left: Vec<u64> = segment::list(dir.path())
        .unwrap()
        .iter()
        .map(|s| s.first_seq)
        .collect();
    assert_eq!(left, vec![4, 5, 6]);
    wal.close();
    let (_wal, records) = reopen(dir.path());
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![4, 5]);
}
