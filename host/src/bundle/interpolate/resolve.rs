//! Start-time resolution: filling a service's references in from the connection info the
//! services it needs have published, and the host's environment.

use super::*;

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
pub(super) enum OwnValue {
    Pending,
    InProgress,
    Done(String),
}

/// Fills in the references of one service, resolving its own `connection` values on first
/// use so that `${self.…}` works in any order the keys are written.
pub(super) struct Resolver<'a> {
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
