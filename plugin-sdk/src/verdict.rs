use crate::__bindings::teamster::plugin::types;

/// What [`crate::Kind::ready_verdict`] says about one log line.
///
/// ```
/// use teamster_plugin_sdk::Verdict;
///
/// assert_eq!(Verdict::from(true), Verdict::Ready);
/// assert_eq!(Verdict::from(false), Verdict::NotYet);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The service is ready (as far as [`crate::Readiness::plugin_check`] goes).
    Ready,
    /// Not yet: the host asks again with the next line.
    NotYet,
    /// The service will never get ready. The host fails its start with this message,
    /// naming the service and the plugin, and stops what it started.
    Failed(String),
}

impl From<bool> for Verdict {
    fn from(ready: bool) -> Self {
        if ready {
            Verdict::Ready
        } else {
            Verdict::NotYet
        }
    }
}

impl Verdict {
    pub(crate) fn into_wit(self) -> types::Verdict {
        match self {
            Verdict::Ready => types::Verdict::Ready,
            Verdict::NotYet => types::Verdict::NotYet,
            Verdict::Failed(message) => types::Verdict::Failed(message),
        }
    }
}
