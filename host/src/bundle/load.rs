//! The TOML front door: `bundle.toml` → [`BundleSpec`].
//!
//! Loading happens in three steps, each with its own kind of error. serde reads the text
//! into the raw structs of [`super::file`]; its errors (syntax, unknown keys, wrong types)
//! carry a byte span, which is mapped to a line, a column and a key path found in the
//! parsed document. The raw values are then given meaning (durations, signals, commands,
//! readiness conditions), with errors pointing at the spans kept for that purpose. Finally
//! the shared rules of [`super::validate`] run with a locator that knows every service's
//! spans, so that `needs` problems point at the offending entry and reference problems at
//! the `${…}` inside the string.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::duration::{
    ParseDurationError, duration_from_secs, duration_from_secs_f64, parse_duration,
};
use super::error::{BundleError, KeyPath, Location, ReadinessError};
use super::file::{
    BundleFile, ClockValue, CommandValue, DurationValue, HttpValue, LogValue, ReadyEntry,
    ReadyTable, ReadyValue, ServiceFile, SignalValue, StreamValue, TcpValue,
};
use super::interpolate::{Place, REFERENCE_IN_DIRECTORY, add_implied_needs};
use super::resolve::{absolute, against, resolve_paths};
use super::signal::{parse_signal_name, parse_signal_number};
use super::spec::{
    BundleSpec, ClientHook, ClockKind, DEFAULT_KEEP_RUNS, DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_STARTUP_TIMEOUT, KindRef, LinePattern, Readiness, ServiceSpec, StreamFilter,
};
use super::validate::{
    KindCheck, Locate, Site, check_name_length, is_valid_name, validate, validate_kinds,
};

impl BundleSpec {
    /// Reads and validates the bundle file at `path`: JSON if its name ends in `.json`,
    /// else TOML.
    pub fn load(path: &Path) -> Result<BundleSpec, BundleError> {
        BundleSpec::load_inner(path, None)
    }

    /// Like [`BundleSpec::load`], and also checks every `kind` service against `kinds`
    /// (its kind exists, its `config` fits, its `grants` are declared), with errors that
    /// point into the file. This is what `teamster check` does.
    pub fn load_with_kinds(path: &Path, kinds: &dyn KindCheck) -> Result<BundleSpec, BundleError> {
        BundleSpec::load_inner(path, Some(kinds))
    }

    fn load_inner(path: &Path, kinds: Option<&dyn KindCheck>) -> Result<BundleSpec, BundleError> {
        let text = BundleSpec::read_text(path)?;
        if path.extension().is_some_and(|e| e == "json") {
            BundleSpec::parse_json_with(&text, path, kinds)
        } else {
            BundleSpec::parse_with(&text, path, kinds)
        }
    }

    /// Reads a bundle file's text; a file that is not UTF-8 is an error at its first bad
    /// byte.
    pub fn read_text(path: &Path) -> Result<String, BundleError> {
        let bytes = std::fs::read(path).map_err(|source| BundleError::Read {
            path: path.to_owned(),
            source,
        })?;
        String::from_utf8(bytes).map_err(|e| {
            let good = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            // The valid prefix locates the bad byte: line and column count what precedes it.
            let prefix = String::from_utf8_lossy(&bytes[..good]).into_owned();
            BundleError::NotUtf8 {
                at: Location::from_offset(Arc::new(path.to_owned()), &prefix, prefix.len()),
            }
        })
    }

    /// Parses and validates `text` as the contents of the bundle file `path`. The path is
    /// named in error messages, and the file's directory is the base for relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<BundleSpec, BundleError> {
        BundleSpec::parse_with(text, path, None)
    }

    /// [`BundleSpec::parse`], checking `kind` services against `kinds` when given.
    pub(crate) fn parse_with(
        text: &str,
        path: &Path,
        kinds: Option<&dyn KindCheck>,
    ) -> Result<BundleSpec, BundleError> {
        Loader {
            text,
            path,
            shared_path: Arc::new(path.to_owned()),
        }
        .load(kinds)
    }
}

