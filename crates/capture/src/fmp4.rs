//! Fragmented MP4 of a camera's own H.264 packets, for live view in a browser (Media Source
//! Extensions): an init segment (`ftyp` + `moov`) once per stream, then one `moof` + `mdat`
//! per frame. Nothing is decoded or encoded: the bytes are the camera's, so a viewer costs a
//! copy, not a JPEG encoder. The boxes are written with `mp4-atom`.

use bytes::Bytes;
use ffmpeg_next as ff;
use mp4_atom::{
    Avc1, Avcc, Dinf, Dref, Encode, Ftyp, Hdlr, Mdhd, Mdia, Mfhd, Minf, Moof, Moov, Mvex, Mvhd,
    Stbl, Stco, Stsd, Tfdt, Tfhd, Tkhd, Traf, Trak, Trex, Trun, TrunEntry, Url, Visual, Vmhd,
};

/// Ticks per second of the fMP4 timeline (the MPEG 90 kHz clock).
pub const TIMESCALE: u32 = 90_000;
/// `trun` sample flags: a sync sample, and one that depends on others.
const SYNC_SAMPLE: u32 = 0x0200_0000;
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;
/// NAL unit types dropped from Annex B streams: access unit delimiters carry nothing for MP4.
const NAL_AUD: u8 = 9;

/// Why a stream cannot be sent as fMP4 (live view falls back to MJPEG).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fmp4Error {
    /// Only H.264 is sent as fMP4 (what every MSE browser plays).
    #[error("the camera's codec ({0}) is not H.264")]
    Codec(String),
    /// The stream's parameter sets (SPS/PPS) are missing or malformed.
    #[error("the H.264 stream has no usable SPS/PPS: {0}")]
    ParameterSets(String),
    /// A box could not be written.
    #[error("writing MP4 boxes: {0}")]
    Box(String),
}

/// The init segment of a stream and what a browser needs to know before taking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSegment {
    /// RFC 6381 codec string, e.g. `avc1.64001f` (for `MediaSource.isTypeSupported`).
    pub codec: String,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// `ftyp` + `moov`.
    pub bytes: Bytes,
}

/// One frame as `moof` + `mdat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Whether the frame is a keyframe (a viewer may start here).
    pub key: bool,
    /// Its decode time on the [`TIMESCALE`] clock.
    pub decode_time: u64,
    /// `moof` + `mdat` (shared by every viewer, never copied per viewer).
    pub bytes: Bytes,
}

/// A frame waiting for the next one, which gives its duration.
struct Sample {
    decode_time: u64,
    composition_offset: i32,
    key: bool,
    data: Vec<u8>,
}

/// Writes a stream's packets as fMP4 fragments.
pub struct Fmp4Writer {
    /// Packets are Annex B (start codes), not length-prefixed as in MP4.
    annex_b: bool,
    sequence: u32,
    pending: Option<Sample>,
    /// Nominal frame duration in ticks, for the last frame of a stream.
    frame_ticks: u32,
}

