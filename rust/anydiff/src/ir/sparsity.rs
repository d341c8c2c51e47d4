//! Global sparsity detection: index sets of inputs propagated through a
//! [`Program`], valid for every input (unlike a probe at random points).
//!
//! Each node holds, per element, the sorted set of inputs it depends on
//! (one CSR: offsets plus flat `u32` indices). Sets are freed after their
//! last reader and moved instead of copied where a reader is the last.
//! Piecewise-constant functions (`floor`, `ceil`, `round`, `sign`,
//! comparisons, `x^0`) have zero derivative and depend on nothing, exactly
//! as the engine's tangents do.

use super::ops::{Curvature, IrError, Op};
use super::program::Program;
use crate::error::Error;
use crate::sparse::Pattern;

/// Longest product group whose Hessian pairs are recorded member by member
/// (longer ones record every pair of the union).
const PAIRWISE_MAX: usize = 64;

/// Per-element sorted index sets of one node (CSR).
#[derive(Debug, Clone, Default)]
struct Sets {
    ptr: Vec<usize>,
    idx: Vec<u32>,
}

impl Sets {
    fn with_capacity(rows: usize, nnz: usize) -> Self {
        let mut ptr = Vec::with_capacity(rows + 1);
        ptr.push(0);
        Sets {
            ptr,
            idx: Vec::with_capacity(nnz),
        }
    }

    fn empty(rows: usize) -> Self {
        Sets {
            ptr: vec![0; rows + 1],
            idx: Vec::new(),
        }
    }

    #[inline]
    fn row(&self, e: usize) -> &[u32] {
        match (self.ptr.get(e), self.ptr.get(e + 1)) {
            (Some(&s), Some(&t)) => self.idx.get(s..t).unwrap_or(&[]),
            _ => &[],
        }
    }

    #[inline]
    fn end_row(&mut self) {
        self.ptr.push(self.idx.len());
    }

    fn push_row(&mut self, row: &[u32]) {
        self.idx.extend_from_slice(row);
        self.end_row();
    }

    /// Appends the union of two sorted sets as a row.
    #[inline]
    fn push_union(&mut self, a: &[u32], b: &[u32]) {
        merge_into(&mut self.idx, a, b);
        self.end_row();
    }

    fn rows(&self) -> usize {
        self.ptr.len().saturating_sub(1)
    }
}

