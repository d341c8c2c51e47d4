//! Compiled kernels and their runs: numpy-style slices in and out, streamed
//! through the GPU in chunks that fit its limits, or kept resident on it.

use std::sync::{Arc, Mutex};

use anydiff::ir::Program;
use wgpu::util::DeviceExt;

use crate::codegen::{self, Kernel, Precision, Seeds, WORKGROUP};
use crate::device::Gpu;
use crate::error::GpuError;

/// The number types of GPU kernels.
pub trait GpuReal: bytemuck::Pod + Copy + Default + Send + Sync + 'static {
    /// The kernel precision of this type.
    const PRECISION: Precision;
    /// From a program constant.
    fn from_f64(x: f64) -> Self;
}

impl GpuReal for f32 {
    const PRECISION: Precision = Precision::F32;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
}

impl GpuReal for f64 {
    const PRECISION: Precision = Precision::F64;
    fn from_f64(x: f64) -> Self {
        x
    }
}

/// Most workgroups of one dispatch in one dimension.
const MAX_WORKGROUPS: u64 = 65_535;

/// The buffers of one chunk size.
struct Buffers {
    capacity: usize,
    points: wgpu::Buffer,
    values: wgpu::Buffer,
    tangents: wgpu::Buffer,
    readback: wgpu::Buffer,
    bind: wgpu::BindGroup,
}

/// A program compiled for the GPU: values and tangent lanes of every point.
pub struct GpuProgram {
    gpu: Arc<Gpu>,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    kernel: Kernel,
    precision: Precision,
    n: usize,
    m: usize,
    n_params: usize,
    params: wgpu::Buffer,
    seeds: wgpu::Buffer,
    info: wgpu::Buffer,
    buffers: Mutex<Option<Buffers>>,
    max_chunk: usize,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn bytes_of<T: GpuReal>(x: &[T]) -> &[u8] {
    bytemuck::cast_slice(x)
}

fn storage(gpu: &Gpu, label: &str, bytes: u64, extra: wgpu::BufferUsages) -> wgpu::Buffer {
    gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        // bindings may not be empty
        size: bytes.max(16).next_multiple_of(4),
        usage: wgpu::BufferUsages::STORAGE | extra,
        mapped_at_creation: false,
    })
}

/// A storage buffer binding of a compute kernel.
pub(crate) fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// Compiles the WGSL `source` and one pipeline per entry point over `layout`; a
/// kernel that wgpu or the driver rejects is an error saying so.
pub(crate) fn pipelines(
    gpu: &Gpu,
    label: &str,
    source: &str,
    layout: &wgpu::BindGroupLayout,
    entries: &[&str],
) -> Result<Vec<wgpu::ComputePipeline>, GpuError> {
    let device = &gpu.device;
    // wgpu's error scopes are one stack per device: one compilation at a time
    let one_at_a_time = lock(&gpu.scopes);
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    let made = entries
        .iter()
        .map(|entry| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        })
        .collect();
    let rejected = pollster::block_on(scope.pop());
    drop(one_at_a_time);
    if let Some(e) = rejected {
        return Err(GpuError::Device(format!(
            "the generated kernel was rejected: {e}"
        )));
    }
    gpu.check()?;
    Ok(made)
}

/// The kernels' bindings, declared in full (an automatic layout would drop
/// the ones a kernel happens not to read).
fn bind_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    let storage = storage_entry;
    let entries = [
        storage(0, true),
        storage(1, true),
        storage(2, true),
        storage(3, false),
        storage(4, false),
        wgpu::BindGroupLayoutEntry {
            binding: 5,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        },
    ];
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("anydiff per-point kernel"),
        entries: &entries,
    })
}

