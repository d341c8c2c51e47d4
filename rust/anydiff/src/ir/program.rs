//! A validated, pruned program ([`Program`]): instructions in topological
//! order with each node's length and its block in a flat workspace.

use std::fmt;

use super::buffers::Scratch;
use super::layout::{consecutive_runs, last_use, layout_with, output_sources, roots, TileSteps};
use super::ops::{IrError, Op};
use crate::error::Error;

/// A validated program: instructions in topological order (arguments
/// before users), dead instructions removed, with each node's length and
/// its offset in a flat workspace.
///
/// The input vector of a point is the concatenation of the inputs
/// `0..k` (`n` numbers in all); the output vector is the concatenation
/// of the output nodes (`m` numbers).
#[derive(Debug, Clone)]
pub struct Program {
    pub(crate) ops: Vec<Op>,
    pub(crate) lens: Vec<usize>,
    /// Offset of each node in the workspace, in elements (times the chunk size).
    pub(crate) offsets: Vec<usize>,
    /// Workspace size in elements.
    pub(crate) work_len: usize,
    /// Gathers of a contiguous range: views of their argument, not executed.
    pub(crate) alias: Vec<bool>,
    /// The node whose block each node lives in (itself unless an alias).
    pub(crate) root: Vec<usize>,
    /// Concatenations that only assemble outputs: the forward lane engine
    /// skips them and copies each output element from [`Program::sources`].
    pub(crate) forwarded: Vec<bool>,
    /// `(node, element)` holding each of the `m` output elements, looking
    /// through forwarded concatenations.
    pub(crate) sources: Vec<(usize, usize)>,
    /// Each gather's index map as runs ([`super::runs`]), where they are long.
    pub(crate) gather_runs: Vec<Option<super::runs::Runs>>,
    /// The sources as runs `(node, first element, length)` of consecutive
    /// elements of one node, in output order.
    pub(crate) source_runs: Vec<(usize, usize, usize)>,
    /// Which nodes depend on an input ([`active_nodes`]).
    pub(crate) active: Vec<bool>,
    /// The keep-every-node layout of the reverse sweeps, made on first use.
    pub(crate) tape: std::sync::OnceLock<Box<Program>>,
    /// Workspaces of finished calls, for the next call.
    pub(crate) scratch: Scratch,
    /// The tiled form of this program ([`super::tiles`]), made on first use.
    pub(crate) tiled: std::sync::OnceLock<Option<Box<Program>>>,
    /// The steps of a tiled form (None for the program itself).
    pub(crate) tiles: Option<Box<TileSteps>>,
    pub(crate) outputs: Vec<usize>,
    pub(crate) input_lens: Vec<usize>,
    pub(crate) input_offsets: Vec<usize>,
    pub(crate) param_lens: Vec<usize>,
    pub(crate) param_offsets: Vec<usize>,
    pub(crate) n: usize,
    pub(crate) m: usize,
    pub(crate) n_params: usize,
}

fn prefix(lens: &[usize]) -> (Vec<usize>, usize) {
    let mut offs = Vec::with_capacity(lens.len());
    let mut total = 0usize;
    for &l in lens {
        offs.push(total);
        total += l;
    }
    (offs, total)
}

/// Validation error for instruction `i`.
fn bad(i: usize, op: &Op, msg: impl fmt::Display) -> IrError {
    Error::invalid(format!("instruction {i} ({}): {msg}", op.name()))
}

