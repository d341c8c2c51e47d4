//! Adapter and device selection.

use std::sync::{Arc, Mutex};

use crate::error::GpuError;

/// Environment variable that forces an adapter: a case-insensitive part of its name.
pub const ADAPTER_ENV: &str = "ANYDIFF_WGPU_ADAPTER";
/// Environment variable that, set to `1`, opens the device without shader-f64
/// even where the adapter has it (float32 only, as on adapters without f64).
pub const NO_F64_ENV: &str = "ANYDIFF_WGPU_NO_F64";

/// What an adapter is.
#[derive(Clone, Debug)]
pub struct AdapterInfo {
    /// The driver's name for it (for example "NVIDIA H100 80GB HBM3", "llvmpipe (LLVM 15.0.6, 256 bits)").
    pub name: String,
    /// "DiscreteGpu", "IntegratedGpu", "Cpu", ...
    pub device_type: String,
    /// The driver and its version.
    pub driver: String,
    /// Whether f64 is available in shaders (the adapter offers it and the
    /// device was opened with it).
    pub f64: bool,
}

impl AdapterInfo {
    fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        AdapterInfo {
            name: info.name,
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
            f64: adapter.features().contains(wgpu::Features::SHADER_F64),
        }
    }
}

/// A device and its queue, with the errors wgpu reports collected instead of
/// panicking.
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) limits: wgpu::Limits,
    info: AdapterInfo,
    errors: Arc<Mutex<Vec<String>>>,
    /// wgpu's error scopes are one stack per device: one compilation at a time.
    pub(crate) scopes: Mutex<()>,
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

fn instance() -> wgpu::Instance {
    quiet_wayland_probe();
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::VULKAN;
    wgpu::Instance::new(desc)
}

/// Without a Wayland session (no usable `XDG_RUNTIME_DIR`), the Vulkan drivers' window
/// system code still asks libwayland for a display, which prints
/// "error: XDG_RUNTIME_DIR is invalid or not set" once per probe. Pointing
/// `WAYLAND_DISPLAY` at an absolute path that does not exist makes that probe fail
/// quietly; it is set once, only when no session could be reached anyway.
fn quiet_wayland_probe() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let runtime_dir_ok = std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| std::path::Path::new(&d).is_absolute() && std::path::Path::new(&d).is_dir())
            .unwrap_or(false);
        if !runtime_dir_ok && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            std::env::set_var("WAYLAND_DISPLAY", "/nonexistent/anydiff-no-wayland-session");
        }
    });
}

/// Every Vulkan adapter wgpu sees.
pub fn adapters() -> Vec<AdapterInfo> {
    pollster::block_on(instance().enumerate_adapters(wgpu::Backends::VULKAN))
        .iter()
        .map(AdapterInfo::of)
        .collect()
}

impl Gpu {
    /// The adapter named by `ANYDIFF_WGPU_ADAPTER` if set, else the best one
    /// (discrete before integrated before software); without f64 if
    /// `ANYDIFF_WGPU_NO_F64=1`.
    pub fn new() -> Result<Gpu, GpuError> {
        let wanted = std::env::var(ADAPTER_ENV).ok().filter(|s| !s.is_empty());
        let no_f64 = std::env::var(NO_F64_ENV).is_ok_and(|v| v == "1");
        Gpu::open(wanted.as_deref(), !no_f64)
    }

    /// The first adapter whose name contains `name` (any case), or the best one.
    pub fn with_adapter(name: Option<&str>) -> Result<Gpu, GpuError> {
        Gpu::open(name, true)
    }

    /// As [`Gpu::with_adapter`]; `allow_f64: false` opens the device without
    /// shader-f64 whatever the adapter offers, so float64 kernels are refused
    /// ([`GpuError::NoF64`]) as on an adapter without it.
    pub fn open(name: Option<&str>, allow_f64: bool) -> Result<Gpu, GpuError> {
        let mut found = pollster::block_on(instance().enumerate_adapters(wgpu::Backends::VULKAN));
        if found.is_empty() {
            return Err(GpuError::NoAdapter(
                "wgpu found no Vulkan adapter (on Linux without a GPU, install Mesa's \
                 lavapipe: apt-get install mesa-vulkan-drivers)"
                    .into(),
            ));
        }
        found.sort_by_key(|a| rank(a.get_info().device_type));
        let adapter = match name {
            None => found.swap_remove(0),
            Some(want) => {
                let lower = want.to_lowercase();
                let names: Vec<String> = found.iter().map(|a| a.get_info().name).collect();
                let at = names.iter().position(|n| n.to_lowercase().contains(&lower));
                match at {
                    Some(i) => found.swap_remove(i),
                    None => {
                        return Err(GpuError::NoAdapter(format!(
                            "none named like {want:?} ({ADAPTER_ENV}); found {names:?}"
                        )))
                    }
                }
            }
        };
        let mut info = AdapterInfo::of(&adapter);
        info.f64 &= allow_f64;
        let features = if info.f64 {
            wgpu::Features::SHADER_F64
        } else {
            wgpu::Features::empty()
        };
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("anydiff"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device(format!("{}: {e}", info.name)))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        Ok(Gpu {
            device,
            queue,
            limits,
            info,
            errors,
            scopes: Mutex::new(()),
        })
    }

    /// The adapter in use.
    pub fn info(&self) -> &AdapterInfo {
        &self.info
    }

    /// Largest storage buffer binding, in bytes.
    pub fn max_binding(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// Errors wgpu reported since the last check, as one `GpuError`.
    pub(crate) fn check(&self) -> Result<(), GpuError> {
        let mut errors = match self.errors.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if errors.is_empty() {
            return Ok(());
        }
        let all = errors.join("; ");
        errors.clear();
        Err(GpuError::Device(all))
    }
}
