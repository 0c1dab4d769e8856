//! Whether anything on the machine is bound to a TCP port.
//!
//! The check binds without listening, so a client that connects at that moment is refused
//! rather than accepted into a backlog and then reset. Each probe socket sets
//! `SO_REUSEADDR`, as servers do, so a port whose last connection lingers in `TIME_WAIT`
//! counts as free: the service will be able to bind it.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Socket, Type};

/// Checks that `port` is free for a TCP server on IPv4 and, where the machine has it, IPv6.
///
/// The IPv4 wildcard bind conflicts with a listener on any IPv4 address, loopback included.
/// Should the wildcard be refused for a reason other than "in use", the loopback address,
/// which is what services in a bundle listen on, must still be bindable. The IPv6 wildcard
/// (dual-stack) catches services listening on `::` or `::1`; a machine without IPv6 skips it.
pub(crate) fn check_free(port: u16) -> io::Result<()> {
    match try_bind((Ipv4Addr::UNSPECIFIED, port).into()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(e),
        Err(_) => try_bind((Ipv4Addr::LOCALHOST, port).into())?,
    }
    match try_bind((Ipv6Addr::UNSPECIFIED, port).into()) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(e),
        // No IPv6 on this machine (or in this namespace) means no IPv6 listener to clash with.
        Ok(()) | Err(_) => Ok(()),
    }
}

/// Binds a fresh TCP socket to `addr` and closes it.
fn try_bind(addr: SocketAddr) -> io::Result<()> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // Dual-stack whatever `net.ipv6.bindv6only` says, so that an IPv4 listener conflicts
        // too and the IPv6 check is never weaker than the IPv4 one.
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())
}
