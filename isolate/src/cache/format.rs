//! The on-disk form of one cache entry (`--cache-dir`, see `cache/disk.rs`):
//! one file per key, named by the key's hash, holding a fixed header, the
//! key, the response's head and its body, all covered by a CRC-32. Pure
//! functions over bytes; the files themselves are written and read by the
//! shard's blocking pool (`disk.rs`) and scanned at start-up (`dir.rs`).
//!
//! Layout (integers little-endian):
//!
//! ```text
//!  0..8   magic "RWCACHE1" (the format's version is its last byte)
//!  8..12  CRC-32 (IEEE) of every byte from offset 12 to the end
//! 12..16  key length          (u32)
//! 16..20  head length         (u32)
//! 20..28  body length         (u64)
//! 28..36  expiry, Unix ms     (u64)
//! 36..38  status              (u16)
//! 38..40  zero
//! 40..    key (UTF-8), head, body
//! head:   u32 n, n x (name, value)        the stored header fields
//!         u32 m, m x (name, u8 0|1, [value]) the request values `Vary` names
//!         (each string a u32 length and its UTF-8 bytes)
//! ```
//!
//! A file is only ever served whole: its length must be exactly what the
//! header says and the checksum must hold, so a write cut short (the
//! process killed mid-write, a torn page after a power cut) or a flipped
//! bit reads as [`FormatError`], never as a response.

use bytes::Bytes;

use super::store::Entry;

/// The first bytes of every entry file.
pub(crate) const MAGIC: [u8; 8] = *b"RWCACHE1";
/// The fixed header's length.
pub(crate) const HEADER_LEN: usize = 40;
/// The longest key a file may declare (a foreign file is refused before
/// anything is allocated for it).
pub(crate) const MAX_KEY: u32 = 1 << 20;
/// The longest head a file may declare.
pub(crate) const MAX_HEAD: u32 = 16 << 20;

/// What is wrong with a file that is not a whole, valid entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum FormatError {
    /// Not an entry file of this format (another program's, or another
    /// version's).
    #[error("not a ringworker cache entry (bad magic)")]
    NotOurs,
    /// Shorter or longer than its header says: a write cut short, or
    /// something appended.
    #[error("length {got} bytes where the header says {expected}")]
    Length {
        /// What the header says.
        expected: u64,
        /// What the file holds.
        got: u64,
    },
    /// Declared lengths out of bounds.
    #[error("declared lengths out of bounds")]
    TooLarge,
    /// The checksum does not hold.
    #[error("checksum mismatch")]
    Checksum,
    /// The head does not parse.
    #[error("malformed head: {0}")]
    Malformed(&'static str),
}

/// An entry file's fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The stored checksum.
    pub(crate) crc: u32,
    /// Key length.
    pub(crate) key_len: u32,
    /// Head length.
    pub(crate) head_len: u32,
    /// Body length.
    pub(crate) body_len: u64,
    /// When the entry goes stale, Unix ms.
    pub(crate) expires_ms: u64,
    /// Status code.
    pub(crate) status: u16,
}

impl Header {
    /// Parses the first [`HEADER_LEN`] bytes of `buf`.
    pub(crate) fn parse(buf: &[u8]) -> Result<Self, FormatError> {
        if buf.len() < HEADER_LEN {
            return Err(FormatError::Length {
                expected: HEADER_LEN as u64,
                got: buf.len() as u64,
            });
        }
        if buf[..8] != MAGIC {
            return Err(FormatError::NotOurs);
        }
        let u32_at = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(buf[i..i + 8].try_into().expect("8 bytes"));
        let h = Self {
            crc: u32_at(8),
            key_len: u32_at(12),
            head_len: u32_at(16),
            body_len: u64_at(20),
            expires_ms: u64_at(28),
            status: u16::from_le_bytes([buf[36], buf[37]]),
        };
        if h.key_len > MAX_KEY || h.head_len > MAX_HEAD || h.body_len > u64::from(u32::MAX) << 8 {
            return Err(FormatError::TooLarge);
        }
        Ok(h)
    }

