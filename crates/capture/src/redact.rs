//! Keeping camera credentials out of everything but the source string itself.
//!
//! An IP camera's source often carries its password (`rtsp://admin:PASSWORD@host/…`, or
//! `?password=…` / `?token=…`). Whatever leaves the camera thread (errors, status, log lines)
//! names the source through [`redact_source`], and [`SourceFault`] gives clients a short reason
//! that names no part of the source at all.

use std::fmt;

use crate::CaptureError;

/// What replaces a secret.
pub const REDACTED: &str = "***";

/// Query parameters whose values are secrets (matched case-insensitively, whole name).
const SECRET_PARAMS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "token",
    "access_token",
    "auth",
    "key",
    "api_key",
    "apikey",
    "secret",
    "sig",
    "signature",
];

/// Byte ranges of `source` that are secrets: the password of its userinfo (or a lone user
/// part, which can be a bearer token) and the values of secret query parameters.
fn secret_ranges(source: &str) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let Some(scheme_end) = source.find("://") else {
        return ranges;
    };
    let start = scheme_end + 3;
    let rest = &source[start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    // The last '@' ends the userinfo: a password may itself hold an '@'.
    if let Some(at) = rest[..authority_len].rfind('@') {
        match rest[..at].find(':') {
            Some(colon) => ranges.push(start + colon + 1..start + at),
            None => ranges.push(start..start + at),
        }
    }
    let tail_start = start + authority_len;
    let tail = &source[tail_start..];
    let tail_end = tail_start + tail.find('#').unwrap_or(tail.len());
    if let Some(q) = source[tail_start..tail_end].find('?') {
        let mut at = tail_start + q + 1;
        for pair in source[at..tail_end].split('&') {
            if let Some((name, value)) = pair.split_once('=')
                && is_secret_param(name)
            {
                let value_start = at + name.len() + 1;
                ranges.push(value_start..value_start + value.len());
            }
            at += pair.len() + 1;
        }
    }
    ranges.retain(|r| !r.is_empty());
    ranges
}

/// The source string with its password and secret query values replaced by `***`; anything
/// that is not a URL is returned as it is (a file path, `usb:0`).
///
/// ```
/// use fightwatch_capture::redact_source;
/// assert_eq!(
///     redact_source("rtsp://admin:hunter2@10.0.0.5:554/live?token=abc&ch=1"),
///     "rtsp://admin:***@10.0.0.5:554/live?token=***&ch=1"
/// );
/// ```
pub fn redact_source(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut copied = 0;
    for range in secret_ranges(source) {
        out.push_str(&source[copied..range.start]);
        out.push_str(REDACTED);
        copied = range.end;
    }
    out.push_str(&source[copied..]);
    out
}

fn is_secret_param(name: &str) -> bool {
    SECRET_PARAMS.iter().any(|p| name.eq_ignore_ascii_case(p))
}

/// The secrets a source string holds, raw and percent-decoded, longest first.
fn secrets_of(source: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    for range in secret_ranges(source) {
        let secret = &source[range];
        let decoded = percent_decode(secret);
        if decoded != secret {
            secrets.push(decoded);
        }
        secrets.push(secret.to_string());
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with every secret of `source` replaced by `***`: a last guard for text that came
/// from elsewhere (a library's error message) and may echo the source.
pub fn scrub(text: &str, source: &str) -> String {
    let mut out = text.to_string();
    for secret in secrets_of(source) {
        // One-character secrets would scrub every such letter; they are no secret anyway.
        if secret.len() > 1 {
            out = out.replace(&secret, REDACTED);
        }
    }
    out
}

/// Why a source failed, in words a dashboard may show anyone allowed to see the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultReason {
    /// The host refused the connection.
    ConnectionRefused,
    /// Connecting or reading took too long, or the stream stalled.
    TimedOut,
    /// The camera refused the credentials.
    Unauthorized,
    /// No such file, stream or path.
    NotFound,
    /// The host could not be reached (no route, name not resolved, reset).
    Unreachable,
    /// A live stream ended.
    StreamEnded,
    /// The input holds no video, or video this build cannot decode.
    UnsupportedVideo,
    /// The input is not a readable video (a broken or truncated file or stream).
    InvalidData,
    /// Reading or decoding failed after the source opened.
    ReadFailed,
    /// The source string or its options are not valid.
    InvalidSource,
    /// Anything else.
    Failed,
}

impl FaultReason {
    /// The short text clients see.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectionRefused => "connection refused",
            Self::TimedOut => "timed out",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not found",
            Self::Unreachable => "unreachable",
            Self::StreamEnded => "stream ended",
            Self::UnsupportedVideo => "unsupported video",
            Self::InvalidData => "invalid data",
            Self::ReadFailed => "read failed",
            Self::InvalidSource => "invalid source",
            Self::Failed => "failed",
        }
    }

    /// The reason a library's message describes, `otherwise` when it names none.
    fn from_message(message: &str, otherwise: Self) -> Self {
        let m = message.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
        if has(&["refused"]) {
            Self::ConnectionRefused
        } else if has(&["timed out", "timeout", "stalled", "no data for"]) {
            Self::TimedOut
        } else if has(&["401", "403", "unauthorized", "authorization", "forbidden"]) {
            Self::Unauthorized
        } else if has(&["404", "not found", "no such file", "does not exist"]) {
            Self::NotFound
        } else if has(&["invalid data", "corrupt", "truncated", "end of file"]) {
            Self::InvalidData
        } else if has(&[
            "unreachable",
            "no route",
            "name or service",
            "resolve",
            "reset by peer",
            "broken pipe",
        ]) {
            Self::Unreachable
        } else {
            otherwise
        }
    }
}

