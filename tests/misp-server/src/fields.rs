//! Reading fields of incoming MISP JSON the way PHP does: MISP clients
//! send ids and flags as numbers, numeric strings or booleans, and MISP
//! accepts all of them.

use serde_json::Value;

/// An integer from a number or a numeric string (`12`, `"12"`).
pub fn int(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// A flag from a boolean, `0`/`1`, or `"0"`/`"1"`/`"true"`/`"false"`.
pub fn flag(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" => Some(true),
            "0" | "false" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A string from a string or a number, as PHP would cast it.
pub fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("1".to_owned()),
        Value::Bool(false) => Some(String::new()),
        _ => None,
    }
}

/// PHP's `empty()`: absent, null, false, 0, "", "0" and [] are empty.
pub fn is_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => !b,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => s.is_empty() || s == "0",
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
    }
}

/// The elements of a JSON list, or the value itself as a one-element list.
pub fn list(value: Option<&Value>) -> Vec<Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    }
}

/// Unwraps `{"Event": {...}}`-style envelopes: the inner object when the
/// key is present, else the value itself.
pub fn unwrap<'a>(value: &'a Value, key: &str) -> &'a Value {
    match value.get(key) {
        Some(inner) if inner.is_object() => inner,
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_arrive_as_numbers_or_strings() {
        assert_eq!(int(Some(&json!("12"))), Some(12));
        assert_eq!(int(Some(&json!(12))), Some(12));
        assert_eq!(int(Some(&json!("twelve"))), None);
    }

    #[test]
    fn flags_arrive_in_every_php_spelling() {
        for yes in [json!(true), json!(1), json!("1"), json!("true")] {
            assert_eq!(flag(Some(&yes)), Some(true));
        }
        for no in [json!(false), json!(0), json!("0"), json!("false")] {
            assert_eq!(flag(Some(&no)), Some(false));
        }
    }

    #[test]
    fn php_empty_counts_the_string_zero_as_empty() {
        assert!(is_empty(Some(&json!("0"))));
        assert!(is_empty(Some(&json!([]))));
        assert!(!is_empty(Some(&json!("a"))));
    }
}
