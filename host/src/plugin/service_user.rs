//! Who a service runs as, as `service-context.user` tells its plugin.
//!
//! The host runs a service (its main program, probes, sub-commands and `host.run`
//! helpers) as the bundle's `user` only when the host itself is root; otherwise everything
//! runs as the host's own user and `user` has no effect. The plugin gets the outcome, so a
//! kind whose server refuses root can say so before the server does, in its own words.

use nix::unistd::{Uid, User};

use super::run::RunEnv;

/// The user a service's processes run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUser {
    /// The name in the passwd database (the uid in decimal when it has none).
    pub name: String,
    /// The numeric user id; 0 is root.
    pub uid: u32,
    /// Whether the host runs as root (only then does a bundle's `user` apply).
    pub host_is_root: bool,
}

impl ServiceUser {
    /// The user the host will run the service in `run_env` as: its `user` when the host
    /// is root, else the host's own user. A `user` the passwd database does not know is an
    /// error, since nothing could run as it.
    pub fn of(run_env: &RunEnv) -> Result<ServiceUser, String> {
        let effective = Uid::effective();
        let host_is_root = effective.is_root();
        if let Some(name) = run_env.user.as_deref().filter(|_| host_is_root) {
            let user = User::from_name(name)
                .map_err(|e| format!("cannot look up user `{name}`: {e}"))?
                .ok_or_else(|| format!("user `{name}` does not exist"))?;
            return Ok(ServiceUser {
                name: user.name,
                uid: user.uid.as_raw(),
                host_is_root,
            });
        }
        let name = User::from_uid(effective)
            .ok()
            .flatten()
            .map_or_else(|| effective.to_string(), |u| u.name);
        Ok(ServiceUser {
            name,
            uid: effective.as_raw(),
            host_is_root,
        })
    }

    /// Whether the service runs as a user other than the host's.
    pub(crate) fn is_other_than_host(&self) -> bool {
        self.uid != Uid::effective().as_raw()
    }
}
