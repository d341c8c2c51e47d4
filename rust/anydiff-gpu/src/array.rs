//! Array programs on the GPU (a stencil, a discretised PDE): one point, large
//! nodes. Each instruction is an entry point with one invocation per element of
//! its node, run in program order; the node blocks live in one workspace buffer
//! laid out as the CPU forward engine lays them out (`W` rows per node: values,
//! then one row per tangent lane; blocks reused once dead; contiguous gathers
//! are windows, not copies). Gather and reduction index maps sit in one integer
//! buffer. This is what colored sparse Jacobians need: one evaluation with a
//! lane per color.

use std::fmt::Write;
use std::sync::{Arc, Mutex};

use anydiff::ir::{BinaryFn, Op, Program, ReduceFn};

use crate::codegen::{
    binary_rule, check_lanes, check_precision, compare_op, prelude, refused, unary_rule, Precision,
    WORKGROUP,
};
use crate::device::Gpu;
use crate::engine::{lock, pipelines, read_back, storage_entry, GpuReal};
use crate::error::GpuError;

/// Most workgroups per dispatch dimension.
const MAX_GROUPS: u32 = 65_535;

/// One instruction's entry point.
struct Step {
    len: usize,
    pipeline: wgpu::ComputePipeline,
}

/// An array program compiled for one point and `lanes` tangent lanes.
pub struct GpuArrayProgram {
    gpu: Arc<Gpu>,
    program: Program,
    precision: Precision,
    lanes: usize,
    steps: Vec<Step>,
    workspace: wgpu::Buffer,
    readback: wgpu::Buffer,
    bind: wgpu::BindGroup,
    run_lock: Mutex<()>,
}

struct Emit<'a> {
    program: &'a Program,
    w: usize,
    ty: &'static str,
}

impl Emit<'_> {
    /// `ws[...]` of row `k` (a WGSL expression) of node `a` at element `e`.
    fn at(&self, a: usize, k: &str, e: &str) -> String {
        let base = self.program.lane_row_start(a, 0, self.w);
        let stride = self.program.node_lens()[self.root_of(a)];
        format!("ws[{base}u + ({k}) * {stride}u + ({e})]")
    }

    /// The node whose block `a` lives in (rows of an alias have its root's stride).
    fn root_of(&self, a: usize) -> usize {
        let mut root = a;
        while let Op::Gather { a: src, .. } = &self.program.ops()[root] {
            if !self.program.is_alias(root) {
                break;
            }
            root = *src;
        }
        root
    }

    fn num(&self, x: f64) -> String {
        format!("{}({x:?})", self.ty)
    }
}

fn rows_loop(w: usize, body: &str) -> String {
    format!("    for (var k = 1u; k < {w}u; k = k + 1u) {{\n{body}    }}\n")
}

/// A generated array kernel module.
struct Generated {
    source: String,
    /// (node, entry point name) in program order.
    entries: Vec<(usize, String)>,
    /// The gather and reduction index maps, concatenated.
    indices: Vec<i32>,
}

