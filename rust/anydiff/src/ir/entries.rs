//! Sparse Jacobians entry by entry ([`SparseJacobian`]): forward mode in
//! which every node carries its derivative as *entry rows* — for each of a
//! few rows, one number per element and the input column it belongs to —
//! with the structure worked out once, while compiling.
//!
//! Colored forward mode (the lanes engine with compressed seeds) pushes
//! every color through every instruction. Here an entry row whose numbers
//! are known while compiling stays a constant: the inputs' rows are ones,
//! gathers and concatenations only re-index rows, and products with
//! constants or sums of constant rows fold. For a discretised PDE the whole
//! linear part (a Laplacian's stencil) becomes constant, and only the
//! entries that depend on the state (a reaction term) are computed per call:
//! a few passes over the grid instead of one per color and instruction.
//! Rows of equal columns merge; entries of one Jacobian position that stay
//! in different rows are summed when the result is written, in the order of
//! a CSR pattern, so no decompression is needed.
//!
//! The rules are the engine's: partial derivatives from [`super::rules`]
//! (the dual numbers), and a zero entry stays zero whatever the partial.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use ndarray::{ArrayView2, ArrayViewMut2};

use super::ops::{BinaryFn, IrError, Op, ReduceFn, UnaryFn};
use super::program::Program;
use super::rules::{binary, binary_rule, powi_rule, unary, unary_rule};
use crate::error::Error;
use crate::sparse::Pattern;

/// Column of an element that a row does not cover.
const ABSENT: u32 = u32::MAX;
/// Most entries (rows times elements) a compiled Jacobian may hold.
const MAX_ENTRIES: usize = 1 << 25;

/// The numbers of an entry row.
#[derive(Clone, Debug)]
enum Val {
    /// Known while compiling.
    Const(Arc<[f64]>),
    /// Runtime row `slot`, read through `map` (element `e` is `slot[map[e]]`,
    /// zero where `map[e] < 0`).
    Slot {
        slot: usize,
        map: Option<Arc<[i64]>>,
    },
}

/// One entry row of a node: element `e` holds the derivative with respect
/// to input `cols[e]` (none where `ABSENT`). Its numbers are a signed sum of
/// `terms` (constants first, folded into one), summed only where an
/// instruction needs them as one row: sums and differences of rows that
/// reach an output cost nothing but their part of the final write.
#[derive(Clone, Debug)]
struct Row {
    cols: Arc<[u32]>,
    terms: Vec<(f64, Val)>,
}

impl Row {
    fn plain(cols: Arc<[u32]>, val: Val) -> Row {
        Row {
            cols,
            terms: vec![(1.0, val)],
        }
    }

    fn negated(&self) -> Row {
        Row {
            cols: self.cols.clone(),
            terms: self.terms.iter().map(|(s, v)| (-s, v.clone())).collect(),
        }
    }
}

/// `terms` with the constant ones folded into one (first).
fn folded(len: usize, terms: Vec<(f64, Val)>) -> Vec<(f64, Val)> {
    let mut konst: Option<Vec<f64>> = None;
    let mut out = Vec::with_capacity(terms.len());
    for (sign, v) in terms {
        match v {
            Val::Const(c) if konst.is_none() && sign == 1.0 => konst = Some(c.to_vec()),
            Val::Const(c) => {
                let k = konst.get_or_insert_with(|| vec![0.0; len]);
                for (k, &c) in k.iter_mut().zip(c.iter()) {
                    *k += sign * c;
                }
            }
            v => out.push((sign, v)),
        }
    }
    if let Some(k) = konst {
        out.insert(0, (1.0, Val::Const(k.into())));
    }
    out
}

/// Numbers per element of an instruction (a node's values or a partial
/// derivative), unmapped.
#[derive(Clone, Debug)]
enum Part {
    Const(Arc<[f64]>),
    /// The point's inputs from `start` on.
    Input(usize),
    /// The values of node `i`, from the forward engine.
    Node(usize),
    /// A runtime row.
    Slot(usize),
}

/// A runtime operation on rows.
#[derive(Clone, Debug)]
enum Step {
    /// `out = f'(x)` of a unary function or power.
    UnaryPartial { func: Unary, x: Part, out: usize },
    /// `(da, db)` of `func(a, b)`.
    BinaryPartials {
        func: BinaryFn,
        a: Part,
        b: Part,
        da: usize,
        db: usize,
    },
    /// `out` = the values of an elementwise instruction (node `op`) whose
    /// arguments are `args`.
    Value {
        op: usize,
        args: Vec<Part>,
        out: usize,
    },
    /// `out = term(d, x)`.
    Scale { out: usize, d: Part, x: Val },
    /// `out = term(da, a) + term(db, b)`.
    Combine {
        out: usize,
        da: Part,
        a: Val,
        db: Part,
        b: Val,
    },
    /// `out = a + b` or `a - b`; `b = None`: `out = a` or `-a`.
    Add {
        out: usize,
        a: Option<Val>,
        b: Option<Val>,
        sub: bool,
    },
    /// `out = t` where `c != 0`, else `f` (None: zero).
    Select {
        out: usize,
        c: Part,
        t: Option<Val>,
        f: Option<Val>,
    },
}

