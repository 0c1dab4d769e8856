//! Who a child runs as.

use std::ffi::CString;
use std::path::PathBuf;

use nix::unistd::{Gid, Uid, User};

use super::SpawnError;

/// A user to switch to before `exec`: ids, groups and the variables that name it.
///
/// Everything is looked up before the fork: reading the passwd and group databases
/// allocates and may open files, neither of which is allowed between `fork` and `exec` in a
/// multi-threaded host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's id.
    pub uid: Uid,
    /// Its primary group.
    pub gid: Gid,
    /// Its supplementary groups (the primary one included), as `initgroups` would set them.
    pub groups: Vec<Gid>,
    /// The user's name, for `USER` and `LOGNAME`.
    pub name: String,
    /// Its home directory, for `HOME`: the host's would belong to another user, whose files
    /// programs that keep caches there (the postgres kind's templates) cannot write.
    pub home: PathBuf,
}

impl Identity {
    /// Looks `name` up in the passwd and group databases.
    pub fn of_user(name: &str) -> Result<Identity, SpawnError> {
        let user = User::from_name(name)
            .map_err(|source| SpawnError::LookupUser {
                user: name.to_owned(),
                source,
            })?
            .ok_or_else(|| SpawnError::NoUser {
                user: name.to_owned(),
            })?;
        let groups = CString::new(name)
            .ok()
            .and_then(|cname| nix::unistd::getgrouplist(&cname, user.gid).ok())
            .unwrap_or_else(|| vec![user.gid]);
        Ok(Identity {
            uid: user.uid,
            gid: user.gid,
            groups,
            name: name.to_owned(),
            home: user.dir,
        })
    }

    /// The identity a child asked to run as `user` must take: that user when the host is
    /// root, none (the host's own) otherwise. Only root may switch users, and a bundle's
    /// `user` exists to keep root's privileges away from services, so without root there is
    /// nothing to drop.
    pub fn to_run_as(user: Option<&str>) -> Result<Option<Identity>, SpawnError> {
        match user {
            Some(name) if Uid::effective().is_root() => Identity::of_user(name).map(Some),
            _ => Ok(None),
        }
    }

    /// `USER`, `LOGNAME` and `HOME` as the user's login would set them.
    pub fn env(&self) -> [(&'static str, std::ffi::OsString); 3] {
        [
            ("USER", self.name.clone().into()),
            ("LOGNAME", self.name.clone().into()),
            ("HOME", self.home.clone().into_os_string()),
        ]
    }

    /// Takes this identity: groups first, then the group id, then the user id, since each
    /// step needs the privileges the next one drops.
    ///
    /// # Safety
    ///
    /// Only between `fork` and `exec`: it changes the credentials of the whole process.
    /// Calls nothing but `setgroups`, `setgid` and `setuid`, with data computed before the
    /// fork.
    pub(crate) unsafe fn assume(&self) -> std::io::Result<()> {
        nix::unistd::setgroups(&self.groups)?;
        nix::unistd::setgid(self.gid)?;
        nix::unistd::setuid(self.uid)?;
        Ok(())
    }
}