impl fmt::Display for FaultReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl CaptureError {
    /// The short reason for this error that any viewer of the camera may see.
    pub fn reason(&self) -> FaultReason {
        match self {
            Self::NotFound(_) | Self::EmptyImageDir(_) => FaultReason::NotFound,
            Self::UnsupportedScheme(_) | Self::InvalidOption(_) => FaultReason::InvalidSource,
            Self::Open { message, .. } => FaultReason::from_message(message, FaultReason::Failed),
            Self::NoVideoStream(_) | Self::Decoder { .. } => FaultReason::UnsupportedVideo,
            Self::Read { message, .. } => {
                FaultReason::from_message(message, FaultReason::ReadFailed)
            }
            Self::Image { .. } => FaultReason::ReadFailed,
        }
    }
}

/// Why a camera's source failed: a short [`FaultReason`] for clients and a detail for logs and
/// operators' command lines, with the source's secrets already redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFault {
    /// What clients see.
    pub reason: FaultReason,
    /// The whole message, secrets redacted.
    pub detail: String,
}

impl SourceFault {
    /// A fault from a capture error of the source `source`, scrubbed of its secrets.
    pub fn new(error: &CaptureError, source: &str) -> Self {
        Self {
            reason: error.reason(),
            detail: scrub(&error.to_string(), source),
        }
    }

    /// A fault with a fixed reason and detail (a live stream that ended, ...).
    pub fn other(reason: FaultReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for SourceFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_secret_parameters_are_redacted() {
        for (source, want) in [
            (
                "rtsp://admin:hunter2@10.0.0.5:554/live",
                "rtsp://admin:***@10.0.0.5:554/live",
            ),
            // '@' and ':' inside the password: the last '@' of the authority ends it.
            ("rtsp://admin:p@ss:w0rd@cam/x", "rtsp://admin:***@cam/x"),
            (
                "https://tok3n@cam.example/mjpeg",
                "https://***@cam.example/mjpeg",
            ),
            (
                "http://cam/video.cgi?user=a&PassWord=s3cret&token=t0k#frag",
                "http://cam/video.cgi?user=a&PassWord=***&token=***#frag",
            ),
            ("http://cam/x?pwd=1&pwd=2", "http://cam/x?pwd=***&pwd=***"),
            (
                "rtsp://cam:554/live?channel=1",
                "rtsp://cam:554/live?channel=1",
            ),
            ("/videos/a:b@c.mp4", "/videos/a:b@c.mp4"),
            ("usb:0", "usb:0"),
            ("rtsp://a:b@", "rtsp://a:***@"),
            ("rtsp://@cam/x", "rtsp://@cam/x"),
            ("", ""),
        ] {
            assert_eq!(redact_source(source), want, "{source}");
        }
    }

    #[test]
    fn scrub_removes_raw_and_decoded_secrets_from_any_text() {
        let source = "rtsp://admin:s%40cret99@cam/live?token=tok42";
        let text = "cannot open rtsp://admin:s%40cret99@cam/live: s@cret99 rejected, tok42";
        let scrubbed = scrub(text, source);
        for secret in ["s%40cret99", "s@cret99", "tok42"] {
            assert!(!scrubbed.contains(secret), "{scrubbed}");
        }
        assert!(scrubbed.contains("admin"), "{scrubbed}");
        assert_eq!(scrub("no secrets here", "/a/file.mp4"), "no secrets here");
    }

    #[test]
    fn ffmpeg_messages_map_to_short_reasons() {
        let open = |message: &str| CaptureError::Open {
            source_name: "rtsp://cam".into(),
            message: message.into(),
        };
        for (message, want) in [
            ("Connection refused", FaultReason::ConnectionRefused),
            ("Connection timed out", FaultReason::TimedOut),
            ("no data for 5s (stalled)", FaultReason::TimedOut),
            (
                "Server returned 401 Unauthorized (authorization failed)",
                FaultReason::Unauthorized,
            ),
            ("Server returned 404 Not Found", FaultReason::NotFound),
            ("No route to host", FaultReason::Unreachable),
            (
                "Invalid data found when processing input",
                FaultReason::InvalidData,
            ),
            ("Operation not permitted", FaultReason::Failed),
        ] {
            assert_eq!(open(message).reason(), want, "{message}");
        }
        assert_eq!(
            CaptureError::NoVideoStream("x".into()).reason().as_str(),
            "unsupported video"
        );
    }
}
