//! Python's `json.dumps(value, sort_keys=True)`, byte for byte, for the hashes dvc takes of
//! dicts (run-cache keys): `", "` and `": "` separators, keys sorted by code point, non-ASCII
//! escaped as `\uXXXX`, and floats as Python's `repr` writes them (`0.001`, `1e-05`, `1e+16`,
//! `100.0`, `Infinity`).

use crate::yaml::{Node, Value};

/// `json.dumps(node, sort_keys=True)`, leaving out every map key listed in `exclude` at any
/// depth (dvc's `dict_filter`).
pub(crate) fn dumps_sorted(node: &Node, exclude: &[&str]) -> String {
    let mut out = String::new();
    write(&mut out, node, exclude);
    out
}

fn write(out: &mut String, node: &Node, exclude: &[&str]) {
    match &node.value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&float_repr(*f)),
        Value::Str(s) => string(out, s),
        Value::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(out, item, exclude);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let mut kept: Vec<&(String, Node)> =
                entries.iter().filter(|(k, _)| !exclude.contains(&k.as_str())).collect();
            // UTF-8 byte order is code point order, which is how Python sorts str keys.
            kept.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (k, v)) in kept.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                string(out, k);
                out.push_str(": ");
                write(out, v, exclude);
            }
            out.push('}');
        }
    }
}

/// A JSON string with `ensure_ascii=True` escaping.
pub(crate) fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: the shortest digits that read back to the same value, in fixed
/// notation when the decimal exponent is in [-4, 16), else as `d.ddde±XX`.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: "-1.5e-7", "1e16", "0e0".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len() as i32;
    // Position of the decimal point relative to the start of the digits.
    let point = exp + 1;
    let body = if -4 < point && point <= 16 {
        if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point >= n {
            format!("{digits}{}.0", "0".repeat((point - n) as usize))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        }
    } else {
        let rest = if n > 1 { format!(".{}", &digits[1..]) } else { String::new() };
        let e = point - 1;
        format!("{}{rest}e{}{:02}", &digits[..1], if e < 0 { '-' } else { '+' }, e.abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_python_repr_writes_them() {
        // Expected values are Python 3's repr() of the same floats.
        let cases = [
            (0.001, "0.001"),
            (1e-3, "0.001"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (100.0, "100.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e17, "1.2345e+17"),
            (1e100, "1e+100"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (123.456, "123.456"),
            (1.0 / 3.0, "0.3333333333333333"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (5e-324, "5e-324"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(f), want, "{f:e}");
        }
    }

    #[test]
    fn maps_sorted_with_excluded_keys_dropped_at_any_depth() {
        let node = Node::from_json(&serde_json::json!({
            "outs": ["b", "a"],
            "cmd": "echo é",
            "deps": [{"path": "d", "size": 3, "md5": "x", "nfiles": 1}],
        }));
        assert_eq!(
            dumps_sorted(&node, &["size", "nfiles"]),
            r#"{"cmd": "echo \u00e9", "deps": [{"md5": "x", "path": "d"}], "outs": ["b", "a"]}"#
        );
    }
}