#[derive(Clone, Copy, Debug)]
enum Unary {
    Fn(UnaryFn),
    Powi(i32),
}

impl Unary {
    fn rule(self, x: f64) -> (f64, f64) {
        match self {
            Unary::Fn(f) => unary_rule(f, x),
            Unary::Powi(n) => powi_rule(x, n),
        }
    }
}

/// `d * x`, except that a zero `x` stays zero whatever `d` is.
#[inline]
fn term(d: f64, x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        d * x
    }
}

/// A compiled sparse Jacobian of a program at one point: [`SparseJacobian::run`]
/// writes the Jacobian's values in the order of the CSR pattern it was
/// compiled for.
pub struct SparseJacobian {
    prog: Arc<Program>,
    steps: Vec<Step>,
    /// Length of each runtime slot.
    slot_lens: Vec<usize>,
    /// The constant entries, summed at their positions (zeros elsewhere).
    template: Vec<f64>,
    /// Runtime entries added into the result, as strided runs.
    scatters: Vec<Run>,
    nnz: usize,
    /// The same instructions with the nodes whose values the steps read as
    /// outputs (None when they read none), and where each such node's
    /// values start in its output.
    values: Option<ValuesProgram>,
    /// Buffers of finished calls: node values, runtime rows.
    scratch: Mutex<Vec<Buffers>>,
}

impl std::fmt::Debug for SparseJacobian {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseJacobian")
            .field("steps", &self.steps.len())
            .field("scatter_runs", &self.scatters.len())
            .field("nnz", &self.nnz)
            .finish()
    }
}

/// Buffers of one call: node values, runtime rows.
type Buffers = (Vec<f64>, Vec<Vec<f64>>);

/// The forward program computing the nodes whose values steps read, and
/// where each such node starts in its output.
type ValuesProgram = (Program, Vec<Option<usize>>);

/// The running compiler: rows of every node so far, and the steps.
struct Compiler<'a> {
    prog: &'a Program,
    steps: Vec<Step>,
    slot_lens: Vec<usize>,
    /// Values of nodes known while compiling.
    known: Vec<Option<Arc<[f64]>>>,
    /// Where the values of nodes asked for so far come from.
    parts: Vec<Option<Part>>,
    entries: usize,
}

fn unsupported(what: &str) -> IrError {
    Error::invalid(format!(
        "sparse Jacobian by entries: {what} is not supported (use colored forward mode)"
    ))
}

