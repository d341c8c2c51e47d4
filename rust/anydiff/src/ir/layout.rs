//! Workspace layouts: where each node's block lives in a worker's flat
//! buffer (blocks of dead nodes reused, contiguous gathers as views), which
//! concatenations only assemble outputs, and the steps of a tiled layout.

use super::ops::Op;

pub(crate) fn last_use(ops: &[Op]) -> Vec<Option<usize>> {
    let mut last = vec![None; ops.len()];
    for (i, op) in ops.iter().enumerate() {
        for a in op.args() {
            last[a] = Some(i);
        }
    }
    last
}

/// Whether a node's block is permanent: leaves (filled before the
/// instructions run) and outputs (read after they ran).
fn permanent(op: &Op) -> bool {
    matches!(op, Op::Input { .. } | Op::Param { .. } | Op::Const(_))
}

/// A gather that reads a contiguous range `start..start + len` of its
/// argument: it needs no storage of its own (element-major blocks make the
/// range a contiguous part of the argument's block).
fn alias_of(op: &Op) -> Option<(usize, usize)> {
    match op {
        Op::Gather { a, indices } => {
            let first = *indices.first()?;
            let start = usize::try_from(first).ok()?;
            let contiguous = indices
                .iter()
                .enumerate()
                .all(|(e, &ix)| usize::try_from(ix).ok() == Some(start + e));
            contiguous.then_some((*a, start))
        }
        _ => None,
    }
}

/// Which concatenations only assemble outputs (every reader is one of them
/// too), and the `(node, element)` that holds each output element when
/// those are looked through.
pub(crate) fn output_sources(
    ops: &[Op],
    lens: &[usize],
    outputs: &[usize],
) -> (Vec<bool>, Vec<(usize, usize)>) {
    let mut read_by_other = vec![false; ops.len()];
    let mut forwarded = vec![false; ops.len()];
    for (i, op) in ops.iter().enumerate().rev() {
        forwarded[i] = matches!(op, Op::Concat(_)) && !read_by_other[i];
        if !forwarded[i] {
            for a in op.args() {
                read_by_other[a] = true;
            }
        }
    }
    fn source(
        ops: &[Op],
        lens: &[usize],
        forwarded: &[bool],
        node: usize,
        e: usize,
    ) -> (usize, usize) {
        if let (true, Op::Concat(parts)) = (forwarded[node], &ops[node]) {
            let mut at = e;
            for &p in parts {
                if at < lens[p] {
                    return source(ops, lens, forwarded, p, at);
                }
                at -= lens[p];
            }
        }
        (node, e)
    }
    let sources = outputs
        .iter()
        .flat_map(|&o| (0..lens[o]).map(move |e| (o, e)))
        .map(|(o, e)| source(ops, lens, &forwarded, o, e))
        .collect();
    (forwarded, sources)
}

/// `(node, first element, length)` runs of consecutive elements of one node.
pub(crate) fn consecutive_runs(sources: &[(usize, usize)]) -> Vec<(usize, usize, usize)> {
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    for &(node, e) in sources {
        match runs.last_mut() {
            Some((n, first, len)) if *n == node && *first + *len == e => *len += 1,
            _ => runs.push((node, e, 1)),
        }
    }
    runs
}

/// The node whose block each node lives in: an alias lives in its argument's root.
pub(crate) fn roots(ops: &[Op], alias: &[bool]) -> Vec<usize> {
    let mut root: Vec<usize> = (0..ops.len()).collect();
    for (i, op) in ops.iter().enumerate() {
        if let (true, Op::Gather { a, .. }) = (alias[i], op) {
            root[i] = root[*a];
        }
    }
    root
}

