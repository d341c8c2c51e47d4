//! A gather's index map as runs: stretches that copy a contiguous range of
//! the source (rolls, slices, reshapes), repeat one element (broadcasts) or
//! are zero (padding, index -1). Stencils gather in long runs, and a run is
//! one `copy_from_slice` or `fill` instead of a bounds-checked load per element.

use num_traits::Zero;

/// What a run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run {
    /// `src[from..]`, one element after another.
    Copy(usize),
    /// `src[from]` everywhere.
    Repeat(usize),
    /// Zeros.
    Zero,
}

/// `(first output element, length, what)` of each run, in order.
pub(crate) type Runs = Vec<(usize, usize, Run)>;

/// The runs of `indices`, or None when they are too short on average (under
/// four elements) to beat an element-by-element gather.
pub(crate) fn runs_of(indices: &[i64]) -> Option<Runs> {
    let mut runs: Runs = Vec::new();
    for (e, &ix) in indices.iter().enumerate() {
        let ix = usize::try_from(ix).ok();
        if let Some((_, len, run)) = runs.last_mut() {
            let next = match (*run, ix) {
                (Run::Copy(from), Some(ix)) if ix == from + *len => Some(*run),
                (Run::Copy(from), Some(ix)) if ix == from && *len == 1 => Some(Run::Repeat(ix)),
                (Run::Repeat(from), Some(ix)) if ix == from => Some(*run),
                (Run::Zero, None) => Some(Run::Zero),
                _ => None,
            };
            if let Some(next) = next {
                (*len, *run) = (*len + 1, next);
                continue;
            }
        }
        runs.push((e, 1, ix.map_or(Run::Zero, Run::Copy)));
    }
    (runs.len() * 4 <= indices.len()).then_some(runs)
}

/// Elements `first..first + dst.len()` of the gather that `runs` describe.
pub(crate) fn gather_runs<T: Copy + Zero>(
    runs: &[(usize, usize, Run)],
    src: &[T],
    first: usize,
    dst: &mut [T],
) {
    let end = first + dst.len();
    let from = runs.partition_point(|&(start, len, _)| start + len <= first);
    for &(start, len, run) in &runs[from..] {
        if start >= end {
            break;
        }
        let (lo, hi) = (start.max(first), (start + len).min(end));
        let out = &mut dst[lo - first..hi - first];
        match run {
            Run::Copy(s) => out.copy_from_slice(&src[s + lo - start..s + hi - start]),
            Run::Repeat(s) => out.fill(src[s]),
            Run::Zero => out.fill(T::zero()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_reproduce_the_gather_in_every_window() {
        // a roll, a broadcast, padding and a reversed stretch (runs of one)
        let mut indices: Vec<i64> = (0..40).map(|e| (e + 3) % 40).collect();
        indices.extend([7; 12]);
        indices.extend([-1; 9]);
        indices.extend((0..10).map(|e| 30 - e));
        indices.extend(0..30);
        let runs = runs_of(&indices).expect("long runs");
        assert!(runs.contains(&(40, 12, Run::Repeat(7))));
        assert!(runs.contains(&(52, 9, Run::Zero)));
        let src: Vec<f64> = (0..40).map(|v| f64::from(v) + 0.5).collect();
        let want: Vec<f64> = indices
            .iter()
            .map(|&ix| usize::try_from(ix).map_or(0.0, |ix| src[ix]))
            .collect();
        for (first, len) in [(0, indices.len()), (5, 50), (38, 3), (60, 0), (80, 21)] {
            let mut got = vec![-1.0; len];
            gather_runs(&runs, &src, first, &mut got);
            assert_eq!(got, want[first..first + len], "window {first}+{len}");
        }
    }

    #[test]
    fn scattered_indices_have_no_runs() {
        let indices: Vec<i64> = (0..64).map(|e| (e * 37) % 64).collect();
        assert!(runs_of(&indices).is_none());
    }
}
