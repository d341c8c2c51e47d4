//! Batching policy (block sizes) and the forward/reverse mode choice.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use crate::error::Error;

/// Default memory cap for one block of seeds plus outputs: 256 MiB.
pub const DEFAULT_MEMORY_CAP_BYTES: usize = 256 * 1024 * 1024;

/// How many seeds are pushed through an oracle per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchPolicy {
    /// User override of the block size (upper bound; `Some(0)` acts as 1).
    pub max_batch: Option<usize>,
    /// Upper bound on the bytes of one block of seeds plus outputs.
    pub memory_cap_bytes: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_batch: None,
            memory_cap_bytes: DEFAULT_MEMORY_CAP_BYTES,
        }
    }
}

impl BatchPolicy {
    /// A policy with the default memory cap and the given `max_batch`.
    pub fn with_max_batch(max_batch: Option<usize>) -> Self {
        BatchPolicy {
            max_batch,
            ..BatchPolicy::default()
        }
    }

    /// Block size for `seeds` seeds of length `seed_len` whose products have
    /// length `out_len`, with elements of `elem_bytes` bytes.
    ///
    /// The largest `k` with `k * (seed_len + out_len) * elem_bytes <= cap`,
    /// clamped to `[1, seeds]` and to `max_batch`, then balanced so that the
    /// blocks are as even as possible (`b = ceil(seeds / k)`,
    /// `k = ceil(seeds / b)`). Returns 0 when `seeds == 0`.
    ///
    /// ```
    /// use anydiff::BatchPolicy;
    /// let p = BatchPolicy { max_batch: Some(4), ..BatchPolicy::default() };
    /// assert_eq!(p.block_size(10, 10, 10, 8), 4); // 3 blocks: 4, 4, 2
    /// assert_eq!(p.block_size(9, 10, 10, 8), 3);  // balanced: 3, 3, 3
    /// ```
    pub fn block_size(
        &self,
        seeds: usize,
        seed_len: usize,
        out_len: usize,
        elem_bytes: usize,
    ) -> usize {
        if seeds == 0 {
            return 0;
        }
        let per_seed = seed_len.saturating_add(out_len).saturating_mul(elem_bytes);
        let mut k = self.memory_cap_bytes.checked_div(per_seed).unwrap_or(seeds);
        k = k.clamp(1, seeds);
        if let Some(max) = self.max_batch {
            k = k.min(max.max(1));
        }
        let blocks = seeds.div_ceil(k);
        seeds.div_ceil(blocks)
    }

    /// Consecutive ranges of at most [`BatchPolicy::block_size`] seeds
    /// covering `0..seeds` (empty when `seeds == 0`).
    ///
    /// ```
    /// use anydiff::BatchPolicy;
    /// let p = BatchPolicy::with_max_batch(Some(4));
    /// assert_eq!(p.blocks(10, 1, 1, 8), vec![0..4, 4..8, 8..10]);
    /// ```
    pub fn blocks(
        &self,
        seeds: usize,
        seed_len: usize,
        out_len: usize,
        elem_bytes: usize,
    ) -> Vec<Range<usize>> {
        let k = self.block_size(seeds, seed_len, out_len, elem_bytes);
        if k == 0 {
            return Vec::new();
        }
        (0..seeds)
            .step_by(k)
            .map(|start| start..(start + k).min(seeds))
            .collect()
    }
}

/// Which products assemble a Jacobian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// Column blocks from JVPs (`n` seeds).
    Forward,
    /// Row blocks from VJPs (`m` seeds).
    Reverse,
}

/// Picks the mode needing fewer seeds for `f: R^n -> R^m`: forward when
/// `n <= m` (ties go forward), reverse otherwise.
///
/// ```
/// use anydiff::{pick_mode, Mode};
/// assert_eq!(pick_mode(3, 3), Mode::Forward);
/// assert_eq!(pick_mode(100, 1), Mode::Reverse);
/// ```
pub fn pick_mode(n: usize, m: usize) -> Mode {
    if n <= m {
        Mode::Forward
    } else {
        Mode::Reverse
    }
}

impl Mode {
    /// The lowercase name (`"forward"` or `"reverse"`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Forward => "forward",
            Mode::Reverse => "reverse",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = Error;

    /// Parses `"forward"` or `"reverse"` (ASCII case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "forward" => Ok(Mode::Forward),
            "reverse" => Ok(Mode::Reverse),
            _ => Err(Error::invalid(format!(
                "unknown mode {s:?}: expected one of \"forward\", \"reverse\""
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_binds() {
        let p = BatchPolicy {
            max_batch: None,
            memory_cap_bytes: 1000,
        };
        // per seed (10 + 15) * 8 = 200 bytes -> 5 per block
        assert_eq!(p.block_size(100, 10, 15, 8), 5);
        // tiny cap still yields at least one seed per block
        assert_eq!(p.block_size(100, 1000, 1000, 8), 1);
        // cap larger than everything: one block
        assert_eq!(BatchPolicy::default().block_size(100, 10, 10, 8), 100);
        // zero-length seeds and outputs: one block
        assert_eq!(p.block_size(7, 0, 0, 8), 7);
    }

    #[test]
    fn max_batch_and_balance() {
        let p = BatchPolicy::with_max_batch(Some(3));
        assert_eq!(p.block_size(10, 1, 1, 8), 3);
        assert_eq!(p.blocks(10, 1, 1, 8), vec![0..3, 3..6, 6..9, 9..10]);
        let p = BatchPolicy::with_max_batch(Some(0));
        assert_eq!(p.block_size(3, 1, 1, 8), 1);
        // k = 7 for 8 seeds would give 7 + 1; balanced gives 4 + 4
        let p = BatchPolicy::with_max_batch(Some(7));
        assert_eq!(p.blocks(8, 1, 1, 8), vec![0..4, 4..8]);
        let p = BatchPolicy {
            max_batch: None,
            memory_cap_bytes: 7 * 16,
        };
        assert_eq!(p.block_size(8, 1, 1, 8), 4);
    }

    #[test]
    fn zero_seeds() {
        let p = BatchPolicy::default();
        assert_eq!(p.block_size(0, 5, 5, 8), 0);
        assert!(p.blocks(0, 5, 5, 8).is_empty());
    }

    #[test]
    fn blocks_cover_exactly() {
        for seeds in 0..40 {
            for max in 1..12 {
                let p = BatchPolicy::with_max_batch(Some(max));
                let blocks = p.blocks(seeds, 3, 2, 4);
                let mut next = 0;
                for b in &blocks {
                    assert_eq!(b.start, next);
                    assert!(!b.is_empty() && b.len() <= max);
                    next = b.end;
                }
                assert_eq!(next, seeds);
            }
        }
    }

    #[test]
    fn modes() {
        assert_eq!(pick_mode(0, 0), Mode::Forward);
        assert_eq!(pick_mode(2, 5), Mode::Forward);
        assert_eq!(pick_mode(5, 2), Mode::Reverse);
        assert_eq!("forward".parse::<Mode>(), Ok(Mode::Forward));
        assert_eq!("Reverse".parse::<Mode>(), Ok(Mode::Reverse));
        let err = "sideways".parse::<Mode>().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::InvalidArgument(_)));
        assert!(msg.contains("forward") && msg.contains("reverse") && msg.contains("sideways"));
        assert_eq!(Mode::Reverse.to_string(), "reverse");
    }
}
