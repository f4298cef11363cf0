//! An ONNX model opened in an ONNX Runtime session.

use std::fmt;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, ArrayViewD};
use ort::session::Session;
use ort::value::{TensorRef, ValueType};

use crate::device::{Device, SessionConfig, providers};
use crate::{Error, OrtRuntime};

/// Name, element type and shape of one model input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name in the graph.
    pub name: String,
    /// Element type as ONNX Runtime names it (`f32`, `i64`, ...), or the value kind for
    /// non-tensors (`sequence`, `map`, `optional`).
    pub element_type: String,
    /// Dimensions; `None` where the dimension is dynamic.
    pub shape: Vec<Option<i64>>,
    /// Names of symbolic dimensions (`batch`), empty where a dimension has none.
    pub dim_names: Vec<String>,
}

impl TensorInfo {
    fn from_outlet(name: &str, ty: &ValueType) -> Self {
        match ty {
            ValueType::Tensor {
                ty,
                shape,
                dimension_symbols,
            } => Self {
                name: name.to_string(),
                element_type: ty.to_string(),
                shape: shape.iter().map(|&d| (d >= 0).then_some(d)).collect(),
                dim_names: dimension_symbols.iter().map(|s| s.to_string()).collect(),
            },
            other => Self {
                name: name.to_string(),
                element_type: match other {
                    ValueType::Sequence(_) => "sequence",
                    ValueType::Map { .. } => "map",
                    _ => "optional",
                }
                .into(),
                shape: Vec::new(),
                dim_names: Vec::new(),
            },
        }
    }
}

impl fmt::Display for TensorInfo {
    /// `clip: f32[batch, 3, 16, 112, 112]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}[", self.name, self.element_type)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match (d, self.dim_names.get(i).filter(|n| !n.is_empty())) {
                (Some(d), _) => write!(f, "{d}")?,
                (None, Some(name)) => f.write_str(name)?,
                (None, None) => f.write_str("?")?,
            }
        }
        f.write_str("]")
    }
}

/// An ONNX model loaded into an ONNX Runtime session.
#[derive(Debug)]
pub struct OnnxModel {
    session: Session,
    path: PathBuf,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    opset: Option<u32>,
    device: Device,
}

impl OnnxModel {
    /// Opens `path` on the CPU with `intra_threads` threads for each operator (0: ONNX Runtime
    /// picks).
    pub fn load(runtime: &OrtRuntime, path: &Path, intra_threads: usize) -> Result<Self, Error> {
        Self::load_with(
            runtime,
            path,
            &SessionConfig {
                device: Device::Cpu,
                intra_threads,
            },
        )
    }

    /// Opens `path` on the device `config` names.
    ///
    /// A GPU device that cannot be used is an error, never a silent CPU fallback (ONNX Runtime's
    /// default): only [`Device::Auto`] falls back, and logs that it did.
    pub fn load_with(
        runtime: &OrtRuntime,
        path: &Path,
        config: &SessionConfig,
    ) -> Result<Self, Error> {
        if !path.is_file() {
            return Err(Error::ModelMissing(path.to_path_buf()));
        }
        match Self::commit(runtime, path, config.device, config.intra_threads) {
            Err(Error::Device {
                device: Device::Auto,
                message,
            }) => {
                tracing::warn!(%message, "No GPU execution provider; running on the CPU.");
                Self::commit(runtime, path, Device::Cpu, config.intra_threads)
            }
            other => other,
        }
    }

