//! The on-disk record format.
//!
//! Each record is framed as `len: u32 LE | crc32(payload): u32 LE | payload`, and the payload is
//! `seq: u64 | receive_time_ns: i64 | precision: u8 | db_len: u16 | db | rp_len: u16 | rp | body`.
//! The body is the accepted lines of one write request, as line protocol, so a record is
//! about as large as the request and replay re-parses it with the same parser.

use bytes::{Buf, BufMut, Bytes};

use crate::line_protocol::Precision;

/// Bytes of framing before each payload.
pub const FRAME_HEADER: usize = 8;

/// One acknowledged write request.
#[derive(Debug, Clone, PartialEq)]
pub struct WalRecord {
    /// Position in the log; strictly increasing.
    pub seq: u64,
    /// When the request was received; lines without a timestamp get this time.
    pub receive_time_ns: i64,
    pub precision: Precision,
    pub db: String,
    pub rp: String,
    /// Accepted lines, newline-separated line protocol.
    pub body: Bytes,
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated record")]
    Truncated,
    #[error("checksum mismatch")]
    Checksum,
    #[error("malformed record: {0}")]
    Malformed(&'static str),
}

fn precision_code(p: Precision) -> u8 {
    match p {
        Precision::Nanoseconds => 0,
        Precision::Microseconds => 1,
        Precision::Milliseconds => 2,
        Precision::Seconds => 3,
        Precision::Minutes => 4,
        Precision::Hours => 5,
    }
}

fn precision_from_code(c: u8) -> Option<Precision> {
    Some(match c {
        0 => Precision::Nanoseconds,
        1 => Precision::Microseconds,
        2 => Precision::Milliseconds,
        3 => Precision::Seconds,
        4 => Precision::Minutes,
        5 => Precision::Hours,
        _ => return None,
    })
}

/// Appends the framed record to `out`.
pub fn encode(
    out: &mut Vec<u8>,
    seq: u64,
    receive_time_ns: i64,
    precision: Precision,
    db: &str,
    rp: &str,
    body: &[u8],
) {
    let start = out.len();
    out.put_u32_le(0);
    out.put_u32_le(0);
    out.put_u64_le(seq);
    out.put_i64_le(receive_time_ns);
    out.put_u8(precision_code(precision));
    put_str(out, db);
    put_str(out, rp);
    out.extend_from_slice(body);
    let payload_len = out.len() - start - FRAME_HEADER;
    let crc = crc32fast::hash(&out[start + FRAME_HEADER..]);
    // Names are capped at u16::MAX bytes and bodies at the HTTP body limit, far below 4 GiB.
    let len = u32::try_from(payload_len).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.put_u16_le(bytes.len() as u16);
    out.extend_from_slice(bytes);
}

/// Decodes the record at the start of `buf`, returning it and the number of bytes it took.
pub fn decode(buf: &Bytes) -> Result<(WalRecord, usize), DecodeError> {
    if buf.len() < FRAME_HEADER {
        return Err(DecodeError::Truncated);
    }
    let mut header = &buf[..FRAME_HEADER];
    let len = header.get_u32_le() as usize;
    let crc = header.get_u32_le();
    let end = FRAME_HEADER
        .checked_add(len)
        .ok_or(DecodeError::Malformed("length overflow"))?;
    if buf.len() < end {
        return Err(DecodeError::Truncated);
    }
    let payload = buf.slice(FRAME_HEADER..end);
    if crc32fast::hash(&payload) != crc {
        return Err(DecodeError::Checksum);
    }
    let mut p = payload.clone();
    if p.remaining() < 8 + 8 + 1 {
        return Err(DecodeError::Malformed("short header"));
    }
    let seq = p.get_u64_le();
    let receive_time_ns = p.get_i64_le();
    let precision = precision_from_code(p.get_u8()).ok_or(DecodeError::Malformed("precision"))?;
    let db = get_str(&mut p)?;
    let rp = get_str(&mut p)?;
    Ok((
        WalRecord {
            seq,
            receive_time_ns,
            precision,
            db,
            rp,
            body: p,
        },
        end,
    ))
}

fn get_str(p: &mut Bytes) -> Result<String, DecodeError> {
    if p.remaining() < 2 {
        return Err(DecodeError::Malformed("short string length"));
    }
    let n = p.get_u16_le() as usize;
    if p.remaining() < n {
        return Err(DecodeError::Malformed("short string"));
    }
    let s = p.split_to(n);
    String::from_utf8(s.to_vec()).map_err(|_| DecodeError::Malformed("string is not UTF-8"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let mut buf = Vec::new();
        encode(
            &mut buf,
            7,
            123,
            Precision::Seconds,
            "db",
            "autogen",
            b"cpu v=1 1",
        );
        encode(
            &mut buf,
            8,
            124,
            Precision::Nanoseconds,
            "db2",
            "rp",
            b"m f=2i",
        );
        let bytes = Bytes::from(buf.clone());
        let (r1, n1) = decode(&bytes).unwrap();
        assert_eq!(r1.seq, 7);
        assert_eq!(r1.precision, Precision::Seconds);
        assert_eq!(&r1.body[..], b"cpu v=1 1");
        let (r2, _) = decode(&bytes.slice(n1..)).unwrap();
        assert_eq!((r2.seq, r2.db.as_str(), r2.rp.as_str()), (8, "db2", "rp"));

        // A torn tail is reported as truncated, a flipped bit as a checksum error.
        assert_eq!(
            decode(&Bytes::from(buf[..n1 - 1].to_vec())).unwrap_err(),
            DecodeError::Truncated
        );
        let mut flipped = buf.clone();
        flipped[FRAME_HEADER + 3] ^= 1;
        assert_eq!(
            decode(&Bytes::from(flipped)).unwrap_err(),
            DecodeError::Checksum
        );
    }
}
