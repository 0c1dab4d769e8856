//! Listing listening TCP sockets through the kernel's `sock_diag` netlink interface.
//!
//! `/proc/net/tcp` makes the kernel walk every TCP socket in the namespace, established and
//! `TIME_WAIT` ones included, and format each as text: on a busy machine that costs
//! milliseconds per read. A `sock_diag` dump filtered on the `LISTEN` state walks only the
//! listening table, so it answers in microseconds. This is what `ss -l` does.
//!
//! The request and replies are built and parsed as plain bytes, so no `unsafe` struct
//! layouts are involved. Numbers in netlink headers are in host byte order; ports and
//! addresses in socket ids are in network byte order.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto,
    setsockopt, socket, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};

/// `SOCK_DIAG_BY_FAMILY` from `<linux/sock_diag.h>`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLMSG_ERROR` and `NLMSG_DONE` from `<linux/netlink.h>`.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST | NLM_F_DUMP`.
const DUMP_REQUEST_FLAGS: u16 = 0x1 | 0x300;
/// `TCP_LISTEN` in the kernel's TCP state numbering.
const TCP_LISTEN: u32 = 10;
/// The size of `struct nlmsghdr`.
const HEADER_LEN: usize = 16;
/// The size of `struct inet_diag_req_v2`.
const REQUEST_LEN: usize = 56;
/// The size of `struct inet_diag_msg`.
const REPLY_LEN: usize = 72;

/// Maps the inode of every listening TCP socket (IPv4 and IPv6) in the caller's network
/// namespace to its address; `None` if the interface is unavailable or answers oddly.
pub(crate) fn listening_sockets() -> Option<HashMap<u64, SocketAddr>> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )
    .ok()?;
    // The kernel answers a dump at once; the timeout only guards against a kernel that
    // never does, which would otherwise hang the caller.
    setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::seconds(1)).ok()?;
    let mut table = HashMap::new();
    for family in [libc::AF_INET, libc::AF_INET6] {
        dump(&fd, family as u8, &mut table)?;
    }
    Some(table)
}

/// Sends one dump request for `family` and collects its replies into `table`.
fn dump(fd: &OwnedFd, family: u8, table: &mut HashMap<u64, SocketAddr>) -> Option<()> {
    let mut request = Vec::with_capacity(HEADER_LEN + REQUEST_LEN);
    request.extend_from_slice(&((HEADER_LEN + REQUEST_LEN) as u32).to_ne_bytes());
    request.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    request.extend_from_slice(&DUMP_REQUEST_FLAGS.to_ne_bytes());
    request.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    request.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    request.extend_from_slice(&[family, libc::IPPROTO_TCP as u8, 0, 0]);
    request.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    request.resize(HEADER_LEN + REQUEST_LEN, 0); // an all-zero socket id matches any socket
    sendto(
        fd.as_raw_fd(),
        &request,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )
    .ok()?;

    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let len = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).ok()?;
        if len == 0 {
            return None;
        }
        let mut rest = &buf[..len];
        while rest.len() >= HEADER_LEN {
            let msg_len = u32::from_ne_bytes(rest[0..4].try_into().ok()?) as usize;
            let msg_type = u16::from_ne_bytes(rest[4..6].try_into().ok()?);
            if msg_len < HEADER_LEN || msg_len > rest.len() {
                return None;
            }
            match msg_type {
                NLMSG_DONE => return Some(()),
                NLMSG_ERROR => return None,
                SOCK_DIAG_BY_FAMILY => {
                    if let Some((inode, addr)) = parse_reply(&rest[HEADER_LEN..msg_len]) {
                        table.insert(inode, addr);
                    }
                }
                _ => {}
            }
            // Messages are padded to four bytes.
            let advance = (msg_len + 3) & !3;
            rest = rest.get(advance..).unwrap_or_default();
        }
    }
}

/// Reads the inode and local address out of one `struct inet_diag_msg`.
fn parse_reply(msg: &[u8]) -> Option<(u64, SocketAddr)> {
    if msg.len() < REPLY_LEN {
        return None;
    }
    let family = i32::from(msg[0]);
    let port = u16::from_be_bytes([msg[4], msg[5]]);
    let src = &msg[8..24];
    let ip = match family {
        libc::AF_INET => IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3])),
        libc::AF_INET6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(src).ok()?)),
        _ => return None,
    };
    let inode = u32::from_ne_bytes(msg[68..72].try_into().ok()?);
    Some((u64::from(inode), SocketAddr::new(ip, port)))
}