impl Fmp4Writer {
    /// A writer for an H.264 stream with codec parameters `params` and nominal `fps`, and the
    /// stream's init segment.
    pub fn new(params: &ff::codec::Parameters, fps: f64) -> Result<(Self, InitSegment), Fmp4Error> {
        if params.id() != ff::codec::Id::H264 {
            return Err(Fmp4Error::Codec(
                format!("{:?}", params.id()).to_lowercase(),
            ));
        }
        let (extradata, width, height) = raw_parameters(params);
        let (avcc, annex_b) = avc_config(&extradata)?;
        let init = init_segment(avcc, width, height)?;
        let fps = if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            25.0
        };
        let writer = Self {
            annex_b,
            sequence: 0,
            pending: None,
            frame_ticks: (f64::from(TIMESCALE) / fps).round() as u32,
        };
        Ok((writer, init))
    }

    /// Takes a packet decoded at `dts_s` and shown at `pts_s` (seconds on one timeline); the
    /// fragment of the packet before it, now that its duration is known.
    pub fn push(
        &mut self,
        packet: &[u8],
        key: bool,
        dts_s: f64,
        pts_s: f64,
    ) -> Result<Option<Fragment>, Fmp4Error> {
        let mut decode_time = ticks(dts_s);
        let data = if self.annex_b {
            annex_b_to_length_prefixed(packet)
        } else {
            packet.to_vec()
        };
        if data.is_empty() {
            return Ok(None);
        }
        let mut out = None;
        if let Some(prev) = self.pending.take() {
            // A timeline that goes back (a glitch) would make the browser drop frames.
            decode_time = decode_time.max(prev.decode_time + 1);
            let duration = u32::try_from(decode_time - prev.decode_time).unwrap_or(u32::MAX);
            out = Some(self.fragment(prev, duration)?);
        }
        let composition_offset =
            i32::try_from(ticks(pts_s) as i64 - ticks(dts_s) as i64).unwrap_or(0);
        self.pending = Some(Sample {
            decode_time,
            composition_offset,
            key,
            data,
        });
        Ok(out)
    }

    /// The last frame, with the nominal frame duration (the stream ended).
    pub fn finish(&mut self) -> Result<Option<Fragment>, Fmp4Error> {
        match self.pending.take() {
            Some(s) => self.fragment(s, self.frame_ticks).map(Some),
            None => Ok(None),
        }
    }

    fn fragment(&mut self, sample: Sample, duration: u32) -> Result<Fragment, Fmp4Error> {
        self.sequence = self.sequence.wrapping_add(1);
        let size = u32::try_from(sample.data.len())
            .map_err(|_| Fmp4Error::Box("a frame over 4 GiB".into()))?;
        let mut moof = Moof {
            mfhd: Mfhd {
                sequence_number: self.sequence,
            },
            traf: vec![Traf {
                tfhd: Tfhd {
                    track_id: 1,
                    default_base_is_moof: true,
                    ..Default::default()
                },
                tfdt: Some(Tfdt {
                    base_media_decode_time: sample.decode_time,
                }),
                trun: vec![Trun {
                    data_offset: Some(0),
                    entries: vec![TrunEntry {
                        duration: Some(duration),
                        size: Some(size),
                        flags: Some(if sample.key {
                            SYNC_SAMPLE
                        } else {
                            NON_SYNC_SAMPLE
                        }),
                        cts: Some(sample.composition_offset),
                    }],
                }],
                ..Default::default()
            }],
        };
        // The data starts after the moof and the mdat's 8-byte header; the offset's own size
        // does not change with its value.
        let moof_len = encoded(&moof)?.len();
        if let Some(trun) = moof.traf[0].trun.first_mut() {
            trun.data_offset = i32::try_from(moof_len + 8).ok();
        }
        let mut bytes = Vec::with_capacity(moof_len + 8 + sample.data.len());
        moof.encode(&mut bytes)
            .map_err(|e| Fmp4Error::Box(e.to_string()))?;
        // The mdat by hand: mp4-atom writes a byte vector one byte at a time (a third of the
        // cost, measured by benches/fmp4.rs), and its header is 8 bytes.
        let mdat_len = u32::try_from(sample.data.len() + 8)
            .map_err(|_| Fmp4Error::Box("a frame over 4 GiB".into()))?;
        bytes.extend_from_slice(&mdat_len.to_be_bytes());
        bytes.extend_from_slice(b"mdat");
        bytes.extend_from_slice(&sample.data);
        Ok(Fragment {
            key: sample.key,
            decode_time: sample.decode_time,
            bytes: bytes.into(),
        })
    }
}

fn ticks(seconds: f64) -> u64 {
    (seconds.max(0.0) * f64::from(TIMESCALE)).round() as u64
}

fn encoded(atom: &impl Encode) -> Result<Vec<u8>, Fmp4Error> {
    let mut out = Vec::new();
    atom.encode(&mut out)
        .map_err(|e| Fmp4Error::Box(e.to_string()))?;
    Ok(out)
}

