//! The GPU engine (`anydiff-gpu`) for Python: per-point kernels compiled from
//! a `Program`, numpy in and out, or points kept resident on the GPU.

use std::sync::{Arc, OnceLock};

use anydiff_gpu::{Gpu, GpuArrayProgram, GpuError, GpuProgram, GpuReal, Resident, Seeds};
use numpy::{Element, IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::{core_err, guard, ShapeError};
use crate::ir::PyProgram;
use anydiff::memory::{checked_len, try_vec};

/// A zeroed buffer for `what` of `dims`, or `MemoryError`/`ValueError` naming it.
fn buffer<T: Clone + Default>(what: &str, dims: &[usize]) -> PyResult<Vec<T>> {
    let len = checked_len(what, dims, std::mem::size_of::<T>()).map_err(core_err)?;
    try_vec(
        &format!("{what} of shape {}", anydiff::memory::shape_str(dims)),
        len,
        T::default(),
    )
    .map_err(core_err)
}

create_exception!(
    anydiff._core,
    GpuUnavailable,
    PyRuntimeError,
    "No usable GPU: no Vulkan adapter, or no shader-f64 for float64."
);

fn to_py(e: GpuError) -> PyErr {
    match e {
        GpuError::NoAdapter(_) | GpuError::NoF64(_) => GpuUnavailable::new_err(e.to_string()),
        GpuError::Shape { .. } => ShapeError::new_err(e.to_string()),
        GpuError::Unsupported(_) | GpuError::TooLarge(_) => PyValueError::new_err(e.to_string()),
        GpuError::Device(_) => PyRuntimeError::new_err(e.to_string()),
    }
}

/// The process's GPU, chosen on first use (`ANYDIFF_WGPU_ADAPTER` picks one).
/// Opening it takes a while: the GIL is released around the whole
/// `get_or_init`, so that threads waiting for it do not hold the GIL.
fn gpu(py: Python<'_>) -> PyResult<Arc<Gpu>> {
    static GPU: OnceLock<Result<Arc<Gpu>, String>> = OnceLock::new();
    let opened = match GPU.get() {
        Some(g) => g,
        None => {
            py.detach(|| GPU.get_or_init(|| Gpu::new().map(Arc::new).map_err(|e| e.to_string())))
        }
    };
    opened.clone().map_err(GpuUnavailable::new_err)
}

/// The adapter in use: name, device type, driver, and whether it has f64.
#[pyfunction]
fn gpu_adapter(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    guard(|| adapter_dict(py))
}

fn adapter_dict(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let g = gpu(py)?;
    let info = g.info();
    let d = PyDict::new(py);
    d.set_item("name", &info.name)?;
    d.set_item("device_type", &info.device_type)?;
    d.set_item("driver", &info.driver)?;
    d.set_item("float64", info.f64)?;
    d.set_item("max_binding_bytes", g.max_binding())?;
    Ok(d)
}

enum Kernel {
    F32(Arc<GpuProgram>),
    F64(Arc<GpuProgram>),
}

/// A per-point GPU kernel: values `(P, m)` and tangents `(P, m, L)` of a program.
#[pyclass(frozen, name = "GpuKernel", module = "anydiff._core")]
pub struct PyGpuKernel {
    kernel: Kernel,
    lanes: usize,
}

fn run_typed<T: GpuReal + Element>(
    py: Python<'_>,
    k: &GpuProgram,
    (points, params, seeds): (&Bound<'_, PyAny>, &Bound<'_, PyAny>, &Bound<'_, PyAny>),
) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let pts: PyReadonlyArray2<'_, T> = points.extract()?;
    let par: PyReadonlyArray1<'_, T> = params.extract()?;
    let sd: PyReadonlyArray1<'_, T> = seeds.extract()?;
    let (pts, par, sd) = (pts.as_array(), par.as_array(), sd.as_array());
    let np = pts.nrows();
    if pts.ncols() != k.n_inputs() {
        return Err(ShapeError::new_err(format!(
            "points: expected (P, {}), got {:?}",
            k.n_inputs(),
            pts.shape()
        )));
    }
    let (m, l) = (k.n_outputs(), k.lanes());
    let mut values = buffer::<T>("the values", &[np, m])?;
    let mut tangents = buffer::<T>("the tangents", &[np, m, l])?;
    let (x, p, s) = (pts.to_owned(), par.to_vec(), sd.to_vec());
    py.detach(|| {
        let x = x.as_slice().unwrap_or(&[]);
        k.run(x, &p, &s, &mut values, &mut tangents)
    })
    .map_err(to_py)?;
    let values = ndarray::Array2::from_shape_vec((np, m), values)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let tangents = ndarray::Array3::from_shape_vec((np, m, l), tangents)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((
        values.into_pyarray(py).into_any().unbind(),
        tangents.into_pyarray(py).into_any().unbind(),
    ))
}

#[pymethods]
impl PyGpuKernel {
    /// Compiles `program` for `dtype` ("float32" or "float64"): the Jacobian
    /// (unit seeds) when `lanes` is None, else `lanes` directions given per call.
    #[new]
    #[pyo3(signature = (program, dtype, lanes=None))]
    fn new(
        py: Python<'_>,
        program: &PyProgram,
        dtype: &str,
        lanes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        guard(|| Self::compile(py, program, dtype, crate::args::opt_size(lanes, "lanes")?))
    }

    /// Tangent lanes per point.
    #[getter]
    fn lanes(&self) -> usize {
        self.lanes
    }

    /// The generated WGSL.
    #[getter]
    fn source(&self) -> String {
        match &self.kernel {
            Kernel::F32(k) | Kernel::F64(k) => k.source().to_string(),
        }
    }

    /// `(values (P, m), tangents (P, m, L))` at `points` `(P, n)` (contiguous, of
    /// the kernel's dtype); `params` flat; `seeds` `(L * n,)` for a seeded kernel.
    #[pyo3(signature = (points, params, seeds))]
    fn run(
        &self,
        py: Python<'_>,
        points: &Bound<'_, PyAny>,
        params: &Bound<'_, PyAny>,
        seeds: &Bound<'_, PyAny>,
    ) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        guard(|| match &self.kernel {
            Kernel::F32(k) => run_typed::<f32>(py, k, (points, params, seeds)),
            Kernel::F64(k) => run_typed::<f64>(py, k, (points, params, seeds)),
        })
    }

    /// Uploads `points` once; the returned object evaluates on the GPU without
    /// host transfers (`run`) and copies results back on request (`read`).
    #[pyo3(signature = (points, params, seeds))]
    fn resident(
        &self,
        points: &Bound<'_, PyAny>,
        params: &Bound<'_, PyAny>,
        seeds: &Bound<'_, PyAny>,
    ) -> PyResult<PyResident> {
        guard(|| self.upload((points, params, seeds)))
    }
}