/// Appends the sorted union of the sorted sets `a` and `b` to `out`.
#[inline]
fn merge_into(out: &mut Vec<u32>, a: &[u32], b: &[u32]) {
    if b.is_empty() || a == b {
        out.extend_from_slice(a);
        return;
    }
    if a.is_empty() {
        out.extend_from_slice(b);
        return;
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        if x < y {
            out.push(x);
            i += 1;
        } else if y < x {
            out.push(y);
            j += 1;
        } else {
            out.push(x);
            i += 1;
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}

/// Sorts and deduplicates `scratch[from..]`.
fn normalize_tail(scratch: &mut Vec<u32>, from: usize) {
    let tail = &mut scratch[from..];
    tail.sort_unstable();
    let mut w = 0;
    for r in 0..tail.len() {
        if w == 0 || tail[r] != tail[w - 1] {
            tail[w] = tail[r];
            w += 1;
        }
    }
    scratch.truncate(from + w);
}

/// The Hessian pattern under construction: one growing, lazily
/// deduplicated list per row.
struct HessAcc {
    rows: Vec<Vec<u32>>,
    limit: Vec<usize>,
}

impl HessAcc {
    fn new(n: usize) -> Self {
        HessAcc {
            rows: vec![Vec::new(); n],
            limit: vec![64; n],
        }
    }

    /// Adds `s x t` (one direction).
    fn add(&mut self, s: &[u32], t: &[u32]) {
        if t.is_empty() {
            return;
        }
        for &i in s {
            let i = i as usize;
            let row = &mut self.rows[i];
            row.extend_from_slice(t);
            if row.len() > self.limit[i] {
                normalize_tail(row, 0);
                self.limit[i] = (2 * row.len()).max(64);
            }
        }
    }

    /// Adds `s x t` and `t x s`.
    fn add_sym(&mut self, s: &[u32], t: &[u32]) {
        self.add(s, t);
        if s != t {
            self.add(t, s);
        }
    }

    fn into_pattern(mut self, n: usize) -> Pattern {
        let mut ptr = Vec::with_capacity(n + 1);
        let mut idx = Vec::new();
        ptr.push(0);
        for row in &mut self.rows {
            normalize_tail(row, 0);
            idx.extend(row.iter().map(|&j| j as usize));
            ptr.push(idx.len());
        }
        Pattern::from_csr(n, n, &ptr, &idx).unwrap_or_else(|_| Pattern::empty(n, n))
    }
}

impl Program {
    /// The structural Jacobian pattern (`m x n`), valid for all inputs.
    pub fn jacobian_sparsity(&self) -> Pattern {
        let sets = self.propagate(None);
        let (m, n) = (self.m, self.n);
        let mut ptr = Vec::with_capacity(m + 1);
        let mut idx = Vec::new();
        ptr.push(0);
        for &o in &self.outputs {
            if let Some(Some(s)) = sets.get(o) {
                for e in 0..s.rows() {
                    idx.extend(s.row(e).iter().map(|&j| j as usize));
                    ptr.push(idx.len());
                }
            }
        }
        Pattern::from_csr(m, n, &ptr, &idx).unwrap_or_else(|_| Pattern::empty(m, n))
    }

    /// The structural Hessian pattern (`n x n`, symmetric) of the sum of
    /// the outputs, valid for all inputs: at every nonlinear operation that
    /// reaches an output through differentiable paths, the products of the
    /// index sets of its arguments.
    pub fn hessian_sparsity(&self) -> Result<Pattern, IrError> {
        if self.n > u32::MAX as usize {
            return Err(Error::invalid("too many inputs for sparsity detection"));
        }
        let mut acc = HessAcc::new(self.n);
        self.propagate(Some(&mut acc));
        Ok(acc.into_pattern(self.n))
    }

    /// Nodes whose value reaches an output along differentiable paths.
    fn reaches_output(&self) -> Vec<bool> {
        let mut reach = vec![false; self.ops.len()];
        for &o in &self.outputs {
            reach[o] = true;
        }
        for i in (0..self.ops.len()).rev() {
            if !reach[i] {
                continue;
            }
            match &self.ops[i] {
                op if op.has_zero_derivative() => {}
                Op::Powi { n: 0, .. } => {}
                Op::Select { t, f, .. } => {
                    reach[*t] = true;
                    reach[*f] = true;
                }
                Op::Sort { a, .. } => reach[*a] = true,
                op => {
                    for a in op.args() {
                        reach[a] = true;
                    }
                }
            }
        }
        reach
    }

    /// Propagates the first-order sets; records second-order products into
    /// `hess` when given. Returns the sets of the output nodes (others freed).
    fn propagate(&self, mut hess: Option<&mut HessAcc>) -> Vec<Option<Sets>> {
        let nodes = self.ops.len();
        let last = self.last_use();
        let mut keep = vec![false; nodes];
        for &o in &self.outputs {
            keep[o] = true;
        }
        let reach = if hess.is_some() {
            self.reaches_output()
        } else {
            Vec::new()
        };
        let mut sets: Vec<Option<Sets>> = vec![None; nodes];
        let empty = Sets::default();
        for (i, op) in self.ops.iter().enumerate() {
            let len = self.lens[i];
            // takes the argument's sets if this is its last reader
            let movable = |a: usize| last[a] == Some(i) && !keep[a];
            let record = hess.is_some() && reach[i];
            let out = match op {
                Op::Input { index, len } => {
                    let x0 = self.input_offsets[*index] as u32;
                    let mut s = Sets::with_capacity(*len, *len);
                    for e in 0..*len as u32 {
                        s.push_row(&[x0 + e]);
                    }
                    s
                }
                Op::Param { .. } | Op::Const(_) | Op::Compare { .. } => Sets::empty(len),
                op if op.has_zero_derivative() => Sets::empty(len),
                Op::Powi { n: 0, .. } => Sets::empty(len),
                Op::Unary { func, a } => {
                    let nonlinear = func.curvature() == Curvature::Nonlinear;
                    self.unary_sets(&mut sets, *a, movable(*a), record && nonlinear, &mut hess)
                }
                Op::Powi { a, n } => {
                    self.unary_sets(&mut sets, *a, movable(*a), record && *n != 1, &mut hess)
                }
                Op::Binary { func, a, b } => {
                    let (sa, sb) = (get(&sets, *a, &empty), get(&sets, *b, &empty));
                    let mut s = Sets::with_capacity(len, sa.idx.len() + sb.idx.len());
                    for e in 0..len {
                        let (ra, rb) = (sa.row(e), sb.row(e));
                        s.push_union(ra, rb);
                        if let (true, Some(h)) = (record, hess.as_deref_mut()) {
                            match func.curvature() {
                                Curvature::Constant | Curvature::Linear => {}
                                Curvature::Bilinear => h.add_sym(ra, rb),
                                Curvature::Quotient => {
                                    h.add_sym(ra, rb);
                                    h.add(rb, rb);
                                }
                                Curvature::Nonlinear => {
                                    let row = s.row(e);
                                    h.add(row, row);
                                }
                            }
                        }
                    }
                    s
                }
                Op::Select { t, f, .. } => {
                    let (st, sf) = (get(&sets, *t, &empty), get(&sets, *f, &empty));
                    let mut s = Sets::with_capacity(len, st.idx.len() + sf.idx.len());
                    for e in 0..len {
                        s.push_union(st.row(e), sf.row(e));
                    }
                    s
                }
                Op::Gather { a, indices } => {
                    let sa = get(&sets, *a, &empty);
                    let mut s = Sets::with_capacity(len, len);
                    for &ix in indices {
                        if ix >= 0 {
                            s.push_row(sa.row(ix as usize));
                        } else {
                            s.end_row();
                        }
                    }
                    s
                }
                Op::Concat(parts) => {
                    let mut s = Sets::with_capacity(len, 0);
                    for &p in parts {
                        let sp = get(&sets, p, &empty);
                        for e in 0..sp.rows() {
                            s.push_row(sp.row(e));
                        }
                    }
                    s
                }
                Op::Reduce {
                    func,
                    a,
                    offsets,
                    indices,
                } => {
                    let sa = get(&sets, *a, &empty);
                    let mut s = Sets::with_capacity(len, 0);
                    for w in offsets.windows(2) {
                        let group = &indices[w[0]..w[1]];
                        let from = s.idx.len();
                        for &j in group {
                            s.idx.extend_from_slice(sa.row(j));
                        }
                        normalize_tail(&mut s.idx, from);
                        s.end_row();
                        if let (true, Some(h), Curvature::Bilinear) =
                            (record, hess.as_deref_mut(), func.curvature())
                        {
                            // products of distinct members (all pairs of a long group)
                            if group.len() <= PAIRWISE_MAX {
                                for (q, &i1) in group.iter().enumerate() {
                                    for &i2 in &group[q + 1..] {
                                        h.add_sym(sa.row(i1), sa.row(i2));
                                    }
                                }
                            } else {
                                let all = s.row(s.rows() - 1);
                                h.add(all, all);
                            }
                        }
                    }
                    s
                }
                Op::Sort { a, segment, .. } => {
                    // an element may come from anywhere in its segment
                    let sa = get(&sets, *a, &empty);
                    let mut s = Sets::with_capacity(len, 0);
                    let mut union = Vec::new();
                    for s0 in (0..len).step_by((*segment).max(1)) {
                        union.clear();
                        for e in s0..s0 + segment {
                            union.extend_from_slice(sa.row(e));
                        }
                        normalize_tail(&mut union, 0);
                        for _ in 0..*segment {
                            s.push_row(&union);
                        }
                    }
                    s
                }
                Op::Linalg { args, batch, .. } => {
                    // every result of a matrix depends on every argument entry
                    let per = len / (*batch).max(1);
                    let mut s = Sets::with_capacity(len, 0);
                    let mut union = Vec::new();
                    for b in 0..*batch {
                        union.clear();
                        for &a in args {
                            let (sa, la) = (get(&sets, a, &empty), self.lens[a] / batch);
                            for e in b * la..(b + 1) * la {
                                union.extend_from_slice(sa.row(e));
                            }
                        }
                        normalize_tail(&mut union, 0);
                        if let (true, Some(h)) = (record, hess.as_deref_mut()) {
                            h.add(&union, &union);
                        }
                        for _ in 0..per {
                            s.push_row(&union);
                        }
                    }
                    s
                }
                Op::Dot {
                    a,
                    b,
                    batch,
                    m,
                    k,
                    n,
                } => {
                    let (sa, sb) = (get(&sets, *a, &empty), get(&sets, *b, &empty));
                    let (m, k, n) = (*m, *k, *n);
                    // out(i, j) depends on row i of A and column j of B
                    let mut rows_a = Sets::with_capacity(batch * m, 0);
                    for bi in 0..batch * m {
                        let from = rows_a.idx.len();
                        for kk in 0..k {
                            rows_a.idx.extend_from_slice(sa.row(bi * k + kk));
                        }
                        normalize_tail(&mut rows_a.idx, from);
                        rows_a.end_row();
                    }
                    let mut cols_b = Sets::with_capacity(batch * n, 0);
                    for bt in 0..*batch {
                        for j in 0..n {
                            let from = cols_b.idx.len();
                            for kk in 0..k {
                                cols_b.idx.extend_from_slice(sb.row((bt * k + kk) * n + j));
                            }
                            normalize_tail(&mut cols_b.idx, from);
                            cols_b.end_row();
                        }
                    }
                    let mut s = Sets::with_capacity(len, 0);
                    for bt in 0..*batch {
                        for i in 0..m {
                            for j in 0..n {
                                s.push_union(rows_a.row(bt * m + i), cols_b.row(bt * n + j));
                                if let (true, Some(h)) = (record, hess.as_deref_mut()) {
                                    for kk in 0..k {
                                        let ra = sa.row((bt * m + i) * k + kk);
                                        let rb = sb.row((bt * k + kk) * n + j);
                                        if !ra.is_empty() && !rb.is_empty() {
                                            h.add_sym(ra, rb);
                                        }
                                    }
                                }
                            }
                        }
                    }
                    s
                }
            };
            sets[i] = Some(out);
            for a in op.args() {
                if last[a] == Some(i) && !keep[a] {
                    sets[a] = None;
                }
            }
        }
        sets
    }

    /// The sets of a unary operation (a copy, or a move at the last
    /// reader); with `square`, records `G_a x G_a` per element.
    fn unary_sets(
        &self,
        sets: &mut [Option<Sets>],
        a: usize,
        movable: bool,
        square: bool,
        hess: &mut Option<&mut HessAcc>,
    ) -> Sets {
        let s = if movable {
            sets[a].take().unwrap_or_else(|| Sets::empty(self.lens[a]))
        } else {
            sets[a].clone().unwrap_or_else(|| Sets::empty(self.lens[a]))
        };
        if let (true, Some(h)) = (square, hess.as_deref_mut()) {
            for e in 0..s.rows() {
                let r = s.row(e);
                h.add(r, r);
            }
        }
        s
    }
}

fn get<'a>(sets: &'a [Option<Sets>], a: usize, empty: &'a Sets) -> &'a Sets {
    sets[a].as_ref().unwrap_or(empty)
}