/// Where each service's parts are in the file, for the errors found by validation.
#[derive(Debug, Default)]
struct ServiceSpans {
    name: Range<usize>,
    needs: Vec<Range<usize>>,
    ready: Vec<Range<usize>>,
    env: Vec<Range<usize>>,
    env_values: Vec<Range<usize>>,
    command: CommandSpans,
    kind: Option<Range<usize>>,
    config: Option<Range<usize>>,
    grants: Vec<Range<usize>>,
    connection: Option<Range<usize>>,
    connection_keys: Vec<Range<usize>>,
    connection_values: Vec<Range<usize>>,
}

/// Where the words of a command are, for errors about references inside them.
#[derive(Debug, Default)]
enum CommandSpans {
    /// No command was written.
    #[default]
    Absent,
    /// An array: each word has its own span.
    Words(Vec<Range<usize>>),
    /// A string split into `words`: only the whole string has a span.
    Line {
        span: Range<usize>,
        words: Vec<String>,
    },
}

struct Loader<'a> {
    text: &'a str,
    path: &'a Path,
    /// The same path, shared by every [`Location`] made from it.
    shared_path: Arc<PathBuf>,
}

/// Where the top-level values that validation may complain about are.
#[derive(Debug, Default)]
struct TopSpans {
    startup_timeout: Option<Range<usize>>,
}

