//! The line parser.

use super::escaped::{EscapedStr, Escaping};
use super::find::find;
use super::number::{
    fast_field_number, fast_timestamp, parse_f64, parse_i64, parse_u64, FastNumber, NumError,
};
use super::{FieldValue, ParseError, ParseErrorKind, ParsedLine, MAX_KEY_LENGTH};

/// Bytes that end a run of plain measurement bytes.
const MEASUREMENT_STOP: [u8; 3] = [b',', b' ', b'\\'];
/// Bytes that end a run of plain tag key, tag value or field key bytes.
const KEY_STOP: [u8; 4] = [b',', b'=', b' ', b'\\'];
/// Bytes that end a number or boolean field value.
const VALUE_END: [u8; 2] = [b',', b' '];
/// Bytes that end a timestamp.
const SPACE: [u8; 1] = [b' '];

/// Skips the blanks InfluxDB skips between sections: spaces, tabs and NUL bytes.
#[inline(always)]
fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | 0) {
        i += 1;
    }
    i
}

/// `b[j]` is a backslash in the key section (measurement, tags). InfluxDB treats a byte as
/// escaped when the byte before it is a backslash, so a run of backslashes escapes the byte
/// after the run. Returns the index after that byte and whether the run ends in an escape
/// sequence of `escaping` (i.e. whether unescaping changes the text).
#[inline]
fn skip_key_escape(b: &[u8], j: usize, escaping: Escaping) -> (usize, bool) {
    let mut k = j + 1;
    while k < b.len() && b[k] == b'\\' {
        k += 1;
    }
    match b.get(k) {
        Some(&c) => (k + 1, escaping.is_escapable(c)),
        None => (k, false),
    }
}

/// Turns a byte position in `line` into a [`ParseError`] with the physical line and column.
#[cold]
#[inline(never)]
fn error_at(line: &[u8], line_no: usize, pos: usize, kind: ParseErrorKind) -> ParseError {
    let pos = pos.min(line.len());
    let before = &line[..pos];
    match memchr::memrchr(b'\n', before) {
        None => ParseError {
            line: line_no,
            column: pos + 1,
            kind,
        },
        Some(nl) => ParseError {
            line: line_no + memchr::memchr_iter(b'\n', before).count(),
            column: pos - nl,
            kind,
        },
    }
}

/// A field value for an error message, shortened if long.
#[cold]
fn snippet(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Parse one line (no trailing newline) into `out` (cleared first). Sorting of tags is NOT done
/// here.
///
/// `line_no` is the 1-based number of the line in the body (as yielded by
/// [`lines`](super::lines)); it is only used for errors. Leading blanks are skipped. See the
/// [module documentation](super) for the syntax.
pub fn parse_line<'a>(
    line: &'a [u8],
    line_no: usize,
    out: &mut ParsedLine<'a>,
) -> Result<(), ParseError> {
    out.clear();
    let s = match std::str::from_utf8(line) {
        Ok(s) => s,
        Err(e) => {
            return Err(error_at(
                line,
                line_no,
                e.valid_up_to(),
                ParseErrorKind::InvalidUtf8,
            ))
        }
    };
    Parser { s, line_no }.parse(out).map_err(|e| *e)
}

/// Errors are boxed inside the parser so that results stay small on the hot path.
type PResult<T> = Result<T, Box<ParseError>>;

struct Parser<'a> {
    s: &'a str,
    line_no: usize,
}

impl<'a> Parser<'a> {
    #[cold]
    #[inline(never)]
    fn err(&self, pos: usize, kind: ParseErrorKind) -> Box<ParseError> {
        Box::new(error_at(self.s.as_bytes(), self.line_no, pos, kind))
    }

    /// Byte offset of `sub`, a subslice of the line.
    fn offset_of(&self, sub: &str) -> usize {
        (sub.as_ptr() as usize).saturating_sub(self.s.as_ptr() as usize)
    }

