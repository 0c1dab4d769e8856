//! The bundle file exactly as written, before any meaning is given to it.
//!
//! These structs mirror the TOML one to one. Every table denies unknown keys, so a typo is
//! an error rather than a silently ignored setting. Values that need checking later keep
//! their byte span (`toml::Spanned`), which is how semantic errors (an unknown `needs`
//! entry, a bad duration) point at the right line and column. Several keys accept more
//! than one shape (`command` as a string or an array, `ready` as a table or an array of
//! tables); each has a small visitor that says in its `expecting` text what it accepts,
//! which ends up in the error message, instead of the opaque message of an untagged enum.
//! Tables whose key order matters (`services`, `env`, a `ready` table) are read into
//! vectors so that declaration order survives.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BundleFile {
    pub project_dir: Option<PathBuf>,
    pub startup_timeout: Option<Spanned<DurationValue>>,
    pub shutdown_timeout: Option<Spanned<DurationValue>>,
    pub run_dir: Option<PathBuf>,
    pub keep_runs: Option<Spanned<i64>>,
    pub clock: Option<ClockValue>,
    #[serde(default)]
    pub services: Ordered<ServiceFile>,
}

/// `clock = "preload" | "libfaketime"`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClockValue {
    Preload,
    Libfaketime,
}

/// One `[services.<name>]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceFile {
    pub command: Option<Spanned<CommandValue>>,
    pub directory: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub env: Ordered<EnvValue>,
    pub inherit_env: Option<bool>,
    #[serde(default)]
    pub needs: Vec<Spanned<String>>,
    pub stop_signal: Option<Spanned<SignalValue>>,
    pub user: Option<Spanned<String>>,
    pub faketime: Option<bool>,
    pub shutdown_timeout: Option<Spanned<DurationValue>>,
    pub kind: Option<Spanned<String>>,
    pub config: Option<Spanned<toml::Table>>,
    pub grants: Option<Spanned<Vec<Spanned<String>>>>,
    pub connection: Option<Spanned<Ordered<EnvValue>>>,
    pub ready: Option<Spanned<ReadyValue>>,
    pub client_hooks: Option<Vec<Spanned<String>>>,
}

/// A table read in declaration order, keys with their spans.
#[derive(Debug)]
pub(crate) struct Ordered<T>(pub Vec<(Spanned<String>, Spanned<T>)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedVisitor<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}

/// `command = ["prog", "arg"]` or `command = "prog arg"`. Words keep their spans so that
/// an error about a `${…}` reference in one of them can point inside it.
#[derive(Debug)]
pub(crate) enum CommandValue {
    Shell(String),
    Argv(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for CommandValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandVisitor;
        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = CommandValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a command as an array of strings (["prog", "arg"]) or a string ("prog arg")"#)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(CommandValue::Shell(text.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut argv = Vec::new();
                while let Some(word) = seq.next_element::<Spanned<String>>()? {
                    argv.push(word);
                }
                Ok(CommandValue::Argv(argv))
            }
        }
        deserializer.deserialize_any(CommandVisitor)
    }
}

/// A duration: `"1m30s"`, or a number of seconds.
#[derive(Debug)]
pub(crate) enum DurationValue {
    Text(String),
    Seconds(i64),
    FractionalSeconds(f64),
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = DurationValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    r#"a duration such as "15s", "250ms" or "1m30s", or a number of seconds"#,
                )
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(DurationValue::Text(text.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Self::Value, E> {
                Ok(DurationValue::Seconds(secs))
            }
            fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Self::Value, E> {
                i64::try_from(secs)
                    .map(DurationValue::Seconds)
                    .map_err(|_| E::custom("the duration is too large"))
            }
            fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Self::Value, E> {
                Ok(DurationValue::FractionalSeconds(secs))
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// `stop_signal = "SIGINT"` (or `"INT"`, `"int"`) or a number.
#[derive(Debug)]
pub(crate) enum SignalValue {
    Name(String),
    Number(i64),
}

impl<'de> Deserialize<'de> for SignalValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SignalVisitor;
        impl Visitor<'_> for SignalVisitor {
            type Value = SignalValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a signal name such as "SIGINT" or "INT", or a signal number"#)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(SignalValue::Name(text.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
                Ok(SignalValue::Number(number))
            }
            fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
                Ok(SignalValue::Number(
                    i64::try_from(number).unwrap_or(i64::MAX),
                ))
            }
        }
        deserializer.deserialize_any(SignalVisitor)
    }
}

/// An environment (or `connection`) value: strings as they are, numbers and booleans as TOML writes them,
/// because `PORT = 8000` is what people type.
#[derive(Debug)]
pub(crate) struct EnvValue(pub String);

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EnvVisitor;
        impl Visitor<'_> for EnvVisitor {
            type Value = EnvValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(EnvValue(text.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                Ok(EnvValue(n.to_string()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Ok(EnvValue(n.to_string()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
                Ok(EnvValue(n.to_string()))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
                Ok(EnvValue(b.to_string()))
            }
        }
        deserializer.deserialize_any(EnvVisitor)
    }
}

/// `ready = { … }` or `ready = [{ … }, …]`.
#[derive(Debug)]
pub(crate) enum ReadyValue {
    One(ReadyTable),
    Many(Vec<Spanned<ReadyTable>>),
}

impl<'de> Deserialize<'de> for ReadyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ReadyVisitor;
        impl<'de> Visitor<'de> for ReadyVisitor {
            type Value = ReadyValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a readiness table such as { tcp = 8000 }, or an array of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ReadyTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ReadyValue::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut tables = Vec::new();
                while let Some(table) = seq.next_element()? {
                    tables.push(table);
                }
                Ok(ReadyValue::Many(tables))
            }
        }
        deserializer.deserialize_any(ReadyVisitor)
    }
}