impl Loader<'_> {
    fn at(&self, span: Range<usize>) -> Location {
        Location::from_offset(self.shared_path.clone(), self.text, span.start)
    }

    fn whole_file(&self) -> Location {
        Location::File {
            path: self.shared_path.clone(),
        }
    }

    fn load(&self, kinds: Option<&dyn KindCheck>) -> Result<BundleSpec, BundleError> {
        let file: BundleFile = toml::from_str(self.text).map_err(|e| self.toml_error(e))?;
        let top = TopSpans {
            startup_timeout: file.startup_timeout.as_ref().map(Spanned::span),
        };
        let file_path = absolute(self.path, || self.whole_file())?;
        let file_dir = file_path
            .parent()
            .map_or_else(|| file_path.clone(), Path::to_path_buf);
        let project_dir = match &file.project_dir {
            Some(dir) => against(&file_dir, dir),
            None => file_dir,
        };
        let startup_timeout =
            self.duration(file.startup_timeout, || KeyPath::top("startup_timeout"))?;
        let shutdown_timeout =
            self.duration(file.shutdown_timeout, || KeyPath::top("shutdown_timeout"))?;
        let keep_runs = match file.keep_runs {
            None => DEFAULT_KEEP_RUNS,
            Some(keep) => {
                usize::try_from(*keep.get_ref()).map_err(|_| BundleError::InvalidValue {
                    at: self.at(keep.span()),
                    key: KeyPath::top("keep_runs"),
                    reason: format!("{} is negative; keep 0 or more runs", keep.get_ref()),
                })?
            }
        };
        let mut spans = HashMap::new();
        let mut services = Vec::with_capacity(file.services.0.len());
        for (name, service) in file.services.0 {
            let (service, service_spans) = self.service(name, service.into_inner())?;
            spans.insert(service.name.clone(), service_spans);
            services.push(service);
        }
        let mut spec = BundleSpec {
            project_dir,
            source: Some(self.path.to_owned()),
            startup_timeout: startup_timeout.unwrap_or(DEFAULT_STARTUP_TIMEOUT),
            shutdown_timeout: shutdown_timeout.unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT),
            run_root: file.run_dir.unwrap_or_else(|| PathBuf::from(".teamster")),
            keep_runs,
            clock: match file.clock {
                Some(ClockValue::Preload) | None => ClockKind::Preload,
                Some(ClockValue::Libfaketime) => ClockKind::Libfaketime,
            },
            services,
        };
        resolve_paths(&mut spec);
        add_implied_needs(&mut spec);
        let locator = FileLocator {
            loader: self,
            spans,
            top,
        };
        validate(&spec, &locator)?;
        if let Some(kinds) = kinds {
            validate_kinds(&spec, kinds, &locator)?;
        }
        Ok(spec)
    }

    fn service(
        &self,
        name: Spanned<String>,
        mut file: ServiceFile,
    ) -> Result<(ServiceSpec, ServiceSpans), BundleError> {
        let name_span = name.span();
        let name = name.into_inner();
        // Checked here as well as in validation so that a bad name is the first error
        // reported, before any error message has to quote it.
        check_name_length(&name, || self.at(name_span.clone()))?;
        if !is_valid_name(&name) {
            return Err(BundleError::InvalidName {
                at: self.at(name_span),
                name,
            });
        }
        if name == crate::logs::BUNDLE_SERVICE {
            return Err(BundleError::ReservedName {
                at: self.at(name_span),
                name,
            });
        }
        let mut spans = ServiceSpans {
            name: name_span.clone(),
            ..ServiceSpans::default()
        };
        let mut spec = ServiceSpec::new(&name);
        if let Some(command) = file.command {
            let span = command.span();
            spec.command = match command.into_inner() {
                CommandValue::Argv(argv) => {
                    spans.command = CommandSpans::Words(argv.iter().map(Spanned::span).collect());
                    argv.into_iter().map(Spanned::into_inner).collect()
                }
                CommandValue::Shell(line) => {
                    let words = shell_words::split(&line).map_err(|source| {
                        BundleError::InvalidCommand {
                            at: self.at(span.clone()),
                            service: name.clone(),
                            source,
                        }
                    })?;
                    spans.command = CommandSpans::Line {
                        span,
                        words: words.clone(),
                    };
                    words
                }
            };
        }
        if let Some(directory) = file.directory {
            if directory.get_ref().to_string_lossy().contains("${") {
                return Err(BundleError::InvalidValue {
                    at: self.at(directory.span()),
                    key: KeyPath::service(&name, "directory"),
                    reason: REFERENCE_IN_DIRECTORY.to_owned(),
                });
            }
            spec.directory = Some(directory.into_inner());
        }
        for (key, value) in file.env.0 {
            spans.env.push(key.span());
            spans.env_values.push(value.span());
            spec.env.push((key.into_inner(), value.into_inner().0));
        }
        if let Some(connection) = file.connection {
            spans.connection = Some(connection.span());
            for (key, value) in connection.into_inner().0 {
                spans.connection_keys.push(key.span());
                spans.connection_values.push(value.span());
                spec.connection
                    .push((key.into_inner(), value.into_inner().0));
            }
        }
        spec.inherit_env = file.inherit_env.unwrap_or(true);
        for need in file.needs {
            spans.needs.push(need.span());
            spec.needs.push(need.into_inner());
        }
        if let Some(signal) = file.stop_signal {
            let span = signal.span();
            let parsed = match signal.into_inner() {
                SignalValue::Name(text) => parse_signal_name(&text),
                SignalValue::Number(number) => parse_signal_number(number),
            };
            spec.stop_signal = parsed.map_err(|source| BundleError::InvalidSignal {
                at: self.at(span),
                service: name.clone(),
                source,
            })?;
        }
        if let Some(user) = file.user {
            if user.get_ref().is_empty() || user.get_ref().contains('\0') {
                return Err(BundleError::InvalidValue {
                    at: self.at(user.span()),
                    key: KeyPath::service(&name, "user"),
                    reason: "a user name cannot be empty or hold a NUL byte; name an account such as `postgres`, or leave `user` out".to_owned(),
                });
            }
            spec.user = Some(user.into_inner());
        }
        spec.faketime = file.faketime.unwrap_or(true);
        spec.shutdown_timeout = self.duration(file.shutdown_timeout, || {
            KeyPath::service(&name, "shutdown_timeout")
        })?;
        spec.kind = match (file.kind, file.config) {
            (None, Some(config)) => {
                return Err(BundleError::ConfigWithoutKind {
                    at: self.at(config.span()),
                    service: name,
                });
            }
            (None, None) => None,
            (Some(kind), config) => {
                spans.kind = Some(kind.span());
                spans.config = config.as_ref().map(Spanned::span);
                let config = match config {
                    Some(table) => {
                        let span = table.span();
                        table_to_json(table.into_inner()).map_err(|(key, reason)| {
                            BundleError::InvalidValue {
                                at: self.at(span),
                                key: KeyPath::service(&name, format!("config.{key}")),
                                reason,
                            }
                        })?
                    }
                    None => serde_json::Value::Object(serde_json::Map::new()),
                };
                let grants = file
                    .grants
                    .take()
                    .map(Spanned::into_inner)
                    .unwrap_or_default();
                spans.grants = grants.iter().map(Spanned::span).collect();
                Some(KindRef {
                    name: kind.into_inner(),
                    config,
                    grants: grants.into_iter().map(Spanned::into_inner).collect(),
                    faketime_set: file.faketime.is_some(),
                })
            }
        };
        if let Some(grants) = file.grants {
            return Err(BundleError::InvalidValue {
                at: self.at(grants.span()),
                key: KeyPath::service(&name, "grants"),
                reason: "`grants` gives programs to a plugin kind: it needs `kind`".to_owned(),
            });
        }
        for hook in file.client_hooks.unwrap_or_default() {
            let parsed = match hook.get_ref().as_str() {
                "setup" => ClientHook::Setup,
                "poststart" => ClientHook::Poststart,
                other => {
                    return Err(BundleError::InvalidValue {
                        at: self.at(hook.span()),
                        key: KeyPath::service(&name, "client_hooks"),
                        reason: format!(
                            "`{other}` is not a hook; the client may run `setup` and `poststart`"
                        ),
                    });
                }
            };
            if spec.client_hooks.contains(&parsed) {
                return Err(BundleError::InvalidValue {
                    at: self.at(hook.span()),
                    key: KeyPath::service(&name, "client_hooks"),
                    reason: format!("`{}` is listed twice", parsed.as_str()),
                });
            }
            spec.client_hooks.push(parsed);
        }
        if let Some(ready) = file.ready {
            let ready_span = ready.span();
            let tables = match ready.into_inner() {
                ReadyValue::One(table) => vec![Spanned::new(ready_span, table)],
                ReadyValue::Many(tables) => tables,
            };
            for table in tables {
                let table_span = table.span();
                let ReadyTable(entries) = table.into_inner();
                if entries.is_empty() {
                    return Err(self.readiness_error(&name, table_span, ReadinessError::Empty));
                }
                for entry in entries {
                    let span = entry.span();
                    let ready = self.readiness(entry.into_inner()).map_err(|(at, source)| {
                        self.readiness_error(&name, at.unwrap_or_else(|| span.clone()), source)
                    })?;
                    spans.ready.push(span);
                    spec.ready.push(ready);
                }
            }
        }
        Ok((spec, spans))
    }

    fn readiness_error(
        &self,
        service: &str,
        span: Range<usize>,
        source: ReadinessError,
    ) -> BundleError {
        BundleError::InvalidReadiness {
            at: self.at(span),
            service: service.to_owned(),
            source,
        }
    }

    /// One condition; an error may come with a span more precise than the whole entry.
    fn readiness(
        &self,
        entry: ReadyEntry,
    ) -> Result<Readiness, (Option<Range<usize>>, ReadinessError)> {
        let plain = |error| (None, error);
        Ok(match entry {
            ReadyEntry::Log(LogValue::Contains(text)) => Readiness::log(text),
            ReadyEntry::Log(LogValue::Table(table)) => {
                let pattern = match (table.contains, table.regex) {
                    (Some(text), None) => LinePattern::Contains(text),
                    (None, Some(regex)) => {
                        let span = regex.span();
                        let regex = regex::Regex::new(regex.get_ref())
                            .map_err(|e| (Some(span), ReadinessError::Regex(e)))?;
                        LinePattern::Regex(regex)
                    }
                    (None, None) => return Err(plain(ReadinessError::LogWithoutPattern)),
                    (Some(_), Some(_)) => return Err(plain(ReadinessError::LogWithTwoPatterns)),
                };
                let stream = match table.stream {
                    Some(StreamValue::Stdout) => StreamFilter::Stdout,
                    Some(StreamValue::Stderr) => StreamFilter::Stderr,
                    Some(StreamValue::Any) | None => StreamFilter::Any,
                };
                let nth = match table.nth {
                    None => 1,
                    Some(nth) => usize::try_from(*nth.get_ref())
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| {
                            (
                                Some(nth.span()),
                                ReadinessError::Nth {
                                    nth: *nth.get_ref(),
                                },
                            )
                        })?,
                };
                Readiness::log_on(stream, pattern, nth)
            }
            ReadyEntry::Tcp(TcpValue::Port(port)) => Readiness::tcp(tcp_port(port).map_err(plain)?),
            ReadyEntry::Tcp(TcpValue::Address(address)) => {
                let (host, port) = host_port(&address).map_err(plain)?;
                Readiness::tcp_at(host, port)
            }
            ReadyEntry::Http(HttpValue::Url(url)) => Readiness::http(url),
            ReadyEntry::Http(HttpValue::Table(table)) => match table.status {
                None => Readiness::http(table.url),
                Some(status) => match u16::try_from(status) {
                    Ok(code) if (100..=599).contains(&code) => {
                        Readiness::http_status(table.url, code)
                    }
                    _ => return Err(plain(ReadinessError::Status { status })),
                },
            },
            ReadyEntry::Socket(path) => Readiness::socket(path),
            ReadyEntry::File(path) => Readiness::file(path),
            ReadyEntry::Command(CommandValue::Argv(argv)) => {
                Readiness::command(argv.into_iter().map(Spanned::into_inner))
            }
            ReadyEntry::Command(CommandValue::Shell(line)) => Readiness::command(
                shell_words::split(&line).map_err(|e| plain(ReadinessError::SplitCommand(e)))?,
            ),
            ReadyEntry::Plugin(true) => Readiness::Plugin,
            ReadyEntry::Plugin(false) => return Err(plain(ReadinessError::PluginFalse)),
            ReadyEntry::Client(true) => Readiness::Client,
            ReadyEntry::Client(false) => return Err(plain(ReadinessError::ClientFalse)),
        })
    }

    fn duration(
        &self,
        value: Option<Spanned<DurationValue>>,
        key: impl FnOnce() -> KeyPath,
    ) -> Result<Option<Duration>, BundleError> {
        let Some(value) = value else { return Ok(None) };
        let parsed: Result<Duration, ParseDurationError> = match value.get_ref() {
            DurationValue::Text(text) => parse_duration(text),
            DurationValue::Seconds(secs) => duration_from_secs(*secs),
            DurationValue::FractionalSeconds(secs) => duration_from_secs_f64(*secs),
        };
        parsed
            .map(Some)
            .map_err(|source| BundleError::InvalidDuration {
                at: self.at(value.span()),
                key: key(),
                source,
            })
    }

    /// Turns a serde error into one that names the key and, for a typo, the likely key.
    fn toml_error(&self, error: toml::de::Error) -> BundleError {
        let at = error
            .span()
            .map_or_else(|| self.whole_file(), |span| self.at(span));
        let message = plain_serde_words(&error.message().trim().replace('\n', "; "));
        // A document that does not even parse has no keys to name.
        let Ok(document) = DeTable::parse(self.text) else {
            return BundleError::Syntax {
                at,
                reason: message,
            };
        };
        let mut path = Vec::new();
        if let Some(span) = error.span() {
            find_key_path(document.get_ref(), &span, &mut path);
        }
        match unknown_field(&message) {
            Some((key, allowed)) => {
                path.pop();
                BundleError::UnknownKey {
                    at,
                    key,
                    table: key_path(&path),
                    allowed,
                }
            }
            None => BundleError::InvalidValue {
                at,
                key: key_path(&path),
                reason: message,
            },
        }
    }
}

