//! A small JSON-schema checker for service configs.
//!
//! Plugins publish the schema of their `config` table so that a typo in a bundle file is
//! reported by the host, naming the key, before the plugin runs. Only the part of JSON
//! schema that config tables need is understood: `type`, `properties`, `required`,
//! `additionalProperties`, `items` and `enum`. Anything else in a schema is ignored, which
//! errs on the side of accepting a config (the plugin's own parsing still checks it).

use serde_json::Value;

/// Why a config does not fit its schema. Keys are written as paths: `subcommands.psql`,
/// `command[1]`; the table itself is `config` in messages, and an empty path in
/// [`SchemaError::key`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// A required key is absent.
    #[error("missing required key `{key}`")]
    Missing {
        /// The key's path.
        key: String,
    },
    /// A key the schema does not allow.
    #[error("unknown key `{key}` (known keys: {})", if .known.is_empty() { "none".to_string() } else { .known.join(", ") })]
    Unknown {
        /// The key's path.
        key: String,
        /// The keys allowed at that level.
        known: Vec<String>,
    },
    /// A value of the wrong type.
    #[error("`{}` must be {expected}, not {found}", shown(.key))]
    Type {
        /// The key's path (empty for the table itself).
        key: String,
        /// The allowed types, in words.
        expected: String,
        /// The type found, in words.
        found: &'static str,
    },
    /// A value outside an enumeration.
    #[error("`{}` must be one of {allowed}, not {found}", shown(.key))]
    Enum {
        /// The key's path.
        key: String,
        /// The allowed values, as JSON.
        allowed: String,
        /// The value found, as JSON.
        found: String,
    },
}

impl SchemaError {
    /// The path of the offending key inside the config (empty for the table itself).
    pub fn key(&self) -> &str {
        match self {
            SchemaError::Missing { key }
            | SchemaError::Unknown { key, .. }
            | SchemaError::Type { key, .. }
            | SchemaError::Enum { key, .. } => key,
        }
    }

    /// Whether the key's value is at fault (a wrong type or value) rather than the key (an
    /// unknown or missing one).
    pub fn is_about_value(&self) -> bool {
        matches!(self, SchemaError::Type { .. } | SchemaError::Enum { .. })
    }
}

/// A key path as messages show it: the table itself is `config`.
fn shown(key: &str) -> &str {
    if key.is_empty() { "config" } else { key }
}

/// Checks `value` against `schema`.
pub(crate) fn validate(schema: &Value, value: &Value) -> Result<(), SchemaError> {
    check(schema, value, "")
}

fn check(schema: &Value, value: &Value, path: &str) -> Result<(), SchemaError> {
    let Some(rules) = schema.as_object() else {
        return Ok(());
    };
    let key = || path.to_string();
    if let Some(ty) = rules.get("type") {
        let allowed: Vec<&str> = match ty {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|t| has_type(value, t)) {
            let expected: Vec<&str> = allowed.iter().map(|t| with_article(t)).collect();
            return Err(SchemaError::Type {
                key: key(),
                expected: expected.join(" or "),
                found: type_name(value),
            });
        }
    }
    if let Some(Value::Array(choices)) = rules.get("enum")
        && !choices.contains(value)
    {
        let allowed: Vec<String> = choices.iter().map(Value::to_string).collect();
        return Err(SchemaError::Enum {
            key: key(),
            allowed: allowed.join(", "),
            found: value.to_string(),
        });
    }
    match value {
        Value::Object(map) => {
            let props = rules.get("properties").and_then(Value::as_object);
            if let Some(Value::Array(required)) = rules.get("required") {
                for name in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(name) {
                        return Err(SchemaError::Missing {
                            key: join(path, name),
                        });
                    }
                }
            }
            for (name, item) in map {
                match props.and_then(|p| p.get(name)) {
                    Some(sub) => check(sub, item, &join(path, name))?,
                    None => match rules.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            let known = props
                                .map(|p| p.keys().cloned().collect())
                                .unwrap_or_default();
                            return Err(SchemaError::Unknown {
                                key: join(path, name),
                                known,
                            });
                        }
                        Some(sub @ Value::Object(_)) => check(sub, item, &join(path, name))?,
                        _ => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = rules.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(sub, item, &format!("{path}[{i}]"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        // An unknown type name is the schema's mistake, not the user's.
        _ => true,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

fn with_article(ty: &str) -> &str {
    match ty {
        "object" => "a table",
        "array" => "an array",
        "string" => "a string",
        "boolean" => "a boolean",
        "null" => "null",
        "number" => "a number",
        "integer" => "an integer",
        other => other,
    }
}