impl GpuProgram {
    /// Generates and compiles the kernel of `program` for `seeds` in precision `T`.
    pub fn compile<T: GpuReal>(
        gpu: Arc<Gpu>,
        program: &Program,
        seeds: Seeds,
    ) -> Result<GpuProgram, GpuError> {
        let precision = T::PRECISION;
        codegen::check_precision(&gpu, precision)?;
        let kernel = codegen::per_point(program, seeds, precision)?;
        let device = &gpu.device;
        let layout = bind_layout(&gpu.device);
        let label = "anydiff per-point kernel";
        let pipeline = pipelines(&gpu, label, &kernel.source, &layout, &["main"])?
            .pop()
            .ok_or_else(|| GpuError::Device("no pipeline was made".into()))?;
        gpu.check()?;
        let (n, m) = (program.n_inputs(), program.n_outputs());
        let n_params: usize = program.param_lens().iter().sum();
        let slots = n_params + kernel.constants.len();
        let params = storage(
            &gpu,
            "params",
            (slots * precision.bytes()) as u64,
            wgpu::BufferUsages::COPY_DST,
        );
        let seed_len = kernel.lanes * n;
        let seeds = storage(
            &gpu,
            "seeds",
            (seed_len * precision.bytes()) as u64,
            wgpu::BufferUsages::COPY_DST,
        );
        let info = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("info"),
            contents: bytemuck::cast_slice(&[0u32; 4]),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let widest = n.max(m * kernel.lanes).max(m).max(1);
        let by_binding = gpu.max_binding() / (widest * precision.bytes()) as u64;
        let max_chunk = by_binding.min(MAX_WORKGROUPS * u64::from(WORKGROUP)).max(1) as usize;
        Ok(GpuProgram {
            gpu,
            pipeline,
            layout,
            kernel,
            precision,
            n,
            m,
            n_params,
            params,
            seeds,
            info,
            buffers: Mutex::new(None),
            max_chunk,
        })
    }

    /// Outputs per point (`m`).
    pub fn n_outputs(&self) -> usize {
        self.m
    }

    /// Inputs per point (`n`).
    pub fn n_inputs(&self) -> usize {
        self.n
    }

    /// Tangent lanes per point.
    pub fn lanes(&self) -> usize {
        self.kernel.lanes
    }

    /// The generated WGSL.
    pub fn source(&self) -> &str {
        &self.kernel.source
    }

    /// Points per chunk (the GPU's binding and dispatch limits).
    pub fn max_chunk(&self) -> usize {
        self.max_chunk
    }

    /// Lowers the points per chunk (tests use it to exercise chunking).
    pub fn set_max_chunk(&mut self, points: usize) {
        self.max_chunk = points.clamp(1, self.max_chunk);
    }

    fn check_len(what: &'static str, got: usize, want: usize) -> Result<(), GpuError> {
        if got != want {
            return Err(GpuError::Shape {
                what,
                expected: format!("{want} numbers"),
                got: format!("{got}"),
            });
        }
        Ok(())
    }

    /// Writes the parameters (then the constants) and the seed directions.
    fn upload_inputs<T: GpuReal>(&self, params: &[T], seeds: &[T]) -> Result<(), GpuError> {
        Self::check_len("params", params.len(), self.n_params)?;
        let want_seeds = match seeds.len() {
            0 => 0,
            _ => self.kernel.lanes * self.n,
        };
        Self::check_len("seeds", seeds.len(), want_seeds)?;
        let mut all: Vec<T> = params.to_vec();
        all.extend(self.kernel.constants.iter().map(|&c| T::from_f64(c)));
        if !all.is_empty() {
            self.gpu.queue.write_buffer(&self.params, 0, bytes_of(&all));
        }
        if !seeds.is_empty() {
            self.gpu.queue.write_buffer(&self.seeds, 0, bytes_of(seeds));
        }
        Ok(())
    }

