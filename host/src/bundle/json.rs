//! The JSON front door: a bundle built in code by a client (the Python package, a script)
//! and handed over as JSON, with exactly the TOML file's keys and shapes.
//!
//! Why a translation rather than a second loader: the TOML loader is where every rule and
//! every error message lives, and a second set of serde structs would drift from it. So the
//! JSON document is parsed with byte ranges (jsonc-parser, in strict JSON mode), written out
//! as a TOML document with one line per top-level key and per service key, and that text
//! goes through [`BundleSpec::parse`]. Each generated line remembers where its key was in
//! the JSON text, so an error's `line:column` is moved back onto the JSON the user wrote.
//! Object keys keep their order, which is the order of the services.

use std::path::Path;
use std::sync::Arc;

use jsonc_parser::ast::{Object, ObjectPropName, Value};
use jsonc_parser::common::Ranged;

use super::error::{BundleError, KeyPath, Location};
use super::spec::BundleSpec;
use super::validate::KindCheck;

impl BundleSpec {
    /// Parses and validates `text`, a bundle as JSON, as the contents of `path` (named in
    /// messages; its directory is the base of relative paths).
    pub fn parse_json(text: &str, path: &Path) -> Result<BundleSpec, BundleError> {
        BundleSpec::parse_json_with(text, path, None)
    }

    /// [`BundleSpec::parse_json`], checking `kind` services against `kinds` when given.
    pub(crate) fn parse_json_with(
        text: &str,
        path: &Path,
        kinds: Option<&dyn KindCheck>,
    ) -> Result<BundleSpec, BundleError> {
        let shared = Arc::new(path.to_owned());
        let converted = to_toml(text, &shared)?;
        BundleSpec::parse_with(&converted.toml, path, kinds).map_err(|mut error| {
            if let Some(at) = error.location_mut() {
                *at = converted.locate(at, text, &shared);
            }
            // A syntax error of the TOML rendering (a duplicate key, too deep a nesting) is
            // one of the JSON the user wrote.
            match error {
                BundleError::Syntax { at, reason } => BundleError::JsonSyntax { at, reason },
                other => other,
            }
        })
    }

    /// Parses `text` as JSON when it is a JSON document (its first character is `{`, which
    /// no TOML document starts with), else as TOML.
    pub fn parse_any(text: &str, path: &Path) -> Result<BundleSpec, BundleError> {
        BundleSpec::parse_any_with(text, path, None)
    }

    /// [`BundleSpec::parse_any`], and with `kinds`, also checks every `kind` service (see
    /// [`BundleSpec::load_with_kinds`]).
    pub fn parse_any_with(
        text: &str,
        path: &Path,
        kinds: Option<&dyn KindCheck>,
    ) -> Result<BundleSpec, BundleError> {
        if text.trim_start().starts_with('{') {
            BundleSpec::parse_json_with(text, path, kinds)
        } else {
            BundleSpec::parse_with(text, path, kinds)
        }
    }
}

/// A TOML rendering of a JSON bundle, with the JSON offset of each of its lines.
#[derive(Debug)]
struct Converted {
    toml: String,
    /// `origins[n]` is the byte offset in the JSON text of what line `n + 1` says.
    origins: Vec<usize>,
}

impl Converted {
    fn line(&mut self, line: String, origin: usize) {
        self.toml.push_str(&line);
        self.toml.push('\n');
        self.origins.push(origin);
    }

    /// The JSON position of an error found at `at` in the TOML rendering.
    fn locate(&self, at: &Location, json: &str, path: &Arc<std::path::PathBuf>) -> Location {
        match at {
            Location::At { line, .. } => match self.origins.get((*line as usize).wrapping_sub(1)) {
                Some(&offset) => Location::from_offset(path.clone(), json, offset),
                None => Location::File { path: path.clone() },
            },
            other => other.clone(),
        }
    }
}

