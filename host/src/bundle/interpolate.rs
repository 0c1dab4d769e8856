//! `${service.key}` references in bundle values.
//!
//! A service rarely knows in advance where the services it needs will listen: a Postgres
//! plugin picks a port and a database name, a command service declares its URL in its
//! `connection` table. Dependents therefore write references instead of copies, such as
//! `DATABASE_URL = "${db.url}"`, and teamster fills them in right before it spawns the
//! dependent, when everything it needs is ready and has published its connection info.
//!
//! References may appear in `env` values, in the words of `command` and in the values of a
//! command service's own `connection` table. Three namespaces exist:
//!
//! - `${db.url}`: key `url` of the connection info of service `db`;
//! - `${self.port}`: key `port` of this service's own `connection` table, so that a port is
//!   written once and used in the command, the environment and the URL it publishes;
//! - `${env.HOME}`: variable `HOME` of the environment teamster itself runs in.
//!
//! `$${` is a literal `${`; every other `$` is itself, so `$HOME` passes through to a shell
//! untouched.
//!
//! The work is split between load time and start time. Loading parses every value, reports
//! malformed references, unknown services, keys missing from a static `connection` table
//! and cycles, each at its line and column, and adds every referenced service to the
//! referring service's `needs` (an *implied need*), so that the orchestrator waits for it
//! with no extra rule. At start time [`ServiceSpec::interpolated`] resolves the references
//! against the connection info the orchestrator collected; only keys of plugin services,
//! which are unknown until the plugin answers, and unset host variables can fail there.
//!
//! # Caveats
//!
//! - `${env.…}` reads teamster's environment when the service starts, not when the file is
//!   loaded, and an unset variable is an error rather than an empty string.
//! - A service called `env` or `self` can be started and needed, but not referenced: those
//!   names always mean the namespaces above.
//! - `directory` takes no references: it is made absolute at load time, long before the
//!   values are known.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

use super::error::{BundleError, closest};
use super::spec::{BundleSpec, ServiceSpec};
use super::validate::{Locate, Site};
use crate::text::{backticked, did_you_mean};

/// Why `directory` rejects references, for both front doors.
pub(crate) const REFERENCE_IN_DIRECTORY: &str = "references such as `${…}` cannot be used here, because the directory is fixed when the bundle is loaded";

/// The namespace of a reference: what the part before the dot names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `${db.url}`: the connection info of another service.
    Service(String),
    /// `${self.port}`: the service's own `connection` table.
    Own,
    /// `${env.HOME}`: the environment teamster runs in.
    HostEnv,
}

/// One well-formed `${namespace.key}` inside a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// What the reference points into.
    pub target: Target,
    /// The key (or variable name) after the dot.
    pub key: String,
    /// Byte offset of the `$` in the value.
    pub offset: usize,
    /// Length in bytes of the reference as written, from `$` to `}`.
    pub len: usize,
}

impl Reference {
    /// The namespace as written: a service name, `self` or `env`.
    pub fn namespace(&self) -> &str {
        match &self.target {
            Target::Service(name) => name,
            Target::Own => "self",
            Target::HostEnv => "env",
        }
    }

    /// The service named by a `${service.key}` reference, if it is one.
    pub fn service(&self) -> Option<&str> {
        match &self.target {
            Target::Service(name) => Some(name),
            Target::Own | Target::HostEnv => None,
        }
    }
}

/// Shows the reference as it is written: `${db.url}`.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${{{}.{}}}", self.namespace(), self.key)
    }
}

/// What is wrong with a malformed reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntaxProblem {
    /// `${db.url` without a closing `}`.
    Unterminated,
    /// `${}`.
    Empty,
    /// `${db}` or `${db.}`.
    NoKey,
    /// `${.url}`.
    NoNamespace,
    /// A character other than `[A-Za-z0-9_-]` in a name, such as a space or a second dot.
    InvalidChar(char),
}

/// A malformed `${…}` in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset of the `$` in the value.
    pub offset: usize,
    /// The reference as written (for an unclosed one, as far as it goes).
    pub text: String,
    /// What is wrong.
    pub problem: SyntaxProblem,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = &self.text;
        match self.problem {
            SyntaxProblem::Unterminated => write!(
                f,
                "`{text}` is not closed by `}}`; write `$${{` for a literal `${{`"
            ),
            SyntaxProblem::Empty => write!(
                f,
                "`${{}}` names nothing; write `${{service.key}}`, such as `${{db.url}}`"
            ),
            SyntaxProblem::NoKey => {
                let namespace = text
                    .trim_start_matches("${")
                    .trim_end_matches('}')
                    .trim_end_matches('.');
                if namespace == "env" {
                    write!(
                        f,
                        "`{text}` names no variable; write `${{env.NAME}}`, such as `${{env.HOME}}`"
                    )
                } else if text.ends_with(".}") {
                    write!(
                        f,
                        "`{text}` names no key; write `${{{namespace}.<key>}}`, such as `${{{namespace}.url}}`"
                    )
                } else {
                    // `${HOME}` is as likely a shell variable as a service without a key.
                    write!(
                        f,
                        "`{text}` names no key; write `${{{namespace}.<key>}}` for a service's connection info, `${{env.{namespace}}}` for teamster's environment, or `$${{{namespace}}}` to leave `{text}` to a shell"
                    )
                }
            }
            SyntaxProblem::NoNamespace => write!(
                f,
                "`{text}` names no service; write `${{<service>.<key>}}`, such as `${{db.url}}`"
            ),
            SyntaxProblem::InvalidChar(c) => write!(
                f,
                "`{text}` contains {c:?}; a reference is `${{service.key}}` with names of ASCII letters, digits, `_` and `-`; write `$${{` for a literal `${{`"
            ),
        }
    }
}

