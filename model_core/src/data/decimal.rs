//! Number parsing for CSV cells: exactly `str::parse::<f64>`, only faster on the plain decimals
//! sensors write (`-12.3456`).
//!
//! The fast path is Clinger's: a decimal of at most 15 digits is `m / 10^k` with `m < 2^53` and
//! `k <= 15`, both exact in f64, and IEEE division rounds correctly, so the result is the
//! correctly rounded value `str::parse` returns too. Anything
//! else (exponents, long mantissas, `inf`, `nan`, a leading `.`) goes to `str::parse`, so what is
//! accepted, rejected and produced never differs from it.

/// Digits whose value is always below 2^53, so the integer converts to f64 exactly.
const MAX_DIGITS: usize = 15;

/// 10^0 ..= 10^MAX_DIGITS, all exact in f64.
const POW10: [f64; MAX_DIGITS + 1] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// The cell's number as `str::parse::<f64>` reads it, or `None` where it fails.
pub fn parse_f64(cell: &[u8]) -> Option<f64> {
    match plain_prefix(cell) {
        Some((value, len)) if len == cell.len() => Some(value),
        _ => std::str::from_utf8(cell).ok()?.parse().ok(),
    }
}

/// The plain decimal `[+-]?digits(.digits?)?` at the start of `text` and its length in bytes;
/// `None` when there is none or it has more than [`MAX_DIGITS`] digits. Whatever follows it is
/// the caller's to check (a comma ends a CSV cell; anything else means the cell is not plain).
// Inlined into the CSV loop: measured 10% faster there than a call per cell
// (model_core/benches/parse.rs).
#[inline]
pub fn plain_prefix(text: &[u8]) -> Option<(f64, usize)> {
    let negative = text.first() == Some(&b'-');
    let start = usize::from(negative || text.first() == Some(&b'+'));
    let (mantissa, int_end) = digits(text, start, 0);
    if int_end == start {
        return None; // ".5" and the like are left to str::parse
    }
    let (mantissa, end) =
        if text.get(int_end) == Some(&b'.') { digits(text, int_end + 1, mantissa) } else { (mantissa, int_end) };
    let fraction_digits = end - int_end - usize::from(end > int_end);
    if (int_end - start) + fraction_digits > MAX_DIGITS {
        return None;
    }
    // Below 2^53, so the signed conversion (one instruction, unlike u64's) is exact.
    let magnitude = mantissa as i64 as f64 / POW10[fraction_digits];
    Some((if negative { -magnitude } else { magnitude }, end))
}

/// Accumulates the decimal digits from `text[i..]` onto `mantissa`; returns it and where they end.
/// Wrapping arithmetic: past MAX_DIGITS the value is discarded anyway.
#[inline]
fn digits(text: &[u8], mut i: usize, mut mantissa: u64) -> (u64, usize) {
    while let Some(digit) = text.get(i).map(|b| b.wrapping_sub(b'0')).filter(|d| *d < 10) {
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
        i += 1;
    }
    (mantissa, i)
}

#[cfg(test)]
mod tests {
    use super::{parse_f64, plain_prefix};

    fn std_parse(s: &str) -> Option<f64> {
        s.parse().ok()
    }

    #[test]
    fn agrees_with_str_parse_bit_for_bit() {
        // Separated by '|' so that cells with spaces can be in the list.
        let fixed = "0|-0|+0|1|-1|1.|-1.|.5|-.5|.|-|+||1.5|-12.3456|+7.25|123456789012345|1234567890123456|\
                     12345678901234567890|0.000000000000001|0.1234567890123456789012|99999999999999.9|\
                     9007199254740993|1e5|1E-3|2.5e+10|inf|-Infinity|NaN|1..2|1.2.3|--1|+-1|1-|0x10|1_000| 1|1 |\
                     \u{661}|1,5";
        for s in fixed.split('|') {
            assert_eq!(parse_f64(s.as_bytes()).map(f64::to_bits), std_parse(s).map(f64::to_bits), "{s:?}");
        }
        // Pseudo-random plain decimals of every length the fast path takes, and a few beyond.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let digits = (state % 18 + 1) as usize;
            let text = format!("{:018}", state >> 4);
            let text = &text[text.len() - digits..];
            let dot = (state >> 60) as usize % (digits + 1);
            let sign = ["", "-", "+"][(state >> 58) as usize % 3];
            let s = format!("{sign}{}.{}", &text[..digits - dot], &text[digits - dot..]);
            assert_eq!(parse_f64(s.as_bytes()).map(f64::to_bits), std_parse(&s).map(f64::to_bits), "{s:?}");
            // Inside a record: the number ends at the comma, whatever follows.
            let plain = digits <= 15 && dot < digits; // at most 15 digits, at least one before the dot
            if let Some(expected) = std_parse(&s).filter(|_| plain) {
                let record = format!("{s},-1.25,3,777777777");
                let (value, len) = plain_prefix(record.as_bytes()).unwrap_or_else(|| panic!("{record:?}"));
                assert_eq!((value.to_bits(), len), (expected.to_bits(), s.len()), "{record:?}");
            }
        }
    }

    #[test]
    fn the_cell_ends_where_its_digits_end_whatever_follows() {
        // Every length the fast path takes, every dot position, each followed by bytes that end it.
        for digits in 1..=15 {
            let number: String = "123456789012345".chars().take(digits).collect();
            let with_dot = (1..=digits).map(|dot| format!("{}.{}", &number[..dot], &number[dot..]));
            for cell in with_dot.chain([number.clone()]) {
                let expected: f64 = cell.parse().unwrap_or_else(|_| panic!("{cell:?}"));
                for next in [",", "\n", "\r", " ", "e", "x", "/", ":", "\u{7f}", "\u{e9}"] {
                    let text = format!("{cell}{next}0123456789");
                    let (value, len) = plain_prefix(text.as_bytes()).unwrap_or_else(|| panic!("{text:?}"));
                    assert_eq!((value.to_bits(), len), (expected.to_bits(), cell.len()), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_not_numbers() {
        assert_eq!(parse_f64(b"1\xff"), None);
    }
}