impl Compiler<'_> {
    fn slot(&mut self, len: usize) -> usize {
        self.slot_lens.push(len);
        self.slot_lens.len() - 1
    }

    fn count(&mut self, k: usize) -> Result<(), IrError> {
        self.entries += k;
        if self.entries > MAX_ENTRIES {
            return Err(Error::invalid(format!(
                "sparse Jacobian by entries: more than {MAX_ENTRIES} entries"
            )));
        }
        Ok(())
    }

    /// Where the values of `node` come from: constants, a slice of the
    /// point, a runtime row of an elementwise instruction on such values, or
    /// (otherwise) the forward engine.
    fn part(&mut self, node: usize) -> Part {
        if let Some(p) = &self.parts[node] {
            return p.clone();
        }
        let prog = self.prog;
        let contiguous = |indices: &[i64]| {
            indices.first().is_some_and(|&s| s >= 0) && indices.windows(2).all(|w| w[1] == w[0] + 1)
        };
        let part = match (&self.known[node], &prog.ops[node]) {
            (Some(v), _) => Part::Const(v.clone()),
            (None, Op::Input { index, .. }) => Part::Input(prog.input_offsets[*index]),
            (None, Op::Gather { a, indices }) if contiguous(indices) => match self.part(*a) {
                Part::Input(start) => Part::Input(start + indices[0] as usize),
                _ => Part::Node(node),
            },
            (None, op @ (Op::Unary { .. } | Op::Powi { .. } | Op::Binary { .. })) => {
                let args: Vec<Part> = op.args().into_iter().map(|a| self.part(a)).collect();
                if args.iter().any(|a| matches!(a, Part::Node(_))) {
                    Part::Node(node)
                } else {
                    let out = self.slot(prog.lens[node]);
                    self.steps.push(Step::Value {
                        op: node,
                        args,
                        out,
                    });
                    Part::Slot(out)
                }
            }
            _ => Part::Node(node),
        };
        self.parts[node] = Some(part.clone());
        part
    }

    /// Emits `step` writing a new row of `len`, or folds it now when every
    /// input is known.
    fn row_of(&mut self, len: usize, make: impl FnOnce(usize) -> Step) -> Result<Val, IrError> {
        self.count(len)?;
        let out = self.slot(len);
        let step = make(out);
        if step_is_const(&step) {
            self.slot_lens.pop();
            let mut buf = vec![0.0; len];
            let empty: Vec<Vec<f64>> = Vec::new();
            let ctx = Inputs {
                prog: self.prog,
                x: &[],
                values: None,
                slots: &empty,
            };
            apply(&step, &ctx, &mut buf);
            return Ok(Val::Const(buf.into()));
        }
        self.steps.push(step);
        Ok(Val::Slot {
            slot: out,
            map: None,
        })
    }

    /// The numbers of `row` as one value (summing its terms at run time if
    /// they are not all known).
    fn single(&mut self, len: usize, row: &Row) -> Result<Val, IrError> {
        let mut terms = row.terms.iter();
        let mut acc = match terms.next() {
            None => return Ok(Val::Const(vec![0.0; len].into())),
            Some((s, v)) if *s == 1.0 => v.clone(),
            Some((_, v)) => self.row_of(len, |out| Step::Add {
                out,
                a: None,
                b: Some(v.clone()),
                sub: true,
            })?,
        };
        for (s, v) in terms {
            acc = self.row_of(len, |out| Step::Add {
                out,
                a: Some(acc.clone()),
                b: Some(v.clone()),
                sub: *s < 0.0,
            })?;
        }
        Ok(acc)
    }

    /// `term(d, x)` as a row; `d` itself where `x` is all ones.
    fn scaled(&mut self, len: usize, d: &Part, x: Val) -> Result<Val, IrError> {
        if let (Part::Slot(s), Val::Const(ones)) = (d, &x) {
            if ones.iter().all(|&v| v == 1.0) {
                return Ok(Val::Slot {
                    slot: *s,
                    map: None,
                });
            }
        }
        self.row_of(len, |out| Step::Scale {
            out,
            d: d.clone(),
            x,
        })
    }

    fn scale(&mut self, len: usize, d: &Part, rows: &[Row]) -> Result<Vec<Row>, IrError> {
        rows.iter()
            .map(|r| {
                let x = self.single(len, r)?;
                let val = self.scaled(len, d, x)?;
                Ok(Row::plain(r.cols.clone(), val))
            })
            .collect()
    }

    /// Rows of `a` and `b` paired where their columns are equal (found by
    /// hashing the columns: a node may have many rows, a sum's for one).
    fn pair(a: &[Row], b: &[Row]) -> Vec<(Option<usize>, Option<usize>)> {
        let hash = |cols: &[u32]| {
            let mut h = DefaultHasher::new();
            cols.hash(&mut h);
            h.finish()
        };
        let mut free: HashMap<u64, Vec<usize>> = HashMap::new();
        for (j, rb) in b.iter().enumerate().rev() {
            free.entry(hash(&rb.cols)).or_default().push(j);
        }
        let mut used = vec![false; b.len()];
        let mut out = Vec::with_capacity(a.len() + b.len());
        for (i, ra) in a.iter().enumerate() {
            let j = free.get_mut(&hash(&ra.cols)).and_then(|js| {
                let k = js.iter().rposition(|&j| same_cols(&ra.cols, &b[j].cols))?;
                Some(js.remove(k))
            });
            if let Some(j) = j {
                used[j] = true;
            }
            out.push((Some(i), j));
        }
        out.extend((0..b.len()).filter(|&j| !used[j]).map(|j| (None, Some(j))));
        out
    }

    fn binary(
        &mut self,
        func: BinaryFn,
        i: usize,
        (a, b): (usize, usize),
        rows: &[Vec<Row>],
    ) -> Result<Vec<Row>, IrError> {
        let len = self.prog.lens[i];
        let (ra, rb) = (&rows[a], &rows[b]);
        let pairs = Self::pair(ra, rb);
        if matches!(func, BinaryFn::Add | BinaryFn::Sub) {
            // sums of rows stay sums of terms (no runtime step)
            let sub = func == BinaryFn::Sub;
            let side = |r: &Row| if sub { r.negated() } else { r.clone() };
            return Ok(pairs
                .into_iter()
                .map(|(p, q)| match (p, q) {
                    (Some(p), Some(q)) => {
                        let mut terms = ra[p].terms.clone();
                        terms.extend(side(&rb[q]).terms);
                        Row {
                            cols: ra[p].cols.clone(),
                            terms: folded(len, terms),
                        }
                    }
                    (Some(p), None) => ra[p].clone(),
                    (None, Some(q)) => side(&rb[q]),
                    (None, None) => unreachable!("pairs have a side"),
                })
                .collect());
        }
        let (da, db) = match func {
            BinaryFn::Mul if ra.is_empty() => (Part::Const(Arc::from([])), self.part(a)),
            BinaryFn::Mul if rb.is_empty() => (self.part(b), Part::Const(Arc::from([]))),
            BinaryFn::Mul => (self.part(b), self.part(a)),
            _ => match (&self.known[a], &self.known[b]) {
                (Some(x), Some(z)) => {
                    let (da, db): (Vec<f64>, Vec<f64>) = x
                        .iter()
                        .zip(z.iter())
                        .map(|(&x, &z)| {
                            let (_, p, q) = binary_rule(func, x, z);
                            (p, q)
                        })
                        .unzip();
                    (Part::Const(da.into()), Part::Const(db.into()))
                }
                _ => {
                    let (pa, pb) = (self.part(a), self.part(b));
                    let (da, db) = (self.slot(len), self.slot(len));
                    self.steps.push(Step::BinaryPartials {
                        func,
                        a: pa,
                        b: pb,
                        da,
                        db,
                    });
                    (Part::Slot(da), Part::Slot(db))
                }
            },
        };
        pairs
            .into_iter()
            .map(|(p, q)| {
                let cols =
                    p.map_or_else(|| rb[q.unwrap_or(0)].cols.clone(), |p| ra[p].cols.clone());
                let val = match (p, q) {
                    (Some(p), Some(q)) => {
                        let (a, b) = (self.single(len, &ra[p])?, self.single(len, &rb[q])?);
                        self.row_of(len, |out| Step::Combine {
                            out,
                            da: da.clone(),
                            a,
                            db: db.clone(),
                            b,
                        })?
                    }
                    (Some(p), None) => {
                        let x = self.single(len, &ra[p])?;
                        self.scaled(len, &da, x)?
                    }
                    (None, Some(q)) => {
                        let x = self.single(len, &rb[q])?;
                        self.scaled(len, &db, x)?
                    }
                    (None, None) => unreachable!("pairs have a side"),
                };
                Ok(Row::plain(cols, val))
            })
            .collect()
    }

    /// Rows (and known values) of node `i`.
    fn node(&mut self, i: usize, rows: &[Vec<Row>]) -> Result<Vec<Row>, IrError> {
        let prog = self.prog;
        let len = prog.lens[i];
        let op = &prog.ops[i];
        let known = |k: &Self, a: usize| k.known[a].clone();
        // values known while compiling (constants and what only they reach)
        self.known.push(match op {
            Op::Const(v) => Some(v.clone().into()),
            Op::Gather { a, indices } => known(self, *a).map(|v| {
                indices
                    .iter()
                    .map(|&j| usize::try_from(j).map_or(0.0, |j| v[j]))
                    .collect()
            }),
            Op::Unary { func, a } => known(self, *a).map(|v| {
                let mut out = vec![0.0; len];
                unary(*func, &v, &mut out);
                out.into()
            }),
            Op::Binary { func, a, b } => match (known(self, *a), known(self, *b)) {
                (Some(x), Some(z)) => {
                    let mut out = vec![0.0; len];
                    binary(*func, &x, &z, &mut out);
                    Some(out.into())
                }
                _ => None,
            },
            _ => None,
        });
        Ok(match op {
            Op::Input { index, len } => {
                let x0 = prog.input_offsets[*index] as u32;
                vec![Row::plain(
                    (0..*len as u32).map(|e| x0 + e).collect(),
                    Val::Const(vec![1.0; *len].into()),
                )]
            }
            // zero derivative: no entries (as the detector says)
            Op::Param { .. } | Op::Const(_) | Op::Compare { .. } => Vec::new(),
            op if op.has_zero_derivative() => Vec::new(),
            Op::Gather { a, indices } => {
                let mut out = Vec::new();
                self.gather_rows(&rows[*a], indices, &mut out)?;
                out
            }
            Op::Concat(parts) => {
                let mut out = Vec::new();
                let mut at = 0usize;
                for &p in parts {
                    let lp = prog.lens[p];
                    let map: Vec<i64> = (0..len)
                        .map(|e| {
                            if (at..at + lp).contains(&e) {
                                (e - at) as i64
                            } else {
                                -1
                            }
                        })
                        .collect();
                    self.gather_rows(&rows[p], &map, &mut out)?;
                    at += lp;
                }
                out
            }
            Op::Unary { func, a } if *func == UnaryFn::Neg => {
                rows[*a].iter().map(Row::negated).collect()
            }
            Op::Unary { func, a } => self.unary(Unary::Fn(*func), i, *a, rows)?,
            Op::Powi { a, n } => self.unary(Unary::Powi(*n), i, *a, rows)?,
            Op::Binary { func, a, b } => self.binary(*func, i, (*a, *b), rows)?,
            Op::Select { c, t, f } => {
                let cond = self.part(*c);
                let (rt, rf) = (&rows[*t], &rows[*f]);
                Self::pair(rt, rf)
                    .into_iter()
                    .map(|(p, q)| {
                        let cols = p.map_or_else(
                            || rf[q.unwrap_or(0)].cols.clone(),
                            |p| rt[p].cols.clone(),
                        );
                        let t = p.map(|p| self.single(len, &rt[p])).transpose()?;
                        let f = q.map(|q| self.single(len, &rf[q])).transpose()?;
                        let val = self.row_of(len, |out| Step::Select {
                            out,
                            c: cond.clone(),
                            t,
                            f,
                        })?;
                        Ok(Row::plain(cols, val))
                    })
                    .collect::<Result<_, IrError>>()?
            }
            Op::Reduce {
                func: ReduceFn::Sum,
                a,
                offsets,
                indices,
            } => {
                // member `p` of every group, as one gathered row per source row
                let widest = offsets.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
                let mut out = Vec::new();
                for p in 0..widest {
                    let map: Vec<i64> = offsets
                        .windows(2)
                        .map(|w| {
                            if w[0] + p < w[1] {
                                indices[w[0] + p] as i64
                            } else {
                                -1
                            }
                        })
                        .collect();
                    self.gather_rows(&rows[*a], &map, &mut out)?;
                }
                out
            }
            Op::Reduce { func, .. } => return Err(unsupported(&format!("a {func} reduction"))),
            Op::Sort { .. } => return Err(unsupported("a sort")),
            Op::Linalg { func, .. } => {
                return Err(unsupported(&format!("linear algebra ({func})")))
            }
            Op::Dot { .. } => return Err(unsupported("a matrix product")),
        })
    }

    /// Appends `rows` read through `map` (-1: no entry) to `out`, but for rows
    /// left without entries.
    fn gather_rows(
        &mut self,
        rows: &[Row],
        map: &[i64],
        out: &mut Vec<Row>,
    ) -> Result<(), IrError> {
        for r in rows {
            let cols: Arc<[u32]> = map
                .iter()
                .map(|&j| usize::try_from(j).map_or(ABSENT, |j| r.cols[j]))
                .collect();
            if cols.iter().all(|&c| c == ABSENT) {
                continue;
            }
            self.count(map.len())?;
            let terms = r
                .terms
                .iter()
                .map(|(s, v)| (*s, gathered(v, map)))
                .collect();
            out.push(Row { cols, terms });
        }
        Ok(())
    }

    fn unary(
        &mut self,
        func: Unary,
        i: usize,
        a: usize,
        rows: &[Vec<Row>],
    ) -> Result<Vec<Row>, IrError> {
        let len = self.prog.lens[i];
        if rows[a].is_empty() {
            return Ok(Vec::new());
        }
        let d = match &self.known[a] {
            Some(x) => Part::Const(x.iter().map(|&x| func.rule(x).1).collect()),
            None => {
                let x = self.part(a);
                let out = self.slot(len);
                self.steps.push(Step::UnaryPartial { func, x, out });
                Part::Slot(out)
            }
        };
        self.scale(len, &d, &rows[a])
    }
}