impl std::error::Error for SyntaxError {}

/// One part of a parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Text taken as it is (escapes already undone).
    Text(String),
    /// A reference to fill in.
    Ref(Reference),
}

/// A value parsed into literal text and references, ready to be filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `value`, undoing `$${` escapes.
    pub fn parse(value: &str) -> Result<Template, SyntaxError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = value;
        while let Some(dollar) = rest.find('$') {
            text.push_str(&rest[..dollar]);
            let offset = value.len() - rest.len() + dollar;
            let after = &rest[dollar..];
            if let Some(escaped) = after.strip_prefix("$${") {
                text.push_str("${");
                rest = escaped;
            } else if after.starts_with("${") {
                let (reference, len) = parse_reference(after, offset)?;
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Ref(reference));
                rest = &after[len..];
            } else {
                text.push('$');
                rest = &after[1..];
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template { pieces })
    }

    /// The references, in the order written.
    pub fn references(&self) -> impl Iterator<Item = &Reference> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Ref(reference) => Some(reference),
            Piece::Text(_) => None,
        })
    }

    /// Whether the value has no references (it may still have had escapes).
    pub fn is_literal(&self) -> bool {
        self.references().next().is_none()
    }

    /// The value with every reference replaced by what `lookup` returns for it; the first
    /// error of `lookup` stops the rendering.
    pub fn render<E>(
        &self,
        mut lookup: impl FnMut(&Reference) -> Result<String, E>,
    ) -> Result<String, E> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Ref(reference) => out.push_str(&lookup(reference)?),
            }
        }
        Ok(out)
    }
}

/// Whether `c` may appear in a service name, a key or a variable name of a reference.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Parses the reference at the start of `text` (which starts with `${`); `offset` is where
/// `text` starts in the whole value. Returns the reference and its length.
fn parse_reference(text: &str, offset: usize) -> Result<(Reference, usize), SyntaxError> {
    let error = |text: &str, problem| SyntaxError {
        offset,
        text: text.to_owned(),
        problem,
    };
    let body_and_rest = &text[2..];
    let Some(close) = body_and_rest.find('}') else {
        // Quote only the part that could belong to the reference, not the rest of the value.
        let end = body_and_rest
            .find(|c: char| !(is_name_char(c) || c == '.'))
            .unwrap_or(body_and_rest.len());
        return Err(error(&text[..2 + end], SyntaxProblem::Unterminated));
    };
    let len = 2 + close + 1;
    let written = &text[..len];
    let body = &body_and_rest[..close];
    if body.is_empty() {
        return Err(error(written, SyntaxProblem::Empty));
    }
    let (namespace, key) = body.split_once('.').unwrap_or((body, ""));
    if let Some(bad) = namespace
        .chars()
        .chain(key.chars())
        .find(|c| !is_name_char(*c))
    {
        return Err(error(written, SyntaxProblem::InvalidChar(bad)));
    }
    if namespace.is_empty() {
        return Err(error(written, SyntaxProblem::NoNamespace));
    }
    if key.is_empty() {
        return Err(error(written, SyntaxProblem::NoKey));
    }
    let target = match namespace {
        "self" => Target::Own,
        "env" => Target::HostEnv,
        service => Target::Service(service.to_owned()),
    };
    Ok((
        Reference {
            target,
            key: key.to_owned(),
            offset,
            len,
        },
        len,
    ))
}

/// Every reference in `value`, in the order written.
pub fn references(value: &str) -> Result<Vec<Reference>, SyntaxError> {
    Ok(Template::parse(value)?.references().cloned().collect())
}

/// Why a value could not be filled in by [`interpolate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The value has a malformed reference.
    #[error("invalid reference")]
    Syntax(#[source] SyntaxError),
    /// The lookup had no value for a reference.
    #[error("nothing to fill in for `{0}`")]
    Unresolved(Reference),
}

