//! Race-free TCP port allocation for services in bundles that run in parallel.
//!
//! The usual trick, "bind port 0, read the port, close, give it to the service", races:
//! between the close and the service's own bind, another bundle (another test thread,
//! another `cargo test` binary, another pytest-xdist worker) can be handed the same port,
//! and the kernel can give it to an outgoing connection as its local port. This module
//! closes both gaps:
//!
//! - A port is *reserved* by an exclusive `flock` on a per-port lock file in a directory
//!   every allocator on the machine shares. Allocators skip ports whose lock is held, so
//!   two bundles never get the same port while the first one's [`PortLease`] lives. The
//!   lock belongs to an open file descriptor, so it dies with the process: a crashed bundle
//!   leaves at most an unlocked file, which reserves nothing.
//! - Candidates come from outside the kernel's ephemeral range
//!   (`/proc/sys/net/ipv4/ip_local_port_range`), which is where the kernel draws the local
//!   ports of outgoing connections and of binds to port 0. Outside it only explicit binds
//!   compete, and those are caught by the free-port check (a test bind on the IPv4 and IPv6
//!   wildcard addresses) that runs while the lock is held. The scan starts at a random
//!   offset per process, so parallel allocators rarely even touch the same lock file.
//!
//! ```no_run
//! use teamster::ports::PortAllocator;
//!
//! let ports = PortAllocator::new()?;
//! let web = ports.allocate()?; // any free port
//! let db = ports.reserve(5432)?; // a fixed port, or a clear error saying who has it
//! println!("web on {}, db on {}", web.port(), db.port());
//! // Dropping the leases (with the bundle) releases the ports.
//! # Ok::<(), teamster::ports::PortError>(())
//! ```
//!
//! # Caveats
//!
//! - A lease keeps other *allocators* away, not other programs: something that binds a
//!   fixed port without asking (a developer's own server) can still take a leased port
//!   before the service binds it. Outside the ephemeral range that needs an explicit bind
//!   of that very port, so it is rare, and the service then fails to bind ("address in
//!   use") rather than letting tests talk to the wrong server.
//! - Only allocators that share a lock directory coordinate. The default,
//!   `/dev/shm/teamster-ports` (or `/tmp/teamster-ports` without `/dev/shm`), is shared by
//!   every user of the machine; set `TEAMSTER_PORTS_DIR` where processes that share a
//!   network do not share `/dev/shm`, such as containers on the host network.
//! - Dropping a lease releases the port at once, even if its service still listens on it;
//!   the free-port check then keeps the port from being handed out again, but only the
//!   lease keeps it reserved across a service restart. Hold the lease as long as the bundle.
//! - Lock files are deleted on release; the files of crashed processes stay behind and are
//!   reused. They cost one inode each.

mod allocator;
mod error;
mod lock;
mod probe;
mod range;

pub use allocator::{DIR_ENV, PortAllocator, PortLease};
pub use error::PortError;

#[cfg(test)]
mod tests;

/// A free port, reserved for the rest of this process's life: for tests and scripts that
/// hand a port to a program they start themselves. Unlike "bind port 0, then close", no
/// other allocator on the machine (another test thread, binary or bundle) gets it while
/// this process lives.
pub fn hold_free_port() -> Result<u16, PortError> {
    static HELD: std::sync::Mutex<Vec<PortLease>> = std::sync::Mutex::new(Vec::new());
    static ALLOCATOR: std::sync::OnceLock<PortAllocator> = std::sync::OnceLock::new();
    let allocator = match ALLOCATOR.get() {
        Some(a) => a,
        None => {
            let made = PortAllocator::new()?;
            ALLOCATOR.get_or_init(|| made)
        }
    };
    let lease = allocator.allocate()?;
    let port = lease.port();
    HELD.lock().unwrap_or_else(|p| p.into_inner()).push(lease);
    Ok(port)
}
