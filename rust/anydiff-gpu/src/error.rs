//! Errors of the GPU engine.

/// Everything that can go wrong between a program and a GPU result.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No Vulkan adapter (or none matching `ANYDIFF_WGPU_ADAPTER`).
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// f64 was requested on an adapter without `shader-f64`.
    #[error("float64 needs the adapter feature shader-f64, which {0} lacks; use float32")]
    NoF64(String),
    /// A function or op the GPU kernels do not provide.
    #[error("not supported on the GPU: {0}")]
    Unsupported(String),
    /// A program, lane count or batch beyond what one kernel takes.
    #[error("too large for a GPU kernel: {0}")]
    TooLarge(String),
    /// An argument of the wrong size.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        what: &'static str,
        expected: String,
        got: String,
    },
    /// The driver or wgpu reported a failure (shader rejected, device lost, ...).
    #[error("GPU failure: {0}")]
    Device(String),
}