/// The extradata and picture size of `params` (ffmpeg-next has no safe accessor for them).
#[allow(unsafe_code)]
fn raw_parameters(params: &ff::codec::Parameters) -> (Vec<u8>, u32, u32) {
    // SAFETY: `params` owns a valid AVCodecParameters for its lifetime; FFmpeg keeps
    // `extradata` either null or `extradata_size` readable bytes. Only read here, and copied.
    unsafe {
        let p = &*params.as_ptr();
        let extradata = if p.extradata.is_null() || p.extradata_size <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(p.extradata, p.extradata_size as usize).to_vec()
        };
        (
            extradata,
            u32::try_from(p.width).unwrap_or(0),
            u32::try_from(p.height).unwrap_or(0),
        )
    }
}

/// The `avcC` of a stream's extradata, and whether its packets are Annex B: MP4 and MKV carry
/// an `avcC` record already (length-prefixed packets); RTSP and raw streams carry start-coded
/// SPS/PPS (Annex B packets).
fn avc_config(extradata: &[u8]) -> Result<(Avcc, bool), Fmp4Error> {
    use mp4_atom::Atom;
    if extradata.first() == Some(&1) {
        let avcc = Avcc::decode_body(&mut &extradata[..])
            .map_err(|e| Fmp4Error::ParameterSets(e.to_string()))?;
        if avcc.sequence_parameter_sets.is_empty() || avcc.picture_parameter_sets.is_empty() {
            return Err(Fmp4Error::ParameterSets("avcC without SPS or PPS".into()));
        }
        return Ok((avcc, false));
    }
    let nal_type = |n: &&[u8]| n.first().map(|b| b & 0x1f);
    let nals: Vec<&[u8]> = annex_b_units(extradata).collect();
    let sps = nals.iter().find(|n| nal_type(n) == Some(7));
    let pps = nals.iter().find(|n| nal_type(n) == Some(8));
    match (sps, pps) {
        (Some(sps), Some(pps)) => Avcc::new(sps, pps)
            .map(|a| (a, true))
            .map_err(|e| Fmp4Error::ParameterSets(e.to_string())),
        _ => Err(Fmp4Error::ParameterSets(
            "none in the stream's header".into(),
        )),
    }
}