    fn buffers(&self, capacity: usize) -> Buffers {
        let b = self.precision.bytes() as u64;
        let cap = capacity as u64;
        let (n, m, l) = (self.n as u64, self.m as u64, self.kernel.lanes as u64);
        let gpu = &self.gpu;
        let points = storage(gpu, "points", cap * n * b, wgpu::BufferUsages::COPY_DST);
        let values = storage(gpu, "values", cap * m * b, wgpu::BufferUsages::COPY_SRC);
        let tangents = storage(
            gpu,
            "tangents",
            cap * m * l * b,
            wgpu::BufferUsages::COPY_SRC,
        );
        let readback = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: (values.size() + tangents.size()).max(16),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let entries: Vec<wgpu::BindGroupEntry> = [
            &points,
            &self.params,
            &self.seeds,
            &values,
            &tangents,
            &self.info,
        ]
        .iter()
        .enumerate()
        .map(|(i, buf)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: buf.as_entire_binding(),
        })
        .collect();
        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("anydiff per-point kernel"),
            layout: &self.layout,
            entries: &entries,
        });
        Buffers {
            capacity,
            points,
            values,
            tangents,
            readback,
            bind,
        }
    }

    fn dispatch(&self, encoder: &mut wgpu::CommandEncoder, bufs: &Buffers, count: usize) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("anydiff per-point kernel"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &bufs.bind, &[]);
        pass.dispatch_workgroups((count as u32).div_ceil(WORKGROUP), 1, 1);
    }

    /// Values (`P x m`) and tangents (`P x m x L`) at `P` points (`points` is
    /// `P x n`); `seeds` (`L x n`) is empty for a Jacobian kernel. Streams the
    /// points through the GPU in chunks.
    pub fn run<T: GpuReal>(
        &self,
        points: &[T],
        params: &[T],
        seeds: &[T],
        values: &mut [T],
        tangents: &mut [T],
    ) -> Result<(), GpuError> {
        let (n, m, l) = (self.n, self.m, self.kernel.lanes);
        let np = points
            .len()
            .checked_div(n)
            .unwrap_or(values.len() / m.max(1));
        Self::check_len("points", points.len(), np * n)?;
        Self::check_len("values", values.len(), np * m)?;
        Self::check_len("tangents", tangents.len(), np * m * l)?;
        // one run of this program at a time: runs share the parameter, seed and count buffers
        let mut slot = lock(&self.buffers);
        self.upload_inputs(params, seeds)?;
        let chunk = self.max_chunk.min(np.max(1));
        if !matches!(slot.as_ref(), Some(b) if b.capacity >= chunk) {
            *slot = Some(self.buffers(chunk));
        }
        let Some(bufs) = slot.as_ref() else {
            return Err(GpuError::Device("buffers were not made".into()));
        };
        let (gpu, b) = (&self.gpu, self.precision.bytes());
        let mut start = 0;
        while start < np {
            let count = chunk.min(np - start);
            gpu.queue.write_buffer(
                &bufs.points,
                0,
                bytes_of(&points[start * n..(start + count) * n]),
            );
            gpu.queue.write_buffer(
                &self.info,
                0,
                bytemuck::cast_slice(&[count as u32, 0, 0, 0]),
            );
            let mut encoder = gpu.device.create_command_encoder(&Default::default());
            self.dispatch(&mut encoder, bufs, count);
            let (vb, tb) = ((count * m * b) as u64, (count * m * l * b) as u64);
            if vb > 0 {
                encoder.copy_buffer_to_buffer(&bufs.values, 0, &bufs.readback, 0, vb);
            }
            if tb > 0 {
                encoder.copy_buffer_to_buffer(&bufs.tangents, 0, &bufs.readback, vb, tb);
            }
            gpu.queue.submit([encoder.finish()]);
            read_back(&self.gpu, &bufs.readback, vb + tb, |bytes| {
                let (vals, tans) = bytes.split_at(vb as usize);
                let out_v = &mut values[start * m..(start + count) * m];
                out_v.copy_from_slice(bytemuck::cast_slice(vals));
                let out_t = &mut tangents[start * m * l..(start + count) * m * l];
                out_t.copy_from_slice(bytemuck::cast_slice(tans));
            })?;
            start += count;
        }
        gpu.check()
    }

    /// Uploads `points` (`P x n`) once and keeps them, with room for the
    /// results, on the GPU: for repeated evaluations without host transfers.
    pub fn resident<T: GpuReal>(
        self: &Arc<Self>,
        points: &[T],
        params: &[T],
        seeds: &[T],
    ) -> Result<Resident, GpuError> {
        let n = self.n.max(1);
        let np = points.len() / n;
        Self::check_len("points", points.len(), np * self.n)?;
        if np > self.max_chunk {
            return Err(GpuError::TooLarge(format!(
                "{np} points do not fit in one dispatch on {} (at most {}); use the streaming call",
                self.gpu.info().name,
                self.max_chunk
            )));
        }
        let _one_at_a_time = lock(&self.buffers);
        self.upload_inputs(params, seeds)?;
        let bufs = self.buffers(np.max(1));
        self.gpu
            .queue
            .write_buffer(&bufs.points, 0, bytes_of(points));
        self.gpu.check()?;
        Ok(Resident {
            program: self.clone(),
            bufs,
            count: np,
        })
    }
}