fn same_cols(a: &Arc<[u32]>, b: &Arc<[u32]>) -> bool {
    Arc::ptr_eq(a, b) || a[..] == b[..]
}

/// `val` read through `indices` (-1: zero).
fn gathered(val: &Val, indices: &[i64]) -> Val {
    match val {
        Val::Const(v) => Val::Const(
            indices
                .iter()
                .map(|&j| usize::try_from(j).map_or(0.0, |j| v[j]))
                .collect(),
        ),
        Val::Slot { slot, map } => Val::Slot {
            slot: *slot,
            map: Some(
                indices
                    .iter()
                    .map(|&j| match (usize::try_from(j), map) {
                        (Err(_), _) => -1,
                        (Ok(j), Some(m)) => m[j],
                        (Ok(j), None) => j as i64,
                    })
                    .collect(),
            ),
        },
    }
}

fn step_is_const(step: &Step) -> bool {
    let v = |x: &Val| matches!(x, Val::Const(_));
    let ov = |x: &Option<Val>| x.as_ref().map_or(true, v);
    let p = |d: &Part| matches!(d, Part::Const(_));
    match step {
        Step::UnaryPartial { .. } | Step::BinaryPartials { .. } | Step::Value { .. } => false,
        Step::Scale { d, x, .. } => p(d) && v(x),
        Step::Combine { da, a, db, b, .. } => p(da) && v(a) && p(db) && v(b),
        Step::Add { a, b, .. } => ov(a) && ov(b),
        Step::Select { c, t, f, .. } => p(c) && ov(t) && ov(f),
    }
}

