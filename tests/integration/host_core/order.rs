use teamster::Event;
use tokio_stream::StreamExt;

use crate::fixture::Project;

/// A service starts only once everything it needs is ready; independent ones start at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependency_order() {
    let p = Project::new();
    let bundle = p.bundle(
        r#"
[services.a]
command = "sh -c 'sleep 0.2; echo up; exec sleep 600'"
ready = { log = "up" }
[services.b]
command = "sh -c 'echo up; exec sleep 600'"
needs = ["a"]
ready = { log = "up" }
[services.c]
command = "sh -c 'echo up; exec sleep 600'"
ready = { log = "up" }
[services.d]
command = "sh -c 'echo up; exec sleep 600'"
needs = ["b", "c"]
ready = { log = "up" }
"#,
    );
    let mut events = bundle.events();
    let running = bundle.start().await.expect("start");
    running.stop().await;
    let mut order = Vec::new();
    // Every event was sent before `stop` returned, and every start before any stop.
    while let Some(e) = events.next().await {
        match e {
            Event::Starting { service } => order.push(format!("start {service}")),
            Event::Ready { service, .. } => order.push(format!("ready {service}")),
            Event::Stopping { .. } => break,
            _ => {}
        }
    }
    let pos = |s: &str| {
        order
            .iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("{s} missing in {order:?}"))
    };
    // a and c start together, before anything is ready.
    assert!(pos("start c") < pos("ready a"), "{order:?}");
    assert!(pos("ready a") < pos("start b"), "{order:?}");
    assert!(pos("ready b") < pos("start d"), "{order:?}");
    assert!(pos("ready c") < pos("start d"), "{order:?}");
}

/// Shutdown goes in reverse dependency order: a dependent is gone before what it needs stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_shutdown_order() {
    let p = Project::new();
    let bundle = p.bundle(
        r#"
[services.db]
command = "sh -c 'echo up; exec sleep 600'"
ready = { log = "up" }
[services.web]
command = "sh -c 'echo up; exec sleep 600'"
needs = ["db"]
ready = { log = "up" }
"#,
    );
    let running = bundle.start().await.expect("start");
    let mut events = running.events();
    running.stop().await;
    let mut order = Vec::new();
    // Every event was sent before `stop` returned; db, needed by web, stops last.
    while let Some(e) = events.next().await {
        match e {
            Event::Stopping { service } => order.push(format!("stopping {service}")),
            Event::Stopped { service } => {
                let last = service == "db";
                order.push(format!("stopped {service}"));
                if last {
                    break;
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        order,
        ["stopping web", "stopped web", "stopping db", "stopped db"]
    );
}