/// The WGSL of every instruction's entry point, and the integer index buffer.
fn generate(program: &Program, lanes: usize, precision: Precision) -> Result<Generated, GpuError> {
    let ty = precision.wgsl();
    let f64 = precision == Precision::F64;
    let w = lanes + 1;
    let em = Emit { program, w, ty };
    let mut src = prelude(precision);
    let _ = writeln!(
        src,
        "@group(0) @binding(0) var<storage, read_write> ws: array<{ty}>;"
    );
    let _ = writeln!(
        src,
        "@group(0) @binding(1) var<storage, read> idx: array<i32>;\n"
    );
    let mut indices: Vec<i32> = Vec::new();
    let mut entries = Vec::new();
    let n = |c: f64| em.num(c);
    for (i, op) in program.ops().iter().enumerate() {
        let len = program.node_lens()[i];
        if program.is_alias(i) || len == 0 {
            continue;
        }
        let out = |k: &str| em.at(i, k, "e");
        let mut body = String::new();
        match op {
            Op::Input { .. } | Op::Param { .. } | Op::Const(_) => continue,
            Op::Unary { func, a } => {
                let x = em.at(*a, "0u", "e");
                let (value, deriv) = unary_rule(*func, "x", &n, f64)?;
                let _ = writeln!(
                    body,
                    "    let x = {x};\n    let y = {value};\n    {} = y;",
                    out("0u")
                );
                match deriv {
                    Some(d) => {
                        let _ = writeln!(body, "    let d = {};", d.replace('Y', "y"));
                        let inner =
                            format!("        {} = tm(d, {});\n", out("k"), em.at(*a, "k", "e"));
                        body.push_str(&rows_loop(w, &inner));
                    }
                    None => body.push_str(&rows_loop(
                        w,
                        &format!("        {} = {};\n", out("k"), n(0.0)),
                    )),
                }
            }
            Op::Powi { a, n: p } => {
                let x = em.at(*a, "0u", "e");
                let _ = writeln!(
                    body,
                    "    let x = {x};\n    {} = powi_(x, {p});\n    let d = {} * powi_(x, {});",
                    out("0u"),
                    n(f64::from(*p)),
                    p - 1
                );
                let d = if *p == 0 { n(0.0) } else { "d".into() };
                let inner = format!("        {} = tm({d}, {});\n", out("k"), em.at(*a, "k", "e"));
                body.push_str(&rows_loop(w, &inner));
            }
            Op::Binary { func, a, b } => {
                let (xa, xb) = (em.at(*a, "0u", "e"), em.at(*b, "0u", "e"));
                let (ta, tb) = (em.at(*a, "k", "e"), em.at(*b, "k", "e"));
                let _ = writeln!(body, "    let x = {xa};\n    let z = {xb};");
                match func {
                    BinaryFn::Add | BinaryFn::Sub => {
                        let op = if *func == BinaryFn::Add { "+" } else { "-" };
                        let _ = writeln!(body, "    {} = x {op} z;", out("0u"));
                        body.push_str(&rows_loop(
                            w,
                            &format!("        {} = {ta} {op} {tb};\n", out("k")),
                        ));
                    }
                    BinaryFn::Min | BinaryFn::Max => {
                        // NaN with zero tangents, the winner, or the mean at a tie (JAX)
                        let cmp = if *func == BinaryFn::Max { ">" } else { "<" };
                        let _ = writeln!(
                            body,
                            "    let nan = isnan_(x) || isnan_(z);\n    let zwins = z {cmp} x;\n    let tie = z == x;\n    {} = select(select(x, z, zwins), x + z, nan);",
                            out("0u")
                        );
                        body.push_str(&rows_loop(
                            w,
                            &format!(
                                "        {} = select(select(select({ta}, {tb}, zwins), tm({h}, {ta}) + tm({h}, {tb}), tie), {z}, nan);\n",
                                out("k"),
                                h = n(0.5),
                                z = n(0.0)
                            ),
                        ));
                    }
                    _ => {
                        let (value, da, db) = binary_rule(*func, "x", "z", &n);
                        let _ = writeln!(
                            body,
                            "    let y = {value};\n    {} = y;\n    let da = {};\n    let db = {};",
                            out("0u"),
                            da.replace('Y', "y"),
                            db.replace('Y', "y")
                        );
                        let inner =
                            format!("        {} = tm(da, {ta}) + tm(db, {tb});\n", out("k"));
                        body.push_str(&rows_loop(w, &inner));
                    }
                }
            }
            Op::Compare { func, a, b } => {
                let op = compare_op(*func);
                let _ = writeln!(
                    body,
                    "    {} = select({}, {}, {} {op} {});",
                    out("0u"),
                    n(0.0),
                    n(1.0),
                    em.at(*a, "0u", "e"),
                    em.at(*b, "0u", "e")
                );
                body.push_str(&rows_loop(
                    w,
                    &format!("        {} = {};\n", out("k"), n(0.0)),
                ));
            }
            Op::Select { c, t, f } => {
                let _ = writeln!(
                    body,
                    "    let cond = {} != {};",
                    em.at(*c, "0u", "e"),
                    n(0.0)
                );
                let _ = writeln!(body, "    for (var k = 0u; k < {w}u; k = k + 1u) {{");
                let _ = writeln!(
                    body,
                    "        {} = select({}, {}, cond);\n    }}",
                    out("k"),
                    em.at(*f, "k", "e"),
                    em.at(*t, "k", "e")
                );
            }
            Op::Gather { a, indices: ix } => {
                let off = indices.len();
                indices.extend(ix.iter().map(|&v| v as i32));
                let _ = writeln!(body, "    let j = idx[{off}u + e];");
                let _ = writeln!(body, "    for (var k = 0u; k < {w}u; k = k + 1u) {{");
                let _ = writeln!(
                    body,
                    "        {} = select({}, {}, j >= 0);\n    }}",
                    out("k"),
                    n(0.0),
                    em.at(*a, "k", "u32(max(j, 0))")
                );
            }
            Op::Concat(parts) => {
                let _ = writeln!(body, "    for (var k = 0u; k < {w}u; k = k + 1u) {{");
                let mut start = 0;
                for (q, &p) in parts.iter().enumerate() {
                    let plen = program.node_lens()[p];
                    if plen == 0 {
                        continue;
                    }
                    let cond = if q + 1 == parts.len() {
                        "true".to_string()
                    } else {
                        format!("e < {}u", start + plen)
                    };
                    let _ = writeln!(
                        body,
                        "        if {cond} {{ {} = {}; continue; }}",
                        out("k"),
                        em.at(p, "k", &format!("e - {start}u"))
                    );
                    start += plen;
                }
                body.push_str("    }\n");
            }
            Op::Reduce {
                func,
                a,
                offsets,
                indices: ix,
            } => {
                let (o_off, i_off) = (indices.len(), indices.len() + offsets.len());
                indices.extend(offsets.iter().map(|&v| v as i32));
                indices.extend(ix.iter().map(|&v| v as i32));
                let _ = writeln!(
                    body,
                    "    let s = u32(idx[{o_off}u + e]);\n    let t = u32(idx[{o_off}u + e + 1u]);"
                );
                match func {
                    ReduceFn::Sum => {
                        let _ = writeln!(body, "    for (var k = 0u; k < {w}u; k = k + 1u) {{");
                        let _ = writeln!(body, "        var acc = {};", n(0.0));
                        let _ = writeln!(
                            body,
                            "        for (var q = s; q < t; q = q + 1u) {{ acc = acc + {}; }}",
                            em.at(*a, "k", &format!("u32(idx[{i_off}u + q])"))
                        );
                        let _ = writeln!(body, "        {} = acc;\n    }}", out("k"));
                    }
                    ReduceFn::Max | ReduceFn::Min | ReduceFn::ArgMax | ReduceFn::ArgMin => {
                        let cmp = if matches!(func, ReduceFn::Max | ReduceFn::ArgMax) {
                            ">"
                        } else {
                            "<"
                        };
                        let val = |q: &str| em.at(*a, "0u", &format!("u32(idx[{i_off}u + {q}])"));
                        let _ = writeln!(
                            body,
                            "    if s == t {{\n        for (var k = 0u; k < {w}u; k = k + 1u) {{ {} = {}; }}\n        return;\n    }}",
                            out("k"),
                            n(0.0)
                        );
                        if matches!(func, ReduceFn::ArgMax | ReduceFn::ArgMin) {
                            // the first NaN, else the first winner; zero tangents
                            let _ = writeln!(
                                body,
                                "    var best = {};\n    var at = s;\n    for (var q = s + 1u; q < t; q = q + 1u) {{\n        let x = {};\n        if !isnan_(best) && ((x {cmp} best) || isnan_(x)) {{ best = x; at = q; }}\n    }}\n    {} = {ty}(at - s);",
                                val("s"),
                                val("q"),
                                out("0u")
                            );
                            body.push_str(&rows_loop(
                                w,
                                &format!("        {} = {};\n", out("k"), n(0.0)),
                            ));
                        } else {
                            // ties share the tangent evenly; a NaN member gives NaN tangents
                            let _ = writeln!(
                                body,
                                "    var best = {};\n    for (var q = s + 1u; q < t; q = q + 1u) {{\n        let x = {};\n        best = select(select(best, x, x {cmp} best), x + best, isnan_(x) || isnan_(best));\n    }}\n    let nan = isnan_(best);\n    var count = {};\n    for (var q = s; q < t; q = q + 1u) {{ if {} == best {{ count = count + {}; }} }}\n    let inv = {} / count;\n    {} = best;",
                                val("s"),
                                val("q"),
                                n(0.0),
                                val("q"),
                                n(1.0),
                                n(1.0),
                                out("0u")
                            );
                            let inner = format!(
                                "        var acc = {z};\n        var sum = {z};\n        for (var q = s; q < t; q = q + 1u) {{\n            let tq = {};\n            if {} == best {{ acc = acc + tm(inv, tq); }}\n            sum = sum + tq;\n        }}\n        {} = select(acc, tm(nan_({z}), sum), nan);\n",
                                em.at(*a, "k", &format!("u32(idx[{i_off}u + q])")),
                                val("q"),
                                out("k"),
                                z = n(0.0)
                            );
                            body.push_str(&rows_loop(w, &inner));
                        }
                    }
                    ReduceFn::Prod => {
                        // member q's partial: the product of the others
                        let val = |q: &str| em.at(*a, "0u", &format!("u32(idx[{i_off}u + {q}])"));
                        let _ = writeln!(
                            body,
                            "    var prod = {};\n    for (var q = s; q < t; q = q + 1u) {{ prod = prod * {}; }}\n    {} = prod;",
                            n(1.0),
                            val("q"),
                            out("0u")
                        );
                        let inner = format!(
                            "        var acc = {z};\n        for (var q = s; q < t; q = q + 1u) {{\n            var others = {o};\n            for (var r = s; r < t; r = r + 1u) {{ if r != q {{ others = others * {}; }} }}\n            acc = acc + tm(others, {});\n        }}\n        {} = acc;\n",
                            val("r"),
                            em.at(*a, "k", &format!("u32(idx[{i_off}u + q])")),
                            out("k"),
                            z = n(0.0),
                            o = n(1.0)
                        );
                        body.push_str(&rows_loop(w, &inner));
                    }
                }
            }
            Op::Sort { .. } | Op::Linalg { .. } => return Err(refused(op)),
            Op::Dot {
                a,
                b,
                batch: _,
                m,
                k,
                n: cols,
            } => {
                let (m, kk, cols) = (*m, *k, *cols);
                let _ = writeln!(
                    body,
                    "    let bt = e / {mn}u;\n    let i = (e / {cols}u) % {m}u;\n    let jc = e % {cols}u;",
                    mn = m * cols
                );
                let ai = |row: &str| em.at(*a, row, &format!("(bt * {m}u + i) * {kk}u + q"));
                let bi = |row: &str| em.at(*b, row, &format!("(bt * {kk}u + q) * {cols}u + jc"));
                let _ = writeln!(body, "    var acc = {};", n(0.0));
                let _ = writeln!(
                    body,
                    "    for (var q = 0u; q < {kk}u; q = q + 1u) {{ acc = acc + {} * {}; }}\n    {} = acc;",
                    ai("0u"),
                    bi("0u"),
                    out("0u")
                );
                let inner = format!(
                    "        var lane = {};\n        for (var q = 0u; q < {kk}u; q = q + 1u) {{ lane = lane + tm({}, {}) + tm({}, {}); }}\n        {} = lane;\n",
                    n(0.0),
                    ai("0u"),
                    bi("k"),
                    bi("0u"),
                    ai("k"),
                    out("k")
                );
                body.push_str(&rows_loop(w, &inner));
            }
        }
        let name = format!("node{i}");
        let _ = writeln!(
            src,
            "@compute @workgroup_size({WORKGROUP})\nfn {name}(@builtin(global_invocation_id) gid: vec3<u32>) {{\n    let e = gid.x + gid.y * {}u;\n    if e >= {len}u {{ return; }}\n{body}}}\n",
            MAX_GROUPS * WORKGROUP
        );
        entries.push((i, name));
    }
    if indices.is_empty() {
        indices.push(0);
    }
    Ok(Generated {
        source: src,
        entries,
        indices,
    })
}

