//! A compiled kernel: one machine-code loop over points for one program and
//! [`Mode`], run in parallel over chunks of points.

use anydiff::ir::Program;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, AbiParam, BlockArg, InstBuilder, UserFuncName};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
use rayon::prelude::*;

use crate::lower::{Lowering, Mode, Pointers};
use crate::JitError;

/// Most inputs (tangent lanes) of a compiled Jacobian.
pub const MAX_INPUTS: usize = 64;
/// Most elements of all nodes together.
pub const MAX_ELEMENTS: usize = 4096;
/// Most instructions generated per point.
pub const MAX_INSTRUCTIONS: usize = 20_000;
/// Points per parallel task.
const TASK_POINTS: usize = 2048;

/// `(points, params, values, jacobian, count)`: the generated loop.
type Entry = unsafe extern "C" fn(*const f64, *const f64, *mut f64, *mut f64, i64);

/// A program compiled to machine code for one [`Mode`].
pub struct Kernel {
    entry: Entry,
    /// Owns the code `entry` points into (freed on drop).
    module: Option<JITModule>,
    mode: Mode,
    n: usize,
    m: usize,
    n_params: usize,
}

// SAFETY: after `finalize_definitions` the module's code is immutable and the
// generated function only touches the memory its caller passes in.
unsafe impl Send for Kernel {}
// SAFETY: as above; `run` only reads `entry` and the sizes.
unsafe impl Sync for Kernel {}

impl Drop for Kernel {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: `entry` is never called after the kernel is dropped.
            unsafe { module.free_memory() };
        }
    }
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("mode", &self.mode)
            .field("n", &self.n)
            .field("m", &self.m)
            .finish()
    }
}

fn codegen(what: &str, e: impl std::fmt::Display) -> JitError {
    JitError::Codegen(format!("{what}: {e}"))
}