/// serde's messages name Rust types (`struct ServiceFile`, `i64`, `as i128`); a bundle's
/// author should read TOML words instead.
fn plain_serde_words(message: &str) -> String {
    message
        .replace(
            "expected struct ServiceFile",
            "expected a table of service settings",
        )
        .replace("expected struct BundleFile", "expected a table")
        .replace(" as i128, expected i64", ", which is too large")
        .replace("expected i64", "expected a whole number")
        // toml's words for a non-string where a name from a fixed list belongs (`clock = 1`).
        .replace("wanted string or table", "expected a string")
}

/// Maps validation sites to the spans recorded while loading.
struct FileLocator<'a> {
    loader: &'a Loader<'a>,
    spans: HashMap<String, ServiceSpans>,
    top: TopSpans,
}

impl Locate for FileLocator<'_> {
    fn locate(&self, site: Site<'_>) -> Location {
        let name = match site {
            Site::StartupTimeout => {
                return match &self.top.startup_timeout {
                    Some(span) => self.loader.at(span.clone()),
                    None => self.loader.whole_file(),
                };
            }
            Site::Service(name)
            | Site::Need(name, _)
            | Site::Ready(name, _)
            | Site::Env(name, _)
            | Site::Kind(name)
            | Site::Connection(name, _)
            | Site::Grant(name, _)
            | Site::Config { service: name, .. }
            | Site::Reference { service: name, .. } => name,
        };
        let Some(spans) = self.spans.get(name) else {
            return self.loader.whole_file();
        };
        let span = match site {
            Site::Service(_) => None,
            Site::Need(_, i) => spans.needs.get(i),
            Site::Ready(_, i) => spans.ready.get(i),
            Site::Env(_, i) => spans.env.get(i),
            Site::Kind(_) => spans.kind.as_ref(),
            Site::Grant(_, i) => spans.grants.get(i),
            Site::Config { key, value, .. } => {
                if let Some(offset) = config_offset(self.loader.text, name, key, value) {
                    return self.loader.at(offset..offset);
                }
                spans.config.as_ref().or(spans.kind.as_ref())
            }
            Site::StartupTimeout => None,
            Site::Connection(_, None) => spans.connection.as_ref(),
            Site::Connection(_, Some(i)) => spans.connection_keys.get(i),
            Site::Reference {
                place,
                value,
                start,
                end,
                ..
            } => {
                if let Some(offset) = self.reference_offset(spans, place, value, start..end) {
                    return self.loader.at(offset..offset);
                }
                match (place, &spans.command) {
                    // Config strings are found by their text alone (below); failing that,
                    // the `config` table.
                    (Place::Config(_), _) => spans.config.as_ref().or(spans.kind.as_ref()),
                    (Place::Env(i), _) => spans.env_values.get(i),
                    (Place::Connection(i), _) => spans.connection_values.get(i),
                    (Place::Arg(i), CommandSpans::Words(words)) => words.get(i),
                    (Place::Arg(_), CommandSpans::Line { span, .. }) => Some(span),
                    (Place::Arg(_), CommandSpans::Absent) => None,
                }
            }
        };
        self.loader.at(span.unwrap_or(&spans.name).clone())
    }
}