    /// The whole file's length.
    pub(crate) fn file_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.key_len) + u64::from(self.head_len) + self.body_len
    }
}

/// One string as a u32 length and its bytes.
fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn head_of(entry: &Entry) -> Vec<u8> {
    let mut head = Vec::with_capacity(64);
    head.extend_from_slice(&(entry.headers.len() as u32).to_le_bytes());
    for (k, v) in &entry.headers {
        put_str(&mut head, k);
        put_str(&mut head, v);
    }
    head.extend_from_slice(&(entry.vary.len() as u32).to_le_bytes());
    for (k, v) in &entry.vary {
        put_str(&mut head, k);
        match v {
            Some(v) => {
                head.push(1);
                put_str(&mut head, v);
            }
            None => head.push(0),
        }
    }
    head
}

/// The bytes of `entry`'s file before its body (header, key, head), with
/// the checksum over all of it and the body filled in: write these, then
/// `entry.body`. (The body is not copied.)
pub(crate) fn encode_prefix(key: &str, entry: &Entry, expires_ms: u64) -> Vec<u8> {
    let head = head_of(entry);
    let mut buf = Vec::with_capacity(HEADER_LEN + key.len() + head.len());
    buf.extend_from_slice(&MAGIC);
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
    buf.extend_from_slice(&(head.len() as u32).to_le_bytes());
    buf.extend_from_slice(&(entry.body.len() as u64).to_le_bytes());
    buf.extend_from_slice(&expires_ms.to_le_bytes());
    buf.extend_from_slice(&entry.status.to_le_bytes());
    buf.extend_from_slice(&[0; 2]);
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(&head);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&buf[12..]);
    crc.update(&entry.body);
    buf[8..12].copy_from_slice(&crc.finalize().to_le_bytes());
    buf
}

/// The length of `entry`'s file under `key` (what the disk budget counts).
pub(crate) fn encoded_len(key: &str, entry: &Entry) -> u64 {
    let strings: usize = entry
        .headers
        .iter()
        .map(|(k, v)| 8 + k.len() + v.len())
        .sum::<usize>()
        + entry
            .vary
            .iter()
            .map(|(k, v)| 5 + k.len() + v.as_ref().map_or(0, |v| 4 + v.len()))
            .sum::<usize>();
    (HEADER_LEN + key.len() + 8 + strings) as u64 + entry.body.len() as u64
}

/// A whole entry read back from its file.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    /// The key it was stored under.
    pub(crate) key: String,
    /// When it goes stale, Unix ms.
    pub(crate) expires_ms: u64,
    /// Status code.
    pub(crate) status: u16,
    /// Header fields.
    pub(crate) headers: Vec<(String, String)>,
    /// `Vary` fields and the request's values at `put`.
    pub(crate) vary: Vec<(String, Option<String>)>,
    /// The body (a slice of the file's bytes, no copy).
    pub(crate) body: Bytes,
}

/// Reads strings and counts off the head, refusing any overrun.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.0.len() < n {
            return Err(FormatError::Malformed("runs past its end"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn string(&mut self) -> Result<String, FormatError> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| FormatError::Malformed("not UTF-8"))
    }

    /// A count of items at least `min` bytes each that the rest can hold.
    fn count(&mut self, min: usize) -> Result<usize, FormatError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min) > self.0.len() {
            return Err(FormatError::Malformed("count larger than the head"));
        }
        Ok(n)
    }
}