impl Kernel {
    /// Compiles `prog` for `mode`, in `f64`. Programs with more than
    /// [`MAX_INPUTS`] inputs (for a Jacobian), [`MAX_ELEMENTS`] elements or
    /// [`MAX_INSTRUCTIONS`] instructions per point are [`JitError::TooLarge`]:
    /// the interpreter serves them better.
    pub fn compile(prog: &Program, mode: Mode) -> Result<Kernel, JitError> {
        let (n, m) = (prog.n_inputs(), prog.n_outputs());
        if mode.jacobian() && n > MAX_INPUTS {
            return Err(JitError::TooLarge(format!(
                "{n} inputs (at most {MAX_INPUTS} tangent lanes)"
            )));
        }
        let elements: usize = prog.node_lens().iter().sum();
        if elements > MAX_ELEMENTS {
            return Err(JitError::TooLarge(format!(
                "{elements} elements (at most {MAX_ELEMENTS})"
            )));
        }
        let mut flags = settings::builder();
        for (k, v) in [
            ("opt_level", "speed"),
            ("use_colocated_libcalls", "false"),
            ("is_pic", "false"),
        ] {
            flags.set(k, v).map_err(|e| codegen("flag", e))?;
        }
        let isa = cranelift_native::builder()
            .map_err(|e| JitError::Unsupported(format!("this host: {e}")))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| codegen("target", e))?;
        let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let ptr = module.target_config().pointer_type();
        let call_conv = module.isa().default_call_conv();
        let target = module.target_config();
        let mut ctx = module.make_context();
        for _ in 0..4 {
            ctx.func.signature.params.push(AbiParam::new(ptr));
        }
        ctx.func.signature.params.push(AbiParam::new(types::I64));
        let id = module
            .declare_function("points", Linkage::Local, &ctx.func.signature)
            .map_err(|e| codegen("declare", e))?;
        ctx.func.name = UserFuncName::user(0, id.as_u32());
        let mut fctx = FunctionBuilderContext::new();
        {
            let mut fb = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            let b = &mut fb;
            let (entry, header, body, exit) = (
                b.create_block(),
                b.create_block(),
                b.create_block(),
                b.create_block(),
            );
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let args = b.block_params(entry).to_vec();
            let params = args[1];
            let mut lower = Lowering::new(b, ptr, call_conv, MAX_INSTRUCTIONS);
            // header(points, values, jacobian, left)
            let loop_vars: Vec<_> = [args[0], args[2], args[3], args[4]]
                .iter()
                .map(|&v| BlockArg::Value(v))
                .collect();
            let b = lower.builder();
            b.ins().jump(header, &loop_vars);
            let vars: Vec<_> = [ptr, ptr, ptr, types::I64]
                .iter()
                .map(|&t| b.append_block_param(header, t))
                .collect();
            b.switch_to_block(header);
            let done = b.ins().icmp_imm_s(IntCC::Equal, vars[3], 0);
            b.ins().brif(done, exit, &[], body, &[]);
            b.switch_to_block(body);
            let ptrs = Pointers {
                points: vars[0],
                params,
            };
            lower.point(prog, &ptrs, mode, (vars[1], vars[2]))?;
            let b = lower.builder();
            let step = |k: usize| (8 * k) as i64;
            let next = [
                b.ins().iadd_imm_s(vars[0], step(n)),
                b.ins()
                    .iadd_imm_s(vars[1], step(if mode.values() { m } else { 0 })),
                b.ins()
                    .iadd_imm_s(vars[2], step(if mode.jacobian() { m * n } else { 0 })),
                b.ins().iadd_imm_s(vars[3], -1),
            ]
            .map(BlockArg::Value);
            b.ins().jump(header, &next);
            b.switch_to_block(exit);
            b.ins().return_(&[]);
            fb.seal_all_blocks();
            fb.finalize(target);
        }
        module
            .define_function(id, &mut ctx)
            .map_err(|e| codegen("compile", e))?;
        module.clear_context(&mut ctx);
        module
            .finalize_definitions()
            .map_err(|e| codegen("link", e))?;
        let code = module.get_finalized_function(id);
        // SAFETY: `code` is the function defined above with `Entry`'s signature
        // in the host's default calling convention (`extern "C"`).
        let entry = unsafe { std::mem::transmute::<*const u8, Entry>(code) };
        Ok(Kernel {
            entry,
            module: Some(module),
            mode,
            n,
            m,
            n_params: prog.param_lens().iter().sum(),
        })
    }

    /// The mode this kernel was compiled for.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Runs the kernel at the `np` points of `points` (point-major, `n`
    /// numbers each), writing `values` (`m` per point) and
    /// `jacobian` (`m * n` per point, row-major) as the mode asks; chunks of
    /// points run in parallel, and those left when the thread's current
    /// [`anydiff::StopFlag`] is raised are skipped (under
    /// [`anydiff::StopFlag::run`], which then reports the interruption).
    /// Sizes are checked: a result the mode does not write may be empty.
    pub fn run(
        &self,
        np: usize,
        points: &[f64],
        params: &[f64],
        values: &mut [f64],
        jacobian: &mut [f64],
    ) -> Result<(), JitError> {
        let (n, m) = (self.n, self.m);
        // numbers per point of each result (none where the mode does not write it)
        let vw = if self.mode.values() { m } else { 0 };
        let jw = if self.mode.jacobian() { m * n } else { 0 };
        let checks = [
            ("points", points.len(), np.checked_mul(n)),
            ("params", params.len(), Some(self.n_params)),
            ("values", values.len(), np.checked_mul(vw)),
            ("jacobian", jacobian.len(), np.checked_mul(jw)),
        ];
        for (what, got, expected) in checks {
            let Some(expected) = expected else {
                return Err(JitError::Shape(format!(
                    "{what}: {np} points need more numbers than memory holds"
                )));
            };
            if got != expected {
                return Err(JitError::Shape(format!(
                    "{what}: expected {expected} numbers for {np} points, got {got}"
                )));
            }
        }
        let run = |pts: &[f64], vals: &mut [f64], jac: &mut [f64], count: usize| {
            // SAFETY: `pts` holds `count * n` numbers, `vals` `count * m` and
            // `jac` `count * m * n` where the mode writes them (checked above,
            // and the chunks below keep the ratios), `params` all parameters.
            unsafe {
                (self.entry)(
                    pts.as_ptr(),
                    params.as_ptr(),
                    vals.as_mut_ptr(),
                    jac.as_mut_ptr(),
                    count as i64,
                )
            }
        };
        if np <= TASK_POINTS {
            run(points, values, jacobian, np);
            return Ok(());
        }
        let tasks: Vec<_> = (0..np)
            .step_by(TASK_POINTS)
            .map(|p| (p, TASK_POINTS.min(np - p)))
            .zip(chunks_or_empty(values, TASK_POINTS * vw))
            .zip(chunks_or_empty(jacobian, TASK_POINTS * jw))
            .collect();
        let stop = anydiff::StopFlag::current();
        tasks.into_par_iter().for_each(|(((p, count), vals), jac)| {
            if !stop.as_ref().is_some_and(anydiff::StopFlag::is_raised) {
                run(&points[p * n..(p + count) * n], vals, jac, count)
            }
        });
        Ok(())
    }
}

/// `data` in chunks of `size`, or endless empty slices where `size` is 0.
fn chunks_or_empty(data: &mut [f64], size: usize) -> Box<dyn Iterator<Item = &mut [f64]> + '_> {
    if size == 0 {
        Box::new(std::iter::repeat_with(|| &mut [][..]))
    } else {
        Box::new(data.chunks_mut(size))
    }
}
