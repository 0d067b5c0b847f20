//! Segment files: `<dir>/<first seq, 20 digits>.wal`.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::record::{decode, DecodeError, WalRecord};
use super::WalError;

/// A segment on disk.
#[derive(Debug, Clone)]
pub(crate) struct SegmentFile {
    pub first_seq: u64,
    pub path: PathBuf,
}

pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.wal"))
}

/// Lists the segments of `dir`, oldest first.
pub(crate) fn list(dir: &Path) -> Result<Vec<SegmentFile>, WalError> {
    let io = |source| WalError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".wal") else {
            continue;
        };
        if let Ok(first_seq) = stem.parse::<u64>() {
            out.push(SegmentFile {
                first_seq,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|s| s.first_seq);
    Ok(out)
}

/// What reading one segment found.
#[derive(Debug)]
pub(crate) struct SegmentScan {
    pub records: Vec<WalRecord>,
    /// Byte length of the valid prefix.
    pub valid_len: u64,
    /// Why reading stopped before the end of the file, if it did.
    pub stopped: Option<DecodeError>,
}

/// Reads every valid record of a segment, stopping at the first torn or corrupt one.
pub(crate) fn scan(path: &Path) -> Result<SegmentScan, WalError> {
    let data = std::fs::read(path).map_err(|source| WalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let data = Bytes::from(data);
    let mut offset = 0usize;
    let mut records = Vec::new();
    let mut stopped = None;
    while offset < data.len() {
        match decode(&data.slice(offset..)) {
            Ok((record, used)) => {
                records.push(record);
                offset += used;
            }
            Err(e) => {
                stopped = Some(e);
                break;
            }
        }
    }
    Ok(SegmentScan {
        records,
        valid_len: offset as u64,
        stopped,
    })
}