/// Fills in every reference of `value` with `lookup(namespace, key)`, where the namespace
/// is written as in the value (`db`, `self` or `env`). This is the plain, context-free
/// form; the orchestrator uses [`ServiceSpec::interpolated`], which knows the namespaces
/// and explains failures.
pub fn interpolate(
    value: &str,
    lookup: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<String, TemplateError> {
    Template::parse(value)
        .map_err(TemplateError::Syntax)?
        .render(|reference| {
            lookup(reference.namespace(), &reference.key)
                .ok_or_else(|| TemplateError::Unresolved(reference.clone()))
        })
}

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
fn config_path(service: &ServiceSpec, index: usize) -> String {
    service
        .kind
        .iter()
        .flat_map(|kind| config_strings(&kind.config))
        .nth(index)
        .map(|(path, _)| path)
        .unwrap_or_default()
}

/// The config key the host reads itself before any reference can be filled in.
const PORT_KEY: &str = "port";

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
fn render_config_strings<E>(
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

/// A reference that implies a need of a `needs` cycle, as a cycle error explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleReference {
    /// The service holding the reference.
    pub service: String,
    /// The value holding the reference.
    pub field: Field,
    /// The reference as written.
    pub reference: String,
    /// The service the reference names, and so needs.
    pub needs: String,
}

impl fmt::Display for CycleReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` in {} of service `{}` makes it need `{}`",
            self.reference, self.field, self.service, self.needs
        )
    }
}

/// What is wrong with a reference, found while loading or validating.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The reference is malformed.
    #[error(transparent)]
    Syntax(SyntaxError),
    /// The namespace names no service of the bundle.
    #[error("`{reference}` names unknown service `{service}`{}", did_you_mean(suggestion.as_deref()))]
    UnknownService {
        /// The reference as written.
        reference: String,
        /// The unknown name.
        service: String,
        /// A service with a close name.
        suggestion: Option<String>,
    },
    /// The namespace names the referring service itself.
    #[error("`{reference}` names the service itself; write `${{self.{key}}}`")]
    ItSelf {
        /// The reference as written.
        reference: String,
        /// The key.
        key: String,
    },
    /// `${self.…}` in a `kind` service, whose connection info its plugin provides.
    #[error(
        "`{reference}` needs a `connection` table, but a `kind` service's connection info comes from its plugin once it is ready"
    )]
    OwnOfKind {
        /// The reference as written.
        reference: String,
    },
    /// `${self.…}` in a service without a `connection` table.
    #[error(
        "`{reference}` refers to this service's `connection` table, which it does not have; add one, such as `connection = {{ {key} = \"…\" }}`"
    )]
    OwnWithoutConnection {
        /// The reference as written.
        reference: String,
        /// The key.
        key: String,
    },
    /// A command service that offers no connection info.
    #[error(
        "`{reference}` refers to the connection info of `{service}`, which has none; give `{service}` a `connection` table, such as `connection = {{ url = \"http://127.0.0.1:8000/\" }}`"
    )]
    NoConnection {
        /// The reference as written.
        reference: String,
        /// The service.
        service: String,
    },
    /// A key a static `connection` table does not have.
    #[error("`{reference}` names a key {owner} does not offer{}; {owner} offers: {}",
        did_you_mean(closest(key, available.iter().map(String::as_str)).as_deref()), backticked(available))]
    UnknownKey {
        /// The reference as written.
        reference: String,
        /// The missing key.
        key: String,
        /// `` `db` `` or "this service".
        owner: String,
        /// The keys of the table.
        available: Vec<String>,
    },
    /// A referenced service missing from `needs` (only in specs edited by hand: loading and
    /// building add implied needs).
    #[error(
        "`{reference}` refers to `{service}`, which is not in `needs`; add `{service}` to `needs`"
    )]
    NotNeeded {
        /// The reference as written.
        reference: String,
        /// The service.
        service: String,
    },
    /// `${self.…}` references between `connection` keys that go round in a circle.
    #[error(
        "the `connection` keys refer to each other in a cycle: {}",
        cycle_text(keys)
    )]
    OwnCycle {
        /// The keys of the cycle, the first not repeated at the end.
        keys: Vec<String>,
    },
}

fn cycle_text(names: &[String]) -> String {
    let mut text = backticked(names).replace(", ", " → ");
    if let Some(first) = names.first() {
        text.push_str(&format!(" → `{first}`"));
    }
    text
}

/// Adds every service that `service`'s values refer to to its `needs`, after the needs
/// written by hand and in the order the references are written. References to unknown
/// services and malformed values are left for validation to report.
pub(crate) fn add_implied_needs(spec: &mut BundleSpec) {
    let names: Vec<String> = spec.services.iter().map(|s| s.name.clone()).collect();
    for service in &mut spec.services {
        let mut implied = Vec::new();
        for (_, value) in fields(service) {
            let Ok(template) = Template::parse(value) else {
                continue;
            };
            for target in template.references().filter_map(Reference::service) {
                let known = names.iter().any(|n| n == target);
                let listed = service.needs.iter().chain(&implied).any(|n| n == target);
                if known && target != service.name && !listed {
                    implied.push(target.to_owned());
                }
            }
        }
        service.needs.extend(implied);
    }
}

/// The first reference in `service` to the service `target`, for explaining a cycle.
pub(crate) fn find_reference_to<'a>(
    service: &'a ServiceSpec,
    target: &str,
) -> Option<(Place, &'a str, Reference)> {
    fields(service).find_map(|(place, value)| {
        let template = Template::parse(value).ok()?;
        let reference = template
            .references()
            .find(|r| r.service() == Some(target))?
            .clone();
        Some((place, value, reference))
    })
}

