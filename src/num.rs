//! Integers as Redis reads and writes them.
//!
//! One parser serves every integer a client sends (counts and lengths in
//! RESP framing, command arguments) and every stored value INCR reads, so
//! they all agree: an optional `-`, then digits, with no `+`, no leading
//! zeros, no `-0`, no spaces, and within `i64`. Anything else is not an
//! integer, exactly as Redis's `string2ll` decides. Both directions work on
//! bytes directly, without `str` or `fmt`, since every RESP request and
//! reply carries several of them.
//!
//! INCRBYFLOAT's numbers are read and written here too ([`parse_f64`],
//! [`format_f64`]), so the argument and the stored value agree.

/// Parses a canonical base-10 `i64`.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    match digits {
        [] => return None,
        [b'0'] if negative => return None,
        [b'0'] => return Some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    // Accumulate negatively, so that i64::MIN, whose magnitude has no
    // positive i64, parses too.
    let mut n: i64 = 0;
    for &b in digits {
        let digit = match b {
            b'0'..=b'9' => i64::from(b - b'0'),
            _ => return None,
        };
        n = n.checked_mul(10)?.checked_sub(digit)?;
    }
    if negative {
        Some(n)
    } else {
        n.checked_neg()
    }
}

/// Writes `n` in decimal into the end of `buf` and returns the digits, so
/// that replies format numbers without going through `fmt`.
pub fn format_i64(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut magnitude = n.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// Parses a number as INCRBYFLOAT reads one: a decimal float, with an
/// optional sign, fraction and exponent, or `inf`; no spaces, and not
/// `nan`, as Redis's `string2ld` decides.
///
/// Redis reads into a `long double` (80 bits on x86-64) and accepts C's
/// hexadecimal floats too; this reads into an `f64` and does not. See
/// [`format_f64`] for what that changes.
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let n: f64 = std::str::from_utf8(bytes).ok()?.parse().ok()?;
    (!n.is_nan()).then_some(n)
}

/// Most digits after the point Redis writes an INCRBYFLOAT result with
/// (`%.17Lf`).
const FLOAT_DIGITS: usize = 17;

/// Appends `n` (finite) to `out` as INCRBYFLOAT stores it: plain decimal
/// notation, never an exponent, with no trailing zeros after the point and
/// no point for a whole number, `0` for zero of either sign.
///
/// The digits are the shortest that read back as the same `f64`, cut to
/// [`FLOAT_DIGITS`] after the point as Redis's are. Redis prints its
/// `long double` with 17 digits after the point, so where the sum is not
/// exact in binary the two can differ in the last digits (Redis:
/// `10.5 + -5000` then `+ 0.1` gives `-4989.39999999999999991`, this
/// `-4989.4`); on sums of short decimals they agree.
pub fn format_f64(n: f64, out: &mut Vec<u8>) {
    use std::io::Write;
    let start = out.len();
    let _ = write!(out, "{n}");
    let point = out[start..].iter().position(|&b| b == b'.');
    if point.is_some_and(|p| out.len() - start - p - 1 > FLOAT_DIGITS) {
        out.truncate(start);
        let _ = write!(out, "{n:.FLOAT_DIGITS$}");
        while out.last() == Some(&b'0') {
            out.pop();
        }
        if out.last() == Some(&b'.') {
            out.pop();
        }
    }
    if &out[start..] == b"-0" {
        out.truncate(start);
        out.push(b'0');
    }
}

#[cfg(test)]
mod tests {
    use super::{format_f64, format_i64, parse_f64, parse_i64};

    #[test]
    fn floats_read_and_write_as_incrbyfloat_stores_them() {
        let show = |n: f64| {
            let mut out = Vec::new();
            format_f64(n, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(show(10.5), "10.5");
        assert_eq!(show(10.5 + 0.1), "10.6");
        assert_eq!(show(3.0), "3");
        assert_eq!(show(-0.0), "0");
        assert_eq!(show(1e-20), "0");
        assert_eq!(show(5000.0), "5000");
        assert_eq!(show(1e21), "1000000000000000000000");
        assert_eq!(parse_f64(b"5.0e3"), Some(5000.0));
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        for bad in [&b""[..], b"nan", b" 1", b"1 ", b"abc", b"1,5"] {
            assert_eq!(parse_f64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn integers_parse_as_redis_reads_them() {
        assert_eq!(parse_i64(b"42"), Some(42));
        assert_eq!(parse_i64(b"-7"), Some(-7));
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"007",
            b"+1",
            b" 1",
            b"1 ",
            b"1.0",
            b"9223372036854775808",
        ] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn integers_format_as_display_does() {
        for n in [0, 7, -7, 10, 1_234_567, i64::MAX, i64::MIN] {
            let mut buf = [0u8; 20];
            assert_eq!(format_i64(n, &mut buf), n.to_string().as_bytes());
        }
    }
}