impl FileLocator<'_> {
    /// The byte offset in the file of the text `range` of `value`, found by looking for the
    /// same text in the value's source. Counting the earlier occurrences of that text picks
    /// the right one when it appears twice; escapes such as `\t` cannot shift it, because a
    /// reference holds only plain ASCII. `None` when the value's span is unknown or the
    /// text is not in it as written (it was built by escapes).
    fn reference_offset(
        &self,
        spans: &ServiceSpans,
        place: Place,
        value: &str,
        range: Range<usize>,
    ) -> Option<usize> {
        let needle = value.get(range.clone())?;
        if needle.is_empty() {
            return None;
        }
        let before = |text: &str| text.matches(needle).count();
        let (span, nth) = match (place, &spans.command) {
            (Place::Config(_), _) => (spans.config.as_ref()?, 0),
            (Place::Env(i), _) => (spans.env_values.get(i)?, before(&value[..range.start])),
            (Place::Connection(i), _) => (
                spans.connection_values.get(i)?,
                before(&value[..range.start]),
            ),
            (Place::Arg(i), CommandSpans::Words(words)) => {
                (words.get(i)?, before(&value[..range.start]))
            }
            (Place::Arg(i), CommandSpans::Line { span, words }) => {
                let earlier: usize = words.iter().take(i).map(|w| before(w)).sum();
                (span, earlier + before(&value[..range.start]))
            }
            (Place::Arg(_), CommandSpans::Absent) => return None,
        };
        let source = self.loader.text.get(span.clone())?;
        let (offset, _) = source.match_indices(needle).nth(nth)?;
        Some(span.start + offset)
    }
}