impl PyGpuKernel {
    fn compile(
        py: Python<'_>,
        program: &PyProgram,
        dtype: &str,
        lanes: Option<usize>,
    ) -> PyResult<Self> {
        let seeds = match lanes {
            None => Seeds::Identity,
            Some(l) => Seeds::Given(l),
        };
        let prog = program.inner.clone();
        let g = gpu(py)?;
        let kernel = match dtype {
            "float32" => py
                .detach(|| GpuProgram::compile::<f32>(g, &prog, seeds))
                .map(|k| Kernel::F32(Arc::new(k))),
            "float64" => py
                .detach(|| GpuProgram::compile::<f64>(g, &prog, seeds))
                .map(|k| Kernel::F64(Arc::new(k))),
            other => {
                return Err(PyTypeError::new_err(format!(
                    "dtype must be 'float32' or 'float64'; got {other:?}"
                )))
            }
        }
        .map_err(to_py)?;
        let lanes = match &kernel {
            Kernel::F32(k) | Kernel::F64(k) => k.lanes(),
        };
        Ok(PyGpuKernel { kernel, lanes })
    }

    fn upload(
        &self,
        (points, params, seeds): (&Bound<'_, PyAny>, &Bound<'_, PyAny>, &Bound<'_, PyAny>),
    ) -> PyResult<PyResident> {
        fn up<T: GpuReal + Element>(
            k: &Arc<GpuProgram>,
            (points, params, seeds): (&Bound<'_, PyAny>, &Bound<'_, PyAny>, &Bound<'_, PyAny>),
        ) -> PyResult<(Resident, usize)> {
            let pts: PyReadonlyArray2<'_, T> = points.extract()?;
            let par: PyReadonlyArray1<'_, T> = params.extract()?;
            let sd: PyReadonlyArray1<'_, T> = seeds.extract()?;
            let x = pts.as_array().to_owned();
            let r = k
                .resident(
                    x.as_slice().unwrap_or(&[]),
                    &par.as_array().to_vec(),
                    &sd.as_array().to_vec(),
                )
                .map_err(to_py)?;
            Ok((r, k.n_outputs()))
        }
        let args = (points, params, seeds);
        let ((inner, m), f64) = match &self.kernel {
            Kernel::F32(k) => (up::<f32>(k, args)?, false),
            Kernel::F64(k) => (up::<f64>(k, args)?, true),
        };
        Ok(PyResident {
            inner,
            m,
            lanes: self.lanes,
            f64,
        })
    }
}

/// Points and results kept on the GPU (`GpuKernel.resident`).
#[pyclass(frozen, name = "GpuResident", module = "anydiff._core")]
pub struct PyResident {
    inner: Resident,
    m: usize,
    lanes: usize,
    f64: bool,
}

#[pymethods]
impl PyResident {
    /// Evaluates at every point and waits for the GPU; nothing crosses to the host.
    fn run(&self, py: Python<'_>) -> PyResult<()> {
        guard(|| py.detach(|| self.inner.run()).map_err(to_py))
    }

    /// `(values (P, m), tangents (P, m, L))` of the last `run`.
    fn read(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        fn typed<T: GpuReal + Element>(
            py: Python<'_>,
            r: &PyResident,
        ) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
            let (np, m, l) = (r.inner.len(), r.m, r.lanes);
            let mut v = buffer::<T>("the values", &[np, m])?;
            let mut t = buffer::<T>("the tangents", &[np, m, l])?;
            py.detach(|| r.inner.read(&mut v, &mut t)).map_err(to_py)?;
            let v = ndarray::Array2::from_shape_vec((np, m), v)
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            let t = ndarray::Array3::from_shape_vec((np, m, l), t)
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            Ok((
                v.into_pyarray(py).into_any().unbind(),
                t.into_pyarray(py).into_any().unbind(),
            ))
        }
        guard(|| {
            if self.f64 {
                typed::<f64>(py, self)
            } else {
                typed::<f32>(py, self)
            }
        })
    }
}

enum ArrayKernel {
    F32(GpuArrayProgram),
    F64(GpuArrayProgram),
}

/// An array-program GPU kernel for one point: each instruction a dispatch over
/// its elements, with `lanes` tangent lanes (colored seeds of a sparse Jacobian).
#[pyclass(frozen, name = "GpuArrayKernel", module = "anydiff._core")]
pub struct PyGpuArrayKernel {
    kernel: ArrayKernel,
    n: usize,
    m: usize,
    lanes: usize,
}

fn run_array<T: GpuReal + Element>(
    py: Python<'_>,
    k: &GpuArrayProgram,
    (n, m, l): (usize, usize, usize),
    (x, params, seeds): (&Bound<'_, PyAny>, &Bound<'_, PyAny>, &Bound<'_, PyAny>),
) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let x: PyReadonlyArray1<'_, T> = x.extract()?;
    let par: PyReadonlyArray1<'_, T> = params.extract()?;
    let sd: PyReadonlyArray1<'_, T> = seeds.extract()?;
    let (x, p, s) = (
        x.as_array().to_vec(),
        par.as_array().to_vec(),
        sd.as_array().to_vec(),
    );
    if x.len() != n {
        return Err(ShapeError::new_err(format!(
            "x: expected ({n},), got ({},)",
            x.len()
        )));
    }
    let mut values = buffer::<T>("the values", &[m])?;
    let mut tangents = buffer::<T>("the tangents", &[m, l])?;
    py.detach(|| k.run(&x, &p, &s, &mut values, &mut tangents))
        .map_err(to_py)?;
    let tangents = ndarray::Array2::from_shape_vec((m, l), tangents)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((
        ndarray::Array1::from_vec(values)
            .into_pyarray(py)
            .into_any()
            .unbind(),
        tangents.into_pyarray(py).into_any().unbind(),
    ))
}

#[pymethods]
impl PyGpuArrayKernel {
    /// Compiles `program` for one point, `lanes` directions, `dtype` "float32"/"float64".
    #[new]
    fn new(
        py: Python<'_>,
        program: &PyProgram,
        dtype: &str,
        lanes: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        guard(|| Self::compile(py, program, dtype, crate::args::size(lanes, "lanes")?))
    }

