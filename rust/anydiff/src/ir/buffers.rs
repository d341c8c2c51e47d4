//! Buffer and chunk plumbing shared by the engines: argument blocks beside an
//! output block, chunks of point-major arrays, contiguous result views, the
//! parallel driver with one state per worker, and the workspaces kept
//! between calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use ndarray::{Array, ArrayViewMut, CowArray, Dimension, Ix2};
use num_traits::Zero;
use rayon::prelude::*;

use super::ops::IrError;
use crate::error::Error;

pub(crate) fn split<D>(buf: &mut [D], o: usize, l: usize) -> (&[D], &mut [D], &[D]) {
    let (lo, rest) = buf.split_at_mut(o);
    let (out, hi) = rest.split_at_mut(l);
    (lo, out, hi)
}

/// The block `start..start + len` of an argument, which lies wholly below
/// or wholly above the output block `o..o + l` (the layout guarantees it).
pub(crate) fn arg<'a, D>(
    lo: &'a [D],
    hi: &'a [D],
    o: usize,
    l: usize,
    start: usize,
    len: usize,
) -> &'a [D] {
    if len == 0 {
        &[]
    } else if start + len <= o {
        &lo[start..start + len]
    } else {
        &hi[start - (o + l)..start - (o + l) + len]
    }
}

pub(crate) fn check_dims(what: &str, got: &[usize], want: &[usize]) -> Result<(), IrError> {
    if got != want {
        let fmt = |d: &[usize]| {
            let parts: Vec<String> = d.iter().map(|x| x.to_string()).collect();
            if parts.len() == 1 {
                format!("({},)", parts[0])
            } else {
                format!("({})", parts.join(", "))
            }
        };
        return Err(Error::shape(what, fmt(want), fmt(got)));
    }
    Ok(())
}

/// The data of a standard-layout array.
pub(crate) fn standard<'a, T>(a: &'a CowArray<'_, T, Ix2>) -> Result<&'a [T], IrError> {
    a.as_slice()
        .ok_or_else(|| Error::invalid("internal error: points are not contiguous"))
}

/// Runs `f` on the contiguous data of `out` (through a temporary copy when
/// `out` is not in standard layout).
pub(crate) fn with_contiguous<T: Clone + Zero, D: Dimension>(
    mut out: ArrayViewMut<'_, T, D>,
    f: impl FnOnce(&mut [T]),
) {
    if let Some(s) = out.as_slice_mut() {
        f(s);
        return;
    }
    let mut tmp = Array::<T, D>::zeros(out.raw_dim());
    if let Some(s) = tmp.as_slice_mut() {
        f(s);
    }
    out.assign(&tmp);
}

/// Splits `rows` rows of `width` numbers into chunks of `c` rows:
/// `(rows in the chunk, data)`.
pub(crate) fn chunk_rows<T>(data: &[T], rows: usize, width: usize, c: usize) -> Vec<(usize, &[T])> {
    let mut out = Vec::with_capacity(rows.div_ceil(c));
    let mut rest = data;
    let mut left = rows;
    while left > 0 {
        let k = c.min(left);
        let (head, tail) = rest.split_at((k * width).min(rest.len()));
        out.push((k, head));
        rest = tail;
        left -= k;
    }
    out
}

pub(crate) fn opt_chunks<T>(
    v: Option<&mut [T]>,
    rows: usize,
    width: usize,
    c: usize,
) -> Vec<Option<&mut [T]>> {
    match v {
        Some(v) => chunk_rows_mut(v, rows, width, c)
            .into_iter()
            .map(|(_, s)| Some(s))
            .collect(),
        None => (0..rows.div_ceil(c)).map(|_| None).collect(),
    }
}

pub(crate) fn chunk_rows_mut<T>(
    data: &mut [T],
    rows: usize,
    width: usize,
    c: usize,
) -> Vec<(usize, &mut [T])> {
    let mut out = Vec::with_capacity(rows.div_ceil(c));
    let mut rest = data;
    let mut left = rows;
    while left > 0 {
        let k = c.min(left);
        let at = (k * width).min(rest.len());
        let (head, tail) = rest.split_at_mut(at);
        out.push((k, head));
        rest = tail;
        left -= k;
    }
    out
}

/// Runs `body` on every item, in parallel over rayon's threads, each worker making its
/// state (a workspace) once with `make` and pulling items from a shared counter.
pub(crate) fn for_each_with_state<S, I: Send>(
    items: Vec<I>,
    make: impl Fn() -> S + Sync,
    body: impl Fn(&mut S, I) + Sync,
    finish: impl Fn(S) + Sync,
) {
    let workers = rayon::current_num_threads().min(items.len());
    if workers <= 1 {
        let mut state = make();
        for item in items {
            body(&mut state, item);
        }
        finish(state);
        return;
    }
    let slots: Vec<Mutex<Option<I>>> = items.into_iter().map(|i| Mutex::new(Some(i))).collect();
    let next = AtomicUsize::new(0);
    (0..workers).into_par_iter().for_each(|_| {
        let mut state: Option<S> = None;
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = slots.get(k) else { break };
            let item = match slot.lock() {
                Ok(mut g) => g.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            };
            if let Some(item) = item {
                body(state.get_or_insert_with(&make), item);
            }
        }
        if let Some(state) = state {
            finish(state);
        }
    });
}

/// Seed lanes in blocks of `N`: `blocks[b][j][l]` is `lane(j, b * N + l)`, the tangent of
/// input `j` in direction `b * N + l`, and zero past the last of the `lanes` directions.
pub(crate) fn lane_blocks<T: Copy + Zero, const N: usize>(
    n: usize,
    lanes: usize,
    lane: &(dyn Fn(usize, usize) -> T + Sync),
) -> Vec<Vec<[T; N]>> {
    (0..lanes.div_ceil(N).max(1))
        .map(|b| {
            (0..n)
                .map(|j| {
                    std::array::from_fn(|l| {
                        let g = b * N + l;
                        if g < lanes {
                            lane(j, g)
                        } else {
                            T::zero()
                        }
                    })
                })
                .collect()
        })
        .collect()
}

/// Workspaces kept between calls: a large one would otherwise be mapped and
/// faulted in afresh by every call (a third of a 100 us Hessian went there).
#[derive(Default)]
pub(crate) struct Scratch(Mutex<Vec<Box<dyn std::any::Any + Send>>>);

impl Scratch {
    /// Most workspaces kept (one per worker thread is the usual need).
    const KEEP: usize = 16;

    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Box<dyn std::any::Any + Send>>> {
        match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A kept value of type `S` that `fits`, if any.
    pub(crate) fn take<S: std::any::Any>(&self, fits: impl Fn(&S) -> bool) -> Option<S> {
        let mut pool = self.pool();
        let at = pool
            .iter()
            .position(|b| b.downcast_ref::<S>().is_some_and(&fits))?;
        pool.swap_remove(at).downcast::<S>().ok().map(|b| *b)
    }

    /// Keeps `s` for a later call.
    pub(crate) fn give<S: std::any::Any + Send>(&self, s: S) {
        let mut pool = self.pool();
        if pool.len() < Self::KEEP {
            pool.push(Box::new(s));
        }
    }
}

impl Clone for Scratch {
    fn clone(&self) -> Self {
        Scratch::default()
    }
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scratch({} kept)", self.pool().len())
    }
}
