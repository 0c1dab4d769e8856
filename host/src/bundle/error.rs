//! Errors from loading, building and validating a bundle.
//!
//! A bundle file is written by hand and read by people when it fails, so every error points
//! at the exact place (`bundle.toml:12:9: …`), names the service it is about, and says what
//! to write instead. The same errors come out of the Rust builder, where there is no file
//! and the position prefix is simply left out. Causes that are errors in their own right
//! (an I/O error, a bad regex, a malformed duration) are chained with `#[source]`, so print
//! the whole chain (`{:#}` with anyhow) to show them.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::duration::ParseDurationError;
use super::interpolate::{CycleReference, Field, ReferenceError};
use super::signal::ParseSignalError;
use crate::text::{backticked, did_you_mean};

/// Where an error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// In a spec built in code: there is no file to point at.
    Code,
    /// In a bundle file, at no particular place.
    File {
        /// The file, as the caller named it.
        path: Arc<PathBuf>,
    },
    /// At a place in a bundle file.
    At {
        /// The file, as the caller named it.
        path: Arc<PathBuf>,
        /// 1-based line.
        line: u32,
        /// 1-based column, counted in characters.
        column: u32,
    },
}

impl Location {
    /// The location of byte offset `offset` of `text`, the contents of `path`.
    pub fn from_offset(path: Arc<PathBuf>, text: &str, offset: usize) -> Location {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        // Saturating: a bundle file with four billion lines is not a case worth an error.
        let line = u32::try_from(line).unwrap_or(u32::MAX);
        let column = u32::try_from(column).unwrap_or(u32::MAX);
        Location::At { path, line, column }
    }