fn init_segment(avcc: Avcc, width: u32, height: u32) -> Result<InitSegment, Fmp4Error> {
    let codec = format!(
        "avc1.{:02x}{:02x}{:02x}",
        avcc.avc_profile_indication, avcc.profile_compatibility, avcc.avc_level_indication
    );
    let (w, h) = (
        u16::try_from(width).unwrap_or(u16::MAX),
        u16::try_from(height).unwrap_or(u16::MAX),
    );
    let ftyp = Ftyp {
        major_brand: b"isom".into(),
        minor_version: 512,
        compatible_brands: vec![
            b"isom".into(),
            b"iso6".into(),
            b"avc1".into(),
            b"mp41".into(),
        ],
    };
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: 2,
            ..Default::default()
        },
        mvex: Some(Mvex {
            trex: vec![Trex {
                track_id: 1,
                default_sample_description_index: 1,
                ..Default::default()
            }],
            ..Default::default()
        }),
        trak: vec![Trak {
            tkhd: Tkhd {
                track_id: 1,
                enabled: true,
                width: w.into(),
                height: h.into(),
                ..Default::default()
            },
            mdia: Mdia {
                mdhd: Mdhd {
                    timescale: TIMESCALE,
                    language: "und".into(),
                    ..Default::default()
                },
                hdlr: Hdlr {
                    handler: b"vide".into(),
                    name: "fightwatch live".into(),
                },
                minf: Minf {
                    vmhd: Some(Vmhd::default()),
                    dinf: Dinf {
                        dref: Dref {
                            urls: vec![Url {
                                location: String::new(),
                            }],
                        },
                    },
                    stbl: Stbl {
                        stsd: Stsd {
                            codecs: vec![
                                Avc1 {
                                    visual: Visual {
                                        data_reference_index: 1,
                                        width: w,
                                        height: h,
                                        horizresolution: 72.into(),
                                        vertresolution: 72.into(),
                                        frame_count: 1,
                                        compressor: "".into(),
                                        depth: 24,
                                    },
                                    avcc,
                                    btrt: None,
                                    colr: None,
                                    pasp: None,
                                    taic: None,
                                    fiel: None,
                                }
                                .into(),
                            ],
                        },
                        stco: Some(Stco::default()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            },
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut bytes = encoded(&ftyp)?;
    bytes.extend(encoded(&moov)?);
    Ok(InitSegment {
        codec,
        width,
        height,
        bytes: bytes.into(),
    })
}

/// The NAL units of Annex B bytes (between `00 00 01` / `00 00 00 01` start codes).
fn annex_b_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&s| {
            // The next unit's start code, and a zero byte before it (4-byte start code).
            let mut e = s - 3;
            while e > 0 && data[e - 1] == 0 {
                e -= 1;
            }
            e
        })
        .chain(std::iter::once(data.len()))
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .filter(|(s, e)| s < e)
        .map(move |(s, e)| &data[s..e])
}

/// Annex B access unit → 4-byte length-prefixed NAL units (what `avcC` with length 4 says).
fn annex_b_to_length_prefixed(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    for nal in annex_b_units(data) {
        if nal.first().map(|b| b & 0x1f) == Some(NAL_AUD) {
            continue;
        }
        let Ok(len) = u32::try_from(nal.len()) else {
            continue;
        };
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_b_units_split_on_both_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5,
        ];
        let units: Vec<&[u8]> = annex_b_units(&data).collect();
        assert_eq!(units, vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4, 5]]);
        let prefixed = annex_b_to_length_prefixed(&[0, 0, 1, 0x09, 0x10, 0, 0, 1, 0x65, 7]);
        assert_eq!(
            prefixed,
            vec![0, 0, 0, 2, 0x65, 7],
            "the delimiter is dropped"
        );
    }

    #[test]
    fn annex_b_parameter_sets_make_an_avcc() {
        let sps = [0x67, 0x64, 0x00, 0x1f, 0xac];
        let pps = [0x68, 0xee, 0x3c, 0x80];
        let mut extradata = vec![0, 0, 0, 1];
        extradata.extend(sps);
        extradata.extend([0, 0, 0, 1]);
        extradata.extend(pps);
        let (avcc, annex_b) = avc_config(&extradata).unwrap();
        assert!(annex_b);
        assert_eq!(avcc.sequence_parameter_sets, vec![sps.to_vec()]);
        assert_eq!(avcc.picture_parameter_sets, vec![pps.to_vec()]);
        let init = init_segment(avcc, 640, 360).unwrap();
        assert_eq!(init.codec, "avc1.64001f");
        assert_eq!(&init.bytes[4..8], b"ftyp");
        assert!(matches!(
            avc_config(&[0, 0, 1, 0x67, 0x64, 0, 0x1f]),
            Err(Fmp4Error::ParameterSets(_))
        ));
    }

    #[test]
    fn hostile_stream_bytes_are_errors_or_dropped_never_panics() {
        // Extradata and packets come from the camera: truncated, garbage or adversarial bytes
        // must not panic (live view then falls back to MJPEG, or the frame is dropped).
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Many zeros and ones: start codes and NAL headers turn up often.
                    [0, 0, 1, 0x67, 0x68, (seed >> 32) as u8][(seed % 6) as usize]
                })
                .collect()
        };
        for n in [0, 1, 2, 3, 4, 5, 7, 16, 64, 300] {
            for _ in 0..50 {
                let bytes = noise(n);
                let _ = avc_config(&bytes);
                let mut avcc = bytes.clone();
                if let Some(b) = avcc.first_mut() {
                    *b = 1; // claims to be an avcC record
                }
                let _ = avc_config(&avcc);
                let out = annex_b_to_length_prefixed(&bytes);
                assert!(out.len() <= bytes.len() + 4 * (bytes.len() / 3 + 1));
            }
        }
        assert!(matches!(avc_config(&[]), Err(Fmp4Error::ParameterSets(_))));
        assert!(matches!(
            avc_config(&[1, 0x64]),
            Err(Fmp4Error::ParameterSets(_))
        ));
    }
}