    #[inline(always)]
    fn parse(&self, out: &mut ParsedLine<'a>) -> PResult<()> {
        let s = self.s;
        let b = s.as_bytes();
        let n = b.len();

        // Measurement.
        let m_start = skip_blanks(b, 0);
        if m_start >= n || b[m_start] == b',' {
            return Err(self.err(m_start, ParseErrorKind::MissingMeasurement));
        }
        let mut j = m_start;
        let mut esc = false;
        loop {
            j = find(b, j, MEASUREMENT_STOP);
            if j >= n {
                return Err(self.err(n, ParseErrorKind::MissingFields));
            }
            if b[j] != b'\\' {
                break;
            }
            let (next, e) = skip_key_escape(b, j, Escaping::Measurement);
            esc |= e;
            j = next;
        }
        out.measurement = EscapedStr::new(&s[m_start..j], esc, Escaping::Measurement);

        // Tags.
        let key_end = if b[j] == b',' {
            let key_end = self.parse_tags(j + 1, out)?;
            self.check_duplicate_tags(&out.tags)?;
            key_end
        } else {
            j
        };
        let key_len = key_end - m_start;
        if key_len > MAX_KEY_LENGTH {
            return Err(self.err(m_start, ParseErrorKind::KeyTooLong { len: key_len }));
        }

        // Fields. b[key_end] is a space.
        let mut i = skip_blanks(b, key_end);
        if i >= n {
            return Err(self.err(i, ParseErrorKind::MissingFields));
        }
        loop {
            let (key, vs) = self.parse_field_key(i)?;
            let series_key_len = key_len + 4 + key.raw().len();
            if series_key_len > MAX_KEY_LENGTH {
                return Err(self.err(
                    i,
                    ParseErrorKind::KeyTooLong {
                        len: series_key_len,
                    },
                ));
            }
            let e = self.parse_field_value(vs, key, &mut out.fields)?;
            if e >= n {
                break;
            }
            if b[e] == b',' {
                i = e + 1;
                continue;
            }
            // b[e] is a space: an optional timestamp follows.
            out.timestamp = self.parse_timestamp(e)?;
            break;
        }
        dedup_fields(&mut out.fields);
        Ok(())
    }

    /// Parses the tag set starting at `i` (after the measurement's `,`). Returns the index of
    /// the space that ends it.
    #[inline(always)]
    fn parse_tags(&self, mut i: usize, out: &mut ParsedLine<'a>) -> PResult<usize> {
        let s = self.s;
        let b = s.as_bytes();
        let n = b.len();
        loop {
            // Key.
            if i >= n || matches!(b[i], b' ' | b',' | b'=') {
                return Err(self.err(i, ParseErrorKind::MissingTagKey));
            }
            let ks = i;
            let mut p = i;
            let mut kesc = false;
            loop {
                p = find(b, p, KEY_STOP);
                if p >= n {
                    return Err(self.err(n, ParseErrorKind::MissingTagValue));
                }
                match b[p] {
                    b'\\' => {
                        let (next, e) = skip_key_escape(b, p, Escaping::Tag);
                        kesc |= e;
                        p = next;
                    }
                    b'=' => break,
                    _ => return Err(self.err(p, ParseErrorKind::MissingTagValue)),
                }
            }
            let key = EscapedStr::new(&s[ks..p], kesc, Escaping::Tag);

            // Value. As in InfluxDB, its first byte may be '='.
            let vs = p + 1;
            if vs >= n || b[vs] == b',' || b[vs] == b' ' {
                return Err(self.err(vs, ParseErrorKind::MissingTagValue));
            }
            let mut q = if b[vs] == b'=' { vs + 1 } else { vs };
            let mut vesc = false;
            loop {
                q = find(b, q, KEY_STOP);
                if q >= n {
                    return Err(self.err(n, ParseErrorKind::MissingFields));
                }
                match b[q] {
                    b'\\' => {
                        let (next, e) = skip_key_escape(b, q, Escaping::Tag);
                        vesc |= e;
                        q = next;
                    }
                    b'=' => return Err(self.err(q, ParseErrorKind::InvalidTagFormat)),
                    _ => break,
                }
            }
            let value = EscapedStr::new(&s[vs..q], vesc, Escaping::Tag);
            out.tags.push((key, value));
            if b[q] == b' ' {
                return Ok(q);
            }
            i = q + 1;
        }
    }