impl Program {
    /// Validates `ops` and builds the program.
    ///
    /// `input_lens[i]` / `param_lens[i]` are the lengths of input / parameter
    /// `i`; every `Input`/`Param` instruction must name one of them with that
    /// length, at most once. `outputs` are instruction indices. Errors name
    /// the offending instruction.
    pub fn new(
        ops: Vec<Op>,
        input_lens: &[usize],
        param_lens: &[usize],
        outputs: &[usize],
    ) -> Result<Program, IrError> {
        let mut lens: Vec<usize> = Vec::with_capacity(ops.len());
        // numbers in all nodes: bounded like the inputs, so that sizes never overflow
        let mut total = 0usize;
        let mut seen_input = vec![false; input_lens.len()];
        let mut seen_param = vec![false; param_lens.len()];
        for (i, op) in ops.iter().enumerate() {
            for a in op.args() {
                if a >= i {
                    return Err(bad(
                        i,
                        op,
                        format!("argument {a} does not refer to an earlier instruction"),
                    ));
                }
            }
            let len_of = |a: usize| lens[a];
            let len = match op {
                Op::Input { index, len } | Op::Param { index, len } => {
                    let (declared, seen, what) = if matches!(op, Op::Input { .. }) {
                        (input_lens, &mut seen_input, "input")
                    } else {
                        (param_lens, &mut seen_param, "param")
                    };
                    let Some(&want) = declared.get(*index) else {
                        return Err(bad(
                            i,
                            op,
                            format!(
                                "{what} index {index} out of range ({} {what}s declared)",
                                declared.len()
                            ),
                        ));
                    };
                    if want != *len {
                        return Err(bad(
                            i,
                            op,
                            format!("{what} {index} has length {want}, instruction says {len}"),
                        ));
                    }
                    if std::mem::replace(&mut seen[*index], true) {
                        return Err(bad(i, op, format!("{what} {index} appears twice")));
                    }
                    *len
                }
                Op::Const(values) => values.len(),
                Op::Unary { a, .. } | Op::Powi { a, .. } => len_of(*a),
                Op::Binary { a, b, .. } | Op::Compare { a, b, .. } => {
                    if len_of(*a) != len_of(*b) {
                        return Err(bad(
                            i,
                            op,
                            format!(
                                "arguments {a} and {b} have different lengths {} and {}",
                                len_of(*a),
                                len_of(*b)
                            ),
                        ));
                    }
                    len_of(*a)
                }
                Op::Select { c, t, f } => {
                    let l = len_of(*c);
                    if len_of(*t) != l || len_of(*f) != l {
                        return Err(bad(
                            i,
                            op,
                            format!(
                                "arguments {c}, {t}, {f} have different lengths {}, {}, {}",
                                l,
                                len_of(*t),
                                len_of(*f)
                            ),
                        ));
                    }
                    l
                }
                Op::Gather { a, indices } => {
                    let la = len_of(*a);
                    if let Some((e, &ix)) = indices
                        .iter()
                        .enumerate()
                        .find(|(_, &ix)| ix < -1 || (ix >= 0 && ix as u64 >= la as u64))
                    {
                        return Err(bad(
                            i,
                            op,
                            format!("index {ix} at position {e} is outside -1..{la}"),
                        ));
                    }
                    indices.len()
                }
                Op::Concat(parts) => {
                    if parts.is_empty() {
                        return Err(bad(i, op, "no arguments"));
                    }
                    parts.iter().map(|&p| len_of(p)).sum()
                }
                Op::Reduce {
                    func,
                    a,
                    offsets,
                    indices,
                } => {
                    let la = len_of(*a);
                    if offsets.first() != Some(&0) || offsets.last() != Some(&indices.len()) {
                        return Err(bad(
                            i,
                            op,
                            format!(
                                "offsets must start at 0 and end at len(indices) = {}",
                                indices.len()
                            ),
                        ));
                    }
                    for (g, w) in offsets.windows(2).enumerate() {
                        if w[0] > w[1] {
                            return Err(bad(i, op, format!("offsets decrease at group {g}")));
                        }
                        if w[0] == w[1] && !func.allows_empty() {
                            return Err(bad(
                                i,
                                op,
                                format!(
                                    "group {g} is empty (only sum and prod allow empty groups)"
                                ),
                            ));
                        }
                    }
                    if let Some((e, &ix)) = indices.iter().enumerate().find(|(_, &ix)| ix >= la) {
                        return Err(bad(
                            i,
                            op,
                            format!("index {ix} at position {e} is outside 0..{la}"),
                        ));
                    }
                    offsets.len() - 1
                }
                Op::Sort { keys, a, segment } => {
                    let (lk, la) = (len_of(*keys), len_of(*a));
                    if lk != la {
                        return Err(bad(
                            i,
                            op,
                            format!("keys and values have different lengths {lk} and {la}"),
                        ));
                    }
                    if (*segment == 0 && la != 0) || (*segment > 0 && la % segment != 0) {
                        return Err(bad(
                            i,
                            op,
                            format!("segment length {segment} does not divide the length {la}"),
                        ));
                    }
                    la
                }
                Op::Linalg {
                    func,
                    args,
                    batch,
                    m,
                    n,
                    k,
                } => {
                    let (arg_lens, out_len) = func.layout(*m, *n, *k).map_err(|e| bad(i, op, e))?;
                    if args.len() != arg_lens.len() {
                        return Err(bad(
                            i,
                            op,
                            format!(
                                "{func} takes {} arguments, got {}",
                                arg_lens.len(),
                                args.len()
                            ),
                        ));
                    }
                    for (&a, &want) in args.iter().zip(&arg_lens) {
                        let want = want.checked_mul(*batch);
                        if want != Some(len_of(a)) {
                            return Err(bad(
                                i,
                                op,
                                format!(
                                    "argument {a} has length {}; {func} of (batch, m, n, k) = \
                                     ({batch}, {m}, {n}, {k}) needs {}",
                                    len_of(a),
                                    want.map_or("more than usize::MAX".into(), |w| w.to_string())
                                ),
                            ));
                        }
                    }
                    out_len
                        .checked_mul(*batch)
                        .ok_or_else(|| bad(i, op, "result size overflows"))?
                }
                Op::Dot {
                    a,
                    b,
                    batch,
                    m,
                    k,
                    n,
                } => {
                    let prod = |x: usize, y: usize, z: usize| {
                        x.checked_mul(y).and_then(|v| v.checked_mul(z))
                    };
                    let (la, lb) = (len_of(*a), len_of(*b));
                    if prod(*batch, *m, *k) != Some(la) || prod(*batch, *k, *n) != Some(lb) {
                        return Err(bad(
                            i,
                            op,
                            format!(
                                "argument lengths {la} and {lb} do not fit (batch, m, k, n) = ({batch}, {m}, {k}, {n})"
                            ),
                        ));
                    }
                    prod(*batch, *m, *n).ok_or_else(|| bad(i, op, "result size overflows"))?
                }
            };
            total = total.saturating_add(len);
            if total > u32::MAX as usize {
                return Err(bad(
                    i,
                    op,
                    format!(
                        "the program's instructions hold more than {} numbers",
                        u32::MAX
                    ),
                ));
            }
            lens.push(len);
        }
        let inputs = input_lens
            .iter()
            .try_fold(0usize, |acc, &l| acc.checked_add(l));
        if !matches!(inputs, Some(n) if n <= u32::MAX as usize) {
            return Err(Error::invalid(format!(
                "the inputs hold more than {} numbers",
                u32::MAX
            )));
        }
        // one point's workspace must be had before any evaluation allocates it
        crate::memory::ensure_allocatable("the program's workspace (one point)", &[total], 16)?;
        for (j, &o) in outputs.iter().enumerate() {
            if o >= ops.len() {
                return Err(Error::invalid(format!(
                    "output {j} refers to instruction {o}, but the program has {} instructions",
                    ops.len()
                )));
            }
        }
        Ok(Self::build(ops, lens, input_lens, param_lens, outputs))
    }

