//! The one ZIP layout an export may have, read byte by byte.
//!
//! A general ZIP reader is lenient in ways a forger can use: duplicate names are merged (a
//! forged `clip.mp4` placed before the real one is what `unzip -n` extracts), and bytes that
//! no central-directory entry points at (a local entry hidden in a gap) are invisible to it but
//! extracted by a streaming reader. So verification does not ask a ZIP library what the file
//! holds: it accepts only what [`crate::Export::finish`] writes, and reads every byte of it:
//!
//! - stored (uncompressed) entries, back to back from offset 0, no data descriptors;
//! - each local header equal to its central-directory entry (name, sizes, CRC, method, flags);
//! - no duplicate names, no gap, no ZIP64, no archive comment;
//! - after the last entry the central directory, then its end record, then nothing.

use std::ops::Range;

use crate::VerifyError;

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const LOCAL_LEN: usize = 30;
const CENTRAL_LEN: usize = 46;
const END_LEN: usize = 22;
/// General-purpose flag bits an export may carry: bit 11 (UTF-8 names) only.
const ALLOWED_FLAGS: u16 = 1 << 11;

/// One entry of a well-formed export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Its name.
    pub(crate) name: String,
    /// Where its bytes are in the file.
    pub(crate) data: Range<usize>,
}

fn bad(why: impl Into<String>) -> VerifyError {
    VerifyError::BadLayout(why.into())
}

/// Little-endian fields at fixed offsets of a slice, failing on a short read.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn u16(&self, offset: usize) -> Result<u16, VerifyError> {
        let i = self.at + offset;
        self.bytes
            .get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or_else(|| bad(format!("truncated at byte {i}")))
    }

    fn u32(&self, offset: usize) -> Result<u32, VerifyError> {
        let i = self.at + offset;
        self.bytes
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| bad(format!("truncated at byte {i}")))
    }

    fn slice(&self, offset: usize, len: usize) -> Result<&'a [u8], VerifyError> {
        let i = self.at + offset;
        self.bytes
            .get(i..i.saturating_add(len))
            .ok_or_else(|| bad(format!("truncated at byte {i}")))
    }
}

/// What a central-directory entry says of its file.
#[derive(Debug, PartialEq, Eq)]
struct Header<'a> {
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u32,
    size: u32,
    name: &'a [u8],
}

/// The entries of `zip`, when it has exactly the exporter's layout; `max_entries` at most.
pub(crate) fn entries(zip: &[u8], max_entries: usize) -> Result<Vec<Entry>, VerifyError> {
    if zip.len() < END_LEN {
        return Err(VerifyError::NotAZip("too short for a ZIP".into()));
    }
    // The end record is the last 22 bytes: an export has no comment.
    let end = Fields {
        bytes: zip,
        at: zip.len() - END_LEN,
    };
    if end.u32(0)? != END {
        return Err(VerifyError::NotAZip(
            "no end of central directory record at the end of the file".into(),
        ));
    }
    let (disk, cd_disk) = (end.u16(4)?, end.u16(6)?);
    let (on_disk, total) = (end.u16(8)? as usize, end.u16(10)? as usize);
    let (cd_size, cd_offset) = (end.u32(12)? as usize, end.u32(16)? as usize);
    if end.u16(20)? != 0 {
        return Err(bad("the archive has a comment"));
    }
    if disk != 0 || cd_disk != 0 || on_disk != total {
        return Err(bad("a multi-disk archive"));
    }
    if total > max_entries {
        return Err(VerifyError::TooLarge(format!(
            "{total} entries (at most {max_entries})"
        )));
    }
    if cd_offset.checked_add(cd_size) != Some(zip.len() - END_LEN) {
        return Err(bad(
            "bytes between the central directory and its end record, or a ZIP64 archive",
        ));
    }
    // The central directory, entry by entry.
    let mut headers = Vec::with_capacity(total);
    let mut at = cd_offset;
    for _ in 0..total {
        let f = Fields { bytes: zip, at };
        if f.u32(0)? != CENTRAL {
            return Err(bad(format!("no central directory entry at byte {at}")));
        }
        let (name_len, extra_len, comment_len) = (
            f.u16(28)? as usize,
            f.u16(30)? as usize,
            f.u16(32)? as usize,
        );
        if comment_len != 0 || f.u16(34)? != 0 {
            return Err(bad("an entry with a comment or on another disk"));
        }
        let header = Header {
            flags: f.u16(8)?,
            method: f.u16(10)?,
            crc: f.u32(16)?,
            compressed: f.u32(20)?,
            size: f.u32(24)?,
            name: f.slice(CENTRAL_LEN, name_len)?,
        };
        let local_offset = f.u32(42)? as usize;
        headers.push((header, local_offset));
        at += CENTRAL_LEN + name_len + extra_len;
    }
    if at != zip.len() - END_LEN {
        return Err(bad(
            "the central directory's size does not match its entries",
        ));
    }
    // The entries themselves: back to back from 0, each local header equal to its entry.
    let mut entries: Vec<Entry> = Vec::with_capacity(total);
    let mut next = 0usize;
    for (header, local_offset) in &headers {
        let name = std::str::from_utf8(header.name)
            .map_err(|_| bad("an entry name that is not UTF-8"))?
            .to_string();
        if *local_offset != next {
            return Err(bad(format!(
                "{}: its local header is at byte {local_offset}, not right after the previous entry (byte {next})",
                printable(&name)
            )));
        }
        let f = Fields {
            bytes: zip,
            at: next,
        };
        if f.u32(0)? != LOCAL {
            return Err(bad(format!("no local header at byte {next}")));
        }
        let (name_len, extra_len) = (f.u16(26)? as usize, f.u16(28)? as usize);
        let local = Header {
            flags: f.u16(6)?,
            method: f.u16(8)?,
            crc: f.u32(14)?,
            compressed: f.u32(18)?,
            size: f.u32(22)?,
            name: f.slice(LOCAL_LEN, name_len)?,
        };
        if local != *header {
            return Err(bad(format!(
                "{}: its local header differs from its central directory entry",
                printable(&name)
            )));
        }
        if header.flags & !ALLOWED_FLAGS != 0 || header.method != 0 {
            return Err(bad(format!(
                "{}: compressed, encrypted or with a data descriptor",
                printable(&name)
            )));
        }
        if header.compressed != header.size {
            return Err(bad(format!("{}: stored sizes differ", printable(&name))));
        }
        if entries.iter().any(|e| e.name == name) {
            return Err(bad(format!("{} appears twice", printable(&name))));
        }
        let start = next + LOCAL_LEN + name_len + extra_len;
        let end = start + header.size as usize;
        if end > cd_offset {
            return Err(bad(format!(
                "{}: runs into the central directory",
                printable(&name)
            )));
        }
        entries.push(Entry {
            name,
            data: start..end,
        });
        next = end;
    }
    if next != cd_offset {
        return Err(bad(format!(
            "{} bytes between the last entry and the central directory",
            cd_offset - next
        )));
    }
    Ok(entries)
}

/// `s` with control characters and other unprintable ones escaped (`\u{1b}`), so text from a
/// file cannot move a terminal's cursor or forge a line of output.
pub fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escape = c.is_control()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            let shown: Vec<char> = if escape {
                c.escape_unicode().collect()
            } else {
                vec![c]
            };
            shown
        })
        .collect()
}