    /// The message prefix: `path:line:column: `, `path: `, or nothing for code.
    pub fn prefix(&self) -> String {
        match self {
            Location::Code => String::new(),
            Location::File { path } => format!("{}: ", path.display()),
            Location::At { path, line, column } => format!("{}:{line}:{column}: ", path.display()),
        }
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A key of the bundle file, named the way a reader finds it: `` `user` of service `web` ``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath {
    /// The service the key belongs to, if it is inside `[services.<name>]`.
    pub service: Option<String>,
    /// The dotted key inside the service (or the top level); empty for the table itself.
    pub key: String,
}

impl KeyPath {
    /// A top-level key such as `startup_timeout`.
    pub fn top(key: impl Into<String>) -> KeyPath {
        KeyPath {
            service: None,
            key: key.into(),
        }
    }

    /// A key of a service, such as `shutdown_timeout` of `web`.
    pub fn service(service: impl Into<String>, key: impl Into<String>) -> KeyPath {
        KeyPath {
            service: Some(service.into()),
            key: key.into(),
        }
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.service, self.key.is_empty()) {
            (None, true) => write!(f, "the top level"),
            (None, false) => write!(f, "`{}`", self.key),
            (Some(service), true) => write!(f, "service `{service}`"),
            (Some(service), false) => write!(f, "`{}` of service `{service}`", self.key),
        }
    }
}

/// Why a bundle could not be loaded or built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The bundle file could not be read.
    #[error("cannot read bundle file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The current directory, needed to make relative paths absolute, is unavailable.
    #[error("{}cannot make `{}` absolute", at.prefix(), path.display())]
    Absolute {
        /// Where the path came from.
        at: Location,
        /// The relative path.
        path: PathBuf,
        /// Why the current directory could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{}invalid TOML: {reason}", at.prefix())]
    Syntax {
        /// Where the parser stopped.
        at: Location,
        /// The parser's description of the problem.
        reason: String,
    },
    /// A bundle given as JSON is not valid JSON, or not an object.
    #[error("{}invalid JSON: {reason}", at.prefix())]
    JsonSyntax {
        /// Where the parser stopped.
        at: Location,
        /// The parser's description of the problem.
        reason: String,
    },
    /// A table has a key teamster does not know.
    #[error("{}unknown key `{key}` in {table}{}; allowed keys: {}",
        at.prefix(), did_you_mean(closest(key, allowed.iter().map(String::as_str)).as_deref()), backticked(allowed))]
    UnknownKey {
        /// The key's position.
        at: Location,
        /// The unknown key.
        key: String,
        /// The table holding it.
        table: KeyPath,
        /// The keys that table accepts; the message suggests the closest one.
        allowed: Vec<String>,
    },
    /// A value has the wrong type or shape.
    #[error("{}invalid {key}: {reason}", at.prefix())]
    InvalidValue {
        /// The value's position.
        at: Location,
        /// The key holding the value.
        key: KeyPath,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// A service name has characters other than `[A-Za-z0-9_-]`, or is empty.
    #[error("{}invalid service name `{name}`: use only ASCII letters, digits, `_` and `-`", at.prefix())]
    InvalidName {
        /// The name's position.
        at: Location,
        /// The name.
        name: String,
    },
    /// A service is named like the bundle's own log (`teamster`).
    #[error("{}service name `{name}` is reserved for the bundle's own messages; pick another", at.prefix())]
    ReservedName {
        /// The name's position.
        at: Location,
        /// The name.
        name: String,
    },
    /// The bundle file is not UTF-8.
    #[error("{}the file is not valid UTF-8 (the first invalid byte is here); save it as UTF-8", at.prefix())]
    NotUtf8 {
        /// The first invalid byte.
        at: Location,
    },
    /// Two services have the same name (only the builder can produce this).
    #[error("{}service `{name}` is defined twice; service names must be unique", at.prefix())]
    DuplicateService {
        /// The second definition.
        at: Location,
        /// The name.
        name: String,
    },
    /// A `needs` entry names no service of the bundle.
    #[error("{}service `{service}` needs unknown service `{need}`{}", at.prefix(), did_you_mean(suggestion.as_deref()))]
    UnknownNeed {
        /// The `needs` entry.
        at: Location,
        /// The service with the `needs`.
        service: String,
        /// The unknown name.
        need: String,
        /// A service with a close name.
        suggestion: Option<String>,
    },
    /// A service lists itself in `needs`.
    #[error("{}service `{service}` needs itself; remove `{service}` from its `needs`", at.prefix())]
    NeedsItself {
        /// The `needs` entry.
        at: Location,
        /// The service.
        service: String,
    },
    /// `needs` form a cycle, so no order can start them.
    #[error("{}dependency cycle: {}; remove one of these `needs`", at.prefix(), cycle_text(cycle))]
    Cycle {
        /// The `needs` entry of the first service of the cycle.
        at: Location,
        /// The services of the cycle in `needs` order, the first not repeated at the end.
        cycle: Vec<String>,
    },
    /// A duration could not be parsed.
    #[error("{}invalid duration for {key}", at.prefix())]
    InvalidDuration {
        /// The value's position.
        at: Location,
        /// The key holding the duration.
        key: KeyPath,
        /// Why it is invalid.
        #[source]
        source: ParseDurationError,
    },
    /// A stop signal could not be parsed.
    #[error("{}invalid `stop_signal` of service `{service}`", at.prefix())]
    InvalidSignal {
        /// The value's position.
        at: Location,
        /// The service.
        service: String,
        /// Why it is invalid.
        #[source]
        source: ParseSignalError,
    },
    /// A readiness condition is malformed.
    #[error("{}invalid readiness condition for service `{service}`", at.prefix())]
    InvalidReadiness {
        /// The condition's position.
        at: Location,
        /// The service.
        service: String,
        /// What is wrong with it.
        #[source]
        source: ReadinessError,
    },
    /// A service has neither a command nor a kind.
    #[error("{}service `{service}` has no command; set `command`, or `kind` to let a plugin configure it", at.prefix())]
    EmptyCommand {
        /// The service's position.
        at: Location,
        /// The service.
        service: String,
    },
    /// A command string could not be split into words.
    #[error("{}cannot split the `command` of service `{service}` into words", at.prefix())]
    InvalidCommand {
        /// The command's position.
        at: Location,
        /// The service.
        service: String,
        /// The splitter's error.
        #[source]
        source: shell_words::ParseError,
    },
    /// A `config` table without a `kind` would be silently ignored.
    #[error("{}service `{service}` has a `config` table but no `kind`; `config` is passed to the kind's plugin", at.prefix())]
    ConfigWithoutKind {
        /// The table's position.
        at: Location,
        /// The service.
        service: String,
    },
    /// A plugin kind name is empty or has characters other than `[A-Za-z0-9_-]`.
    #[error("{}invalid `kind` `{kind}` of service `{service}`: use only ASCII letters, digits, `_` and `-`", at.prefix())]
    InvalidKind {
        /// The kind's position.
        at: Location,
        /// The service.
        service: String,
        /// The kind as written.
        kind: String,
    },
    /// A `${…}` reference in a value is malformed or names something that does not exist.
    #[error("{}invalid reference in {field} of service `{service}`", at.prefix())]
    InvalidReference {
        /// The reference's position (the value's, when it cannot be pinned down).
        at: Location,
        /// The service holding the value.
        service: String,
        /// The value holding the reference.
        field: Field,
        /// What is wrong with it.
        #[source]
        source: Box<ReferenceError>,
    },
    /// `needs` and the needs implied by references such as `${db.url}` form a cycle.
    #[error("{}dependency cycle: {}; {via}; remove that reference or break the cycle elsewhere",
        at.prefix(), cycle_text(cycle))]
    ReferenceCycle {
        /// The reference that implies the first such need of the cycle.
        at: Location,
        /// The services of the cycle in `needs` order, the first not repeated at the end.
        cycle: Vec<String>,
        /// That reference and the need it implies.
        via: Box<CycleReference>,
    },
    /// A `connection` table on a `kind` service, whose plugin provides the connection info.
    #[error("{}service `{service}` has a `connection` table and a `kind`; the kind's plugin provides its connection info, so remove the table", at.prefix())]
    ConnectionWithKind {
        /// The table's position.
        at: Location,
        /// The service.
        service: String,
    },
    /// A `connection` key that no `${service.key}` reference could name.
    #[error("{}invalid `connection` key `{key}` of service `{service}`: use only ASCII letters, digits, `_` and `-`, so that `${{{service}.<key>}}` can name it", at.prefix())]
    InvalidConnectionKey {
        /// The key's position.
        at: Location,
        /// The service.
        service: String,
        /// The key as written.
        key: String,
    },
    /// A service's `kind` names no built-in or installed plugin.
    #[error("{}unknown kind `{kind}` of service `{service}`{}; known kinds: {}; install a plugin with `teamster plugin install <file.wasm>`",
        at.prefix(), did_you_mean(closest(kind, known.iter().map(String::as_str)).as_deref()), backticked(known))]
    UnknownKind {
        /// The kind's position.
        at: Location,
        /// The service.
        service: String,
        /// The kind as written.
        kind: String,
        /// The kinds that exist.
        known: Vec<String>,
    },
    /// The plugin of a service's kind exists but cannot be used (damaged, changed since it
    /// was installed, built for another interface version).
    #[error("{}cannot use kind `{kind}` of service `{service}`", at.prefix())]
    UnusableKind {
        /// The kind's position.
        at: Location,
        /// The service.
        service: String,
        /// The kind.
        kind: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A service's `config` does not fit what its kind accepts.
    #[error("{}invalid config for service `{service}` of kind `{kind}`", at.prefix())]
    InvalidConfig {
        /// The offending key or value (the table, when it cannot be pinned down).
        at: Location,
        /// The service.
        service: String,
        /// The kind.
        kind: String,
        /// Which key is wrong, and how.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A `grants` entry names a program the kind's plugin does not declare, so it could
    /// never take effect.
    #[error("{}`grants` of service `{service}` names `{program}`, which kind `{}` does not declare; it declares: {}",
        at.prefix(), grant.kind, backticked_or_none(&grant.declared), program = grant.program)]
    UndeclaredGrant {
        /// The entry's position.
        at: Location,
        /// The service.
        service: String,
        /// The kind, the program and what the kind declares.
        grant: Box<UndeclaredGrant>,
    },
    /// A value holds a NUL byte, which no process can be given.
    #[error("{}{field} of service `{service}` contains a NUL byte, which cannot be passed to a process", at.prefix())]
    NulInValue {
        /// The value's position.
        at: Location,
        /// The service.
        service: String,
        /// The value.
        field: Field,
    },
    /// A service name too long to name the service's files.
    #[error("{}service name `{}…` is {len} characters long; names are at most {MAX_NAME_LEN} characters, since they name the service's files", at.prefix(), shortened(name))]
    NameTooLong {
        /// The name's position.
        at: Location,
        /// The name.
        name: String,
        /// Its length in characters.
        len: usize,
    },
    /// An environment variable name cannot be passed to a process.
    #[error("{}invalid environment variable name `{name}` in service `{service}`: it must be non-empty and contain no `=` or NUL", at.prefix())]
    InvalidEnvName {
        /// The variable's position.
        at: Location,
        /// The service.
        service: String,
        /// The name, with NULs shown escaped.
        name: String,
    },
}