/// The byte offset of a key of `service`'s `config` in the document `text` (or of its
/// value), found by walking the key's path (`users[0].name`) through the parsed document.
/// A path that leaves the document (a missing key) stops at the deepest part present.
/// `None` when not even the `config` table can be found as a table of its own.
fn config_offset(text: &str, service: &str, key: &str, value: bool) -> Option<usize> {
    let document = DeTable::parse(text).ok()?;
    let services = document.get_ref().get("services")?;
    let DeValue::Table(services) = services.get_ref() else {
        return None;
    };
    let DeValue::Table(table) = services.get(service)?.get_ref() else {
        return None;
    };
    let (config_key, config) = table.get_key_value("config")?;
    let mut at = (config_key.span(), config);
    for segment in key_segments(key) {
        let child = match (at.1.get_ref(), segment) {
            (DeValue::Table(table), Segment::Key(name)) => {
                table.get_key_value(name).map(|(k, v)| (k.span(), v))
            }
            (DeValue::Array(items), Segment::Index(index)) => {
                items.get(index).map(|item| (item.span(), item))
            }
            _ => None,
        };
        match child {
            Some(child) => at = child,
            // A missing key: point at its table.
            None => return Some(at.0.start),
        }
    }
    let span = if value { at.1.span() } else { at.0 };
    Some(span.start)
}

