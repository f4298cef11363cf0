//! Where inference runs: ONNX Runtime execution providers.

use std::fmt;
use std::str::FromStr;

/// The execution device of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// ONNX Runtime's CPU provider.
    #[default]
    Cpu,
    /// NVIDIA CUDA, GPU index (cargo feature `cuda`, an onnxruntime-gpu library).
    Cuda(i32),
    /// NVIDIA TensorRT, GPU index (cargo feature `tensorrt`).
    TensorRt(i32),
    /// CUDA when it can be used, else the CPU (and the log says so).
    Auto,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
            Self::TensorRt(i) => write!(f, "tensorrt:{i}"),
            Self::Auto => f.write_str("auto"),
        }
    }
}

impl FromStr for Device {
    type Err = String;

    /// `cpu`, `cuda`, `cuda:N`, `tensorrt`, `tensorrt:N` or `auto`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, index) = match s.split_once(':') {
            Some((n, i)) => {
                let i = i
                    .parse::<i32>()
                    .ok()
                    .filter(|i| *i >= 0)
                    .ok_or_else(|| format!("bad GPU index in {s:?}"))?;
                (n, Some(i))
            }
            None => (s, None),
        };
        match (name, index) {
            ("cpu", None) => Ok(Self::Cpu),
            ("auto", None) => Ok(Self::Auto),
            ("cuda", i) => Ok(Self::Cuda(i.unwrap_or(0))),
            ("tensorrt", i) => Ok(Self::TensorRt(i.unwrap_or(0))),
            _ => Err(format!(
                "unknown device {s:?}: use cpu, cuda, cuda:N, tensorrt, tensorrt:N or auto"
            )),
        }
    }
}

/// How a session is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Execution device.
    pub device: Device,
    /// Threads per operator (0: ONNX Runtime chooses, one per core).
    pub intra_threads: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            intra_threads: 0,
        }
    }
}

/// The execution provider list for `device`, each failing loudly; empty for the CPU.
pub(crate) fn providers(device: Device) -> Result<Vec<ort::ep::ExecutionProviderDispatch>, String> {
    match device {
        Device::Cpu => Ok(Vec::new()),
        Device::Cuda(i) if cfg!(feature = "cuda") => cuda(i),
        Device::Auto if cfg!(feature = "cuda") => cuda(0),
        Device::Cuda(_) | Device::Auto => Err(
            "fightwatch was built without the `cuda` feature: rebuild with `--features cuda` and point \
             --ort-lib at an onnxruntime-gpu library"
                .into(),
        ),
        Device::TensorRt(i) => tensorrt(i),
    }
}

#[cfg(feature = "cuda")]
fn cuda(i: i32) -> Result<Vec<ort::ep::ExecutionProviderDispatch>, String> {
    Ok(vec![
        ort::ep::CUDA::default()
            .with_device_id(i)
            .build()
            .error_on_failure(),
    ])
}

#[cfg(not(feature = "cuda"))]
fn cuda(_: i32) -> Result<Vec<ort::ep::ExecutionProviderDispatch>, String> {
    Err("built without the `cuda` feature".into())
}

#[cfg(feature = "tensorrt")]
fn tensorrt(i: i32) -> Result<Vec<ort::ep::ExecutionProviderDispatch>, String> {
    Ok(vec![
        ort::ep::TensorRT::default()
            .with_device_id(i)
            .build()
            .error_on_failure(),
    ])
}

#[cfg(not(feature = "tensorrt"))]
fn tensorrt(_: i32) -> Result<Vec<ort::ep::ExecutionProviderDispatch>, String> {
    Err("fightwatch was built without the `tensorrt` feature: rebuild with `--features tensorrt` and point \
         --ort-lib at an onnxruntime-gpu library built with TensorRT"
        .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_devices() {
        assert_eq!("cpu".parse(), Ok(Device::Cpu));
        assert_eq!("cuda".parse(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:2".parse(), Ok(Device::Cuda(2)));
        assert_eq!("tensorrt:1".parse(), Ok(Device::TensorRt(1)));
        assert_eq!("auto".parse(), Ok(Device::Auto));
        assert!("gpu".parse::<Device>().is_err());
        assert!("cuda:-1".parse::<Device>().is_err());
        assert!("cpu:0".parse::<Device>().is_err());
        assert_eq!(Device::Cuda(1).to_string(), "cuda:1");
    }
}