/// The longest service name, in characters. A name becomes file names in the run
/// directory (`logs/<name>.out`, `data/<name>`), which file systems limit to 255 bytes,
/// and the prefix of every console line, which must stay readable.
pub const MAX_NAME_LEN: usize = 64;

/// The first characters of a name too long to quote whole.
fn shortened(name: &str) -> String {
    name.chars().take(24).collect()
}

/// The details of a [`BundleError::UndeclaredGrant`], boxed to keep errors small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndeclaredGrant {
    /// The kind.
    pub kind: String,
    /// The program granted.
    pub program: String,
    /// What the kind declares.
    pub declared: Vec<String>,
}

/// What is wrong with a readiness condition.
#[derive(Debug, thiserror::Error)]
pub enum ReadinessError {
    /// A table sets no condition at all.
    #[error(
        "the table sets no condition; use `log`, `tcp`, `http`, `socket`, `file`, `command`, `plugin` or `client`"
    )]
    Empty,
    /// A `log` table has neither `contains` nor `regex`.
    #[error("a `log` table needs `contains` or `regex`")]
    LogWithoutPattern,
    /// A `log` table has both `contains` and `regex`.
    #[error("a `log` table takes `contains` or `regex`, not both")]
    LogWithTwoPatterns,
    /// A regex does not compile.
    #[error("invalid regex")]
    Regex(#[source] regex::Error),
    /// `nth` is below 1.
    #[error("`nth` counts matches from 1, got {nth}")]
    Nth {
        /// The value as written.
        nth: i64,
    },
    /// A port is outside 1..=65535.
    #[error("port {port} is outside 1..=65535")]
    Port {
        /// The port as written.
        port: i64,
    },
    /// A `tcp` string is not `host:port`.
    #[error("`{address}` is not `host:port` or a port number")]
    Address {
        /// The address as written.
        address: String,
    },
    /// An `http` URL is not `http://…`.
    #[error("`{url}` is not an `http://` URL")]
    Url {
        /// The URL as written.
        url: String,
    },
    /// An `https://` URL: the probe speaks plain HTTP.
    #[error(
        "`{url}` is an `https://` URL, but `http` conditions speak plain http only; use an `http://` URL, or a `tcp` condition for a TLS port"
    )]
    Https {
        /// The URL as written.
        url: String,
    },
    /// A status is outside 100..=599.
    #[error("status {status} is outside 100..=599")]
    Status {
        /// The status as written.
        status: i64,
    },
    /// A probe command is empty.
    #[error("the probe command is empty")]
    EmptyCommand,
    /// A probe command string could not be split into words.
    #[error("cannot split the probe command into words")]
    SplitCommand(#[source] shell_words::ParseError),
    /// A `socket` or `file` path is empty.
    #[error("the path is empty")]
    EmptyPath,
    /// `plugin = false` sets no condition.
    #[error("`plugin = false` sets no condition; remove it")]
    PluginFalse,
    /// `client = false` sets no condition.
    #[error("`client = false` sets no condition; remove it")]
    ClientFalse,
    /// The plugin readiness check needs a plugin.
    #[error("`plugin` readiness needs a `kind`, whose plugin decides when the service is ready")]
    PluginWithoutKind,
}