/// Node values at run time: where each needed node starts in `buf`.
#[derive(Clone, Copy)]
struct Values<'a> {
    starts: &'a [Option<usize>],
    lens: &'a [usize],
    buf: &'a [f64],
}

impl<'a> Values<'a> {
    fn node(&self, i: usize) -> &'a [f64] {
        match self.starts.get(i) {
            Some(&Some(start)) => &self.buf[start..start + self.lens[i]],
            _ => {
                unreachable!("node {i}: every node a step reads is an output of the values program")
            }
        }
    }
}

/// Where steps read: the point, node values and runtime rows.
struct Inputs<'a> {
    prog: &'a Program,
    x: &'a [f64],
    values: Option<Values<'a>>,
    slots: &'a [Vec<f64>],
}

impl Inputs<'_> {
    fn part<'b>(&'b self, d: &'b Part) -> &'b [f64] {
        match d {
            Part::Const(v) => v,
            Part::Input(start) => &self.x[*start..],
            Part::Node(i) => match self.values {
                Some(v) => v.node(*i),
                None => unreachable!("node {i}: a values program exists when a step reads nodes"),
            },
            Part::Slot(s) => &self.slots[*s],
        }
    }

    /// The numbers of `val` for `len` elements (gathered into `tmp` if mapped).
    fn val<'b>(&'b self, val: &'b Val, len: usize, tmp: &'b mut Vec<f64>) -> &'b [f64] {
        match val {
            Val::Const(v) => v,
            Val::Slot { slot, map: None } => &self.slots[*slot][..len],
            Val::Slot {
                slot,
                map: Some(map),
            } => {
                let src = &self.slots[*slot];
                tmp.clear();
                tmp.extend(
                    map.iter()
                        .map(|&j| usize::try_from(j).map_or(0.0, |j| src[j])),
                );
                tmp
            }
        }
    }
}

