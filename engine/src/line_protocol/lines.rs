//! Splitting a request body into lines.

use super::find::{self, find};

/// Iterates over the lines of a body: yields `(line_number, line_bytes)` for every line that is
/// not blank and not a comment. See [`lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    /// 1-based physical line number of `buf[pos]`.
    line_no: usize,
}

/// Splits `body` into lines, InfluxDB 1.x style.
///
/// * Lines end at `\n`; a `\r` right before it (or at the very end of the body) is dropped.
/// * Blank lines (only spaces, tabs, NUL bytes) and comment lines (first non-blank byte `#`)
///   are skipped. A comment always ends at the next newline. (InfluxDB finds the end of a
///   comment with its quote-aware scanner, so `# a="b` or a comment ending in a backslash
///   silently swallows the next line; weir does not.)
/// * A newline inside a double-quoted string field value does **not** end the line: the
///   string value contains it, as in InfluxDB 1.x, whose `scanLine` (models/points.go) this
///   ports exactly. A newline right after a backslash does not end the line either (the
///   backslash escapes it, as in InfluxDB). Such a line is yielded whole, embedded newlines
///   included, with the number of the physical line it starts on; the next line's number
///   accounts for the embedded newlines.
/// * The yielded bytes keep leading whitespace (so that [`parse_line`](super::parse_line)
///   reports columns of the physical line) and never include the line terminator.
///
/// InfluxDB's rule for "inside a string" is a heuristic: after the first unescaped space of
/// a line, a `"` toggles "quoted" when more `=` than `,` have been seen outside quotes. It is
/// reproduced exactly, odd corners included, so that bodies split the same way as in InfluxDB.
pub fn lines(body: &[u8]) -> Lines<'_> {
    Lines {
        buf: body,
        pos: 0,
        line_no: 1,
    }
}

#[inline]
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == 0
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.buf;
        loop {
            let start = self.pos;
            if start >= buf.len() {
                return None;
            }
            let line_no = self.line_no;

            // Blank and comment lines.
            let mut k = start;
            while k < buf.len() && is_blank(buf[k]) {
                k += 1;
            }
            match buf.get(k) {
                None => {
                    self.pos = buf.len();
                    return None;
                }
                Some(b'\n') => {
                    self.pos = k + 1;
                    self.line_no += 1;
                    continue;
                }
                Some(b'\r') if matches!(buf.get(k + 1), None | Some(b'\n')) => {
                    self.pos = k + 2;
                    self.line_no += 1;
                    continue;
                }
                Some(b'#') => {
                    self.pos = match memchr::memchr(b'\n', &buf[k..]) {
                        Some(p) => k + p + 1,
                        None => buf.len(),
                    };
                    self.line_no += 1;
                    continue;
                }
                Some(_) => {}
            }

            let (end, embedded_newlines) = line_end(buf, start, k);
            self.pos = end + 1;
            self.line_no += embedded_newlines + 1;
            let mut line = &buf[start..end];
            // `end` is the line's '\n' or the end of the body. Only a line with an unterminated
            // string can reach the end of a body that ends with '\n': drop it (as InfluxDB
            // does). Then drop a '\r' before it.
            if let [rest @ .., b'\n'] = line {
                line = rest;
            }
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            return Some((line_no, line));
        }
    }
}

/// Returns the index of the `\n` ending the line that starts at `start` (or `buf.len()`), and
/// how many newlines the line contains. `k` is the index of the first non-blank byte.
#[inline]
fn line_end(buf: &[u8], start: usize, k: usize) -> (usize, usize) {
    let nl = match memchr::memchr(b'\n', &buf[k..]) {
        Some(p) => k + p,
        None => buf.len(),
    };
    // Without quotes and backslashes nothing can hide the newline.
    if memchr::memchr2(b'"', b'\\', &buf[k..nl]).is_none() {
        return (nl, 0);
    }
    // InfluxDB scans from the start of the line, where a leading space already switches to
    // "fields" mode; leading tabs and NULs don't.
    let leading_space = buf[start..k].contains(&b' ');
    scan_line(buf, k, leading_space)
}

/// InfluxDB 1.x's `scanLine` from `i`, counting the newlines it skips. `fields` is whether an
/// unescaped space has been seen already.
///
/// It jumps between the bytes that matter in the current state: before the first space,
/// backslashes, spaces and newlines; after it, backslashes, quotes and newlines (counting the
/// `=` and `,` in between when not inside a string).
fn scan_line(buf: &[u8], mut i: usize, mut fields: bool) -> (usize, usize) {
    let n = buf.len();
    let mut quoted = false;
    // How many more '=' than ',' InfluxDB has counted (outside strings, after the first space).
    let mut equals_minus_commas = 0isize;
    let mut newlines = 0usize;
    loop {
        let from = i;
        i = if fields {
            find(buf, i, [b'\\', b'"', b'\n'])
        } else {
            find(buf, i, [b'\\', b' ', b'\n'])
        };
        if fields && !quoted {
            // `from` may be past the end after an escape at the last byte.
            if let Some(span) = buf.get(from..i.min(n)) {
                equals_minus_commas += find::equals_minus_commas(span);
            }
        }
        let Some(&c) = buf.get(i) else {
            break;
        };
        match c {
            b'\\' => {
                // Skip the escaped byte.
                if buf.get(i + 1) == Some(&b'\n') {
                    newlines += 1;
                }
                i += 2;
                continue;
            }
            b' ' => fields = true,
            b'"' if equals_minus_commas > 0 => quoted = !quoted,
            b'\n' => {
                if !quoted {
                    break;
                }
                newlines += 1;
            }
            _ => {}
        }
        i += 1;
    }
    (i.min(n), newlines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(body: &str) -> Vec<(usize, String)> {
        lines(body.as_bytes())
            .map(|(n, l)| (n, String::from_utf8_lossy(l).into_owned()))
            .collect()
    }

    #[test]
    fn splits() {
        assert_eq!(collect(""), vec![]);
        assert_eq!(collect("\n\n  \n\t\n"), vec![]);
        assert_eq!(
            collect("a b=1\n\nc d=2\r\n# x\n  # y \"\ne f=3"),
            vec![
                (1, "a b=1".to_owned()),
                (3, "c d=2".to_owned()),
                (6, "e f=3".to_owned())
            ]
        );
        assert_eq!(
            collect("a b=\"x\ny\" 1\nc d=1"),
            vec![(1, "a b=\"x\ny\" 1".to_owned()), (3, "c d=1".to_owned())]
        );
        assert_eq!(
            collect("a b=\\\"\nc d=1"),
            vec![(1, "a b=\\\"".to_owned()), (2, "c d=1".to_owned())]
        );
        assert_eq!(
            collect("a,t=x\\\ny b=1\nc d=1\r\n\r\n"),
            vec![(1, "a,t=x\\\ny b=1".to_owned()), (3, "c d=1".to_owned())]
        );
        assert_eq!(collect("  a b=1  \r"), vec![(1, "  a b=1  ".to_owned())]);
    }
}