    /// InfluxDB rejects a line with the same tag key twice ("duplicate tags").
    ///
    /// Unescaping is injective for tag keys (the delimiters never appear unescaped), so
    /// comparing raw keys is exact.
    #[inline(always)]
    fn check_duplicate_tags(&self, tags: &[(EscapedStr<'a>, EscapedStr<'a>)]) -> PResult<()> {
        match find_duplicate(tags.len(), |i| tags[i].0.raw().as_bytes()) {
            None => Ok(()),
            Some(i) => Err(self.duplicate_tag(&tags[i].0)),
        }
    }

    #[cold]
    fn duplicate_tag(&self, key: &EscapedStr<'a>) -> Box<ParseError> {
        self.err(
            self.offset_of(key.raw()),
            ParseErrorKind::DuplicateTag {
                key: key.unescaped().into_owned(),
            },
        )
    }

    /// Parses a field key starting at `i`. Returns it and the index after its `=`.
    ///
    /// InfluxDB's field scanner lets a backslash escape exactly the next byte.
    #[inline(always)]
    fn parse_field_key(&self, i: usize) -> PResult<(EscapedStr<'a>, usize)> {
        let s = self.s;
        let b = s.as_bytes();
        let n = b.len();
        let mut p = i;
        let mut esc = false;
        loop {
            p = find(b, p, KEY_STOP);
            if p >= n {
                return Err(self.err(i, ParseErrorKind::InvalidFieldFormat));
            }
            match b[p] {
                b'\\' => {
                    if p + 1 < n {
                        let next = b[p + 1];
                        esc |= Escaping::FieldKey.is_escapable(next)
                            || (next == b'\\' && b.get(p + 2) == Some(&b'"'));
                        p += 2;
                    } else {
                        p += 1;
                    }
                }
                b'=' => break,
                _ => return Err(self.err(i, ParseErrorKind::InvalidFieldFormat)),
            }
        }
        if p == i {
            return Err(self.err(p, ParseErrorKind::MissingFieldKey));
        }
        if b[p - 1] == b'\\' {
            return Err(self.err(
                p - 1,
                ParseErrorKind::InvalidFieldKey {
                    key: s[i..p].to_owned(),
                },
            ));
        }
        Ok((EscapedStr::new(&s[i..p], esc, Escaping::FieldKey), p + 1))
    }