/// Runs `step` into `out` (its output row).
fn apply(step: &Step, inp: &Inputs<'_>, out: &mut [f64]) {
    let len = out.len();
    let (mut t1, mut t2) = (Vec::new(), Vec::new());
    match step {
        Step::UnaryPartial { func, x, .. } => {
            for (o, &x) in out.iter_mut().zip(inp.part(x)) {
                *o = func.rule(x).1;
            }
        }
        Step::Value { op, args, .. } => {
            let arg = |k: usize| &inp.part(&args[k])[..len];
            match &inp.prog.ops[*op] {
                Op::Unary { func, .. } => unary(*func, arg(0), out),
                Op::Powi { n, .. } => {
                    for (o, &x) in out.iter_mut().zip(arg(0)) {
                        *o = powi_rule(x, *n).0;
                    }
                }
                Op::Binary { func, .. } => binary(*func, arg(0), arg(1), out),
                other => unreachable!("not an elementwise value step: {}", other.name()),
            }
        }
        Step::BinaryPartials { .. } => unreachable!("two outputs: run by `run_step`"),
        Step::Scale { d, x, .. } => {
            let (d, x) = (inp.part(d), inp.val(x, len, &mut t1));
            for ((o, &d), &x) in out.iter_mut().zip(d).zip(x) {
                *o = term(d, x);
            }
        }
        Step::Combine { da, a, db, b, .. } => {
            let (da, a) = (inp.part(da), inp.val(a, len, &mut t1));
            let (db, b) = (inp.part(db), inp.val(b, len, &mut t2));
            for (e, o) in out.iter_mut().enumerate() {
                *o = term(da[e], a[e]) + term(db[e], b[e]);
            }
        }
        Step::Add { a, b, sub, .. } => {
            let a = a.as_ref().map(|a| inp.val(a, len, &mut t1));
            let b = b.as_ref().map(|b| inp.val(b, len, &mut t2));
            match (a, b, sub) {
                (Some(a), Some(b), false) => binary(BinaryFn::Add, a, b, out),
                (Some(a), Some(b), true) => binary(BinaryFn::Sub, a, b, out),
                (Some(a), None, _) | (None, Some(a), false) => out.copy_from_slice(a),
                (None, Some(b), true) => unary(UnaryFn::Neg, b, out),
                (None, None, _) => out.fill(0.0),
            }
        }
        Step::Select { c, t, f, .. } => {
            let c = inp.part(c);
            let t = t.as_ref().map(|t| inp.val(t, len, &mut t1));
            let f = f.as_ref().map(|f| inp.val(f, len, &mut t2));
            for (e, o) in out.iter_mut().enumerate() {
                let side = if c[e] != 0.0 { t } else { f };
                *o = side.map_or(0.0, |s| s[e]);
            }
        }
    }
}

