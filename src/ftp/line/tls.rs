//! TLS on the control connection (RFC 4217): after AUTH and its 234 the
//! bytes are records, counted and walked but never read as lines, so a
//! return to cleartext (CCC) is still decoded.

use super::*;

#[derive(Default)]
pub(super) struct TlsWalk {
    pub(super) header: Vec<u8>,
    pub(super) remaining: u64,
    /// Lost record boundaries after a gap: count everything.
    pub(super) lost: bool,
}

/// Whether bytes start like a TLS record (content type 20–24, version
/// 3.x): encrypted data, never an FTP line.
pub fn is_tls_record_header(b: &[u8]) -> bool {
    b.len() >= 3 && (20..=24).contains(&b[0]) && b[1] == 3 && b[2] <= 4
}

/// Whether a "line" is encrypted data the decoder read as text because the
/// capture missed where TLS began: a record header, or, in a session that
/// asked for TLS, control bytes no FTP line carries (UTF-8 names pass).
pub fn encrypted_not_text(b: &[u8], tls_requested: bool) -> bool {
    is_tls_record_header(b)
        || (tls_requested && b.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f))
}

impl Decoder {
    /// Walks TLS records; returns bytes consumed. Leaves TLS mode when the
    /// bytes at a record boundary are not a record header: those bytes are
    /// then not consumed, so the caller reads them again as text.
    pub(super) fn tls(&mut self, c: &Chunk<'_>, start: usize) -> usize {
        let Mode::Tls(w) = &mut self.mode else {
            return 0;
        };
        let data = &c.data[start..];
        if w.lost {
            self.tls_bytes += data.len() as u64;
            self.pos = c.offset + c.data.len() as u64;
            return data.len();
        }
        if w.remaining > 0 {
            let n = (w.remaining as usize).min(data.len());
            w.remaining -= n as u64;
            self.tls_bytes += n as u64;
            self.pos = c.offset + (start + n) as u64;
            return n;
        }
        let earlier = w.header.len();
        let n = (5 - earlier).min(data.len());
        w.header.extend_from_slice(&data[..n]);
        if w.header.len() < 5 {
            self.pos = c.offset + (start + n) as u64;
            return n;
        }
        let h = std::mem::take(&mut w.header);
        let len = u16::from_be_bytes([h[3], h[4]]) as u64;
        if is_tls_record_header(&h) && len <= (1 << 14) + 2048 {
            w.remaining = len;
            self.tls_bytes += 5;
            self.pos = c.offset + (start + n) as u64;
            return n;
        }
        // Cleartext again (after CCC, or TLS never started).
        let offset = c.offset + start as u64 - earlier as u64;
        self.mode = Mode::Text;
        self.out.push(Item::TlsEnd {
            offset,
            frame: c.origin.frame,
        });
        if earlier > 0 {
            // Header bytes from an earlier segment; attribute them to this
            // one (their own frame was not kept).
            let replay = Chunk {
                offset,
                data: &h[..earlier],
                origin: c.origin,
                seg_offset: (c.seg_offset + start as u32).saturating_sub(earlier as u32),
                seg_len: c.seg_len,
            };
            let mut k = 0;
            while k < earlier {
                k += self.text(&replay, k);
            }
        }
        0
    }
}
