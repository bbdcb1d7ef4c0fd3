//! Short copies of bytes without a call to `memcpy`.
//!
//! The static build's C library, musl, starts every `memcpy` with `rep
//! movs`, whose start-up costs more than copying the few dozen bytes of a
//! typical key, value or reply header: on pipelined GETs it was 13 to 16 %
//! of the static build's CPU (glibc's `memcpy`, 2 %). The compiler calls
//! `memcpy` for any copy whose length it does not know. So a copy of up to
//! [`SHORT`] bytes is done here as two copies of a fixed width that
//! overlap in the middle (the first `W` bytes and the last `W`, for the
//! `W` with `W <= len <= 2W`), which the compiler writes as a few moves;
//! longer copies go to `memcpy`, which is fast for them in both libraries.
//!
//! It serves the hot paths only: the value a GET copies out of the store,
//! the key and value a SET copies in, every reply written to a
//! connection's buffer ([`Appender`]), and, with `--aof`, each record
//! encoded into the log's lane of its stripe ([`append_pieces`]: a
//! record of a short key and value is a little over [`SHORT`] bytes). The key comparison of every lookup
//! ([`equal`]) is done the same way, for the same reason: musl's `memcmp`
//! compares byte by byte.

use std::io;

/// Longest copy done here rather than by `memcpy`.
pub const SHORT: usize = 64;

/// Appends `src` to `out`, as `out.extend_from_slice(src)` does. A short
/// one is copied into room made by `resize`, whose zeroing is a `memset`,
/// short and fast in both libraries: `extend_from_slice` itself reaches
/// `memcpy` even for a length the compiler knows.
#[inline]
pub fn append(out: &mut Vec<u8>, src: &[u8]) {
    if src.len() > SHORT {
        return out.extend_from_slice(src);
    }
    let start = out.len();
    out.resize(start + src.len(), 0);
    copy(&mut out[start..], src);
}

/// Longest copy [`append_pieces`] makes in pieces rather than by
/// `memcpy`: a few pieces of [`SHORT`] bytes still cost less than the
/// start-up of musl's `rep movs`.
pub const PIECES: usize = 4 * SHORT;

/// Appends `src` to `out`, as `out.extend_from_slice(src)` does: with
/// musl, in pieces of [`SHORT`] bytes when it is at most [`PIECES`] long.
/// glibc's `memcpy` is quicker than the pieces at these lengths (server
/// CPU per pipelined SET under `everysec` was 3 to 6 % higher with them),
/// so other builds call it.
#[inline]
pub fn append_pieces(out: &mut Vec<u8>, src: &[u8]) {
    if cfg!(target_env = "musl") {
        append_in_pieces(out, src);
    } else {
        out.extend_from_slice(src);
    }
}

/// [`append_pieces`]'s way on musl, on every build so that it is tested.
#[inline]
fn append_in_pieces(out: &mut Vec<u8>, src: &[u8]) {
    if src.len() > PIECES {
        return out.extend_from_slice(src);
    }
    out.reserve(src.len());
    for piece in src.chunks(SHORT) {
        append(out, piece);
    }
}

/// Copies `src` over the start of `dst`, as
/// `dst[..src.len()].copy_from_slice(src)` does (and panics as it does
/// when `dst` is shorter).
#[inline]
pub fn copy(dst: &mut [u8], src: &[u8]) {
    let dst = &mut dst[..src.len()];
    match src.len() {
        0 => {}
        // The first, middle and last bytes: all of them, for 1 to 3. (A
        // loop here would be turned back into a call to `memcpy`.)
        n @ 1..=3 => {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
        4..=7 => copy_overlapping::<4>(dst, src),
        8..=15 => copy_overlapping::<8>(dst, src),
        16..=31 => copy_overlapping::<16>(dst, src),
        32..=SHORT => copy_overlapping::<32>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

/// Whether `a` and `b` hold the same bytes, as `a == b` says.
#[inline]
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => equal_overlapping::<4>(a, b),
        8..=15 => equal_overlapping::<8>(a, b),
        16..=31 => equal_overlapping::<16>(a, b),
        32..=SHORT => equal_overlapping::<32>(a, b),
        _ => a == b,
    }
}

/// Compares `a` and `b`, `W` to `2W` bytes long each: their first `W`
/// bytes and their last `W`.
#[inline(always)]
fn equal_overlapping<const W: usize>(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    a[..W] == b[..W] && a[n - W..] == b[n - W..]
}

/// Copies `src`, `W` to `2W` bytes long, over `dst` of the same length:
/// its first `W` bytes and its last `W`.
#[inline(always)]
fn copy_overlapping<const W: usize>(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    dst[..W].copy_from_slice(&src[..W]);
    dst[n - W..].copy_from_slice(&src[n - W..]);
}

/// A writer that appends to a byte buffer with [`append`]: what the reply
/// encoders write a connection's replies through.
pub struct Appender<'a>(pub &'a mut Vec<u8>);

impl io::Write for Appender<'_> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        append(self.0, buf);
        Ok(buf.len())
    }

    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        append(self.0, buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Source bytes that differ at every position, so a misplaced byte
    /// shows.
    fn source(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// `append` does what `extend_from_slice` does, for every length up to
    /// `longest` after prefixes of several lengths.
    fn appends_as_extend_from_slice(longest: usize, append: fn(&mut Vec<u8>, &[u8])) {
        for prefix in [0, 1, 5, 13] {
            for len in 0..=longest {
                let src = source(len);
                let mut expected = source(prefix);
                expected.extend_from_slice(&src);
                let mut out = source(prefix);
                append(&mut out, &src);
                assert_eq!(out, expected, "prefix {prefix}, length {len}");
            }
        }
    }

    #[test]
    fn append_matches_extend_from_slice_at_every_length() {
        appends_as_extend_from_slice(3 * SHORT, append);
    }

    #[test]
    fn append_pieces_matches_extend_from_slice_at_every_length() {
        appends_as_extend_from_slice(PIECES + 2 * SHORT, append_in_pieces);
        appends_as_extend_from_slice(PIECES + 2 * SHORT, append_pieces);
    }

    #[test]
    fn copy_matches_copy_from_slice_at_every_length() {
        for len in 0..=3 * SHORT {
            let src = source(len);
            let mut expected = vec![0xAA; len + 9];
            expected[..len].copy_from_slice(&src);
            let mut dst = vec![0xAA; len + 9];
            copy(&mut dst, &src);
            assert_eq!(dst, expected, "length {len}");
        }
    }

    #[test]
    fn equal_matches_slice_equality_at_every_length_and_position() {
        for len in 0..=3 * SHORT {
            let a = source(len);
            assert!(equal(&a, &a.clone()), "length {len}");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x40;
                assert!(!equal(&a, &b), "length {len}, differing at {at}");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!equal(&a, &longer), "lengths {len} and {}", len + 1);
        }
    }

    #[test]
    fn appender_writes_what_it_is_given() {
        use std::io::Write;
        let mut out = b"*1\r\n".to_vec();
        let mut writer = Appender(&mut out);
        writer.write_all(b"$5\r\n").unwrap();
        assert_eq!(writer.write(b"hello").unwrap(), 5);
        writer.write_all(b"\r\n").unwrap();
        writer.flush().unwrap();
        assert_eq!(out, b"*1\r\n$5\r\nhello\r\n");
    }
}
