//! The host buffer a batch's input tensor is built in, off the inference thread's own time.
//!
//! One buffer per model, reused for every batch: on a CUDA session it is **pinned** (page-locked,
//! from ONNX Runtime's `CudaPinned` allocator), so the copy to the device is a DMA transfer
//! instead of a staged copy out of pageable memory; elsewhere it is ordinary heap memory. The
//! clips of a batch are written into their rows by a small pool of threads (one row per clip, each
//! row [`write_clip`]'s output, so the tensor is bit for bit the one a single thread builds):
//! the inference thread only waits for the slowest row and then launches the run.

use std::sync::Arc;

use image::RgbImage;
use ndarray::ArrayViewMut4;
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use rayon::prelude::*;

use crate::config::{InputConfig, Layout};
use crate::preprocess::write_clip;
use crate::{Device, Error};

/// Where the buffer lives.
enum Memory {
    /// Ordinary heap memory (CPU sessions, or pinned memory unavailable).
    Heap(Vec<f32>),
    /// Page-locked memory from the CUDA session's pinned allocator, `rows` clips long.
    Pinned {
        tensor: ort::value::Tensor<f32>,
        rows: usize,
    },
}

/// A reusable, row-per-clip host buffer for a model's input batches.
pub struct BatchBuffer {
    memory: Memory,
    /// The pinned allocator, when the session has one (kept to grow the buffer).
    pinned: Option<Allocator>,
    /// Threads writing rows (shared by a model's buffers); `None`: the calling thread writes
    /// them all.
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl std::fmt::Debug for BatchBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchBuffer")
            .field("pinned", &self.is_pinned())
            .field("threads", &self.threads())
            .finish()
    }
}

impl BatchBuffer {
    /// Heap memory, rows written by `threads` threads (1: the calling thread alone).
    pub fn heap(threads: usize) -> Self {
        let mut buffer = Self {
            memory: Memory::Heap(Vec::new()),
            pinned: None,
            pool: None,
        };
        buffer.set_threads(threads);
        buffer
    }

    /// The buffer for a session on `device`: pinned memory on CUDA (heap memory, with a logged
    /// reason, if the session cannot give it), rows written by `pool`'s threads.
    pub(crate) fn for_session(
        session: &ort::session::Session,
        device: Device,
        pool: Option<Arc<rayon::ThreadPool>>,
    ) -> Self {
        let mut buffer = Self::heap(1);
        if let Device::Cuda(id) = device {
            let pinned = MemoryInfo::new(
                AllocationDevice::CUDA_PINNED,
                id,
                AllocatorType::Device,
                MemoryType::CPUInput,
            )
            .and_then(|info| Allocator::new(session, info));
            match pinned {
                Ok(allocator) => buffer.pinned = Some(allocator),
                Err(e) => {
                    tracing::warn!(%device, error = %e, "No pinned host memory; batches are copied from pageable memory.")
                }
            }
        }
        buffer.pool = pool;
        buffer
    }

    /// Writes rows with `threads` threads (1: the calling thread alone).
    pub fn set_threads(&mut self, threads: usize) {
        self.pool = fill_pool(threads);
    }

    /// Writes rows with `pool`'s threads.
    pub(crate) fn share_pool(&mut self, pool: Option<Arc<rayon::ThreadPool>>) {
        self.pool = pool;
    }

    /// Threads writing rows.
    pub fn threads(&self) -> usize {
        self.pool
            .as_ref()
            .map_or(1, |pool| pool.current_num_threads())
    }

    /// Whether the buffer is page-locked memory.
    pub fn is_pinned(&self) -> bool {
        self.pinned.is_some()
    }

    /// The first `len` values, as the last [`fill`](Self::fill) left them.
    pub(crate) fn filled(&self, len: usize) -> Result<&[f32], Error> {
        let data = match &self.memory {
            Memory::Heap(data) => data.as_slice(),
            Memory::Pinned { tensor, .. } => tensor.try_extract_tensor()?.1,
        };
        data.get(..len)
            .ok_or_else(|| Error::Ort(ort::Error::new("the batch buffer holds fewer clips")))
    }

    /// Writes `clips` into the buffer's first rows and returns them (`clips.len()` rows of
    /// `clip_len` values). Every clip must already be `input.frames` frames of the input size.
    pub fn fill(
        &mut self,
        clips: &[&[Arc<RgbImage>]],
        input: &InputConfig,
    ) -> Result<&mut [f32], Error> {
        let (t, h, w) = (input.frames, input.height as usize, input.width as usize);
        let row_shape = match input.layout {
            Layout::Ncthw => (3, t, h, w),
            Layout::Ntchw => (t, 3, h, w),
        };
        let clip_len = 3 * t * h * w;
        let rows = rows(
            &mut self.memory,
            self.pinned.as_ref(),
            clips.len(),
            clip_len,
        )?;
        let write = |(row, clip): (&mut [f32], &&[Arc<RgbImage>])| {
            if let Ok(out) = ArrayViewMut4::from_shape(row_shape, row) {
                write_clip(clip, input, out);
            }
        };
        match &self.pool {
            Some(pool) if clips.len() > 1 => pool.install(|| {
                rows.par_chunks_exact_mut(clip_len)
                    .zip(clips.par_iter())
                    .for_each(write);
            }),
            _ => rows.chunks_exact_mut(clip_len).zip(clips).for_each(write),
        }
        Ok(rows)
    }
}

/// A pool of `threads` fill threads; `None` for 1 (or if the threads cannot start).
pub(crate) fn fill_pool(threads: usize) -> Option<Arc<rayon::ThreadPool>> {
    if threads <= 1 {
        return None;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("fightwatch-fill-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| {
            tracing::warn!(error = %e, "Cannot start the batch fill threads; filling on the inference thread.");
        })
        .ok()
}

/// The first `n` rows of `clip_len` values of `memory`, grown to hold them if needed (from
/// `pinned` when given).
fn rows<'m>(
    memory: &'m mut Memory,
    pinned: Option<&Allocator>,
    n: usize,
    clip_len: usize,
) -> Result<&'m mut [f32], Error> {
    let len = n * clip_len;
    if let Some(allocator) = pinned {
        let big_enough = matches!(memory, Memory::Pinned { rows, .. } if *rows * clip_len >= len);
        if !big_enough {
            let tensor = ort::value::Tensor::<f32>::new(allocator, [n.max(1), clip_len])?;
            *memory = Memory::Pinned {
                tensor,
                rows: n.max(1),
            };
        }
    }
    match memory {
        Memory::Heap(data) => {
            if data.len() < len {
                data.resize(len, 0.0);
            }
            Ok(&mut data[..len])
        }
        Memory::Pinned { tensor, .. } => {
            let (_, data) = tensor.try_extract_tensor_mut()?;
            data.get_mut(..len)
                .ok_or_else(|| Error::Ort(ort::Error::new("the pinned buffer is too small")))
        }
    }
}