/// The error for a finding about the text `start..end` of a value.
fn reference_error(
    service: &ServiceSpec,
    place: Place,
    value: &str,
    (start, end): (usize, usize),
    source: ReferenceError,
    locate: &dyn Locate,
) -> BundleError {
    BundleError::InvalidReference {
        at: locate.locate(Site::Reference {
            service: &service.name,
            place,
            value,
            start,
            end,
        }),
        service: service.name.clone(),
        field: place.field(service),
        source: Box::new(source),
    }
}

/// Checks every reference of every service: syntax, the service and key it names, that the
/// service is needed, and that `${self.…}` references do not go round in a circle.
pub(crate) fn check_references(spec: &BundleSpec, locate: &dyn Locate) -> Result<(), BundleError> {
    for service in &spec.services {
        for (place, value) in fields(service) {
            let template = Template::parse(value).map_err(|e| {
                let span = (e.offset, e.offset + e.text.len());
                reference_error(
                    service,
                    place,
                    value,
                    span,
                    ReferenceError::Syntax(e),
                    locate,
                )
            })?;
            for reference in template.references() {
                check_reference(spec, service, reference).map_err(|problem| {
                    let span = (reference.offset, reference.offset + reference.len);
                    reference_error(service, place, value, span, problem, locate)
                })?;
            }
        }
        check_own_cycles(service, locate)?;
    }
    Ok(())
}

fn check_reference(
    spec: &BundleSpec,
    service: &ServiceSpec,
    reference: &Reference,
) -> Result<(), ReferenceError> {
    let written = reference.to_string();
    let key = &reference.key;
    match &reference.target {
        Target::HostEnv => Ok(()),
        Target::Own if service.kind.is_some() => {
            Err(ReferenceError::OwnOfKind { reference: written })
        }
        Target::Own if service.connection.is_empty() => Err(ReferenceError::OwnWithoutConnection {
            reference: written,
            key: key.clone(),
        }),
        Target::Own => check_key(&service.connection, key, &written, "this service"),
        Target::Service(name) if *name == service.name => Err(ReferenceError::ItSelf {
            reference: written,
            key: key.clone(),
        }),
        Target::Service(name) => {
            let Some(target) = spec.service(name) else {
                let mut others: Vec<&str> = spec
                    .services
                    .iter()
                    .map(|s| s.name.as_str())
                    .filter(|n| *n != service.name)
                    .collect();
                // Sorted so that a tie between two suggestions is broken the same way on
                // every run.
                others.sort_unstable();
                return Err(ReferenceError::UnknownService {
                    reference: written,
                    service: name.clone(),
                    suggestion: closest(name, others),
                });
            };
            // A plugin's keys are known only once it answers, so only a static table can be
            // checked now.
            if target.kind.is_none() {
                if target.connection.is_empty() {
                    return Err(ReferenceError::NoConnection {
                        reference: written,
                        service: name.clone(),
                    });
                }
                check_key(&target.connection, key, &written, &format!("`{name}`"))?;
            }
            if !service.needs.contains(name) {
                return Err(ReferenceError::NotNeeded {
                    reference: written,
                    service: name.clone(),
                });
            }
            Ok(())
        }
    }
}

fn check_key(
    table: &[(String, String)],
    key: &str,
    written: &str,
    owner: &str,
) -> Result<(), ReferenceError> {
    if table.iter().any(|(k, _)| k == key) {
        return Ok(());
    }
    Err(ReferenceError::UnknownKey {
        reference: written.to_owned(),
        key: key.to_owned(),
        owner: owner.to_owned(),
        available: table.iter().map(|(k, _)| k.clone()).collect(),
    })
}

