//! Listening TCP sockets of a process tree.
//!
//! The kernel lists sockets in `/proc/<pid>/net/tcp{,6}` by inode, and a process's open
//! sockets appear as `socket:[<inode>]` links in `/proc/<pid>/fd`. Joining the two on the
//! inode tells which process holds which listening socket, with no help from `ss` or `lsof`.
//! The same table is available much faster through netlink ([`sock_diag`]), which is
//! preferred; the text files remain the fallback.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::sock_diag;

/// The `st` value of a socket in the `LISTEN` state.
const TCP_LISTEN: &str = "0A";

/// A TCP socket in the listening state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListeningSocket {
    /// The local address it is bound to (`0.0.0.0` or `::` for every interface).
    pub addr: SocketAddr,
    /// The first process of the tree (in walk order, the root first) found holding it; a
    /// socket inherited by forked workers is held by several.
    pub pid: u32,
}

/// Counts `root`'s open descriptors and finds the listening sockets held by any of `pids`.
///
/// The socket tables are those of `root`'s network namespace, which its tree shares unless
/// a service creates its own. They are only read when the tree holds a socket at all.
pub(crate) fn scan(root: u32, pids: &[u32]) -> (Option<usize>, Vec<ListeningSocket>) {
    let mut root_fds = None;
    let mut held = Vec::new();
    for &pid in pids {
        let Some(fds) = socket_inodes(pid) else {
            continue;
        };
        if pid == root {
            root_fds = Some(fds.open);
        }
        held.extend(fds.sockets.into_iter().map(|inode| (inode, pid)));
    }
    if held.is_empty() {
        return (root_fds, Vec::new());
    }

    let listening = listening_table(root);
    let mut seen_inodes = HashSet::new();
    let mut found = Vec::new();
    for (inode, pid) in held {
        if let Some(&addr) = listening.get(&inode)
            && seen_inodes.insert(inode)
        {
            found.push(ListeningSocket { addr, pid });
        }
    }
    found.sort();
    (root_fds, found)
}

/// What one pass over a process's descriptors found.
struct Fds {
    /// How many descriptors are open.
    open: usize,
    /// The inodes of the sockets among them.
    sockets: Vec<u64>,
}

/// Lists `pid`'s descriptors; `None` if the process is gone or its descriptors are private.
fn socket_inodes(pid: u32) -> Option<Fds> {
    let entries = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let mut fds = Fds {
        open: 0,
        sockets: Vec::new(),
    };
    for entry in entries.flatten() {
        fds.open += 1;
        // A descriptor closed since the listing has no link to read; skip it.
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        let inode = target
            .to_str()
            .and_then(|t| t.strip_prefix("socket:["))
            .and_then(|t| t.strip_suffix(']'))
            .and_then(|t| t.parse::<u64>().ok());
        fds.sockets.extend(inode);
    }
    Some(fds)
}

/// Maps the inode of every listening TCP socket in `pid`'s network namespace to its address.
fn listening_table(pid: u32) -> HashMap<u64, SocketAddr> {
    // Netlink answers for the namespace of the socket asking, which is ours; it is far
    // cheaper than the text tables, so use it whenever the namespaces agree.
    if same_network_namespace(pid)
        && let Some(table) = sock_diag::listening_sockets()
    {
        return table;
    }
    proc_listening_table(pid)
}

/// Whether `pid` shares this process's network namespace.
fn same_network_namespace(pid: u32) -> bool {
    let ours = fs::read_link("/proc/self/ns/net");
    let theirs = fs::read_link(format!("/proc/{pid}/ns/net"));
    matches!((ours, theirs), (Ok(a), Ok(b)) if a == b)
}

/// [`listening_table`] from the text tables `/proc/<pid>/net/tcp{,6}`.
pub(crate) fn proc_listening_table(pid: u32) -> HashMap<u64, SocketAddr> {
    let mut table = HashMap::new();
    for file in ["tcp", "tcp6"] {
        // Falling back to our own namespace keeps working where `/proc/<pid>/net` is hidden.
        let text = fs::read_to_string(format!("/proc/{pid}/net/{file}"))
            .or_else(|_| fs::read_to_string(format!("/proc/net/{file}")));
        let Ok(text) = text else { continue };
        table.extend(text.lines().skip(1).filter_map(parse_listening_line));
    }
    table
}

/// Parses one line of `/proc/net/tcp{,6}`; `Some((inode, address))` for listening sockets.
fn parse_listening_line(line: &str) -> Option<(u64, SocketAddr)> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
    if *state != TCP_LISTEN {
        return None;
    }
    let (ip, port) = local.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some((inode.parse().ok()?, SocketAddr::new(parse_ip(ip)?, port)))
}

/// Decodes the kernel's hex address: the raw network-order bytes printed as native-endian
/// 32-bit words, one word for IPv4 and four for IPv6.
fn parse_ip(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        let digits = hex.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(digits, 16).ok()?.to_ne_bytes())
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_endian = "little")]
    #[test]
    fn parses_listening_ipv4_and_ipv6_lines() {
        let v4 = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31337 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            parse_listening_line(v4),
            Some((31337, "127.0.0.1:8080".parse().unwrap()))
        );
        let v6 = "   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            parse_listening_line(v6),
            Some((4242, "[::1]:80".parse().unwrap()))
        );
        let any6 = "   2: 00000000000000000000000000000000:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7 1 0 100 0 0 10 0";
        assert_eq!(
            parse_listening_line(any6),
            Some((7, "[::]:5432".parse().unwrap()))
        );
    }

    #[test]
    fn netlink_and_proc_tables_agree_on_a_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let from_proc = proc_listening_table(std::process::id());
        let (&inode, _) = from_proc
            .iter()
            .find(|(_, a)| **a == addr)
            .expect("in /proc");
        let from_netlink = sock_diag::listening_sockets().expect("sock_diag answers");
        assert_eq!(from_netlink.get(&inode), Some(&addr));
        assert!(same_network_namespace(std::process::id()));
    }

    #[test]
    fn ignores_connected_sockets_and_garbage() {
        let established = "   3: 0100007F:1F90 0100007F:A2B4 01 00000000:00000000 00:00000000 00000000  1000        0 555 1 0 20 4 30 10 -1";
        assert_eq!(parse_listening_line(established), None);
        assert_eq!(
            parse_listening_line("  sl  local_address rem_address   st"),
            None
        );
        assert_eq!(parse_listening_line(""), None);
    }
}
