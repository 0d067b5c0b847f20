//! Go's `sort.Sort` as of Go 1.19 (pattern-defeating quicksort, `sort/zsortinterface.go`),
//! ported so that functions whose result depends on how an unstable sort orders equal
//! elements give InfluxDB's answer. The `influxd` that weir is checked against (Debian's
//! InfluxDB 1.6.7) is built with Go 1.19. `mode()` is such a function: among values equally
//! frequent, InfluxDB's pick depends on the times of the equal points as `sort.Sort` leaves
//! them.
//!
//! The same algorithm step for step: insertion sort up to 12 elements, median-of-three (Tukey's
//! ninther from 50) with the sortedness hint, partial insertion sort, equal-element
//! partitioning, pattern breaking with Go's xorshift, heapsort past the depth limit.

/// Sorts `data` by `less` exactly as Go 1.19's `sort.Sort` permutes it.
pub(crate) fn sort<T>(data: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let n = data.len();
    if n <= 1 {
        return;
    }
    let limit = usize::BITS - n.leading_zeros();
    Pdq { less: &less }.pdqsort(data, 0, n, limit);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hint {
    Unknown,
    Increasing,
    Decreasing,
}

struct Pdq<'a, F> {
    less: &'a F,
}

impl<F> Pdq<'_, F> {
    fn lt<T>(&self, d: &[T], i: usize, j: usize) -> bool
    where
        F: Fn(&T, &T) -> bool,
    {
        (self.less)(&d[i], &d[j])
    }

    fn insertion_sort<T>(&self, d: &mut [T], a: usize, b: usize)
    where
        F: Fn(&T, &T) -> bool,
    {
        for i in a + 1..b {
            let mut j = i;
            while j > a && self.lt(d, j, j - 1) {
                d.swap(j, j - 1);
                j -= 1;
            }
        }
    }

    fn sift_down<T>(&self, d: &mut [T], lo: usize, hi: usize, first: usize)
    where
        F: Fn(&T, &T) -> bool,
    {
        let mut root = lo;
        loop {
            let mut child = 2 * root + 1;
            if child >= hi {
                return;
            }
            if child + 1 < hi && self.lt(d, first + child, first + child + 1) {
                child += 1;
            }
            if !self.lt(d, first + root, first + child) {
                return;
            }
            d.swap(first + root, first + child);
            root = child;
        }
    }

    fn heap_sort<T>(&self, d: &mut [T], a: usize, b: usize)
    where
        F: Fn(&T, &T) -> bool,
    {
        let first = a;
        let hi = b - a;
        for i in (0..=(hi - 1) / 2).rev() {
            self.sift_down(d, i, hi, first);
        }
        for i in (0..hi).rev() {
            d.swap(first, first + i);
            self.sift_down(d, 0, i, first);
        }
    }

    fn pdqsort<T>(&self, d: &mut [T], mut a: usize, mut b: usize, mut limit: u32)
    where
        F: Fn(&T, &T) -> bool,
    {
        const MAX_INSERTION: usize = 12;
        let (mut was_balanced, mut was_partitioned) = (true, true);
        loop {
            let length = b - a;
            if length <= MAX_INSERTION {
                self.insertion_sort(d, a, b);
                return;
            }
            if limit == 0 {
                self.heap_sort(d, a, b);
                return;
            }
            if !was_balanced {
                self.break_patterns(d, a, b);
                limit -= 1;
            }
            let (mut pivot, mut hint) = self.choose_pivot(d, a, b);
            if hint == Hint::Decreasing {
                d[a..b].reverse();
                pivot = (b - 1) - (pivot - a);
                hint = Hint::Increasing;
            }
            if was_balanced
                && was_partitioned
                && hint == Hint::Increasing
                && self.partial_insertion_sort(d, a, b)
            {
                return;
            }
            if a > 0 && !self.lt(d, a - 1, pivot) {
                a = self.partition_equal(d, a, b, pivot);
                continue;
            }
            let (mid, already) = self.partition(d, a, b, pivot);
            was_partitioned = already;
            let (left, right) = (mid - a, b - mid);
            let threshold = length / 8;
            if left < right {
                was_balanced = left >= threshold;
                self.pdqsort(d, a, mid, limit);
                a = mid + 1;
            } else {
                was_balanced = right >= threshold;
                self.pdqsort(d, mid + 1, b, limit);
                b = mid;
            }
        }
    }

    fn partition<T>(&self, d: &mut [T], a: usize, b: usize, pivot: usize) -> (usize, bool)
    where
        F: Fn(&T, &T) -> bool,
    {
        d.swap(a, pivot);
        // Inclusive bounds of what is left to partition; `j` may go below `a + 1`.
        let (mut i, mut j) = (a as isize + 1, b as isize - 1);
        let lt = |d: &[T], x: isize| self.lt(d, x as usize, a);
        while i <= j && lt(d, i) {
            i += 1;
        }
        while i <= j && !lt(d, j) {
            j -= 1;
        }
        if i > j {
            d.swap(j as usize, a);
            return (j as usize, true);
        }
        d.swap(i as usize, j as usize);
        i += 1;
        j -= 1;
        loop {
            while i <= j && lt(d, i) {
                i += 1;
            }
            while i <= j && !lt(d, j) {
                j -= 1;
            }
            if i > j {
                break;
            }
            d.swap(i as usize, j as usize);
            i += 1;
            j -= 1;
        }
        d.swap(j as usize, a);
        (j as usize, false)
    }

    fn partition_equal<T>(&self, d: &mut [T], a: usize, b: usize, pivot: usize) -> usize
    where
        F: Fn(&T, &T) -> bool,
    {
        d.swap(a, pivot);
        let (mut i, mut j) = (a as isize + 1, b as isize - 1);
        loop {
            while i <= j && !self.lt(d, a, i as usize) {
                i += 1;
            }
            while i <= j && self.lt(d, a, j as usize) {
                j -= 1;
            }
            if i > j {
                break;
            }
            d.swap(i as usize, j as usize);
            i += 1;
            j -= 1;
        }
        i as usize
    }

    fn partial_insertion_sort<T>(&self, d: &mut [T], a: usize, b: usize) -> bool
    where
        F: Fn(&T, &T) -> bool,
    {
        const MAX_STEPS: usize = 5;
        const SHORTEST_SHIFTING: usize = 50;
        let mut i = a + 1;
        for _ in 0..MAX_STEPS {
            while i < b && !self.lt(d, i, i - 1) {
                i += 1;
            }
            if i == b {
                return true;
            }
            if b - a < SHORTEST_SHIFTING {
                return false;
            }
            d.swap(i, i - 1);
            if i - a >= 2 {
                let mut j = i - 1;
                while j >= 1 {
                    if !self.lt(d, j, j - 1) {
                        break;
                    }
                    d.swap(j, j - 1);
                    j -= 1;
                }
            }
            if b - i >= 2 {
                for j in i + 1..b {
                    if !self.lt(d, j, j - 1) {
                        break;
                    }
                    d.swap(j, j - 1);
                }
            }
        }
        false
    }

    fn break_patterns<T>(&self, d: &mut [T], a: usize, b: usize) {
        let length = b - a;
        if length >= 8 {
            let mut random = length as u64;
            let modulus = 1usize << (usize::BITS - length.leading_zeros());
            // Go's `xorshift.Next` (13, 17, 5) over the three elements around the middle.
            let idx = a + (length / 4) * 2 - 1;
            for i in 0..3 {
                random ^= random << 13;
                random ^= random >> 17;
                random ^= random << 5;
                let mut other = (random as usize) & (modulus - 1);
                if other >= length {
                    other -= length;
                }
                d.swap(idx + i, a + other);
            }
        }
    }

    fn choose_pivot<T>(&self, d: &[T], a: usize, b: usize) -> (usize, Hint)
    where
        F: Fn(&T, &T) -> bool,
    {
        const SHORTEST_NINTHER: usize = 50;
        const MAX_SWAPS: usize = 4 * 3;
        let l = b - a;
        let mut swaps = 0;
        let mut i = a + l / 4;
        let mut j = a + l / 4 * 2;
        let mut k = a + l / 4 * 3;
        if l >= 8 {
            if l >= SHORTEST_NINTHER {
                i = self.median(d, i - 1, i, i + 1, &mut swaps);
                j = self.median(d, j - 1, j, j + 1, &mut swaps);
                k = self.median(d, k - 1, k, k + 1, &mut swaps);
            }
            j = self.median(d, i, j, k, &mut swaps);
        }
        match swaps {
            0 => (j, Hint::Increasing),
            MAX_SWAPS => (j, Hint::Decreasing),
            _ => (j, Hint::Unknown),
        }
    }

    fn order2<T>(&self, d: &[T], a: usize, b: usize, swaps: &mut usize) -> (usize, usize)
    where
        F: Fn(&T, &T) -> bool,
    {
        if self.lt(d, b, a) {
            *swaps += 1;
            (b, a)
        } else {
            (a, b)
        }
    }

    fn median<T>(&self, d: &[T], a: usize, b: usize, c: usize, swaps: &mut usize) -> usize
    where
        F: Fn(&T, &T) -> bool,
    {
        let (a, b) = self.order2(d, a, b, swaps);
        let (b, c) = self.order2(d, b, c, swaps);
        let _ = c;
        let (_, b) = self.order2(d, a, b, swaps);
        b
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sorts_every_shape() {
        for n in [0usize, 1, 2, 5, 12, 13, 40, 49, 50, 51, 100, 1000, 5000] {
            for shape in 0..4 {
                let mut v: Vec<(u32, usize)> = (0..n)
                    .map(|i| {
                        let k = match shape {
                            0 => ((i * 7919) % 13) as u32,
                            1 => i as u32,
                            2 => (n - i) as u32,
                            _ => (i % 3) as u32,
                        };
                        (k, i)
                    })
                    .collect();
                sort(&mut v, |a, b| a.0 < b.0);
                assert!(
                    v.windows(2).all(|w| w[0].0 <= w[1].0),
                    "n={n} shape={shape}"
                );
                let mut idx: Vec<usize> = v.iter().map(|p| p.1).collect();
                idx.sort_unstable();
                assert_eq!(idx, (0..n).collect::<Vec<_>>());
            }
        }
    }

    /// `keys()` of `go_sort_vectors.go`, the same generator.
    fn keys(shape: u64, n: usize, seed: u64) -> Vec<u64> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let nn = n as u64;
        let mut out: Vec<u64> = (0..nn)
            .map(|u| match shape {
                0 => next() % 7,
                1 => next() % nn,
                2 => u,
                3 => nn - u,
                4 if u < nn / 2 => u,
                4 => nn - u,
                5 => u % 17,
                6 => 3,
                _ => (nn - u) / 5,
            })
            .collect();
        if shape == 2 && n > 3 {
            for _ in 0..3 {
                let (a, b) = (next() % nn, next() % nn);
                out.swap(a as usize, b as usize);
            }
        }
        out
    }

    /// The permutations real Go 1.19 leaves (`go_sort_vectors.txt`, generated by
    /// `go_sort_vectors.go`): every path of pdqsort (insertion sort, ninther, partial
    /// insertion sort, equal partitioning, pattern breaking) over equal keys.
    #[test]
    fn permutes_equal_elements_as_go_1_19() {
        let vectors = include_str!("go_sort_vectors.txt");
        let mut cases = 0;
        for line in vectors.lines() {
            let mut parts = line.split(' ');
            let shape: u64 = parts.next().unwrap().parse().unwrap();
            let n: usize = parts.next().unwrap().parse().unwrap();
            let seed: u64 = parts.next().unwrap().parse().unwrap();
            let want: Vec<usize> = parts
                .next()
                .unwrap()
                .split(',')
                .map(|i| i.parse().unwrap())
                .collect();
            let mut v: Vec<(u64, usize)> = keys(shape, n, seed)
                .into_iter()
                .enumerate()
                .map(|(i, k)| (k, i))
                .collect();
            sort(&mut v, |a, b| a.0 < b.0);
            let got: Vec<usize> = v.iter().map(|p| p.1).collect();
            assert_eq!(got, want, "shape {shape}, n {n}, seed {seed}");
            cases += 1;
        }
        assert_eq!(cases, 6 * 8 * 2);
    }

    #[test]
    fn small_inputs_keep_the_order_of_equal_elements() {
        // Up to 12 elements Go 1.19 uses insertion sort, which is stable.
        let mut v: Vec<(u32, usize)> = [2, 1, 2, 1, 2, 1, 0, 2, 1, 2, 1, 2]
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, i))
            .collect();
        sort(&mut v, |a, b| a.0 < b.0);
        let ones: Vec<usize> = v.iter().filter(|p| p.0 == 1).map(|p| p.1).collect();
        assert_eq!(ones, vec![1, 3, 5, 8, 10]);
    }
}