/// Reports a cycle among `connection` keys through `${self.…}`, named from the key written
/// first and located at its reference to the next key.
fn check_own_cycles(service: &ServiceSpec, locate: &dyn Locate) -> Result<(), BundleError> {
    let table = &service.connection;
    let index_of = |key: &str| table.iter().position(|(k, _)| k == key);
    // Malformed values were reported before this runs, so they have no edges here.
    let edges: Vec<Vec<(usize, Reference)>> = table
        .iter()
        .map(|(_, value)| {
            Template::parse(value)
                .map(|t| {
                    t.references()
                        .filter(|r| r.target == Target::Own)
                        .filter_map(|r| Some((index_of(&r.key)?, r.clone())))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    let targets: Vec<Vec<usize>> = edges
        .iter()
        .map(|e| e.iter().map(|(target, _)| *target).collect())
        .collect();
    if let Some(keys) = super::graph::find_cycle(&targets) {
        let first = keys[0];
        let next = keys[1 % keys.len()];
        let reference = edges[first]
            .iter()
            .find(|(target, _)| *target == next)
            .map(|(_, r)| (r.offset, r.offset + r.len))
            .unwrap_or((0, 0));
        return Err(reference_error(
            service,
            Place::Connection(first),
            &table[first].1,
            reference,
            ReferenceError::OwnCycle {
                keys: keys.iter().map(|&k| table[k].0.clone()).collect(),
            },
            locate,
        ));
    }
    Ok(())
}

/// The connection info that services have published, by service name.
///
/// The orchestrator records each service's info once it is ready (a plugin's
/// `connection-info`, or a command service's interpolated `connection` table) and hands
/// the collection to [`ServiceSpec::interpolated`] before spawning a dependent.
pub trait Connections {
    /// The key/value pairs `service` offers, or `None` if it has published nothing.
    fn connection(&self, service: &str) -> Option<&[(String, String)]>;
}

impl<S: BuildHasher> Connections for HashMap<String, Vec<(String, String)>, S> {
    fn connection(&self, service: &str) -> Option<&[(String, String)]> {
        self.get(service).map(Vec::as_slice)
    }
}

impl Connections for BTreeMap<String, Vec<(String, String)>> {
    fn connection(&self, service: &str) -> Option<&[(String, String)]> {
        self.get(service).map(Vec::as_slice)
    }
}

/// Why a reference could not be filled in when the service started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// The service published info without this key.
    MissingKey {
        /// The service referred to, or `self`.
        service: String,
        /// The keys it does offer, in the order it gave them.
        available: Vec<String>,
    },
    /// The service has published no connection info (it is not ready, or not needed).
    NoConnection {
        /// The service referred to.
        service: String,
    },
    /// The host environment lacks the variable.
    UnsetEnv {
        /// The variable.
        name: String,
    },
    /// `${self.…}` references between `connection` keys go round in a circle.
    OwnCycle,
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unresolved::MissingKey { service, available } if available.is_empty() => {
                write!(f, "`{service}` offers no keys at all")
            }
            Unresolved::MissingKey { service, available } => {
                write!(f, "`{service}` offers: {}", available.join(", "))
            }
            Unresolved::NoConnection { service } => {
                write!(f, "`{service}` has published no connection info")
            }
            Unresolved::UnsetEnv { name } => {
                write!(f, "`{name}` is not set in teamster's environment")
            }
            Unresolved::OwnCycle => {
                write!(f, "the `connection` keys refer to each other in a cycle")
            }
        }
    }
}

/// Why a service's values could not be filled in right before it starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    /// A reference has nothing to be filled in with.
    #[error("service `{service}`: {field} refers to `{reference}`, but {problem}")]
    Unresolved {
        /// The service being started.
        service: String,
        /// The value holding the reference.
        field: Field,
        /// The reference as written.
        reference: String,
        /// What is missing.
        problem: Box<Unresolved>,
    },
    /// A value has a malformed reference (only in specs that skipped validation).
    #[error("service `{service}`: invalid reference in {field}")]
    Syntax {
        /// The service being started.
        service: String,
        /// The value holding the reference.
        field: Field,
        /// What is malformed.
        #[source]
        source: SyntaxError,
    },
}

impl ServiceSpec {
    /// This service with every reference in its `connection` values, `env` values,
    /// `command` words and kind `config` strings filled in; `${env.…}` reads teamster's
    /// own environment.
    ///
    /// The orchestrator calls this right before spawning the service, when every service it
    /// needs is ready and present in `connections`. The result's `connection` is the info to
    /// publish for this service once it is ready (empty for `kind` services, whose plugin
    /// provides it).
    pub fn interpolated(
        &self,
        connections: &dyn Connections,
    ) -> Result<ServiceSpec, InterpolationError> {
        self.interpolated_with(connections, &|name| {
            std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
        })
    }

    /// [`ServiceSpec::interpolated`] with `host_env` in place of teamster's environment.
    pub fn interpolated_with(
        &self,
        connections: &dyn Connections,
        host_env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ServiceSpec, InterpolationError> {
        let parse = |place: Place, value: &str| {
            Template::parse(value).map_err(|source| InterpolationError::Syntax {
                service: self.name.clone(),
                field: place.field(self),
                source,
            })
        };
        let own_templates = self
            .connection
            .iter()
            .enumerate()
            .map(|(i, (_, value))| parse(Place::Connection(i), value))
            .collect::<Result<Vec<_>, _>>()?;
        let mut resolver = Resolver {
            service: self,
            connections,
            host_env,
            own_templates: &own_templates,
            own: vec![OwnValue::Pending; self.connection.len()],
        };
        for i in 0..self.connection.len() {
            resolver.own_value(i)?;
        }
        let mut out = self.clone();
        for (i, (_, value)) in out.env.iter_mut().enumerate() {
            *value = resolver.render(Place::Env(i), &parse(Place::Env(i), value)?)?;
        }
        for (i, word) in out.command.iter_mut().enumerate() {
            *word = resolver.render(Place::Arg(i), &parse(Place::Arg(i), word)?)?;
        }
        for (i, (_, value)) in out.connection.iter_mut().enumerate() {
            *value = resolver.own_value(i)?;
        }
        if let Some(kind) = &mut out.kind {
            render_config_strings(&mut kind.config, |i, value| {
                resolver.render(Place::Config(i), &parse(Place::Config(i), value)?)
            })?;
        }
        Ok(out)
    }
}

/// The state of one of the service's own `connection` values while resolving them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnValue {
    Pending,
    InProgress,
    Done(String),
}

/// Fills in the references of one service, resolving its own `connection` values on first
/// use so that `${self.…}` works in any order the keys are written.
struct Resolver<'a> {
    service: &'a ServiceSpec,
    connections: &'a dyn Connections,
    host_env: &'a dyn Fn(&str) -> Option<String>,
    own_templates: &'a [Template],
    own: Vec<OwnValue>,
}