impl SparseJacobian {
    /// Compiles the Jacobian of `prog` (at one point) for the CSR pattern
    /// `pattern`, which must hold every entry the program can produce (the
    /// program's own [`Program::jacobian_sparsity`] does). Programs with max/min
    /// reductions or matrix products are not supported (an error; colored
    /// forward mode serves them).
    pub fn new(prog: Arc<Program>, pattern: &Pattern) -> Result<SparseJacobian, IrError> {
        let (m, n) = (prog.m, prog.n);
        if (pattern.nrows(), pattern.ncols()) != (m, n) {
            return Err(Error::shape(
                "pattern",
                format!("({m}, {n})"),
                format!("({}, {})", pattern.nrows(), pattern.ncols()),
            ));
        }
        let mut c = Compiler {
            prog: &prog,
            steps: Vec::new(),
            slot_lens: Vec::new(),
            known: Vec::with_capacity(prog.ops.len()),
            parts: vec![None; prog.ops.len()],
            entries: 0,
        };
        let mut rows: Vec<Vec<Row>> = Vec::with_capacity(prog.ops.len());
        for i in 0..prog.ops.len() {
            let r = c.node(i, &rows)?;
            rows.push(r);
        }
        let mut template = vec![0.0; pattern.nnz()];
        let mut scatters = Vec::new();
        let row_ptr = pattern.row_ptr();
        let mut r0 = 0;
        for &o in &prog.outputs {
            for row in &rows[o] {
                let mut pos = vec![ABSENT; row.cols.len()];
                for (e, &col) in row.cols.iter().enumerate() {
                    if col == ABSENT {
                        continue;
                    }
                    let r = r0 + e;
                    let found = pattern.row(r).binary_search(&(col as usize));
                    let Ok(k) = found else {
                        return Err(Error::invalid(format!(
                            "pattern lacks entry ({r}, {col}) of the program's Jacobian"
                        )));
                    };
                    pos[e] = (row_ptr[r] + k) as u32;
                }
                for (sign, val) in &row.terms {
                    match val {
                        Val::Const(v) => {
                            for (&p, &x) in pos.iter().zip(v.iter()) {
                                if p != ABSENT {
                                    template[p as usize] += sign * x;
                                }
                            }
                        }
                        Val::Slot { slot, map } => {
                            let neg = *sign < 0.0;
                            scatters.extend(pos.iter().enumerate().filter_map(|(e, &p)| {
                                let src = map.as_ref().map_or(e as i64, |m| m[e]);
                                (p != ABSENT && src >= 0).then_some((
                                    neg,
                                    *slot as u32,
                                    src as u32,
                                    p,
                                ))
                            }));
                        }
                    }
                }
            }
            r0 += prog.lens[o];
        }
        let scatters = strided_runs(scatters);
        let Compiler {
            steps, slot_lens, ..
        } = c;
        let values = values_program(&prog, &steps)?;
        Ok(SparseJacobian {
            prog,
            steps,
            slot_lens,
            template,
            scatters,
            nnz: pattern.nnz(),
            values,
            scratch: Mutex::new(Vec::new()),
        })
    }

    /// Number of runtime passes per call (rows computed from the point).
    pub fn n_steps(&self) -> usize {
        self.steps.len()
    }

    /// Writes the Jacobian at `x` (`n` numbers) with parameters `params` into
    /// `data` (the pattern's `nnz` values, CSR order).
    pub fn run(&self, x: &[f64], params: &[f64], data: &mut [f64]) -> Result<(), IrError> {
        let prog = &self.prog;
        let checks = [
            ("x", x.len(), prog.n),
            ("params", params.len(), prog.n_params),
            ("data", data.len(), self.nnz),
        ];
        for (what, got, want) in checks {
            if got != want {
                return Err(Error::shape(
                    what,
                    format!("({want},)"),
                    format!("({got},)"),
                ));
            }
        }
        let kept = self.scratch.lock().map(|mut s| s.pop()).unwrap_or(None);
        let (mut vals, mut slots) = kept.unwrap_or_else(|| {
            let total = self.values.as_ref().map_or(0, |(v, _)| v.m);
            let slots = self.slot_lens.iter().map(|&l| vec![0.0; l]).collect();
            (vec![0.0; total], slots)
        });
        if let Some((vprog, _)) = &self.values {
            let point = ArrayView2::from_shape((1, prog.n), x)
                .map_err(|e| Error::invalid(e.to_string()))?;
            let total = vals.len();
            let out = ArrayViewMut2::from_shape((1, total), &mut vals[..])
                .map_err(|e| Error::invalid(e.to_string()))?;
            vprog.eval_points(point, params, out)?;
        }
        let values = self.values.as_ref().map(|(_, starts)| Values {
            starts,
            lens: &prog.lens,
            buf: &vals,
        });
        for step in &self.steps {
            run_step(step, (prog, x, values), &mut slots);
        }
        self.write(&slots, data);
        if let Ok(mut s) = self.scratch.lock() {
            s.push((vals, slots));
        }
        Ok(())
    }
}