impl GpuArrayProgram {
    /// Compiles `program` for one point with `lanes` tangent lanes in precision `T`.
    pub fn compile<T: GpuReal>(
        gpu: Arc<Gpu>,
        program: &Program,
        lanes: usize,
    ) -> Result<GpuArrayProgram, GpuError> {
        let precision = T::PRECISION;
        check_precision(&gpu, precision)?;
        check_lanes(lanes)?;
        let w = lanes + 1;
        let bytes = (program.workspace_len() * w * precision.bytes()) as u64;
        if bytes > gpu.max_binding() {
            return Err(GpuError::TooLarge(format!(
                "a workspace of {bytes} bytes ({} numbers x {w} rows) on {} (largest binding {} bytes); \
                 use fewer lanes or float32",
                program.workspace_len(),
                gpu.info().name,
                gpu.max_binding()
            )));
        }
        let Generated {
            source,
            entries,
            indices,
        } = generate(program, lanes, precision)?;
        let device = &gpu.device;
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("anydiff array kernel"),
            entries: &[storage_entry(0, false), storage_entry(1, true)],
        });
        let names: Vec<&str> = entries.iter().map(|(_, name)| name.as_str()).collect();
        let made = pipelines(&gpu, "anydiff array kernel", &source, &layout, &names)?;
        let steps: Vec<Step> = entries
            .iter()
            .zip(made)
            .map(|((node, _), pipeline)| Step {
                len: program.node_lens()[*node],
                pipeline,
            })
            .collect();
        let workspace = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("workspace"),
            size: bytes.max(16),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let index_buf = wgpu::util::DeviceExt::create_buffer_init(
            device,
            &wgpu::util::BufferInitDescriptor {
                label: Some("indices"),
                contents: bytemuck::cast_slice(&indices),
                usage: wgpu::BufferUsages::STORAGE,
            },
        );
        let m = program.n_outputs();
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: ((m * w * precision.bytes()) as u64).max(16),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("anydiff array kernel"),
            layout: &layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: workspace.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: index_buf.as_entire_binding(),
                },
            ],
        });
        gpu.check()?;
        Ok(GpuArrayProgram {
            gpu,
            program: program.clone(),
            precision,
            lanes,
            steps,
            workspace,
            readback,
            bind,
            run_lock: Mutex::new(()),
        })
    }

    /// Tangent lanes.
    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// Values (`m`) and tangents (`m x L`) at `x` (`n` numbers) along the
    /// directions `seeds` (`L x n`).
    pub fn run<T: GpuReal>(
        &self,
        x: &[T],
        params: &[T],
        seeds: &[T],
        values: &mut [T],
        tangents: &mut [T],
    ) -> Result<(), GpuError> {
        let p = &self.program;
        let (n, m, l, w) = (p.n_inputs(), p.n_outputs(), self.lanes, self.lanes + 1);
        let check = |what: &'static str, got: usize, want: usize| {
            if got == want {
                Ok(())
            } else {
                Err(GpuError::Shape {
                    what,
                    expected: format!("{want} numbers"),
                    got: got.to_string(),
                })
            }
        };
        check("x", x.len(), n)?;
        check("params", params.len(), p.param_lens().iter().sum())?;
        check("seeds", seeds.len(), l * n)?;
        check("values", values.len(), m)?;
        check("tangents", tangents.len(), m * l)?;
        let _one_at_a_time = lock(&self.run_lock);
        let gpu = &self.gpu;
        let b = self.precision.bytes() as u64;
        // leaves: a block of w rows each
        let (mut x0, mut p0) = (0, 0);
        for (i, op) in p.ops().iter().enumerate() {
            let len = p.node_lens()[i];
            let mut block = vec![T::default(); len * w];
            match op {
                Op::Input { len, .. } => {
                    block[..*len].copy_from_slice(&x[x0..x0 + len]);
                    for k in 0..l {
                        let dir = &seeds[k * n + x0..k * n + x0 + len];
                        block[(k + 1) * len..(k + 2) * len].copy_from_slice(dir);
                    }
                    x0 += len;
                }
                Op::Param { len, .. } => {
                    block[..*len].copy_from_slice(&params[p0..p0 + len]);
                    p0 += len;
                }
                Op::Const(c) => {
                    for (d, &v) in block.iter_mut().zip(c) {
                        *d = T::from_f64(v);
                    }
                }
                _ => continue,
            }
            if !block.is_empty() {
                let at = p.lane_row_start(i, 0, w) as u64 * b;
                gpu.queue
                    .write_buffer(&self.workspace, at, bytemuck::cast_slice(&block));
            }
        }
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("anydiff array kernel"),
                timestamp_writes: None,
            });
            pass.set_bind_group(0, &self.bind, &[]);
            for step in &self.steps {
                let groups = (step.len as u32).div_ceil(WORKGROUP);
                pass.set_pipeline(&step.pipeline);
                pass.dispatch_workgroups(groups.min(MAX_GROUPS), groups.div_ceil(MAX_GROUPS), 1);
            }
        }
        // outputs: row k of each output node, one after another
        let mut at = 0u64;
        let mut spans = Vec::new();
        for &o in p.outputs() {
            let len = p.node_lens()[o] as u64;
            for k in 0..w {
                if len > 0 {
                    let from = p.lane_row_start(o, k, w) as u64 * b;
                    encoder.copy_buffer_to_buffer(
                        &self.workspace,
                        from,
                        &self.readback,
                        at,
                        len * b,
                    );
                }
                spans.push((at as usize / b as usize, len as usize));
                at += len * b;
            }
        }
        gpu.queue.submit([encoder.finish()]);
        read_back(gpu, &self.readback, at, |bytes| {
            let all: &[T] = bytemuck::cast_slice(bytes);
            let mut r0 = 0;
            for (q, _) in p.outputs().iter().enumerate() {
                let (_, len) = spans[q * w];
                for k in 0..w {
                    let (start, _) = spans[q * w + k];
                    for e in 0..len {
                        let v = all[start + e];
                        if k == 0 {
                            values[r0 + e] = v;
                        } else {
                            tangents[(r0 + e) * l + k - 1] = v;
                        }
                    }
                }
                r0 += len;
            }
        })
    }
}