    /// Parses the field value starting at `vs`. Returns it and the index after it, which is
    /// the end of the line, a `,` or a space.
    #[inline(always)]
    fn parse_field_value(
        &self,
        vs: usize,
        key: EscapedStr<'a>,
        fields: &mut Vec<(EscapedStr<'a>, FieldValue<'a>)>,
    ) -> PResult<usize> {
        let s = self.s;
        let b = s.as_bytes();
        let n = b.len();
        let Some(&first) = b.get(vs) else {
            return Err(self.missing_value(vs, &key));
        };
        match first {
            b'0'..=b'9' | b'-' | b'.' | b'N' | b'n' => {
                if let Some((v, e)) = fast_field_number(b, vs) {
                    let value = match v {
                        FastNumber::Float(v) => FieldValue::Float(v),
                        FastNumber::Integer(v) => FieldValue::Integer(v),
                        FastNumber::UInteger(v) => FieldValue::UInteger(v),
                    };
                    fields.push((key, value));
                    return Ok(e);
                }
                let e = find(b, vs, VALUE_END);
                let tok = &s[vs..e];
                let tb = tok.as_bytes();
                match tb[tb.len() - 1] {
                    b'i' => match parse_i64(&tb[..tb.len() - 1]) {
                        Ok(v) => fields.push((key, FieldValue::Integer(v))),
                        Err(e) => return Err(self.number_error(vs, &key, tok, e, 'i')),
                    },
                    b'u' => match parse_u64(&tb[..tb.len() - 1]) {
                        Ok(v) => fields.push((key, FieldValue::UInteger(v))),
                        Err(e) => return Err(self.number_error(vs, &key, tok, e, 'u')),
                    },
                    _ => match parse_f64(tok) {
                        Ok(v) => fields.push((key, FieldValue::Float(v))),
                        Err(e) => return Err(self.number_error(vs, &key, tok, e, 'f')),
                    },
                }
                Ok(e)
            }
            b'"' => {
                let mut p = vs + 1;
                let mut esc = false;
                loop {
                    let q = find(b, p, [b'"', b'\\']);
                    if q >= n {
                        return Err(self.unterminated(vs, &key));
                    }
                    if b[q] == b'"' {
                        let e = q + 1;
                        if e < n && b[e] != b',' && b[e] != b' ' {
                            return Err(self.err(
                                e,
                                ParseErrorKind::TrailingAfterString {
                                    field: key.unescaped().into_owned(),
                                },
                            ));
                        }
                        let value = EscapedStr::new(&s[vs + 1..q], esc, Escaping::StringValue);
                        fields.push((key, FieldValue::String(value)));
                        return Ok(e);
                    }
                    // A backslash escapes the next byte; only \" and \\ change the text.
                    match b.get(q + 1) {
                        Some(&c) => {
                            esc |= c == b'"' || c == b'\\';
                            p = q + 2;
                        }
                        None => return Err(self.unterminated(vs, &key)),
                    }
                }
            }
            b't' | b'T' | b'f' | b'F' => {
                let e = find(b, vs, VALUE_END);
                let value = match &b[vs..e] {
                    b"t" | b"T" | b"true" | b"True" | b"TRUE" => true,
                    b"f" | b"F" | b"false" | b"False" | b"FALSE" => false,
                    _ => {
                        return Err(self.err(
                            vs,
                            ParseErrorKind::InvalidBoolean {
                                field: key.unescaped().into_owned(),
                                value: snippet(&s[vs..e]),
                            },
                        ))
                    }
                };
                fields.push((key, FieldValue::Boolean(value)));
                Ok(e)
            }
            b',' | b' ' => Err(self.missing_value(vs, &key)),
            _ => {
                let e = find(b, vs, VALUE_END);
                Err(self.err(
                    vs,
                    ParseErrorKind::InvalidFieldValue {
                        field: key.unescaped().into_owned(),
                        value: snippet(&s[vs..e]),
                    },
                ))
            }
        }
    }

    #[cold]
    fn missing_value(&self, pos: usize, key: &EscapedStr<'a>) -> Box<ParseError> {
        self.err(
            pos,
            ParseErrorKind::MissingFieldValue {
                field: key.unescaped().into_owned(),
            },
        )
    }

    #[cold]
    fn unterminated(&self, pos: usize, key: &EscapedStr<'a>) -> Box<ParseError> {
        self.err(
            pos,
            ParseErrorKind::UnterminatedString {
                field: key.unescaped().into_owned(),
            },
        )
    }

    #[cold]
    fn number_error(
        &self,
        pos: usize,
        key: &EscapedStr<'a>,
        tok: &str,
        e: NumError,
        ty: char,
    ) -> Box<ParseError> {
        let field = key.unescaped().into_owned();
        let value = snippet(tok);
        let kind = match (e, ty) {
            (NumError::Syntax, _) => ParseErrorKind::InvalidNumber { field, value },
            (NumError::Range, 'i') => ParseErrorKind::IntegerOutOfRange { field, value },
            (NumError::Range, 'u') => ParseErrorKind::UnsignedOutOfRange { field, value },
            (NumError::Range, _) => ParseErrorKind::FloatOutOfRange { field, value },
        };
        self.err(pos, kind)
    }

    /// Parses the optional timestamp after the field set; `e` is the space ending the fields.
    #[inline(always)]
    fn parse_timestamp(&self, e: usize) -> PResult<Option<i64>> {
        let b = self.s.as_bytes();
        let n = b.len();
        let t = skip_blanks(b, e);
        if t >= n {
            return Ok(None);
        }
        let (ts, te) = match fast_timestamp(b, t) {
            Some(r) => r,
            None => self.parse_timestamp_slow(t)?,
        };
        let rest = skip_spaces(b, te);
        if rest < n {
            return Err(self.err(rest, ParseErrorKind::TrailingContent));
        }
        Ok(Some(ts))
    }

