//! Leases: the last one out stops a leased bundle after its grace; a SIGKILLed holder is
//! out too; a kept bundle survives.

use std::time::Duration;

use serde_json::json;

use super::{Conn, TWO, gone_within, start};
use crate::fixture::{Project, alive};

/// Runs `release` (which lets go of leases of the bundle under test) at the same moment as
/// the last lease of a reference bundle with the same `grace` is released, and returns
/// once that reference has stopped: by then the grace has run out for the bundle under
/// test too, had its countdown started. An event to wait for, instead of a guessed sleep.
fn after_a_grace(grace: &str, release: impl FnOnce()) {
    let q = Project::new();
    let reference = start(&q, TWO, &["--leased", "--grace", grace]);
    let (mut lease, _) = Conn::open(&reference.socket());
    lease.call("lease.acquire", json!({})).unwrap();
    release();
    drop(lease);
    assert!(
        gone_within(reference.pid(), Duration::from_secs(15)),
        "the reference bundle stops after its grace"
    );
}

#[test]
fn the_last_lease_out_stops_a_leased_bundle_after_the_grace() {
    let p = Project::new();
    let d = start(&p, TWO, &["--leased", "--grace", "300ms"]);
    let (mut first, hello) = Conn::open(&d.socket());
    assert_eq!(hello["kept"], false);
    let (mut second, _) = Conn::open(&d.socket());
    first.call("lease.acquire", json!({})).unwrap();
    assert_eq!(
        second.call("lease.acquire", json!({})).unwrap()["leases"],
        2
    );
    // One holder left: the bundle runs on past the grace.
    after_a_grace("300ms", || drop(first));
    assert!(alive(d.pid()));
    let status = second.call("status", json!({})).unwrap();
    assert_eq!(status["leases"], 1);
    assert_eq!(status["phase"], "ready", "{status}");
    drop(second);
    assert!(
        gone_within(d.pid(), Duration::from_secs(15)),
        "the host stops after the last lease"
    );
}

#[test]
fn a_sigkilled_lease_holder_counts_as_out() {
    let p = Project::new();
    let d = start(&p, TWO, &["--leased", "--grace", "200ms"]);
    // A holder in another process, SIGKILLed while it holds its lease.
    let script = format!(
        "import socket,json,time\ns=socket.socket(socket.AF_UNIX)\ns.connect({:?})\nf=s.makefile('rw')\nfor i,(m,p) in enumerate([('hello',{{'protocol':1}}),('lease.acquire',{{}})]):\n    f.write(json.dumps({{'jsonrpc':'2.0','id':i,'method':m,'params':p}})+'\\n'); f.flush(); f.readline()\nprint('held', flush=True)\ntime.sleep(1000)\n",
        d.socket().display().to_string()
    );
    let mut holder = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "held");
    let (mut watcher, _) = Conn::open(&d.socket());
    assert_eq!(watcher.call("status", json!({})).unwrap()["leases"], 1);
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        gone_within(d.pid(), Duration::from_secs(15)),
        "a killed holder releases its lease"
    );
}

#[test]
fn a_kept_bundle_survives_its_last_lease() {
    let p = Project::new();
    let d = start(&p, TWO, &["--reuse", "--grace", "100ms"]);
    let (mut conn, hello) = Conn::open(&d.socket());
    assert_eq!(hello["kept"], true);
    conn.call("lease.acquire", json!({})).unwrap();
    after_a_grace("100ms", || drop(conn));
    assert!(alive(d.pid()), "kept: it runs until `down`");
    // The next run attaches to it.
    let again = super::up_detached(p.path(), &["--reuse"], None);
    assert_eq!(again["attached"], true);
    assert_eq!(again["pid"], d.ready["pid"]);
    let out = super::teamster(p.path(), &["down"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(gone_within(d.pid(), Duration::from_secs(10)));
}
