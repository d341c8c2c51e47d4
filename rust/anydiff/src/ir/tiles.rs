//! Tiled execution of one point of a large array program: runs of
//! elementwise instructions of one length (a discretised PDE's right-hand
//! side: stencil gathers, products, sums) execute tile by tile, so that the
//! values and lanes of the intermediate nodes stay in a few cache-sized
//! buffers instead of streaming every instruction through memory.
//!
//! A *group* is a run of instructions, in program order, that read their
//! arguments element by element, or gather them from nodes finished before
//! the group started. Each member computes its [`TILE`] elements into a tile
//! slot; members that nothing outside the group reads (*internal*) live only
//! there, the others are copied out to their block. The tiled program is the
//! same program with a layout in which internal members take no space and
//! every node a group reads stays alive until the group's last member.

use super::buffers::{arg, split};
use super::lanes::{is_elementwise, LaneMask, Lanes, Rows};
use super::layout::{layout_with, roots, TileStep, TileSteps, MIN_GROUP_LEN, TILE};
use super::ops::Op;
use super::program::Program;
use super::rules::IrReal;

impl Program {
    /// The tiled form of this program, or None when it has no group worth tiling.
    pub(crate) fn tiled(&self) -> Option<&Program> {
        self.tiled
            .get_or_init(|| self.tile_layout().map(Box::new))
            .as_deref()
    }

    fn tile_layout(&self) -> Option<Program> {
        let nodes = self.ops.len();
        let groups = self.groups();
        if groups.is_empty() {
            return None;
        }
        let mut group_of = vec![usize::MAX; nodes];
        for (g, (members, _)) in groups.iter().enumerate() {
            for &i in members {
                group_of[i] = g;
            }
        }
        // internal members: read only by members of their group, not outputs
        let mut external = vec![false; nodes];
        for &(node, _) in &self.sources {
            external[self.root[node]] = true;
        }
        for &o in &self.outputs {
            external[self.root[o]] = true;
        }
        for (i, op) in self.ops.iter().enumerate() {
            for a in op.args() {
                let r = self.root[a];
                if group_of[r] != usize::MAX && (group_of[i] != group_of[r] || a != r) {
                    external[r] = true;
                }
            }
        }
        let mut lens = self.lens.clone();
        let mut last = self.last_use();
        for (g, (members, _)) in groups.iter().enumerate() {
            let end = members[members.len() - 1];
            for &i in members {
                if !external[i] {
                    lens[i] = 0;
                }
                for a in self.ops[i].args() {
                    if group_of[self.root[a]] != g {
                        last[a] = last[a].max(Some(end));
                    }
                }
            }
        }
        let mut kept: Vec<usize> = self.sources.iter().map(|&(node, _)| node).collect();
        kept.extend(&self.outputs);
        let (offsets, work_len, alias) = layout_with(&self.ops, &lens, &kept, last);
        let root = roots(&self.ops, &alias);
        let (slot, slots) = self.tile_slots(&groups, &group_of);
        let mut steps = Vec::new();
        let mut next = 0;
        for (members, len) in groups {
            let first = members[0];
            steps.extend((next..first).filter(|&i| self.runs(i)).map(TileStep::Node));
            next = members[members.len() - 1] + 1;
            steps.push(TileStep::Group(members, len));
        }
        steps.extend((next..nodes).filter(|&i| self.runs(i)).map(TileStep::Node));
        let mut tiled = self.with_layout(offsets, work_len, alias, root);
        tiled.tiles = Some(Box::new(TileSteps {
            steps,
            group_of,
            slot,
            external,
            slots,
        }));
        Some(tiled)
    }

    /// Whether the lane engine executes instruction `i` (views, leaves and
    /// forwarded concatenations need nothing).
    fn runs(&self, i: usize) -> bool {
        !(self.alias[i] || self.forwarded[i] || self.ops[i].args().is_empty())
    }