/// Assigns each node a block of the workspace; a block is reused once the
/// last reader of its node (and of every alias of it) has run, `last[i]`
/// being the last reader of node `i`. Leaves and outputs keep their blocks.
/// Returns the offsets, the workspace length and which nodes are aliases
/// (not executed).
pub(crate) fn layout_with(
    ops: &[Op],
    lens: &[usize],
    outputs: &[usize],
    last: Vec<Option<usize>>,
) -> (Vec<usize>, usize, Vec<bool>) {
    let nodes = ops.len();
    let mut offsets = vec![0usize; nodes];
    let mut top = 0usize;
    let mut root: Vec<usize> = (0..nodes).collect();
    let mut rel = vec![0usize; nodes];
    let mut alias = vec![false; nodes];
    for (i, op) in ops.iter().enumerate() {
        if let Some((a, start)) = alias_of(op) {
            alias[i] = true;
            root[i] = root[a];
            rel[i] = rel[a] + start;
        }
    }
    for (i, op) in ops.iter().enumerate() {
        if permanent(op) {
            offsets[i] = top;
            top += lens[i];
        }
    }
    // keep[r]: the block of root r is never freed
    let mut keep: Vec<bool> = ops.iter().map(permanent).collect();
    for &o in outputs {
        keep[root[o]] = true;
    }
    let mut last_root: Vec<Option<usize>> = vec![None; nodes];
    for (x, l) in last.iter().enumerate() {
        let r = root[x];
        last_root[r] = last_root[r].max(*l);
    }
    // dying[i]: roots whose last reader is i
    let mut dying: Vec<Vec<usize>> = vec![Vec::new(); nodes];
    for (r, l) in last_root.iter().enumerate() {
        if let (Some(l), false) = (l, keep[r]) {
            if root[r] == r {
                dying[*l].push(r);
            }
        }
    }
    let mut free: Vec<(usize, usize)> = Vec::new(); // (start, size), sorted by start
    for (i, op) in ops.iter().enumerate() {
        if alias[i] {
            offsets[i] = offsets[root[i]] + rel[i];
            continue;
        }
        if permanent(op) {
            continue;
        }
        let need = lens[i];
        // best fit
        let mut best: Option<usize> = None;
        for (j, &(_, size)) in free.iter().enumerate() {
            let better = match best {
                None => true,
                Some(b) => free[b].1 > size,
            };
            if size >= need && better {
                best = Some(j);
            }
        }
        offsets[i] = match best {
            Some(j) => {
                let (start, size) = free[j];
                if size == need {
                    free.remove(j);
                } else {
                    free[j] = (start + need, size - need);
                }
                start
            }
            None => {
                // extend the arena, absorbing a free block at its top
                match free.last() {
                    Some(&(start, size)) if start + size == top => {
                        free.pop();
                        top = start + need;
                        start
                    }
                    _ => {
                        let s = top;
                        top += need;
                        s
                    }
                }
            }
        };
        for &a in &dying[i] {
            release(&mut free, offsets[a], lens[a]);
        }
    }
    (offsets, top, alias)
}

fn release(free: &mut Vec<(usize, usize)>, start: usize, size: usize) {
    if size == 0 {
        return;
    }
    let pos = free.partition_point(|&(s, _)| s < start);
    free.insert(pos, (start, size));
    // merge with the next, then with the previous
    if pos + 1 < free.len() && free[pos].0 + free[pos].1 == free[pos + 1].0 {
        free[pos].1 += free[pos + 1].1;
        free.remove(pos + 1);
    }
    if pos > 0 && free[pos - 1].0 + free[pos - 1].1 == free[pos].0 {
        free[pos - 1].1 += free[pos].1;
        free.remove(pos);
    }
}

/// Elements per tile.
pub(crate) const TILE: usize = 256;
/// Shortest nodes worth tiling.
pub(crate) const MIN_GROUP_LEN: usize = 4 * TILE;

/// What the tiled program runs, in order.
#[derive(Debug, Clone)]
pub(crate) struct TileSteps {
    pub(crate) steps: Vec<TileStep>,
    /// Group of each member (`usize::MAX` for other nodes).
    pub(crate) group_of: Vec<usize>,
    /// Tile slot of each member.
    pub(crate) slot: Vec<usize>,
    /// Whether a member is read outside its group (copied out to its block).
    pub(crate) external: Vec<bool>,
    /// Most tile slots a group needs.
    pub(crate) slots: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum TileStep {
    /// One instruction over its whole length.
    Node(usize),
    /// Members of one group (in order) and their length.
    Group(Vec<usize>, usize),
}