/// Every variant that carries a location, for [`BundleError::location`] and
/// [`BundleError::location_mut`] (one list, so neither can forget one).
macro_rules! with_location {
    ($error:expr, $at:ident => $found:expr) => {
        match $error {
            BundleError::Read { .. } => None,
            BundleError::Absolute { at: $at, .. }
            | BundleError::Syntax { at: $at, .. }
            | BundleError::JsonSyntax { at: $at, .. }
            | BundleError::UnknownKey { at: $at, .. }
            | BundleError::InvalidValue { at: $at, .. }
            | BundleError::InvalidName { at: $at, .. }
            | BundleError::ReservedName { at: $at, .. }
            | BundleError::NotUtf8 { at: $at, .. }
            | BundleError::DuplicateService { at: $at, .. }
            | BundleError::UnknownNeed { at: $at, .. }
            | BundleError::NeedsItself { at: $at, .. }
            | BundleError::Cycle { at: $at, .. }
            | BundleError::InvalidDuration { at: $at, .. }
            | BundleError::InvalidSignal { at: $at, .. }
            | BundleError::InvalidReadiness { at: $at, .. }
            | BundleError::EmptyCommand { at: $at, .. }
            | BundleError::InvalidCommand { at: $at, .. }
            | BundleError::ConfigWithoutKind { at: $at, .. }
            | BundleError::InvalidKind { at: $at, .. }
            | BundleError::InvalidEnvName { at: $at, .. }
            | BundleError::UnknownKind { at: $at, .. }
            | BundleError::UnusableKind { at: $at, .. }
            | BundleError::InvalidConfig { at: $at, .. }
            | BundleError::UndeclaredGrant { at: $at, .. }
            | BundleError::NulInValue { at: $at, .. }
            | BundleError::NameTooLong { at: $at, .. }
            | BundleError::InvalidReference { at: $at, .. }
            | BundleError::ReferenceCycle { at: $at, .. }
            | BundleError::ConnectionWithKind { at: $at, .. }
            | BundleError::InvalidConnectionKey { at: $at, .. } => $found,
        }
    };
}