    /// Groups of at least two members: `(members, length)`.
    fn groups(&self) -> Vec<(Vec<usize>, usize)> {
        let mut groups: Vec<(Vec<usize>, usize)> = Vec::new();
        let mut open: Option<(Vec<usize>, usize)> = None;
        let mut member = vec![false; self.ops.len()];
        for (i, op) in self.ops.iter().enumerate() {
            if !self.runs(i) {
                continue;
            }
            let len = self.lens[i];
            let fits = is_elementwise(op) && len >= MIN_GROUP_LEN;
            let local = |a: usize| {
                let r = self.root[a];
                match op {
                    // a gather reads a whole row: finished before the group
                    Op::Gather { .. } => !member[r],
                    _ => !member[r] || a == r,
                }
            };
            let joins = matches!(&open, Some((_, l)) if *l == len)
                && fits
                && op.args().into_iter().all(local);
            if !joins {
                if let Some(g) = open.take() {
                    for &m in &g.0 {
                        member[m] = false;
                    }
                    if g.0.len() > 1 {
                        groups.push(g);
                    }
                }
                if fits {
                    open = Some((Vec::new(), len));
                }
            }
            if let Some((members, _)) = open.as_mut() {
                members.push(i);
                member[i] = true;
            }
        }
        if let Some(g) = open.filter(|g| g.0.len() > 1) {
            groups.push(g);
        }
        groups
    }

    /// A tile slot for every member, reused once its last reader in the group
    /// has run; and the most slots any group needs.
    fn tile_slots(
        &self,
        groups: &[(Vec<usize>, usize)],
        group_of: &[usize],
    ) -> (Vec<usize>, usize) {
        let mut slot = vec![usize::MAX; self.ops.len()];
        let mut most = 0;
        for (members, _) in groups {
            let mut last_reader = vec![0usize; self.ops.len()];
            for &i in members {
                for a in self.ops[i].args() {
                    last_reader[a] = i;
                }
            }
            let mut free: Vec<usize> = Vec::new();
            let mut used = 0;
            for &i in members {
                slot[i] = free.pop().unwrap_or_else(|| {
                    used += 1;
                    used - 1
                });
                for a in self.ops[i].args() {
                    if group_of[a] == group_of[i] && last_reader[a] == i && !free.contains(&slot[a])
                    {
                        free.push(slot[a]);
                    }
                }
            }
            most = most.max(used);
        }
        (slot, most)
    }

    /// Runs every non-leaf instruction on the whole chunk: values, and the lanes
    /// that `live` ([`Program::live_lanes`]) marks; tile by tile where this is a
    /// tiled form.
    pub(crate) fn run_lanes<T: IrReal>(&self, ws: &mut Lanes<T>, live: &[LaneMask]) {
        if let Some(tiles) = &self.tiles {
            return self.run_tiles(tiles, ws, live);
        }
        for i in 0..self.ops.len() {
            if !(self.alias[i] || self.forwarded[i]) {
                self.run_op(i, ws, live);
            }
        }
    }

    /// Runs the tiled program's steps on one point.
    fn run_tiles<T: IrReal>(&self, tiles: &TileSteps, ws: &mut Lanes<T>, live: &[LaneMask]) {
        for step in &tiles.steps {
            match step {
                TileStep::Node(i) => self.run_op(*i, ws, live),
                TileStep::Group(members, len) => {
                    for first in (0..*len).step_by(TILE) {
                        let t = TILE.min(len - first);
                        for &i in members {
                            self.run_tile(tiles, i, (first, t), ws, live);
                        }
                    }
                }
            }
        }
    }

    /// Elements `first..first + t` of group member `i` into its tile slot (rows
    /// `t` apart), copied out to its block when it is external.
    fn run_tile<T: IrReal>(
        &self,
        tiles: &TileSteps,
        i: usize,
        (first, t): (usize, usize),
        ws: &mut Lanes<T>,
        live: &[LaneMask],
    ) {
        let w = ws.w;
        let size = w * TILE;
        let s = tiles.slot[i] * size;
        {
            let (lo, out, hi) = split(&mut ws.tile, s, size);
            let buf = &ws.buf;
            let row = |node: usize, k: usize| -> &[T] {
                if tiles.group_of[node] == tiles.group_of[i] {
                    arg(lo, hi, s, size, tiles.slot[node] * size + k * t, t)
                } else {
                    &buf[self.row_start(node, k, 1, w) + first..][..t]
                }
            };
            let whole = |node: usize, k: usize| -> &[T] {
                &buf[self.row_start(node, k, 1, w)..][..self.lens[node]]
            };
            let rows = Rows {
                arg: &row,
                whole: &whole,
                first,
                c: 1,
            };
            let (value, lanes) = out[..w * t].split_at_mut(t);
            self.elementwise(i, &rows, (value, lanes), (live, live[i]), &mut ws.partials);
        }
        if tiles.external[i] {
            for k in (0..w).filter(|&k| k == 0 || (live[i] >> (k - 1)) & 1 == 1) {
                let at = self.row_start(i, k, 1, w) + first;
                ws.buf[at..at + t].copy_from_slice(&ws.tile[s + k * t..s + (k + 1) * t]);
            }
        }
    }
}