impl SparseJacobian {
    /// `data` = the constant entries plus the runtime ones.
    fn write(&self, slots: &[Vec<f64>], data: &mut [f64]) {
        data.copy_from_slice(&self.template);
        for run in &self.scatters {
            let src = &slots[run.slot as usize][run.e0 as usize..][..run.count as usize];
            let (p0, stride) = (run.p0 as usize, run.stride as usize);
            let end = p0 + stride * (run.count as usize - 1) + 1;
            let dst = data[p0..end].iter_mut().step_by(stride);
            if run.neg {
                dst.zip(src).for_each(|(d, &x)| *d -= x);
            } else {
                dst.zip(src).for_each(|(d, &x)| *d += x);
            }
        }
    }
}

/// Runs one step, writing its output slot(s).
fn run_step(
    step: &Step,
    (prog, x, values): (&Program, &[f64], Option<Values<'_>>),
    slots: &mut [Vec<f64>],
) {
    let out = match step {
        Step::BinaryPartials { func, a, b, da, db } => {
            let (mut pa, mut pb) = (
                std::mem::take(&mut slots[*da]),
                std::mem::take(&mut slots[*db]),
            );
            let inp = Inputs {
                prog,
                x,
                values,
                slots,
            };
            let (u, v) = (inp.part(a), inp.part(b));
            for e in 0..pa.len() {
                let (_, p, q) = binary_rule(*func, u[e], v[e]);
                pa[e] = p;
                pb[e] = q;
            }
            slots[*da] = pa;
            slots[*db] = pb;
            return;
        }
        Step::UnaryPartial { out, .. }
        | Step::Value { out, .. }
        | Step::Scale { out, .. }
        | Step::Combine { out, .. }
        | Step::Add { out, .. }
        | Step::Select { out, .. } => *out,
    };
    // the output slot is never an input of its own step
    let mut row = std::mem::take(&mut slots[out]);
    let inp = Inputs {
        prog,
        x,
        values,
        slots,
    };
    apply(step, &inp, &mut row);
    slots[out] = row;
}

/// Entries `data[p0 + k * stride] += slot[e0 + k]` (`-=` if `neg`) for `k < count`.
#[derive(Clone, Copy, Debug)]
struct Run {
    neg: bool,
    slot: u32,
    e0: u32,
    p0: u32,
    count: u32,
    stride: u32,
}

/// `(negated, slot, element, position)` entries as runs of consecutive elements whose
/// positions grow by a constant stride (a stencil's rows: one run per
/// boundary band).
fn strided_runs(mut entries: Vec<(bool, u32, u32, u32)>) -> Vec<Run> {
    entries.sort_unstable();
    let mut runs: Vec<Run> = Vec::new();
    for (neg, slot, e, p) in entries {
        if let Some(r) = runs.last_mut() {
            let next = r.e0 + r.count == e && r.slot == slot && r.neg == neg;
            let last = r.p0 + r.stride * (r.count - 1);
            if next && r.count == 1 && p > r.p0 {
                r.stride = p - r.p0;
                r.count = 2;
                continue;
            }
            if next && r.count > 1 && p == last + r.stride {
                r.count += 1;
                continue;
            }
        }
        runs.push(Run {
            neg,
            slot,
            e0: e,
            p0: p,
            count: 1,
            stride: 1,
        });
    }
    runs
}

/// Nodes whose values `steps` read.
fn read_nodes(steps: &[Step]) -> Vec<usize> {
    let mut nodes = Vec::new();
    let part = |d: &Part, nodes: &mut Vec<usize>| {
        if let Part::Node(i) = d {
            nodes.push(*i);
        }
    };
    for step in steps {
        match step {
            Step::UnaryPartial { x, .. } => part(x, &mut nodes),
            Step::BinaryPartials { a, b, .. } => {
                part(a, &mut nodes);
                part(b, &mut nodes);
            }
            Step::Value { args, .. } => args.iter().for_each(|a| part(a, &mut nodes)),
            Step::Scale { d, .. } => part(d, &mut nodes),
            Step::Combine { da, db, .. } => {
                part(da, &mut nodes);
                part(db, &mut nodes);
            }
            Step::Select { c, .. } => part(c, &mut nodes),
            Step::Add { .. } => {}
        }
    }
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// The program's instructions with the nodes `steps` read as its outputs, so
/// that the forward engine computes just them; and where each starts in the
/// output.
fn values_program(prog: &Program, steps: &[Step]) -> Result<Option<ValuesProgram>, IrError> {
    let nodes = read_nodes(steps);
    if nodes.is_empty() {
        return Ok(None);
    }
    let mut starts = vec![None; prog.ops.len()];
    let mut at = 0;
    for &i in &nodes {
        starts[i] = Some(at);
        at += prog.lens[i];
    }
    let vprog = Program::new(prog.ops.clone(), &prog.input_lens, &prog.param_lens, &nodes)?;
    Ok(Some((vprog, starts)))
}