impl BundleError {
    /// Where the error was found, if it was in a file or spec.
    pub fn location(&self) -> Option<&Location> {
        with_location!(self, at => Some(at))
    }

    /// Where the error was found, to be moved (the JSON front door maps positions back).
    pub(crate) fn location_mut(&mut self) -> Option<&mut Location> {
        with_location!(self, at => Some(at))
    }
}

fn backticked_or_none(words: &[String]) -> String {
    if words.is_empty() {
        "no programs".to_owned()
    } else {
        backticked(words)
    }
}

/// How many services of a cycle a message names: a cycle through 2,000 services would
/// otherwise be a message of 19 KB that nobody reads.
const CYCLE_SHOWN: usize = 12;

fn cycle_text(cycle: &[String]) -> String {
    let named = |names: &[String]| {
        names
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(" → ")
    };
    let mut text = if cycle.len() > CYCLE_SHOWN {
        let (head, tail) = (&cycle[..CYCLE_SHOWN - 2], &cycle[cycle.len() - 2..]);
        format!(
            "{} → … {} more … → {}",
            named(head),
            cycle.len() - CYCLE_SHOWN,
            named(tail)
        )
    } else {
        named(cycle)
    };
    if let Some(first) = cycle.first() {
        text.push_str(&format!(" → `{first}`"));
    }
    text
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_owned())
}

/// Levenshtein distance over characters; names are short, so the quadratic cost is nothing.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_stay_small_enough_to_return_by_value() {
        assert!(std::mem::size_of::<Location>() <= 24);
        assert!(std::mem::size_of::<BundleError>() <= 128);
    }

    #[test]
    fn locations_count_lines_and_characters_from_one() {
        let text = "a = 1\nbé = 2\n";
        let path = Arc::new(PathBuf::from("b.toml"));
        let at = |offset| Location::from_offset(path.clone(), text, offset).prefix();
        assert_eq!(at(0), "b.toml:1:1: ");
        assert_eq!(at(6), "b.toml:2:1: ");
        // `é` is two bytes but one column.
        assert_eq!(at(9), "b.toml:2:3: ");
        assert_eq!(at(100), "b.toml:3:1: ");
        assert_eq!(Location::Code.prefix(), "");
        assert_eq!(Location::File { path }.prefix(), "b.toml: ");
    }

    #[test]
    fn suggestions_only_for_plausible_typos() {
        let names = ["db", "web", "worker"];
        assert_eq!(closest("dbb", names), Some("db".to_owned()));
        assert_eq!(closest("wroker", names), Some("worker".to_owned()));
        assert_eq!(closest("cache", names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn key_paths_read_naturally() {
        insta::assert_snapshot!(KeyPath::top(""), @"the top level");
        insta::assert_snapshot!(KeyPath::top("keep_runs"), @"`keep_runs`");
        insta::assert_snapshot!(KeyPath::service("web", ""), @"service `web`");
        insta::assert_snapshot!(KeyPath::service("web", "ready.log"), @"`ready.log` of service `web`");
    }
}
