//! Integers as Redis reads and writes them.
//!
//! One parser serves every integer a client sends (counts and lengths in
//! RESP framing, command arguments) and every stored value INCR reads, so
//! they all agree: an optional `-`, then digits, with no `+`, no leading
//! zeros, no `-0`, no spaces, and within `i64`. Anything else is not an
//! integer, exactly as Redis's `string2ll` decides. Both directions work on
//! bytes directly, without `str` or `fmt`, since every RESP request and
//! reply carries several of them.

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

#[cfg(test)]
mod tests {
    use super::{format_i64, parse_i64};

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