/// Checks and parses a whole entry file.
pub(crate) fn decode(file: Bytes) -> Result<Decoded, FormatError> {
    let h = Header::parse(&file)?;
    if file.len() as u64 != h.file_len() {
        return Err(FormatError::Length {
            expected: h.file_len(),
            got: file.len() as u64,
        });
    }
    if crc32fast::hash(&file[12..]) != h.crc {
        return Err(FormatError::Checksum);
    }
    let key_end = HEADER_LEN + h.key_len as usize;
    let head_end = key_end + h.head_len as usize;
    let key = std::str::from_utf8(&file[HEADER_LEN..key_end])
        .map_err(|_| FormatError::Malformed("key not UTF-8"))?
        .to_string();
    let mut c = Cursor(&file[key_end..head_end]);
    let n = c.count(8)?;
    let mut headers = Vec::with_capacity(n);
    for _ in 0..n {
        headers.push((c.string()?, c.string()?));
    }
    let m = c.count(5)?;
    let mut vary = Vec::with_capacity(m);
    for _ in 0..m {
        let name = c.string()?;
        let value = match c.take(1)?[0] {
            0 => None,
            1 => Some(c.string()?),
            _ => return Err(FormatError::Malformed("bad Vary flag")),
        };
        vary.push((name, value));
    }
    if !c.0.is_empty() {
        return Err(FormatError::Malformed("bytes left after the head"));
    }
    Ok(Decoded {
        key,
        expires_ms: h.expires_ms,
        status: h.status,
        headers,
        vary,
        body: file.slice(head_end..),
    })
}

/// The 64-bit FNV-1a hash of a key: names its file and (modulo the shard
/// count) its partition. Stable across builds and machines, as file names
/// must be. A collision only makes two keys share a file (the later `put`
/// replaces the earlier entry); the key stored inside is always checked.
pub(crate) fn key_hash(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key.as_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The entry file's name for a key of hash `hash`.
pub(crate) fn file_name(hash: u64) -> String {
    format!("{hash:016x}.entry")
}

/// A temporary file for a write in progress (renamed over the entry's file
/// once complete; any left at start-up are writes cut short).
pub(crate) fn temp_name(hash: u64, generation: u64) -> String {
    format!("{hash:016x}.{generation}.tmp")
}

/// What a name in a partition directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// An entry file, for a key of this hash.
    Entry(u64),
    /// A write cut short.
    Temp,
    /// Not ours.
    Foreign,
}