impl Resolver<'_> {
    /// The filled-in value of `connection` entry `index`. Callers check first that it is
    /// not [`OwnValue::InProgress`], which would mean a cycle.
    fn own_value(&mut self, index: usize) -> Result<String, InterpolationError> {
        if let OwnValue::Done(value) = &self.own[index] {
            return Ok(value.clone());
        }
        self.own[index] = OwnValue::InProgress;
        let templates = self.own_templates;
        let value = self.render(Place::Connection(index), &templates[index])?;
        self.own[index] = OwnValue::Done(value.clone());
        Ok(value)
    }

    fn render(&mut self, place: Place, template: &Template) -> Result<String, InterpolationError> {
        template.render(|reference| self.lookup(place, reference))
    }

    fn lookup(
        &mut self,
        place: Place,
        reference: &Reference,
    ) -> Result<String, InterpolationError> {
        let key = &reference.key;
        match &reference.target {
            Target::HostEnv => (self.host_env)(key).ok_or_else(|| {
                self.unresolved(place, reference, Unresolved::UnsetEnv { name: key.clone() })
            }),
            Target::Own => match self.service.connection.iter().position(|(k, _)| k == key) {
                Some(index) if self.own[index] == OwnValue::InProgress => {
                    Err(self.unresolved(place, reference, Unresolved::OwnCycle))
                }
                Some(index) => self.own_value(index),
                None => Err(self.unresolved(
                    place,
                    reference,
                    Unresolved::MissingKey {
                        service: "self".to_owned(),
                        available: self
                            .service
                            .connection
                            .iter()
                            .map(|(k, _)| k.clone())
                            .collect(),
                    },
                )),
            },
            Target::Service(name) => {
                let Some(info) = self.connections.connection(name) else {
                    return Err(self.unresolved(
                        place,
                        reference,
                        Unresolved::NoConnection {
                            service: name.clone(),
                        },
                    ));
                };
                match info.iter().find(|(k, _)| k == key) {
                    Some((_, value)) => Ok(value.clone()),
                    None => Err(self.unresolved(
                        place,
                        reference,
                        Unresolved::MissingKey {
                            service: name.clone(),
                            available: info.iter().map(|(k, _)| k.clone()).collect(),
                        },
                    )),
                }
            }
        }
    }

    fn unresolved(
        &self,
        place: Place,
        reference: &Reference,
        problem: Unresolved,
    ) -> InterpolationError {
        InterpolationError::Unresolved {
            service: self.service.name.clone(),
            field: place.field(self.service),
            reference: reference.to_string(),
            problem: Box::new(problem),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax(value: &str) -> String {
        Template::parse(value)
            .expect_err("the value should be rejected")
            .to_string()
    }

    fn db_ref(key: &str, offset: usize) -> Reference {
        Reference {
            target: Target::Service("db".into()),
            key: key.into(),
            offset,
            len: key.len() + 6,
        }
    }

    #[test]
    fn references_are_found_with_their_offsets() {
        let found = references("postgres://${db.host}:${db.port}/x").expect("valid");
        assert_eq!(found, [db_ref("host", 11), db_ref("port", 22)]);
        let own_and_env = references("${self.port}${env.HOME}").expect("valid");
        assert_eq!(own_and_env[0].target, Target::Own);
        assert_eq!(own_and_env[1].target, Target::HostEnv);
        assert_eq!(own_and_env[1].offset, 12);
        assert_eq!(own_and_env[1].to_string(), "${env.HOME}");
        // Offsets are in bytes, so multi-byte text before a reference counts its bytes.
        assert_eq!(references("é${db.url}").expect("valid")[0].offset, 2);
        assert_eq!(
            references("${a-b_c.d-e_f}").expect("valid")[0].service(),
            Some("a-b_c")
        );
    }

    #[test]
    fn escapes_and_lone_dollars_are_literal() {
        let none = |_: &str, _: &str| None;
        let cases = [
            ("plain", "plain"),
            ("$${db.url}", "${db.url}"),
            ("a$${", "a${"),
            ("$HOME and $1", "$HOME and $1"),
            ("cost: 5$", "cost: 5$"),
            ("$$", "$$"),
            ("$$$${x", "$$${x"),
            ("{db.url}", "{db.url}"),
            ("", ""),
        ];
        for (value, expected) in cases {
            assert_eq!(
                interpolate(value, &none).as_deref(),
                Ok(expected),
                "{value}"
            );
            assert!(
                Template::parse(value).expect("valid").is_literal(),
                "{value}"
            );
        }
    }

    #[test]
    fn an_escape_next_to_a_reference() {
        let lookup = |ns: &str, key: &str| Some(format!("<{ns}:{key}>"));
        assert_eq!(
            interpolate("$${db.url}=${db.url}", &lookup).as_deref(),
            Ok("${db.url}=<db:url>")
        );
        assert_eq!(
            interpolate("$$${db.url}", &lookup).as_deref(),
            Ok("$${db.url}"),
            "`$${{` is taken first, leaving `db.url}}` as text"
        );
        assert_eq!(
            interpolate("${self.port}${env.HOME}!", &lookup).as_deref(),
            Ok("<self:port><env:HOME>!")
        );
    }

    #[test]
    fn malformed_references() {
        insta::assert_snapshot!(syntax("${db}"), @"`${db}` names no key; write `${db.<key>}` for a service's connection info, `${env.db}` for teamster's environment, or `$${db}` to leave `${db}` to a shell");
        insta::assert_snapshot!(syntax("x ${db.}"), @"`${db.}` names no key; write `${db.<key>}`, such as `${db.url}`");
        insta::assert_snapshot!(syntax("${env}"), @"`${env}` names no variable; write `${env.NAME}`, such as `${env.HOME}`");
        insta::assert_snapshot!(syntax("${}"), @"`${}` names nothing; write `${service.key}`, such as `${db.url}`");
        insta::assert_snapshot!(syntax("${.url}"), @"`${.url}` names no service; write `${<service>.<key>}`, such as `${db.url}`");
        insta::assert_snapshot!(syntax("http://${db.url"), @"`${db.url` is not closed by `}`; write `$${` for a literal `${`");
        insta::assert_snapshot!(syntax("${db.url/x"), @"`${db.url` is not closed by `}`; write `$${` for a literal `${`");
        insta::assert_snapshot!(syntax("${"), @"`${` is not closed by `}`; write `$${` for a literal `${`");
        insta::assert_snapshot!(syntax("${ db.url }"), @"`${ db.url }` contains ' '; a reference is `${service.key}` with names of ASCII letters, digits, `_` and `-`; write `$${` for a literal `${`");
        insta::assert_snapshot!(syntax("${db.url.x}"), @"`${db.url.x}` contains '.'; a reference is `${service.key}` with names of ASCII letters, digits, `_` and `-`; write `$${` for a literal `${`");
        insta::assert_snapshot!(syntax("sh -c 'echo ${HOME}'"), @"`${HOME}` names no key; write `${HOME.<key>}` for a service's connection info, `${env.HOME}` for teamster's environment, or `$${HOME}` to leave `${HOME}` to a shell");
        insta::assert_snapshot!(syntax("${PORT:-8000}"), @"`${PORT:-8000}` contains ':'; a reference is `${service.key}` with names of ASCII letters, digits, `_` and `-`; write `$${` for a literal `${`");
        insta::assert_snapshot!(syntax("${db.url then } later"), @"`${db.url then }` contains ' '; a reference is `${service.key}` with names of ASCII letters, digits, `_` and `-`; write `$${` for a literal `${`");
    }

    #[test]
    fn syntax_errors_know_where_the_reference_starts() {
        let error = Template::parse("ok ${db.url} é ${db").expect_err("unclosed");
        assert_eq!(error.offset, 16);
        assert_eq!(error.text, "${db");
        assert_eq!(error.problem, SyntaxProblem::Unterminated);
        assert_eq!(
            interpolate("${db}", &|_, _| None),
            Err(TemplateError::Syntax(error_for("${db}")))
        );
    }

    fn error_for(value: &str) -> SyntaxError {
        Template::parse(value).expect_err("malformed")
    }

    #[test]
    fn the_plain_form_reports_the_first_unresolved_reference() {
        let lookup = |ns: &str, key: &str| (ns == "db" && key == "url").then(|| "u".to_owned());
        assert_eq!(
            interpolate("${db.url} ${db.port} ${db.user}", &lookup),
            Err(TemplateError::Unresolved(db_ref("port", 10)))
        );
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn postgres_info() -> HashMap<String, Vec<(String, String)>> {
        HashMap::from([(
            "db".to_owned(),
            pairs(&[
                ("url", "postgres://app:secret@127.0.0.1:54321/app"),
                ("host", "127.0.0.1"),
                ("port", "54321"),
                ("user", "app"),
                ("password", "secret"),
                ("database", "app"),
            ]),
        )])
    }

    fn host_env(name: &str) -> Option<String> {
        (name == "HOME").then(|| "/home/tester".to_owned())
    }

    fn web() -> ServiceSpec {
        ServiceSpec {
            command: vec![
                "srv".into(),
                "--port=${self.port}".into(),
                "--db=${db.host}:${db.port}".into(),
            ],
            env: pairs(&[
                ("DATABASE_URL", "${db.url}"),
                ("CACHE_DIR", "${env.HOME}/.cache"),
                ("LITERAL", "$${db.url} costs $5"),
            ]),
            // `url` refers to `port` before `port` is written: order does not matter.
            connection: pairs(&[
                ("url", "http://${self.host}:${self.port}/"),
                ("host", "127.0.0.1"),
                ("port", "8000"),
            ]),
            needs: vec!["db".into()],
            ..ServiceSpec::new("web")
        }
    }

    #[test]
    fn a_service_is_filled_in_from_its_needs_itself_and_the_host() {
        let filled = web()
            .interpolated_with(&postgres_info(), &host_env)
            .expect("every reference resolves");
        assert_eq!(
            filled.command,
            ["srv", "--port=8000", "--db=127.0.0.1:54321"]
        );
        assert_eq!(
            filled.env,
            pairs(&[
                ("DATABASE_URL", "postgres://app:secret@127.0.0.1:54321/app"),
                ("CACHE_DIR", "/home/tester/.cache"),
                ("LITERAL", "${db.url} costs $5"),
            ])
        );
        assert_eq!(
            filled.connection,
            pairs(&[
                ("url", "http://127.0.0.1:8000/"),
                ("host", "127.0.0.1"),
                ("port", "8000"),
            ])
        );
        // Everything else is left as it was.
        assert_eq!(filled.needs, web().needs);
        assert_eq!(filled.name, "web");
    }

    /// A kind service (`celery`) whose config names its broker by reference.
    fn worker() -> ServiceSpec {
        ServiceSpec {
            kind: Some(crate::bundle::spec::KindRef {
                name: "celery".into(),
                config: serde_json::json!({
                    "port": "auto",
                    "app": "tasks",
                    "broker": "${db.url}",
                    "queues": ["a", "on-${db.host}"],
                    "nested": {"price": "$${db.url} costs $5", "n": 3},
                }),
                grants: Vec::new(),
            }),
            ..ServiceSpec::new("worker")
        }
    }

    #[test]
    fn kind_config_strings_are_filled_in_but_not_the_port() {
        let filled = worker()
            .interpolated_with(&postgres_info(), &host_env)
            .expect("every reference resolves");
        assert_eq!(
            filled.kind.expect("kind").config,
            serde_json::json!({
                "port": "auto",
                "app": "tasks",
                "broker": "postgres://app:secret@127.0.0.1:54321/app",
                "queues": ["a", "on-127.0.0.1"],
                "nested": {"price": "${db.url} costs $5", "n": 3},
            })
        );
        let fields: Vec<String> = fields(&worker())
            .map(|(place, _)| place.field(&worker()).to_string())
            .collect();
        assert_eq!(
            fields,
            [
                "`config.app`",
                "`config.broker`",
                "`config.nested.price`",
                "`config.queues[0]`",
                "`config.queues[1]`"
            ]
        );
        let mut spec = worker();
        spec.kind.as_mut().expect("kind").config["broker"] = "${db.uri}".into();
        insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `worker`: `config.broker` refers to `${db.uri}`, but `db` offers: url, host, port, user, password, database");
    }

    #[test]
    fn the_real_host_environment_is_read() {
        let path = std::env::var("PATH").expect("tests run with a PATH");
        let spec = ServiceSpec {
            env: pairs(&[("P", "${env.PATH}")]),
            ..ServiceSpec::new("probe")
        };
        let filled = spec.interpolated(&BTreeMap::new()).expect("PATH is set");
        assert_eq!(filled.env[0].1, path);
    }

    fn runtime_error(spec: &ServiceSpec, info: &HashMap<String, Vec<(String, String)>>) -> String {
        let error = spec
            .interpolated_with(info, &host_env)
            .expect_err("a reference should not resolve");
        crate::error_chain(&error)
    }

    #[test]
    fn unresolved_references_name_the_service_the_value_and_what_is_offered() {
        let mut spec = web();
        spec.env[0].1 = "${db.uri}".into();
        insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `web`: env `DATABASE_URL` refers to `${db.uri}`, but `db` offers: url, host, port, user, password, database");

        let mut spec = web();
        spec.command[2] = "${db.socket}".into();
        insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `web`: `command[2]` refers to `${db.socket}`, but `db` offers: url, host, port, user, password, database");

        let empty = HashMap::from([("db".to_owned(), Vec::new())]);
        insta::assert_snapshot!(runtime_error(&web(), &empty), @"service `web`: env `DATABASE_URL` refers to `${db.url}`, but `db` offers no keys at all");

        insta::assert_snapshot!(runtime_error(&web(), &HashMap::new()), @"service `web`: env `DATABASE_URL` refers to `${db.url}`, but `db` has published no connection info");

        let mut spec = web();
        spec.env[1].1 = "${env.NO_SUCH_VARIABLE}".into();
        insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `web`: env `CACHE_DIR` refers to `${env.NO_SUCH_VARIABLE}`, but `NO_SUCH_VARIABLE` is not set in teamster's environment");
    }

    #[test]
    fn specs_that_skipped_validation_still_fail_clearly() {
        let mut spec = web();
        spec.connection[1].1 = "${self.url}".into();
        insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `web`: `connection.host` refers to `${self.url}`, but the `connection` keys refer to each other in a cycle");

        let mut spec = web();
        spec.env[0].1 = "${self.nope}".into();
        insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `web`: env `DATABASE_URL` refers to `${self.nope}`, but `self` offers: url, host, port");

        let mut spec = web();
        spec.env[2].1 = "${db".into();
        insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `web`: invalid reference in env `LITERAL`: `${db` is not closed by `}`; write `$${` for a literal `${`");
    }

    #[test]
    fn fields_cover_connection_env_and_command() {
        let spec = web();
        let places: Vec<Field> = fields(&spec).map(|(p, _)| p.field(&spec)).collect();
        let shown: Vec<String> = places.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "`connection.url`",
                "`connection.host`",
                "`connection.port`",
                "env `DATABASE_URL`",
                "env `CACHE_DIR`",
                "env `LITERAL`",
                "`command[0]`",
                "`command[1]`",
                "`command[2]`",
            ]
        );
    }
}
