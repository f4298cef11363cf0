//! Encoding raw and masked frames for the ring.

use std::sync::atomic::Ordering;

use ffmpeg_next as ff;

use super::{ENCODERS_OPENED, EncodedPacket};
use crate::Picture;

/// libx264 `ultrafast`, one thread, a keyframe every second, no B-frames: the cheapest encoder
/// that a browser plays.
pub(super) struct X264 {
    pub(super) encoder: ff::encoder::video::Encoder,
    pub(super) size: (u32, u32),
    scaler: Option<(ff::format::Pixel, u32, u32, ff::software::scaling::Context)>,
    yuv: ff::frame::Video,
    last_pts: Option<i64>,
}

impl X264 {
    pub(super) fn open(width: u32, height: u32, fps: f64) -> Result<Self, String> {
        let codec = ff::encoder::find_by_name("libx264")
            .ok_or("FFmpeg was built without libx264 (Debian's libavcodec has it)")?;
        let mut encoder = ff::codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|e| e.to_string())?;
        let fps = if fps.is_finite() && fps >= 1.0 {
            fps
        } else {
            15.0
        };
        encoder.set_width(width);
        encoder.set_height(height);
        encoder.set_format(ff::format::Pixel::YUV420P);
        encoder.set_time_base(ff::Rational(1, 1000));
        encoder.set_frame_rate(Some(ff::Rational(fps.round() as i32, 1)));
        encoder.set_gop(fps.round() as u32);
        encoder.set_max_b_frames(0);
        // MP4 wants the SPS/PPS in the stream header, not only in the packets.
        encoder.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        let mut options = ff::Dictionary::new();
        options.set("preset", "ultrafast");
        options.set("tune", "zerolatency");
        options.set("crf", "26");
        options.set("threads", "1");
        let encoder = encoder
            .open_as_with(codec, options)
            .map_err(|e| format!("opening libx264: {e}"))?;
        ENCODERS_OPENED.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            encoder,
            size: (width, height),
            scaler: None,
            yuv: ff::frame::Video::empty(),
            last_pts: None,
        })
    }

    pub(super) fn encode(
        &mut self,
        picture: &Picture,
        t: f64,
        out: &mut Vec<EncodedPacket>,
    ) -> Result<(), String> {
        let rgb_frame;
        let source: &ff::frame::Video = match picture {
            Picture::Video(v) => v,
            Picture::Rgb(image) => {
                rgb_frame = crate::frame::rgb_frame(image);
                &rgb_frame
            }
        };
        let (w, h) = self.size;
        let key = (source.format(), source.width(), source.height());
        if self
            .scaler
            .as_ref()
            .is_none_or(|(f, sw, sh, _)| (*f, *sw, *sh) != key)
        {
            let ctx = ff::software::scaling::Context::get(
                key.0,
                key.1,
                key.2,
                ff::format::Pixel::YUV420P,
                w,
                h,
                ff::software::scaling::Flags::BILINEAR,
            )
            .map_err(|e| e.to_string())?;
            self.scaler = Some((key.0, key.1, key.2, ctx));
        }
        if let Some((_, _, _, scaler)) = self.scaler.as_mut() {
            scaler
                .run(source, &mut self.yuv)
                .map_err(|e| e.to_string())?;
        }
        let mut pts = (t * 1000.0).round() as i64;
        if let Some(last) = self.last_pts
            && pts <= last
        {
            pts = last + 1;
        }
        self.last_pts = Some(pts);
        self.yuv.set_pts(Some(pts));
        self.encoder
            .send_frame(&self.yuv)
            .map_err(|e| e.to_string())?;
        let mut packet = ff::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            let t = packet.pts().unwrap_or(pts) as f64 / 1000.0;
            out.push(EncodedPacket {
                packet: std::mem::replace(&mut packet, ff::Packet::empty()),
                t,
            });
        }
        Ok(())
    }
}
