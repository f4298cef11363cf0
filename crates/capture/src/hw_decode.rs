//! Decoding on the GPU: FFmpeg's CUDA hwaccel (NVDEC) for a camera's decoder, when a camera
//! asks for it (`decode = "cuda"` or `"auto"`).
//!
//! ffmpeg-next has no safe wrapper for hardware decoding, so this module talks to libavcodec
//! and libavutil directly, and is the only place in the crate that does. FFmpeg loads the CUDA
//! driver (`libcuda.so.1`) when the device is opened: a machine without one fails there, with
//! FFmpeg's reason. Frames come out in GPU memory (`AV_PIX_FMT_CUDA`) and are downloaded
//! (NV12 for 8-bit streams) before the usual conversion; scaling them on the GPU as well
//! (FFmpeg's `scale_cuda` filter) is not done yet.
#![allow(unsafe_code)]

use std::ptr;

use ff::ffi;
use ffmpeg_next as ff;

/// How a camera's video is decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Decode {
    /// On the CPU (the default).
    #[default]
    Cpu,
    /// On the GPU through CUDA: a camera whose device or codec cannot do it does not open
    /// (the error says why).
    Cuda,
    /// On the GPU when it can, else on the CPU, with the reason logged.
    Auto,
}

impl std::str::FromStr for Decode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            "auto" => Ok(Self::Auto),
            other => Err(format!(
                "decode {other:?}: use \"cpu\", \"cuda\" or \"auto\""
            )),
        }
    }
}

impl std::fmt::Display for Decode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::Auto => "auto",
        })
    }
}

/// Gives a decoder context, before it is opened, a CUDA device and a format callback that
/// picks GPU frames. `Err` says why it cannot (the codec has no CUDA decoder, or no device
/// opened); the context is then unchanged.
pub(crate) fn attach_cuda(
    context: &mut ff::codec::context::Context,
    codec: ff::codec::Id,
) -> Result<(), String> {
    // SAFETY: `avcodec_find_decoder` and `avcodec_get_hw_config` return pointers to FFmpeg's
    // static tables (or null), read only here. `av_hwdevice_ctx_create` writes a new reference
    // to `device` only on success; it is handed to the context (which owns one reference from
    // then on and unrefs it when freed) and our own reference is released. The context is not
    // opened yet, so setting its fields is allowed.
    unsafe {
        let decoder = ffi::avcodec_find_decoder(codec.into());
        if decoder.is_null() {
            return Err(format!("no decoder for {codec:?}"));
        }
        let mut supported = false;
        for i in 0.. {
            let config = ffi::avcodec_get_hw_config(decoder, i);
            if config.is_null() {
                break;
            }
            if (*config).device_type == ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA
                && (*config).methods & (ffi::AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX as i32) != 0
            {
                supported = true;
                break;
            }
        }
        if !supported {
            return Err(format!("FFmpeg has no CUDA decoder for {codec:?}"));
        }
        let mut device: *mut ffi::AVBufferRef = ptr::null_mut();
        let ret = ffi::av_hwdevice_ctx_create(
            &mut device,
            ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA,
            ptr::null(),
            ptr::null_mut(),
            0,
        );
        if ret < 0 {
            // FFmpeg logs the cause (no libcuda.so.1, no GPU) and returns a bare errno.
            return Err(format!(
                "no CUDA device: FFmpeg could not open one ({}); it needs the NVIDIA driver's \
                 libcuda.so.1 and a GPU",
                ff::Error::from(ret)
            ));
        }
        let ctx = context.as_mut_ptr();
        (*ctx).hw_device_ctx = ffi::av_buffer_ref(device);
        ffi::av_buffer_unref(&mut device);
        if (*ctx).hw_device_ctx.is_null() {
            return Err("out of memory".into());
        }
        (*ctx).get_format = Some(prefer_cuda);
    }
    Ok(())
}

/// FFmpeg's format callback: GPU frames when offered, else its first (software) choice.
unsafe extern "C" fn prefer_cuda(
    _ctx: *mut ffi::AVCodecContext,
    formats: *const ffi::AVPixelFormat,
) -> ffi::AVPixelFormat {
    // SAFETY: FFmpeg passes a list ending with AV_PIX_FMT_NONE.
    unsafe {
        let mut p = formats;
        while *p != ffi::AVPixelFormat::AV_PIX_FMT_NONE {
            if *p == ffi::AVPixelFormat::AV_PIX_FMT_CUDA {
                return *p;
            }
            p = p.add(1);
        }
        *formats
    }
}

/// Whether `frame` is in GPU memory.
pub(crate) fn on_gpu(frame: &ff::frame::Video) -> bool {
    // SAFETY: reading the format field of a valid frame.
    unsafe { (*frame.as_ptr()).format == ffi::AVPixelFormat::AV_PIX_FMT_CUDA as i32 }
}

/// A GPU frame copied to system memory, with its timestamps and properties.
pub(crate) fn download(frame: &ff::frame::Video) -> Result<ff::frame::Video, String> {
    let mut copy = ff::frame::Video::empty();
    // SAFETY: both frames are valid; `av_hwframe_transfer_data` allocates the destination's
    // buffers (format chosen by FFmpeg), `av_frame_copy_props` copies pts and metadata.
    unsafe {
        let ret = ffi::av_hwframe_transfer_data(copy.as_mut_ptr(), frame.as_ptr(), 0);
        if ret < 0 {
            return Err(format!(
                "copying a frame from the GPU: {}",
                ff::Error::from(ret)
            ));
        }
        let ret = ffi::av_frame_copy_props(copy.as_mut_ptr(), frame.as_ptr());
        if ret < 0 {
            return Err(format!(
                "copying frame properties: {}",
                ff::Error::from(ret)
            ));
        }
    }
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_and_say_what_they_take() {
        assert_eq!("cpu".parse(), Ok(Decode::Cpu));
        assert_eq!("cuda".parse(), Ok(Decode::Cuda));
        assert_eq!("auto".parse(), Ok(Decode::Auto));
        let err = "gpu".parse::<Decode>().unwrap_err();
        assert!(err.contains("\"cpu\", \"cuda\" or \"auto\""), "{err}");
        assert_eq!(Decode::default(), Decode::Cpu);
        assert_eq!(Decode::Auto.to_string(), "auto");
    }
}