    /// Prunes dead nodes, renumbers, and lays out the workspace.
    fn build(
        ops: Vec<Op>,
        lens: Vec<usize>,
        input_lens: &[usize],
        param_lens: &[usize],
        outputs: &[usize],
    ) -> Program {
        let mut live = vec![false; ops.len()];
        for &o in outputs {
            live[o] = true;
        }
        for i in (0..ops.len()).rev() {
            if live[i] {
                for a in ops[i].args() {
                    live[a] = true;
                }
            }
        }
        let mut new_id = vec![usize::MAX; ops.len()];
        let mut kept_ops = Vec::new();
        let mut kept_lens = Vec::new();
        for (i, (op, len)) in ops.into_iter().zip(lens).enumerate() {
            if live[i] {
                new_id[i] = kept_ops.len();
                kept_ops.push(op.map_args(|a| new_id[a]));
                kept_lens.push(len);
            }
        }
        let outputs: Vec<usize> = outputs.iter().map(|&o| new_id[o]).collect();
        let (input_offsets, n) = prefix(input_lens);
        let (param_offsets, n_params) = prefix(param_lens);
        let m = outputs.iter().map(|&o| kept_lens[o]).sum();
        let (forwarded, sources) = output_sources(&kept_ops, &kept_lens, &outputs);
        let mut kept: Vec<usize> = sources.iter().map(|&(node, _)| node).collect();
        kept.extend(&outputs);
        let last = last_use(&kept_ops);
        let (offsets, work_len, alias) = layout_with(&kept_ops, &kept_lens, &kept, last);
        let root = roots(&kept_ops, &alias);
        let gather_runs = kept_ops
            .iter()
            .map(|op| match op {
                Op::Gather { indices, .. } => super::runs::runs_of(indices),
                _ => None,
            })
            .collect();
        Program {
            active: active_nodes(&kept_ops),
            ops: kept_ops,
            lens: kept_lens,
            offsets,
            work_len,
            alias,
            root,
            source_runs: consecutive_runs(&sources),
            gather_runs,
            forwarded,
            sources,
            tape: std::sync::OnceLock::new(),
            scratch: Scratch::default(),
            tiled: std::sync::OnceLock::new(),
            tiles: None,
            outputs,
            input_lens: input_lens.to_vec(),
            input_offsets,
            param_lens: param_lens.to_vec(),
            param_offsets,
            n,
            m,
            n_params,
        }
    }