/// Points kept on the GPU with their results ([`GpuProgram::resident`]).
pub struct Resident {
    program: Arc<GpuProgram>,
    bufs: Buffers,
    count: usize,
}

impl Resident {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Evaluates at every point and waits for the GPU; results stay on it.
    pub fn run(&self) -> Result<(), GpuError> {
        let p = &self.program;
        let _one_at_a_time = lock(&p.buffers);
        p.gpu.queue.write_buffer(
            &p.info,
            0,
            bytemuck::cast_slice(&[self.count as u32, 0, 0, 0]),
        );
        let mut encoder = p.gpu.device.create_command_encoder(&Default::default());
        p.dispatch(&mut encoder, &self.bufs, self.count);
        let index = p.gpu.queue.submit([encoder.finish()]);
        p.gpu
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| GpuError::Device(e.to_string()))?;
        p.gpu.check()
    }

    /// Copies the results of the last [`Resident::run`] to the host.
    pub fn read<T: GpuReal>(&self, values: &mut [T], tangents: &mut [T]) -> Result<(), GpuError> {
        let p = &self.program;
        let _one_at_a_time = lock(&p.buffers);
        let (m, l, b) = (p.m, p.kernel.lanes, p.precision.bytes());
        GpuProgram::check_len("values", values.len(), self.count * m)?;
        GpuProgram::check_len("tangents", tangents.len(), self.count * m * l)?;
        let (vb, tb) = ((self.count * m * b) as u64, (self.count * m * l * b) as u64);
        let mut encoder = p.gpu.device.create_command_encoder(&Default::default());
        if vb > 0 {
            encoder.copy_buffer_to_buffer(&self.bufs.values, 0, &self.bufs.readback, 0, vb);
        }
        if tb > 0 {
            encoder.copy_buffer_to_buffer(&self.bufs.tangents, 0, &self.bufs.readback, vb, tb);
        }
        p.gpu.queue.submit([encoder.finish()]);
        read_back(&p.gpu, &self.bufs.readback, vb + tb, |bytes| {
            let (vals, tans) = bytes.split_at(vb as usize);
            values.copy_from_slice(bytemuck::cast_slice(vals));
            tangents.copy_from_slice(bytemuck::cast_slice(tans));
        })
    }
}

/// Waits for the GPU, maps the first `len` bytes of `buffer` (a readback
/// buffer) and hands them to `take`.
pub(crate) fn read_back(
    gpu: &Gpu,
    buffer: &wgpu::Buffer,
    len: u64,
    take: impl FnOnce(&[u8]),
) -> Result<(), GpuError> {
    if len == 0 {
        return gpu.check();
    }
    let slice = buffer.slice(..len);
    let done = Arc::new(Mutex::new(None));
    let flag = done.clone();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        if let Ok(mut f) = flag.lock() {
            *f = Some(r);
        }
    });
    gpu.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError::Device(e.to_string()))?;
    gpu.check()?;
    let status = done.lock().ok().and_then(|mut f| f.take());
    match status {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(GpuError::Device(format!("reading results back: {e}"))),
        None => return Err(GpuError::Device("the GPU never finished".into())),
    }
    {
        let view = slice
            .get_mapped_range()
            .map_err(|e| GpuError::Device(e.to_string()))?;
        take(&view);
    }
    buffer.unmap();
    Ok(())
}
