//! The rules every bundle obeys, whichever front door it came through.
//!
//! The TOML loader and the builder both end here, so a rule is written once and the
//! orchestrator can rely on it: names are well formed and unique, every `needs` entry names
//! another service of the bundle, `needs` form a DAG, commands and readiness conditions are
//! usable, and every `${…}` reference names something that exists (see
//! [`super::interpolate`]). The checks work on the finished [`BundleSpec`], which has no positions; a
//! [`Locate`] implementation maps each finding back to the file (or to nothing, for code).
//!
//! # Kinds
//!
//! Whether a `kind` exists, whether its `config` fits and whether its `grants` are
//! programs it declares depends on the plugins, built in or installed, which this module
//! does not own. Those rules ([`validate_kinds`]) ask a [`KindCheck`] and stay out of
//! loading, so that [`BundleSpec::load`] and the other front doors remain pure functions of
//! the text (no registry read, no plugin compiled). `teamster check` loads with a
//! [`KindCheck`] ([`BundleSpec::load_with_kinds`]), which gives its findings positions in
//! the file; [`Bundle::start`](crate::Bundle::start) asks the same rules for every kind
//! service before anything starts, where the positions are no longer known.

use std::collections::HashMap;
use std::sync::Arc;

use super::error::{
    BundleError, KeyPath, Location, MAX_NAME_LEN, ReadinessError, UndeclaredGrant, closest,
};
use super::interpolate::{CycleReference, Place, check_references, fields, find_reference_to};
use super::spec::{BundleSpec, KindRef, LogReady, Readiness, ServiceSpec};

/// What validation needs to know about plugin kinds. The orchestrator answers from its
/// plugin host (`orchestrator::kinds`); tests answer from a table.
pub trait KindCheck {
    /// Checks one service's kind: that it exists, that its config fits, and that its
    /// grants are programs it declares.
    fn check_kind(&self, kind: &KindRef) -> Result<(), KindProblem>;
}

