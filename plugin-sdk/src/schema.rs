//! The config table's JSON schema, derived from the config type with `schemars`, so a kind
//! writes its config once (the Rust type) and the host still checks bundles against it.
//!
//! The host understands `type`, `properties`, `required`, `additionalProperties`, `items`
//! and `enum` ([`crate::Info::config_schema`]). [`schema_of`] makes `schemars`' output fit:
//! nested types are inlined instead of referenced through `$defs`, `null` is dropped from
//! the types of optional keys (a TOML table has no null: an absent key is the `None`), and
//! the decorations the host ignores (`$schema`, `title`, `format`, numeric bounds) go, so
//! that `plugin inspect` shows a schema a user can read. A unit enum whose variants carry
//! doc comments comes out of `schemars` as a `oneOf` of documented constants, which the
//! host does not read (any string would pass): it becomes the `enum` the host checks.

use schemars::{JsonSchema, generate::SchemaSettings};
use serde_json::{Map, Value};

/// The JSON schema of `C`, as [`crate::Info::config_schema_of`] publishes it.
///
/// ```
/// use serde::Deserialize;
/// use teamster_plugin_sdk::{JsonSchema, PortSetting};
///
/// #[derive(Deserialize, JsonSchema)]
/// #[serde(deny_unknown_fields)]
/// struct Config {
///     #[serde(default)]
///     port: PortSetting,
///     /// Extra arguments.
///     #[serde(default)]
///     args: Vec<String>,
///     greeting: Option<String>,
/// }
///
/// let schema: serde_json::Value =
///     serde_json::from_str(&teamster_plugin_sdk::schema_of::<Config>()).unwrap();
/// assert_eq!(schema["additionalProperties"], false);
/// assert_eq!(schema["properties"]["port"]["type"], serde_json::json!(["integer", "string"]));
/// assert_eq!(schema["properties"]["args"]["items"]["type"], "string");
/// assert_eq!(schema["properties"]["greeting"]["type"], "string");
/// ```
pub fn schema_of<C: JsonSchema>() -> String {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<C>().to_value();
    tidy(&mut schema);
    schema.to_string()
}

/// Keys of a schema object that the host does not read and that only clutter it.
const DROPPED: &[&str] = &[
    "$schema",
    "title",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "default",
    "$defs",
];

fn tidy(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in DROPPED {
                map.remove(*key);
            }
            drop_null_type(map);
            constants_to_enum(map);
            for child in map.values_mut() {
                tidy(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// `"type": ["string", "null"]` becomes `"type": "string"`.
fn drop_null_type(map: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = map.get_mut("type") else {
        return;
    };
    types.retain(|t| t != "null");
    if let [only] = types.as_slice() {
        let only = only.clone();
        map.insert("type".to_string(), only);
    }
}

/// `"oneOf": [{"const": "a", "description": …}, …]` (every alternative a string constant)
/// becomes `"type": "string", "enum": ["a", …]`.
fn constants_to_enum(map: &mut Map<String, Value>) {
    let Some(Value::Array(alternatives)) = map.get("oneOf") else {
        return;
    };
    let constants: Option<Vec<Value>> = alternatives
        .iter()
        .map(|alt| match alt.get("const") {
            Some(c @ Value::String(_)) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let Some(constants) = constants.filter(|c| !c.is_empty()) else {
        return;
    };
    map.remove("oneOf");
    map.insert("type".to_string(), Value::String("string".to_string()));
    map.insert("enum".to_string(), Value::Array(constants));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documented variants still give the `enum` the host checks.
    #[test]
    fn documented_unit_variants_become_an_enum() {
        #[derive(serde::Deserialize, JsonSchema)]
        #[serde(rename_all = "kebab-case")]
        #[allow(dead_code)]
        enum Mode {
            /// Fast.
            Quick,
            /// Slow.
            TakeYourTime,
        }
        #[derive(serde::Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Config {
            mode: Mode,
        }
        let schema: Value = serde_json::from_str(&schema_of::<Config>()).unwrap();
        let mode = &schema["properties"]["mode"];
        assert_eq!(mode["type"], "string", "{schema}");
        assert_eq!(
            mode["enum"],
            serde_json::json!(["quick", "take-your-time"]),
            "{schema}"
        );
        assert!(mode.get("oneOf").is_none(), "{schema}");
    }
}
