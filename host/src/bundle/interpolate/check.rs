//! Load-time checks: malformed references, unknown services and keys, cycles among a
//! service's own `connection` keys, each at its line and column; and the needs that
//! references imply.

use super::*;

/// Why `directory` rejects references, for both front doors.
pub(crate) const REFERENCE_IN_DIRECTORY: &str = "references such as `${…}` cannot be used here, because the directory is fixed when the bundle is loaded";

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

pub(super) fn cycle_text(names: &[String]) -> String {
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
pub(super) fn reference_error(
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

pub(super) fn check_reference(
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

pub(super) fn check_key(
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
pub(super) fn check_own_cycles(
    service: &ServiceSpec,
    locate: &dyn Locate,
) -> Result<(), BundleError> {
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
    if let Some(keys) = crate::bundle::graph::find_cycle(&targets) {
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
