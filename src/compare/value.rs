//! Value helpers the JSON walk needs: number equality, type names and a structural hash.
//!
//! Owns the notion of "equal JSON values" used everywhere in `compare`: object key order
//! never matters (maps are sorted), and numbers compare by value (`1` equals `1.0`). The
//! hash is consistent with that equality and computed iteratively, so a programmatically
//! built value nested 100,000 levels deep cannot overflow the stack.

use std::hash::{DefaultHasher, Hasher};

use serde_json::{Number, Value};

/// JSON type name, for `type_changed` details.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Same JSON type (numbers of any representation are one type).
pub fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Numbers equal by value: integers exactly, otherwise as `f64`.
pub fn numbers_equal(a: &Number, b: &Number) -> bool {
    match (integer(a), integer(b)) {
        (Some(x), Some(y)) => x == y,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

/// The number as an integer when it is one (`2.0` counts), for equality and hashing.
fn integer(n: &Number) -> Option<i128> {
    if let Some(i) = n.as_i64() {
        return Some(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(i128::from(u));
    }
    let f = n.as_f64()?;
    // Exactly representable integers only; 2^63 bounds the cast.
    if f.fract() == 0.0 && f.abs() < 9.2e18 {
        Some(f as i128)
    } else {
        None
    }
}

/// Are two scalars (non-containers) equal? Containers answer `false`.
pub fn scalar_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::String(x), Value::String(y)) => x == y,
        _ => false,
    }
}

/// Structural hash, consistent with [`equal`]. Iterative.
pub fn hash(v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    let mut stack: Vec<&Value> = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Null => h.write_u8(0),
            Value::Bool(b) => h.write_u8(if *b { 2 } else { 1 }),
            Value::Number(n) => match integer(n) {
                Some(i) => {
                    h.write_u8(3);
                    h.write_i128(i);
                }
                None => {
                    h.write_u8(4);
                    h.write_u64(n.as_f64().map(f64::to_bits).unwrap_or(0));
                }
            },
            Value::String(s) => {
                h.write_u8(5);
                h.write_usize(s.len());
                h.write(s.as_bytes());
            }
            Value::Array(items) => {
                h.write_u8(6);
                h.write_usize(items.len());
                stack.extend(items.iter().rev());
            }
            Value::Object(map) => {
                h.write_u8(7);
                h.write_usize(map.len());
                for (k, _) in map.iter() {
                    h.write_usize(k.len());
                    h.write(k.as_bytes());
                }
                stack.extend(map.values().rev());
            }
        }
    }
    h.finish()
}

/// Deep equality (numbers by value), iterative.
pub fn equal(a: &Value, b: &Value) -> bool {
    let mut stack: Vec<(&Value, &Value)> = vec![(a, b)];
    while let Some((a, b)) = stack.pop() {
        match (a, b) {
            (Value::Array(x), Value::Array(y)) => {
                if x.len() != y.len() {
                    return false;
                }
                stack.extend(x.iter().zip(y.iter()));
            }
            (Value::Object(x), Value::Object(y)) => {
                if x.len() != y.len() {
                    return false;
                }
                for ((kx, vx), (ky, vy)) in x.iter().zip(y.iter()) {
                    if kx != ky {
                        return false;
                    }
                    stack.push((vx, vy));
                }
            }
            _ if scalar_equal(a, b) => {}
            _ => return false,
        }
    }
    true
}

/// Take a value apart without recursion (dropping a 100,000-deep value recursively would
/// overflow the stack).
pub fn drop_iteratively(v: Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert!(equal(&json!({"a": 1}), &json!({"a": 1.0})));
        assert_eq!(hash(&json!([1, "x"])), hash(&json!([1.0, "x"])));
        assert!(!equal(&json!(1), &json!(1.5)));
        assert!(!equal(&json!(1), &json!("1")));
        assert!(equal(
            &json!({"b": [1, {"c": null}], "a": true}),
            &json!({"a": true, "b": [1, {"c": null}]})
        ));
    }

    #[test]
    fn hash_distinguishes_structure() {
        assert_ne!(hash(&json!([["a"], "b"])), hash(&json!([["a", "b"]])));
        assert_ne!(hash(&json!({"a": 1})), hash(&json!({"b": 1})));
        assert_ne!(hash(&json!([1, 2])), hash(&json!([2, 1])));
    }

    #[test]
    fn deep_values_are_safe() {
        let mut a = json!(1);
        for _ in 0..50_000 {
            a = Value::Array(vec![a]);
        }
        let h = hash(&a);
        assert!(equal(&a, &a));
        assert_ne!(h, hash(&json!(1)));
        drop_iteratively(a);
    }
}
