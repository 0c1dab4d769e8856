//! The config-schema subset checker.

use serde_json::json;

use crate::plugin::SchemaError;
use crate::plugin::schema::validate;

#[test]
fn accepts_what_fits() {
    let schema = json!({
        "type": "object", "required": ["a"], "additionalProperties": false,
        "properties": {"a": {"type": "integer"}, "b": {"enum": ["x", "y"]}, "c": {"type": "array", "items": {"type": "string"}}}
    });
    validate(&schema, &json!({"a": 1, "b": "x", "c": ["p", "q"]})).unwrap();
    validate(&json!({}), &json!({"anything": [1, 2]})).unwrap();
}

#[test]
fn names_the_offending_key() {
    let schema = json!({
        "type": "object",
        "properties": {
            "db": {"type": "object", "required": ["port"], "properties": {"port": {"type": "integer"}}, "additionalProperties": false},
            "mode": {"enum": ["fast", "safe"]}
        }
    });
    let cases = [
        json!([]),
        json!({"db": {}}),
        json!({"db": {"port": 1.5}}),
        json!({"db": {"port": 1, "host": "x"}}),
        json!({"mode": "yolo"}),
    ];
    let report: Vec<String> = cases
        .iter()
        .map(|c| validate(&schema, c).unwrap_err().to_string())
        .collect();
    insta::assert_snapshot!("schema_errors", report.join("\n"));
    assert!(
        matches!(validate(&schema, &json!({"db": {}})), Err(SchemaError::Missing { key }) if key == "db.port")
    );
}