/// One step of a config key path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// `users[0].name` → `users`, `0`, `name`.
fn key_segments(path: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            segments.push(Segment::Key(name));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some((index, tail)) = inner.split_once(']') else {
                break;
            };
            if let Ok(index) = index.parse() {
                segments.push(Segment::Index(index));
            }
            rest = tail;
        }
    }
    segments
}

fn tcp_port(port: i64) -> Result<u16, ReadinessError> {
    u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or(ReadinessError::Port { port })
}

/// `host:port`, with `[v6]:port` for IPv6 addresses.
fn host_port(address: &str) -> Result<(String, u16), ReadinessError> {
    let bad = || ReadinessError::Address {
        address: address.to_owned(),
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad());
    }
    let port: i64 = port.parse().map_err(|_| bad())?;
    Ok((host.to_owned(), tcp_port(port)?))
}

/// Parses serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`", or
/// "there are no fields") into the key and the allowed keys.
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let allowed = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    Some((key.to_owned(), allowed))
}

/// Fills `path` with the keys leading to the deepest key or value spanning exactly `span`.
fn find_key_path(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<String>) -> bool {
    for (key, value) in table {
        path.push(key.get_ref().to_string());
        // The value itself before what it holds: an array of tables shares its span with
        // its first table, and the error is about the array (`[[services]]`).
        if key.span() == *span || value.span() == *span || find_in_value(value, span, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(
    value: &Spanned<DeValue<'_>>,
    span: &Range<usize>,
    path: &mut Vec<String>,
) -> bool {
    match value.get_ref() {
        DeValue::Table(table) => find_key_path(table, span, path),
        DeValue::Array(array) => {
            for (index, item) in array.iter().enumerate() {
                path.push(format!("[{index}]"));
                if find_in_value(item, span, path) || item.span() == *span {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

/// `["services", "web", "ready", "[1]", "tcp"]` → `` `ready[1].tcp` of service `web` ``.
fn key_path(path: &[String]) -> KeyPath {
    let dotted = |parts: &[String]| {
        parts.iter().fold(String::new(), |mut text, part| {
            if !text.is_empty() && !part.starts_with('[') {
                text.push('.');
            }
            text.push_str(part);
            text
        })
    };
    match path {
        [services, name, rest @ ..] if services == "services" => {
            KeyPath::service(name, dotted(rest))
        }
        _ => KeyPath::top(dotted(path)),
    }
}

/// The `config` table as JSON for the plugin; on failure, the dotted key and the reason.
fn table_to_json(table: toml::Table) -> Result<serde_json::Value, (String, String)> {
    let mut object = serde_json::Map::new();
    for (key, value) in table {
        let json =
            value_to_json(value).map_err(|(inner, reason)| (join_key(&key, &inner), reason))?;
        object.insert(key, json);
    }
    Ok(serde_json::Value::Object(object))
}

fn value_to_json(value: toml::Value) -> Result<serde_json::Value, (String, String)> {
    use serde_json::Value as Json;
    Ok(match value {
        toml::Value::String(s) => Json::String(s),
        toml::Value::Integer(i) => Json::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Json::Number)
            .ok_or_else(|| {
                (
                    String::new(),
                    format!("{f} cannot be passed to a plugin; JSON has no NaN or infinity"),
                )
            })?,
        toml::Value::Boolean(b) => Json::Bool(b),
        // Plugins see dates and times as the RFC 3339 text TOML wrote them in.
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(items) => Json::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    value_to_json(item)
                        .map_err(|(inner, reason)| (join_key(&format!("[{i}]"), &inner), reason))
                })
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => table_to_json(table)?,
    })
}

/// `outer` followed by `inner`, with a dot unless `inner` is empty or an array index.
fn join_key(outer: &str, inner: &str) -> String {
    if inner.is_empty() || inner.starts_with('[') {
        format!("{outer}{inner}")
    } else {
        format!("{outer}.{inner}")
    }
}