    /// The same program with another workspace layout (and no cached forms).
    pub(crate) fn with_layout(
        &self,
        offsets: Vec<usize>,
        work_len: usize,
        alias: Vec<bool>,
        root: Vec<usize>,
    ) -> Program {
        Program {
            ops: self.ops.clone(),
            active: self.active.clone(),
            lens: self.lens.clone(),
            offsets,
            work_len,
            alias,
            root,
            forwarded: self.forwarded.clone(),
            sources: self.sources.clone(),
            source_runs: self.source_runs.clone(),
            gather_runs: self.gather_runs.clone(),
            tape: std::sync::OnceLock::new(),
            scratch: Scratch::default(),
            tiled: std::sync::OnceLock::new(),
            tiles: None,
            outputs: self.outputs.clone(),
            input_lens: self.input_lens.clone(),
            input_offsets: self.input_offsets.clone(),
            param_lens: self.param_lens.clone(),
            param_offsets: self.param_offsets.clone(),
            n: self.n,
            m: self.m,
            n_params: self.n_params,
        }
    }

    /// Number of differentiated inputs `n` (total length of the inputs).
    pub fn n_inputs(&self) -> usize {
        self.n
    }

    /// Number of outputs `m` (total length of the output nodes).
    pub fn n_outputs(&self) -> usize {
        self.m
    }

    /// Total length of the parameters.
    pub fn n_params(&self) -> usize {
        self.n_params
    }

    /// Number of (live) nodes.
    pub fn n_nodes(&self) -> usize {
        self.ops.len()
    }

    /// The lengths of the inputs.
    pub fn input_lens(&self) -> &[usize] {
        &self.input_lens
    }

    /// The lengths of the parameters.
    pub fn param_lens(&self) -> &[usize] {
        &self.param_lens
    }

    /// The live instructions (arguments renumbered).
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The length of each live node.
    pub fn node_lens(&self) -> &[usize] {
        &self.lens
    }

    /// The output nodes (indices into [`Program::ops`]).
    pub fn outputs(&self) -> &[usize] {
        &self.outputs
    }

    /// Workspace size of one point, in numbers.
    pub fn workspace_len(&self) -> usize {
        self.work_len
    }

    /// The last node that reads each node (`None`: no reader).
    pub(crate) fn last_use(&self) -> Vec<Option<usize>> {
        last_use(&self.ops)
    }
}

/// Which nodes depend on an input through a path of nonzero derivative
/// (comparisons cut the path; a select's condition does too): the others
/// carry no tangents and no adjoints.
fn active_nodes(ops: &[Op]) -> Vec<bool> {
    let mut active = vec![false; ops.len()];
    for (i, op) in ops.iter().enumerate() {
        active[i] = match op {
            Op::Input { .. } => true,
            op if op.has_zero_derivative() => false,
            Op::Select { t, f, .. } => active[*t] || active[*f],
            Op::Sort { a, .. } => active[*a],
            other => other.args().iter().any(|&a| active[a]),
        };
    }
    active
}