/// Classifies a file name.
pub(crate) fn kind_of(name: &str) -> FileKind {
    let hex = |s: &str| {
        if s.len() == 16
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            u64::from_str_radix(s, 16).ok()
        } else {
            None
        }
    };
    if let Some(stem) = name.strip_suffix(".entry") {
        if let Some(h) = hex(stem) {
            return FileKind::Entry(h);
        }
    } else if let Some(stem) = name.strip_suffix(".tmp") {
        if let Some((h, generation)) = stem.split_once('.') {
            if hex(h).is_some()
                && !generation.is_empty()
                && generation.bytes().all(|b| b.is_ascii_digit())
            {
                return FileKind::Temp;
            }
        }
    }
    FileKind::Foreign
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn entry() -> Entry {
        Entry {
            status: 203,
            headers: vec![
                ("content-type".into(), "text/plain; charset=utf-8".into()),
                ("x-ünïcode".into(), "välue".into()),
                ("empty".into(), String::new()),
            ],
            body: Bytes::from_static(b"hello, disk"),
            vary: vec![
                ("accept-encoding".into(), Some("gzip".into())),
                ("x-absent".into(), None),
            ],
            expires: Instant::now(),
        }
    }

    fn file(key: &str, e: &Entry, expires_ms: u64) -> Vec<u8> {
        let mut f = encode_prefix(key, e, expires_ms);
        f.extend_from_slice(&e.body);
        f
    }

    #[test]
    fn an_entry_reads_back_as_it_was_written() {
        let e = entry();
        let key = "default\u{0}https://example.com/a?b=c";
        let f = file(key, &e, 1_700_000_000_123);
        assert_eq!(
            f.len() as u64,
            encoded_len(key, &e),
            "the budget counts the file"
        );
        let h = Header::parse(&f).unwrap();
        assert_eq!((h.status, h.expires_ms), (203, 1_700_000_000_123));
        assert_eq!(h.file_len(), f.len() as u64);
        let d = decode(Bytes::from(f)).unwrap();
        assert_eq!(d.key, key);
        assert_eq!(d.status, 203);
        assert_eq!(d.expires_ms, 1_700_000_000_123);
        assert_eq!(d.headers, e.headers);
        assert_eq!(d.vary, e.vary);
        assert_eq!(&d.body[..], b"hello, disk");
        // Nothing at all but the status survives too.
        let bare = Entry {
            status: 204,
            headers: vec![],
            body: Bytes::new(),
            vary: vec![],
            expires: Instant::now(),
        };
        let f = file("k", &bare, 1);
        assert_eq!(f.len() as u64, encoded_len("k", &bare));
        let d = decode(Bytes::from(f)).unwrap();
        assert_eq!((d.status, d.body.len(), d.headers.len()), (204, 0, 0));
    }

    #[test]
    fn a_file_cut_short_or_grown_is_refused_at_every_length() {
        let e = entry();
        let f = file("k", &e, 1);
        for n in 0..f.len() {
            let err = decode(Bytes::copy_from_slice(&f[..n])).unwrap_err();
            assert!(
                matches!(err, FormatError::Length { .. }),
                "{n} bytes: {err:?}"
            );
        }
        let mut longer = f.clone();
        longer.push(0);
        assert!(matches!(
            decode(Bytes::from(longer)),
            Err(FormatError::Length { .. })
        ));
    }

    #[test]
    fn any_flipped_byte_is_caught() {
        let e = entry();
        let f = file("k", &e, 1);
        for i in 0..f.len() {
            let mut bad = f.clone();
            bad[i] ^= 0x20;
            let r = decode(Bytes::from(bad));
            assert!(r.is_err(), "byte {i} flipped and still decoded");
        }
    }

    #[test]
    fn foreign_files_and_absurd_lengths_are_refused_before_allocating() {
        assert_eq!(
            decode(Bytes::from_static(
                b"#!/bin/sh\necho not a cache entry, honest\n"
            ))
            .unwrap_err(),
            FormatError::NotOurs
        );
        let mut f = file("k", &entry(), 1);
        f[12..16].copy_from_slice(&(MAX_KEY + 1).to_le_bytes());
        assert_eq!(Header::parse(&f), Err(FormatError::TooLarge));
        let mut f = file("k", &entry(), 1);
        f[20..28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(Header::parse(&f), Err(FormatError::TooLarge));
    }

    #[test]
    fn a_head_that_lies_about_its_counts_is_malformed_not_a_panic() {
        // A valid checksum over a head whose header count is huge.
        let e = entry();
        let mut f = file("k", &e, 1);
        let head_at = HEADER_LEN + 1;
        f[head_at..head_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let crc = crc32fast::hash(&f[12..]);
        f[8..12].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            decode(Bytes::from(f)),
            Err(FormatError::Malformed(_))
        ));
    }

    #[test]
    fn file_names() {
        let h = key_hash("default\u{0}https://a/");
        assert_eq!(kind_of(&file_name(h)), FileKind::Entry(h));
        assert_eq!(kind_of(&temp_name(h, 7)), FileKind::Temp);
        assert_eq!(kind_of("lock"), FileKind::Foreign);
        assert_eq!(kind_of("README.entry"), FileKind::Foreign);
        assert_eq!(kind_of("00000000000000AB.entry"), FileKind::Foreign);
        assert_eq!(kind_of("00000000000000ab.x.tmp"), FileKind::Foreign);
        assert_eq!(kind_of("00000000000000ab.entry"), FileKind::Entry(0xab));
        // FNV-1a's published test vector: the names must never change.
        assert_eq!(key_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