/// The keys of a readiness table. A field identifier, so that an unknown key is reported
/// at the key itself with the list of allowed keys.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum ReadyKey {
    Log,
    Tcp,
    Http,
    Socket,
    File,
    Command,
    Plugin,
    Client,
}

/// One readiness table; each key is one condition, in the order written.
#[derive(Debug)]
pub(crate) struct ReadyTable(pub Vec<Spanned<ReadyEntry>>);

/// One condition of a readiness table.
#[derive(Debug)]
pub(crate) enum ReadyEntry {
    Log(LogValue),
    Tcp(TcpValue),
    Http(HttpValue),
    Socket(PathBuf),
    File(PathBuf),
    Command(CommandValue),
    Plugin(bool),
    Client(bool),
}

impl<'de> Deserialize<'de> for ReadyTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TableVisitor;
        impl<'de> Visitor<'de> for TableVisitor {
            type Value = ReadyTable;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a readiness table such as { tcp = 8000 }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                fn entry<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
                    map: &mut A,
                    wrap: fn(T) -> ReadyEntry,
                ) -> Result<Spanned<ReadyEntry>, A::Error> {
                    let value: Spanned<T> = map.next_value()?;
                    let span = value.span();
                    Ok(Spanned::new(span, wrap(value.into_inner())))
                }
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<ReadyKey>()? {
                    entries.push(match key {
                        ReadyKey::Log => entry(&mut map, ReadyEntry::Log)?,
                        ReadyKey::Tcp => entry(&mut map, ReadyEntry::Tcp)?,
                        ReadyKey::Http => entry(&mut map, ReadyEntry::Http)?,
                        ReadyKey::Socket => entry(&mut map, ReadyEntry::Socket)?,
                        ReadyKey::File => entry(&mut map, ReadyEntry::File)?,
                        ReadyKey::Command => entry(&mut map, ReadyEntry::Command)?,
                        ReadyKey::Plugin => entry(&mut map, ReadyEntry::Plugin)?,
                        ReadyKey::Client => entry(&mut map, ReadyEntry::Client)?,
                    });
                }
                Ok(ReadyTable(entries))
            }
        }
        deserializer.deserialize_map(TableVisitor)
    }
}

/// `log = "text"` or `log = { contains | regex, stream, nth }`.
#[derive(Debug)]
pub(crate) enum LogValue {
    Contains(String),
    Table(LogTable),
}

/// The table form of a `log` condition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogTable {
    pub contains: Option<String>,
    pub regex: Option<Spanned<String>>,
    pub stream: Option<StreamValue>,
    pub nth: Option<Spanned<i64>>,
}

/// `stream = "stdout" | "stderr" | "any"`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StreamValue {
    Stdout,
    Stderr,
    Any,
}

impl<'de> Deserialize<'de> for LogValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LogVisitor;
        impl<'de> Visitor<'de> for LogVisitor {
            type Value = LogValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a text to find in a line, or a table such as { regex = "ready", stream = "stderr" }"#)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(LogValue::Contains(text.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                LogTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(LogValue::Table)
            }
        }
        deserializer.deserialize_any(LogVisitor)
    }
}

/// `tcp = 8000` or `tcp = "host:port"`.
#[derive(Debug)]
pub(crate) enum TcpValue {
    Port(i64),
    Address(String),
}

impl<'de> Deserialize<'de> for TcpValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TcpVisitor;
        impl Visitor<'_> for TcpVisitor {
            type Value = TcpValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a port number or "host:port""#)
            }
            fn visit_i64<E: de::Error>(self, port: i64) -> Result<Self::Value, E> {
                Ok(TcpValue::Port(port))
            }
            fn visit_u64<E: de::Error>(self, port: u64) -> Result<Self::Value, E> {
                Ok(TcpValue::Port(i64::try_from(port).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, address: &str) -> Result<Self::Value, E> {
                Ok(TcpValue::Address(address.to_owned()))
            }
        }
        deserializer.deserialize_any(TcpVisitor)
    }
}

/// `http = "url"` or `http = { url, status }`.
#[derive(Debug)]
pub(crate) enum HttpValue {
    Url(String),
    Table(HttpTable),
}

/// The table form of an `http` condition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpTable {
    pub url: String,
    pub status: Option<i64>,
}

impl<'de> Deserialize<'de> for HttpValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HttpVisitor;
        impl<'de> Visitor<'de> for HttpVisitor {
            type Value = HttpValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    r#"a URL, or a table such as { url = "http://127.0.0.1:8000/", status = 200 }"#,
                )
            }
            fn visit_str<E: de::Error>(self, url: &str) -> Result<Self::Value, E> {
                Ok(HttpValue::Url(url.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                HttpTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(HttpValue::Table)
            }
        }
        deserializer.deserialize_any(HttpVisitor)
    }
}