fn to_toml(text: &str, path: &Arc<std::path::PathBuf>) -> Result<Converted, BundleError> {
    let options = jsonc_parser::ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    let parsed = jsonc_parser::parse_to_ast(text, &Default::default(), &options).map_err(|e| {
        BundleError::JsonSyntax {
            at: Location::from_offset(path.clone(), text, e.range().start),
            reason: e.kind().to_string().to_lowercase(),
        }
    })?;
    let at = |offset: usize| Location::from_offset(path.clone(), text, offset);
    let root = match parsed.value {
        Some(Value::Object(root)) => root,
        Some(other) => {
            return Err(BundleError::JsonSyntax {
                at: at(other.range().start),
                reason: "a JSON bundle is an object, such as {\"services\": {…}}".to_owned(),
            });
        }
        None => {
            return Err(BundleError::JsonSyntax {
                at: Location::File { path: path.clone() },
                reason: "the document is empty".to_owned(),
            });
        }
    };
    let mut out = Converted {
        toml: String::new(),
        origins: Vec::new(),
    };
    let mut services: Option<&Object<'_>> = None;
    // Plain keys first: in TOML they must come before any table header.
    for prop in &root.properties {
        let name = prop_name(&prop.name);
        if name == "services"
            && let Value::Object(table) = &prop.value
        {
            services = Some(table);
            continue;
        }
        let value = inline(&prop.value, &KeyPath::top(name.as_str()), &at)?;
        out.line(format!("{} = {value}", key(&name)), prop.range.start);
    }
    for prop in services
        .map(|s| s.properties.as_slice())
        .unwrap_or_default()
    {
        let service = prop_name(&prop.name);
        let Value::Object(table) = &prop.value else {
            // Let the TOML loader say what a service must be.
            let value = inline(&prop.value, &KeyPath::service(&service, ""), &at)?;
            out.line(
                format!("services.{} = {value}", key(&service)),
                prop.range.start,
            );
            continue;
        };
        out.line(format!("[services.{}]", key(&service)), prop.range.start);
        for entry in &table.properties {
            let name = prop_name(&entry.name);
            let value = inline(
                &entry.value,
                &KeyPath::service(&service, name.as_str()),
                &at,
            )?;
            out.line(format!("{} = {value}", key(&name)), entry.range.start);
        }
    }
    Ok(out)
}

fn prop_name(name: &ObjectPropName<'_>) -> String {
    match name {
        ObjectPropName::String(s) => s.value.to_string(),
        ObjectPropName::Word(w) => w.value.to_owned(),
    }
}

/// A key as TOML writes it: always quoted, so any text is a valid key.
fn key(name: &str) -> String {
    toml::Value::String(name.to_owned()).to_string()
}

/// A JSON value as an inline TOML value. `null` has no TOML form: it is refused where it
/// stands.
fn inline(
    value: &Value<'_>,
    path: &KeyPath,
    at: &impl Fn(usize) -> Location,
) -> Result<toml::Value, BundleError> {
    Ok(match value {
        Value::StringLit(s) => toml::Value::String(s.value.to_string()),
        Value::BooleanLit(b) => toml::Value::Boolean(b.value),
        Value::NumberLit(n) => match n.value.parse::<i64>() {
            Ok(i) => toml::Value::Integer(i),
            Err(_) => toml::Value::Float(n.value.parse::<f64>().map_err(|_| {
                BundleError::InvalidValue {
                    at: at(n.range.start),
                    key: path.clone(),
                    reason: format!("`{}` is not a number teamster can read", n.value),
                }
            })?),
        },
        Value::Array(a) => toml::Value::Array(
            a.elements
                .iter()
                .map(|e| inline(e, path, at))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut table = toml::Table::new();
            for prop in &o.properties {
                let name = prop_name(&prop.name);
                let inner = KeyPath {
                    service: path.service.clone(),
                    key: if path.key.is_empty() {
                        name.clone()
                    } else {
                        format!("{}.{name}", path.key)
                    },
                };
                table.insert(name, inline(&prop.value, &inner, at)?);
            }
            toml::Value::Table(table)
        }
        Value::NullKeyword(n) => {
            return Err(BundleError::InvalidValue {
                at: at(n.range.start),
                key: path.clone(),
                reason: "`null` is not a value in a bundle; leave the key out instead".to_owned(),
            });
        }
    })
}