/// What is wrong with a service's kind, as a [`KindCheck`] finds it.
#[derive(Debug)]
#[non_exhaustive]
pub enum KindProblem {
    /// No kind of that name.
    Unknown {
        /// The kinds that exist.
        known: Vec<String>,
    },
    /// The kind's plugin exists but cannot be used.
    Unusable(Box<dyn std::error::Error + Send + Sync>),
    /// The config does not fit.
    Config {
        /// The offending key inside `config`, as a path (`port`, `users[0].name`); empty
        /// for the table itself.
        key: String,
        /// Whether the key's value is at fault (a wrong type) rather than the key itself
        /// (an unknown key).
        value: bool,
        /// What is wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Entry `index` of `grants` names a program the plugin does not declare.
    Grant {
        /// The entry.
        index: usize,
        /// What the plugin declares.
        declared: Vec<String>,
    },
}

/// A place in a bundle that a finding can point at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Site<'a> {
    /// The service's name (its table header in a file).
    Service(&'a str),
    /// Entry `index` of the service's `needs`.
    Need(&'a str, usize),
    /// Condition `index` of the service's readiness conditions.
    Ready(&'a str, usize),
    /// Variable `index` of the service's `env`.
    Env(&'a str, usize),
    /// The service's `kind`.
    Kind(&'a str),
    /// The service's `connection` table, or the key of its entry `index`.
    Connection(&'a str, Option<usize>),
    /// Entry `index` of the service's `grants`.
    Grant(&'a str, usize),
    /// A key of the service's `config` (a path such as `users[0].name`; empty for the
    /// table), or its value.
    Config {
        /// The service.
        service: &'a str,
        /// The key's path inside `config`.
        key: &'a str,
        /// Whether the value rather than the key is meant.
        value: bool,
    },
    /// The top-level `startup_timeout`.
    StartupTimeout,
    /// The text `start..end` (byte offsets) of `value`, a value that may hold references.
    Reference {
        /// The service holding the value.
        service: &'a str,
        /// Which value it is.
        place: Place,
        /// The value as the spec holds it.
        value: &'a str,
        /// Where the text starts in `value`.
        start: usize,
        /// Where the text ends in `value`.
        end: usize,
    },
}

/// Maps a [`Site`] to a [`Location`] for error messages.
pub(crate) trait Locate {
    /// Where `site` is.
    fn locate(&self, site: Site<'_>) -> Location;
}

/// Locates every site at the bundle's file as a whole, or nowhere for a spec built in code.
#[derive(Debug)]
pub(crate) struct Unplaced(pub(crate) Location);

impl Locate for Unplaced {
    fn locate(&self, _site: Site<'_>) -> Location {
        self.0.clone()
    }
}

impl BundleSpec {
    /// Checks names, `needs` (unknown, self, cycles), commands, environment names and
    /// readiness conditions. Loading and building call this; call it again after editing a
    /// spec by hand.
    pub fn validate(&self) -> Result<(), BundleError> {
        let at = match &self.source {
            Some(path) => Location::File {
                path: Arc::new(path.clone()),
            },
            None => Location::Code,
        };
        validate(self, &Unplaced(at))
    }

    /// Checks every `kind` service against `kinds` (see [the module docs](self)). Errors
    /// name the bundle file, without a position.
    pub fn validate_kinds(&self, kinds: &dyn KindCheck) -> Result<(), BundleError> {
        let at = match &self.source {
            Some(path) => Location::File {
                path: Arc::new(path.clone()),
            },
            None => Location::Code,
        };
        validate_kinds(self, kinds, &Unplaced(at))
    }
}

impl ServiceSpec {
    /// Checks this service's kind, if it has one, against `kinds`; errors have no position.
    pub fn validate_kind(&self, kinds: &dyn KindCheck) -> Result<(), BundleError> {
        check_kind(self, kinds, &Unplaced(Location::Code))
    }
}

/// Applies the rules that need the plugins (see [the module docs](self)) to every `kind`
/// service, in declaration order.
pub(crate) fn validate_kinds(
    spec: &BundleSpec,
    kinds: &dyn KindCheck,
    locate: &dyn Locate,
) -> Result<(), BundleError> {
    spec.services
        .iter()
        .try_for_each(|service| check_kind(service, kinds, locate))
}

fn check_kind(
    service: &ServiceSpec,
    kinds: &dyn KindCheck,
    locate: &dyn Locate,
) -> Result<(), BundleError> {
    let Some(kind) = &service.kind else {
        return Ok(());
    };
    let name = service.name.as_str();
    kinds.check_kind(kind).map_err(|problem| match problem {
        KindProblem::Unknown { known } => BundleError::UnknownKind {
            at: locate.locate(Site::Kind(name)),
            service: name.to_owned(),
            kind: kind.name.clone(),
            known,
        },
        KindProblem::Unusable(source) => BundleError::UnusableKind {
            at: locate.locate(Site::Kind(name)),
            service: name.to_owned(),
            kind: kind.name.clone(),
            source,
        },
        KindProblem::Config { key, value, source } => BundleError::InvalidConfig {
            at: locate.locate(Site::Config {
                service: name,
                key: &key,
                value,
            }),
            service: name.to_owned(),
            kind: kind.name.clone(),
            source,
        },
        KindProblem::Grant { index, declared } => BundleError::UndeclaredGrant {
            at: locate.locate(Site::Grant(name, index)),
            service: name.to_owned(),
            grant: Box::new(UndeclaredGrant {
                kind: kind.name.clone(),
                program: kind.grants.get(index).cloned().unwrap_or_default(),
                declared,
            }),
        },
    })
}

/// Whether `name` is a usable service or kind name: `[A-Za-z0-9_-]+`.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A name too long for the service's files (see [`MAX_NAME_LEN`]), as an error at `at`.
pub(crate) fn check_name_length(
    name: &str,
    at: impl FnOnce() -> Location,
) -> Result<(), BundleError> {
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        return Err(BundleError::NameTooLong {
            at: at(),
            name: name.to_owned(),
            len,
        });
    }
    Ok(())
}

/// Applies every rule to `spec`, reporting the first finding in declaration order.
pub(crate) fn validate(spec: &BundleSpec, locate: &dyn Locate) -> Result<(), BundleError> {
    if spec.startup_timeout.is_zero() {
        return Err(BundleError::InvalidValue {
            at: locate.locate(Site::StartupTimeout),
            key: KeyPath::top("startup_timeout"),
            reason: "0s leaves no time for any service to become ready; give a positive duration such as \"15s\"".to_owned(),
        });
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, service) in spec.services.iter().enumerate() {
        let name = service.name.as_str();
        check_name_length(name, || locate.locate(Site::Service(name)))?;
        if !is_valid_name(name) {
            return Err(BundleError::InvalidName {
                at: locate.locate(Site::Service(name)),
                name: name.to_owned(),
            });
        }
        if name == crate::logs::BUNDLE_SERVICE {
            return Err(BundleError::ReservedName {
                at: locate.locate(Site::Service(name)),
                name: name.to_owned(),
            });
        }
        if seen.insert(name, index).is_some() {
            return Err(BundleError::DuplicateService {
                at: locate.locate(Site::Service(name)),
                name: name.to_owned(),
            });
        }
        check_service(service, locate)?;
    }
    // References go before `needs`: a reference to an unknown service also appears as an
    // implied need, and the message about the reference is the one that helps.
    check_references(spec, locate)?;
    for service in &spec.services {
        check_needs(service, &seen, locate)?;
    }
    check_cycles(spec, &seen, locate)
}

fn check_service(service: &ServiceSpec, locate: &dyn Locate) -> Result<(), BundleError> {
    let name = service.name.as_str();
    if let Some(kind) = &service.kind
        && !is_valid_name(&kind.name)
    {
        return Err(BundleError::InvalidKind {
            at: locate.locate(Site::Kind(name)),
            service: name.to_owned(),
            kind: kind.name.clone(),
        });
    }
    if service.command.is_empty() && service.kind.is_none() {
        return Err(BundleError::EmptyCommand {
            at: locate.locate(Site::Service(name)),
            service: name.to_owned(),
        });
    }
    for (index, (key, _)) in service.env.iter().enumerate() {
        if key.is_empty() || key.contains(['=', '\0']) {
            return Err(BundleError::InvalidEnvName {
                at: locate.locate(Site::Env(name, index)),
                service: name.to_owned(),
                name: key.escape_debug().to_string(),
            });
        }
    }
    // Checked here rather than at the spawn, where it would fail with the bare "nul byte
    // found in provided data" after other services had started.
    for (place, value) in fields(service) {
        if let Some(offset) = value.find('\0') {
            return Err(BundleError::NulInValue {
                at: locate.locate(Site::Reference {
                    service: name,
                    place,
                    value,
                    start: offset,
                    end: offset + 1,
                }),
                service: name.to_owned(),
                field: place.field(service),
            });
        }
    }
    if !service.connection.is_empty() && service.kind.is_some() {
        return Err(BundleError::ConnectionWithKind {
            at: locate.locate(Site::Connection(name, None)),
            service: name.to_owned(),
        });
    }
    for (index, (key, _)) in service.connection.iter().enumerate() {
        if !is_valid_name(key) {
            return Err(BundleError::InvalidConnectionKey {
                at: locate.locate(Site::Connection(name, Some(index))),
                service: name.to_owned(),
                key: key.escape_debug().to_string(),
            });
        }
    }
    for (index, ready) in service.ready.iter().enumerate() {
        check_readiness(ready, service).map_err(|source| BundleError::InvalidReadiness {
            at: locate.locate(Site::Ready(name, index)),
            service: name.to_owned(),
            source,
        })?;
    }
    Ok(())
}

/// The invariants of a typed condition; the loader has already rejected what cannot even
/// be represented (bad regexes, ports above 65535, malformed `host:port`).
fn check_readiness(ready: &Readiness, service: &ServiceSpec) -> Result<(), ReadinessError> {
    match ready {
        Readiness::Log(LogReady { nth, .. }) if *nth == 0 => Err(ReadinessError::Nth { nth: 0 }),
        Readiness::Log(_) => Ok(()),
        Readiness::Tcp { port: 0, .. } => Err(ReadinessError::Port { port: 0 }),
        Readiness::Tcp { host, port } if host.is_empty() => Err(ReadinessError::Address {
            address: format!(":{port}"),
        }),
        Readiness::Tcp { .. } => Ok(()),
        // The probe speaks plain HTTP; an `https://` URL could never succeed.
        Readiness::Http { url, .. } if url.starts_with("https://") => {
            Err(ReadinessError::Https { url: url.clone() })
        }
        Readiness::Http { url, .. } if !url.starts_with("http://") => {
            Err(ReadinessError::Url { url: url.clone() })
        }
        Readiness::Http {
            status: Some(status),
            ..
        } if !(100..=599).contains(status) => Err(ReadinessError::Status {
            status: i64::from(*status),
        }),
        Readiness::Http { .. } => Ok(()),
        Readiness::Socket { path } | Readiness::File { path } if path.as_os_str().is_empty() => {
            Err(ReadinessError::EmptyPath)
        }
        Readiness::Socket { .. } | Readiness::File { .. } => Ok(()),
        Readiness::Command { argv } if argv.first().is_none_or(|program| program.is_empty()) => {
            Err(ReadinessError::EmptyCommand)
        }
        Readiness::Command { .. } => Ok(()),
        Readiness::Plugin if service.kind.is_none() => Err(ReadinessError::PluginWithoutKind),
        Readiness::Plugin | Readiness::Client => Ok(()),
    }
}

fn check_needs(
    service: &ServiceSpec,
    names: &HashMap<&str, usize>,
    locate: &dyn Locate,
) -> Result<(), BundleError> {
    let name = service.name.as_str();
    for (index, need) in service.needs.iter().enumerate() {
        if need == name {
            return Err(BundleError::NeedsItself {
                at: locate.locate(Site::Need(name, index)),
                service: name.to_owned(),
            });
        }
        if !names.contains_key(need.as_str()) {
            let others = names.keys().copied().filter(|other| *other != name);
            return Err(BundleError::UnknownNeed {
                at: locate.locate(Site::Need(name, index)),
                service: name.to_owned(),
                need: need.clone(),
                suggestion: closest(need, sorted(others)),
            });
        }
    }
    Ok(())
}

/// Sorted so that a tie between two suggestions is broken the same way on every run.
fn sorted<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names
}

/// Finds a `needs` cycle ([`find_cycle`](super::graph::find_cycle)), named from the service
/// declared first, so the message does not depend on where the search happened to enter.
fn check_cycles(
    spec: &BundleSpec,
    index_of: &HashMap<&str, usize>,
    locate: &dyn Locate,
) -> Result<(), BundleError> {
    let edges: Vec<Vec<usize>> = spec
        .services
        .iter()
        .map(|s| {
            s.needs
                .iter()
                .filter_map(|n| index_of.get(n.as_str()).copied())
                .collect()
        })
        .collect();
    match super::graph::find_cycle(&edges) {
        Some(cycle) => Err(cycle_error(spec, &cycle, locate)),
        None => Ok(()),
    }
}

/// Names the cycle. When one of its needs is implied by a reference, the message points at
/// the first such reference, since that is what the user has to change.
fn cycle_error(spec: &BundleSpec, cycle: &[usize], locate: &dyn Locate) -> BundleError {
    let names: Vec<String> = cycle
        .iter()
        .map(|&i| spec.services[i].name.clone())
        .collect();
    for (position, &from) in cycle.iter().enumerate() {
        let service = &spec.services[from];
        let target = names[(position + 1) % names.len()].clone();
        if let Some((place, value, reference)) = find_reference_to(service, &target) {
            return BundleError::ReferenceCycle {
                at: locate.locate(Site::Reference {
                    service: &service.name,
                    place,
                    value,
                    start: reference.offset,
                    end: reference.offset + reference.len,
                }),
                cycle: names,
                via: Box::new(CycleReference {
                    service: service.name.clone(),
                    field: place.field(service),
                    reference: reference.to_string(),
                    needs: target,
                }),
            };
        }
    }
    let first = &spec.services[cycle[0]];
    let second = &spec.services[cycle[1 % cycle.len()]].name;
    let need_index = first.needs.iter().position(|n| n == second).unwrap_or(0);
    BundleError::Cycle {
        at: locate.locate(Site::Need(&first.name, need_index)),
        cycle: cycle
            .iter()
            .map(|&i| spec.services[i].name.clone())
            .collect(),
    }
}