    fn commit(
        runtime: &OrtRuntime,
        path: &Path,
        device: Device,
        intra_threads: usize,
    ) -> Result<Self, Error> {
        let mut builder = Session::builder(runtime.environment())?;
        if intra_threads > 0 {
            builder = builder
                .with_intra_threads(intra_threads)
                .map_err(ort::Error::from)?;
        }
        let device_err = |message: String| Error::Device { device, message };
        let providers = providers(device).map_err(device_err)?;
        if !providers.is_empty() {
            builder = builder
                .with_execution_providers(providers)
                .map_err(|e| device_err(e.to_string()))?;
        }
        let session = builder.commit_from_file(path).map_err(|source| {
            // A provider that fails on first use surfaces here, not at registration.
            if device != Device::Cpu && source.to_string().contains("xecution provider") {
                device_err(source.to_string())
            } else {
                Error::ModelLoad {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let inputs = session
            .inputs()
            .iter()
            .map(|o| TensorInfo::from_outlet(o.name(), o.dtype()))
            .collect();
        let outputs = session
            .outputs()
            .iter()
            .map(|o| TensorInfo::from_outlet(o.name(), o.dtype()))
            .collect();
        let opset = session.opset_for_domain("");
        // `auto` that got this far registered its GPU provider (the only one it tries).
        let device = match device {
            Device::Auto => Device::Cuda(0),
            settled => settled,
        };
        tracing::debug!(model = %path.display(), %device, "Model loaded.");
        Ok(Self {
            session,
            path: path.to_path_buf(),
            inputs,
            outputs,
            opset,
            device,
        })
    }

    /// The ONNX Runtime session.
    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    /// The device the session runs on (never `Auto`: the one it settled on).
    pub fn device(&self) -> Device {
        self.device
    }

    /// The model's inputs, in graph order.
    pub fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    /// The model's outputs, in graph order.
    pub fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    /// The default-domain opset the model was built for, when ONNX Runtime reports it.
    pub fn opset(&self) -> Option<u32> {
        self.opset
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs the model on named `f32` inputs and returns every `f32` output, in graph order.
    ///
    /// Shapes are checked against the model first so a wrong clip gives an error that names both
    /// shapes rather than ONNX Runtime's generic message.
    pub fn run_f32(
        &mut self,
        inputs: &[(&str, ArrayViewD<'_, f32>)],
    ) -> Result<Vec<(String, ArrayD<f32>)>, Error> {
        let mut values = Vec::with_capacity(inputs.len());
        for (name, array) in inputs {
            let info = self
                .inputs
                .iter()
                .find(|i| i.name == *name)
                .ok_or_else(|| {
                    self.bad_input(format!(
                        "no input named {name:?}; the model's inputs are {}",
                        self.inputs
                            .iter()
                            .map(|i| i.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            if !shape_matches(&info.shape, array.shape()) {
                return Err(self.bad_input(format!(
                    "input shape {:?} does not fit {info}",
                    array.shape()
                )));
            }
            values.push((name.to_string(), TensorRef::from_array_view(array.view())?));
        }
        let outputs = self.session.run(values)?;
        let mut result = Vec::with_capacity(outputs.len());
        for (name, value) in outputs.iter() {
            result.push((
                name.to_string(),
                value.try_extract_array::<f32>()?.to_owned(),
            ));
        }
        Ok(result)
    }

    fn bad_input(&self, message: String) -> Error {
        let model = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        Error::BadInput { model, message }
    }
}

/// Whether `actual` fits `expected`, where `None` is a dynamic dimension.
fn shape_matches(expected: &[Option<i64>], actual: &[usize]) -> bool {
    expected.len() == actual.len()
        && expected
            .iter()
            .zip(actual)
            .all(|(e, &a)| e.is_none_or(|e| i64::try_from(a) == Ok(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_dims_match_anything_fixed_dims_must_be_equal() {
        let expected = [None, Some(3), Some(16)];
        assert!(shape_matches(&expected, &[7, 3, 16]));
        assert!(!shape_matches(&expected, &[7, 3, 8]));
        assert!(!shape_matches(&expected, &[7, 3]));
    }

    #[test]
    fn tensor_info_display_names_symbolic_dims() {
        let info = TensorInfo {
            name: "clip".into(),
            element_type: "f32".into(),
            shape: vec![None, Some(3), None],
            dim_names: vec!["batch".into(), String::new(), String::new()],
        };
        assert_eq!(info.to_string(), "clip: f32[batch, 3, ?]");
    }
}
