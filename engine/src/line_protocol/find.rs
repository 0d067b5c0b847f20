//! Finding the next interesting byte, eight bytes at a time.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The index of the first byte at or after `i` that is one of `set`, or `b.len()`.
///
/// Looks at eight bytes at a time (SWAR): a byte of `w ^ splat(c)` is zero where `w` has `c`.
/// The zero-byte test can flag bytes *above* a real zero (borrows), never below, so the lowest
/// flagged byte is always the first match. Tokens in line protocol are short, so this beats a
/// call to `memchr` (and handles more than three bytes).
#[inline(always)]
pub(crate) fn find<const K: usize>(b: &[u8], mut i: usize, set: [u8; K]) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let w = u64::from_le_bytes(chunk);
        let mut m = 0;
        for c in set {
            let x = w ^ (LO * u64::from(c));
            m |= x.wrapping_sub(LO) & !x & HI;
        }
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !set.contains(&b[i]) {
        i += 1;
    }
    i
}

/// How many more `=` than `,` `b` contains.
#[inline]
pub(crate) fn equals_minus_commas(b: &[u8]) -> isize {
    /// Exactly the bytes of `w` equal to `c`, as 0x80 in each such byte.
    #[inline(always)]
    fn matches(w: u64, c: u8) -> u64 {
        const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
        let x = w ^ (LO * u64::from(c));
        !(((x & LOW7) + LOW7) | x | LOW7)
    }
    let mut chunks = b.chunks_exact(8);
    let mut d = 0isize;
    for chunk in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(chunk);
        let w = u64::from_le_bytes(a);
        d += matches(w, b'=').count_ones() as isize - matches(w, b',').count_ones() as isize;
    }
    for &c in chunks.remainder() {
        d += isize::from(c == b'=') - isize::from(c == b',');
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_match() {
        let hay: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        for start in [0usize, 1, 7, 8, 9, 200, 255, 256, 300, 511, 512] {
            for set in [[b',', b' ', b'\\'], [0, 1, 255], [b'=', b'=', 0x80]] {
                let want = (start..hay.len())
                    .find(|&k| set.contains(&hay[k]))
                    .unwrap_or(hay.len());
                assert_eq!(find(&hay, start, set), want, "{start} {set:?}");
            }
        }
        // Borrow propagation: 0x01 right after a match must not hide or fake a match.
        let hay = [b'a', 0, 1, 1, 1, 1, 1, 1, 1, 1, 0];
        assert_eq!(find(&hay, 0, [0]), 1);
        assert_eq!(find(&hay, 2, [0]), 10);
        assert_eq!(find(b"", 0, [b'x']), 0);
        assert_eq!(find(b"abc", 3, [b'x']), 3);
    }

    #[test]
    fn counts_equals_and_commas() {
        let hay: Vec<u8> = (0..=255u8)
            .chain(b"==,=\x01=,,\0=".iter().copied())
            .collect();
        for start in 0..hay.len() {
            for end in start..hay.len() {
                let b = &hay[start..end];
                let want = b.iter().filter(|&&c| c == b'=').count() as isize
                    - b.iter().filter(|&&c| c == b',').count() as isize;
                assert_eq!(equals_minus_commas(b), want, "{start}..{end}");
            }
        }
    }
}
