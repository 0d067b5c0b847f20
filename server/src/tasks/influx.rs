//! Small helpers shared by the tasks that talk to InfluxDB's HTTP API.

use std::fmt::Write as _;

/// Percent-encodes a query-string value (RFC 3986 unreserved characters pass through).
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_and_non_ascii() {
        assert_eq!(urlencode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(urlencode("tele-graf_1.x~"), "tele-graf_1.x~");
    }
}