    #[cold]
    fn parse_timestamp_slow(&self, t: usize) -> PResult<(i64, usize)> {
        let b = self.s.as_bytes();
        let te = find(b, t, SPACE);
        let ts = match parse_i64(&b[t..te]) {
            Ok(v) => v,
            Err(NumError::Syntax) => {
                // Point at the first offending byte.
                let digits = if b[t] == b'-' { t + 1 } else { t };
                let bad = (digits..te).find(|&k| !b[k].is_ascii_digit()).unwrap_or(t);
                return Err(self.err(bad, ParseErrorKind::InvalidTimestamp));
            }
            Err(NumError::Range) => {
                return Err(self.err(t, ParseErrorKind::TimestampOutOfRange));
            }
        };
        Ok((ts, te))
    }
}

#[inline(always)]
fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    i
}

/// A cheap fingerprint of a key: equal keys have equal fingerprints.
#[inline(always)]
fn fingerprint(k: &[u8]) -> u64 {
    let n = k.len();
    if n == 0 {
        return 0;
    }
    n as u64
        | u64::from(k[0]) << 16
        | u64::from(k[n - 1]) << 24
        | u64::from(k[n / 2]) << 32
        | u64::from(k[n / 3]) << 40
        | u64::from(k[2 * n / 3]) << 48
}

/// The index of the first key that equals an earlier one, if any. Allocation-free for up to
/// 64 keys: pairwise, comparing cheap fingerprints first.
#[inline(always)]
fn find_duplicate<'k>(n: usize, key: impl Fn(usize) -> &'k [u8]) -> Option<usize> {
    if n <= 4 {
        return (1..n).find(|&i| {
            let k = key(i);
            (0..i).any(|j| {
                let o = key(j);
                o.len() == k.len() && o == k
            })
        });
    }
    if n > 64 {
        return find_duplicate_many(n, key);
    }
    let mut fps = [0u64; 64];
    for (i, fp) in fps.iter_mut().enumerate().take(n) {
        *fp = fingerprint(key(i));
    }
    (1..n).find(|&i| {
        let fp = fps[i];
        fps[..i]
            .iter()
            .enumerate()
            .any(|(j, &o)| o == fp && key(j) == key(i))
    })
}

#[cold]
fn find_duplicate_many<'k>(n: usize, key: impl Fn(usize) -> &'k [u8]) -> Option<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_unstable_by(|&x, &y| key(x).cmp(key(y)).then(x.cmp(&y)));
    idx.windows(2)
        .filter(|w| key(w[0]) == key(w[1]))
        .map(|w| w[1])
        .min()
}

/// Removes all but the last occurrence of each field key (InfluxDB 1.x keeps the last value).
#[inline(always)]
fn dedup_fields(fields: &mut Vec<(EscapedStr<'_>, FieldValue<'_>)>) {
    if fields.len() < 2 {
        return;
    }
    // Field keys may contain a raw '"' and its escape '\"', so keys with escapes are compared
    // unescaped (rare).
    if !fields.iter().any(|(k, _)| k.has_escapes())
        && find_duplicate(fields.len(), |i| fields[i].0.raw().as_bytes()).is_none()
    {
        return;
    }
    dedup_fields_slow(fields);
}

#[cold]
fn dedup_fields_slow(fields: &mut Vec<(EscapedStr<'_>, FieldValue<'_>)>) {
    let mut idx: Vec<usize> = (0..fields.len()).collect();
    let keys: Vec<std::borrow::Cow<'_, str>> = fields.iter().map(|(k, _)| k.unescaped()).collect();
    idx.sort_by(|&x, &y| keys[x].cmp(&keys[y]).then(x.cmp(&y)));
    let mut drop = vec![false; fields.len()];
    for w in idx.windows(2) {
        if keys[w[0]] == keys[w[1]] {
            // w[0] comes earlier in the line than w[1]: the later one wins.
            drop[w[0]] = true;
        }
    }
    let mut i = 0;
    fields.retain(|_| {
        let keep = !drop[i];
        i += 1;
        keep
    });
}