    /// Tangent lanes.
    #[getter]
    fn lanes(&self) -> usize {
        self.lanes
    }

    /// `(values (m,), tangents (m, L))` at `x` `(n,)` along `seeds` `(L * n,)`.
    fn run(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        params: &Bound<'_, PyAny>,
        seeds: &Bound<'_, PyAny>,
    ) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let dims = (self.n, self.m, self.lanes);
        guard(|| match &self.kernel {
            ArrayKernel::F32(k) => run_array::<f32>(py, k, dims, (x, params, seeds)),
            ArrayKernel::F64(k) => run_array::<f64>(py, k, dims, (x, params, seeds)),
        })
    }
}

impl PyGpuArrayKernel {
    fn compile(py: Python<'_>, program: &PyProgram, dtype: &str, lanes: usize) -> PyResult<Self> {
        let prog = program.inner.clone();
        let g = gpu(py)?;
        let kernel = match dtype {
            "float32" => py
                .detach(|| GpuArrayProgram::compile::<f32>(g, &prog, lanes))
                .map(ArrayKernel::F32),
            "float64" => py
                .detach(|| GpuArrayProgram::compile::<f64>(g, &prog, lanes))
                .map(ArrayKernel::F64),
            other => {
                return Err(PyTypeError::new_err(format!(
                    "dtype must be 'float32' or 'float64'; got {other:?}"
                )))
            }
        }
        .map_err(to_py)?;
        Ok(PyGpuArrayKernel {
            kernel,
            n: prog.n_inputs(),
            m: prog.n_outputs(),
            lanes,
        })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyGpuArrayKernel>()?;
    m.add("GPU_MAX_POINT_ELEMENTS", anydiff_gpu::codegen::MAX_ELEMENTS)?;
    m.add("GpuUnavailable", m.py().get_type::<GpuUnavailable>())?;
    m.add_class::<PyGpuKernel>()?;
    m.add_class::<PyResident>()?;
    m.add_function(wrap_pyfunction!(gpu_adapter, m)?)?;
    Ok(())
}
