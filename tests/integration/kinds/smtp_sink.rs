//! The `smtp-sink` kind: mail sent by a real client shows up as JSON in the service's log.

use std::time::Duration;

use crate::fixture::Project;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_sent_with_smtplib_appears_as_json() {
    let p = Project::new();
    let running = p.start("[services.mail]\nkind = \"smtp-sink\"\n").await;
    let port = running.connection("mail", "port").expect("port").to_owned();
    assert_eq!(
        running.connection("mail", "url"),
        Some(format!("smtp://127.0.0.1:{port}").as_str())
    );
    let script = r#"
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "app@example.test"
m["To"] = "user@example.test"
m["Subject"] = "Welcome aboard"
m.set_content("Confirm at http://127.0.0.1/confirm/abc")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10) as s:
    s.send_message(m)
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &port])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The sink prints a message before it accepts it, so by now the line is already in the
    // log: look back over the recent lines too.
    let mail = running["mail"]
        .logs()
        .until_json(
            serde_json::json!({"subject": "Welcome aboard"}),
            Duration::from_secs(10),
        )
        .lines_back(10)
        .await
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    assert_eq!(
        mail.value["sent_to"],
        serde_json::json!(["user@example.test"])
    );
    assert_eq!(
        mail.value["links"],
        serde_json::json!(["http://127.0.0.1/confirm/abc"])
    );
    running.stop().await;
}
