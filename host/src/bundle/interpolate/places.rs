//! Which values of a service take references (`env`, `command`, `connection`, the strings
//! of a kind's `config`), and how messages name each one.

use super::*;

/// Which value of a service holds a reference, named the way messages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// The value of an environment variable.
    Env(String),
    /// A word of the command (0 is the program).
    Arg(usize),
    /// A value of the service's `connection` table.
    Connection(String),
    /// A string in the kind's `config` table, by its path (`broker`, `queues[0]`).
    Config(String),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Env(name) => write!(f, "env `{name}`"),
            Field::Arg(index) => write!(f, "`command[{index}]`"),
            Field::Connection(key) => write!(f, "`connection.{key}`"),
            Field::Config(path) => write!(f, "`config.{path}`"),
        }
    }
}

/// The position of a value that may hold references, by index, for locating it in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Value of `env` entry `index`.
    Env(usize),
    /// Word `index` of `command`.
    Arg(usize),
    /// Value of `connection` entry `index`.
    Connection(usize),
    /// String `index` of the kind's `config`, in the order of [`config_strings`].
    Config(usize),
}

impl Place {
    /// The field this place is, named for messages.
    pub(crate) fn field(self, service: &ServiceSpec) -> Field {
        match self {
            Place::Env(i) => Field::Env(service.env[i].0.clone()),
            Place::Arg(i) => Field::Arg(i),
            Place::Connection(i) => Field::Connection(service.connection[i].0.clone()),
            Place::Config(i) => Field::Config(config_path(service, i)),
        }
    }
}

/// Every value of `service` that may hold references, with its place.
pub(crate) fn fields(service: &ServiceSpec) -> impl Iterator<Item = (Place, &str)> {
    let connection = service
        .connection
        .iter()
        .enumerate()
        .map(|(i, (_, v))| (Place::Connection(i), v.as_str()));
    let env = service
        .env
        .iter()
        .enumerate()
        .map(|(i, (_, v))| (Place::Env(i), v.as_str()));
    let args = service
        .command
        .iter()
        .enumerate()
        .map(|(i, v)| (Place::Arg(i), v.as_str()));
    let config = service
        .kind
        .iter()
        .flat_map(|kind| config_strings(&kind.config))
        .enumerate()
        .map(|(i, (_, v))| (Place::Config(i), v));
    connection.chain(env).chain(args).chain(config)
}

/// The path of string `index` of `service`'s config (`broker`, `queues[0]`).
pub(super) fn config_path(service: &ServiceSpec, index: usize) -> String {
    service
        .kind
        .iter()
        .flat_map(|kind| config_strings(&kind.config))
        .nth(index)
        .map(|(path, _)| path)
        .unwrap_or_default()
}

/// The config key the host reads itself before any reference can be filled in.
pub(super) const PORT_KEY: &str = "port";

/// Every string in a kind's `config` that may hold references, with its path, in document
/// order: nested tables and arrays included, the top-level `port` (read by the host when
/// it reserves the port, before the service's needs are ready) left out.
pub(crate) fn config_strings(config: &serde_json::Value) -> Vec<(String, &str)> {
    fn walk<'a>(path: String, value: &'a serde_json::Value, out: &mut Vec<(String, &'a str)>) {
        match value {
            serde_json::Value::String(s) => out.push((path, s.as_str())),
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(format!("{path}[{i}]"), item, out);
                }
            }
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(child, item, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let serde_json::Value::Object(map) = config {
        for (key, item) in map.iter().filter(|(key, _)| *key != PORT_KEY) {
            walk(key.clone(), item, &mut out);
        }
    }
    out
}

/// Replaces every string of `config` that [`config_strings`] lists, in the same order,
/// with what `render` makes of it (given its index).
pub(super) fn render_config_strings<E>(
    config: &mut serde_json::Value,
    mut render: impl FnMut(usize, &str) -> Result<String, E>,
) -> Result<(), E> {
    fn walk<E>(
        value: &mut serde_json::Value,
        index: &mut usize,
        render: &mut dyn FnMut(usize, &str) -> Result<String, E>,
    ) -> Result<(), E> {
        match value {
            serde_json::Value::String(s) => {
                *s = render(*index, s)?;
                *index += 1;
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    walk(item, index, render)?;
                }
            }
            serde_json::Value::Object(map) => {
                for (_, item) in map.iter_mut() {
                    walk(item, index, render)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    let mut index = 0;
    if let serde_json::Value::Object(map) = config {
        for (_, item) in map.iter_mut().filter(|(key, _)| *key != PORT_KEY) {
            walk(item, &mut index, &mut render)?;
        }
    }
    Ok(())
}
