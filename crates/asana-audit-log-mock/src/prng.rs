//! Deterministic pseudo-random numbers for data generation and fault decisions.
//!
//! SplitMix64 is written out here instead of pulling in `rand`: it is a dozen lines, has no
//! dependencies, is fast, and its output is fixed forever, which is what "same seed, same
//! bytes" needs (a `rand` upgrade may change a generator's stream). Statistical quality is
//! ample for test data; nothing here is used for secrecy.

/// The SplitMix64 generator (Steele, Lea and Flood's mixing of a Weyl sequence).
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    /// A generator whose stream is fixed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for one item of a keyed family: `derive(seed, k)` streams are unrelated for
    /// different `k`, so item `k` can be produced without producing items `0..k` first.
    pub(crate) fn derive(seed: u64, key: u64) -> Self {
        Self::new(mix(seed ^ mix(key.wrapping_add(GOLDEN))))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        finalize(self.state)
    }

    /// A value in `0..n` (`n > 0`), by the multiply-shift reduction; its bias is below 2^-40
    /// for the small ranges used here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// A float in `[0, 1)` with 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// An index chosen with the given relative weights (not all zero).
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        weights.len() - 1
    }
}

/// SplitMix64's output function: a bijective 64-bit mixer.
pub(crate) fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes one word into another; used to decorrelate seeds and keys.
pub(crate) fn mix(x: u64) -> u64 {
    finalize(x.wrapping_add(GOLDEN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_fixed_by_seed() {
        let a: Vec<u64> = {
            let mut g = SplitMix64::new(7);
            (0..4).map(|_| g.next_u64()).collect()
        };
        let mut g = SplitMix64::new(7);
        let b: Vec<u64> = (0..4).map(|_| g.next_u64()).collect();
        assert_eq!(a, b);
        // The published first output of SplitMix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn below_and_weighted_stay_in_range() {
        let mut g = SplitMix64::new(1);
        for _ in 0..10_000 {
            assert!(g.below(7) < 7);
            assert!((3..=5).contains(&g.range(3, 5)));
            assert!(g.weighted(&[0, 5, 0, 1]) % 2 == 1);
            let u = g.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
