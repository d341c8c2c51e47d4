//! anydiff's forward mode on GPUs through wgpu (Vulkan), without CUDA.
//!
//! A [`Program`](anydiff::ir::Program) of the core's IR becomes one WGSL
//! kernel per seed kind and precision ([`codegen`]): one invocation per
//! point, every scalar of the program with its tangent lanes in registers.
//! [`GpuProgram::run`] streams points through it in chunks that fit the
//! adapter's limits; [`GpuProgram::resident`] keeps them on the GPU.
//!
//! f32 uses WGSL's builtins. f64 needs the adapter feature `shader-f64`; its
//! elementary functions are written from `+ - * / sqrt` (see
//! `src/wgsl/f64.wgsl`), because the drivers' own f64 `exp`/`log`/`sin` are
//! rejected or wrong.
//!
//! ```no_run
//! use std::sync::Arc;
//! use anydiff::ir::{BinaryFn, Op, Program, UnaryFn};
//! use anydiff_gpu::{Gpu, GpuProgram, Seeds};
//!
//! // f(x) = [x0 * x1, sin(x0)]
//! let ops = vec![
//!     Op::Input { index: 0, len: 2 },
//!     Op::Gather { a: 0, indices: vec![0] },
//!     Op::Gather { a: 0, indices: vec![1] },
//!     Op::Binary { func: BinaryFn::Mul, a: 1, b: 2 },
//!     Op::Unary { func: UnaryFn::Sin, a: 1 },
//!     Op::Concat(vec![3, 4]),
//! ];
//! let program = Program::new(ops, &[2], &[], &[5]).unwrap();
//! let gpu = Arc::new(Gpu::new().unwrap());
//! let kernel = GpuProgram::compile::<f32>(gpu, &program, Seeds::Identity).unwrap();
//! let points = [1.0f32, 2.0, 0.5, 3.0];
//! let (mut values, mut jacobians) = (vec![0.0f32; 4], vec![0.0f32; 8]);
//! kernel.run(&points, &[], &[], &mut values, &mut jacobians).unwrap();
//! assert_eq!(jacobians[..4], [2.0, 1.0, 1.0f32.cos(), 0.0]);
//! ```

mod array;
pub mod codegen;
mod device;
mod engine;
mod error;

pub use array::GpuArrayProgram;
pub use codegen::{Precision, Seeds};
pub use device::{adapters, AdapterInfo, Gpu, ADAPTER_ENV};
pub use engine::{GpuProgram, GpuReal, Resident};
pub use error::GpuError;
