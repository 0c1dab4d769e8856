//! End-to-end tests: a real server on a free port, driven by Python's `smtplib` (the client
//! Django uses) and by a raw TCP client for the protocol's edge cases.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinHandle;

use super::*;

/// How long any single step (a Python run, a reply) may take before the test fails.
const STEP: Duration = Duration::from_secs(30);

/// An in-memory output shared between the server's writer thread and the test.
type Output = crate::test_support::Captured;

/// A running sink; the server task is aborted when the test drops it.
struct Sink {
    addr: SocketAddr,
    output: Output,
    task: JoinHandle<Result<(), SmtpError>>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sink {
    async fn start(limits: Limits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let output = Output::default();
        let task = tokio::spawn(serve_with(listener, output.clone(), limits));
        Self { addr, output, task }
    }

    /// Every message printed so far. The server prints before it replies `250`, so once a
    /// client has seen its message accepted, the message is here; no waiting is needed.
    fn mails(&self) -> Vec<Mail> {
        self.output
            .text()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
            })
            .collect()
    }

    fn raw_lines(&self) -> Vec<String> {
        self.output.text().lines().map(str::to_owned).collect()
    }

    /// Runs a Python script with the port as `sys.argv[1]` and fails the test if it fails.
    async fn python(&self, script: &str) {
        let run = tokio::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(self.addr.port().to_string())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(STEP, run)
            .await
            .expect("python finished in time")
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "python failed with {}:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A hand-driven SMTP client for what `smtplib` will not do on purpose.
struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (read, writer) = stream.into_split();
        let mut client = Self {
            reader: BufReader::new(read),
            writer,
        };
        assert_eq!(client.reply().await.0, 220);
        client
    }

    async fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).await.unwrap();
    }

    /// Reads one (possibly multi-line) reply: its code and its lines' text.
    async fn reply(&mut self) -> (u16, Vec<String>) {
        let mut texts = Vec::new();
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(STEP, self.reader.read_line(&mut line))
                .await
                .expect("a reply in time")
                .unwrap();
            assert!(read > 0, "connection closed while waiting for a reply");
            assert!(line.ends_with("\r\n"), "reply line {line:?} lacks CRLF");
            let code = line[..3].parse().unwrap();
            texts.push(line[4..].trim_end().to_owned());
            if line.as_bytes()[3] == b' ' {
                return (code, texts);
            }
        }
    }

    async fn send_and_reply(&mut self, text: &str) -> (u16, Vec<String>) {
        self.send(text).await;
        self.reply().await
    }

    async fn command(&mut self, line: &str) -> u16 {
        self.send(&format!("{line}\r\n")).await;
        self.reply().await.0
    }

    /// Reads until the server closes the connection.
    async fn closed(&mut self) -> bool {
        let mut rest = String::new();
        let read = tokio::time::timeout(STEP, self.reader.read_line(&mut rest))
            .await
            .expect("the server closes in time")
            .unwrap();
        read == 0
    }
}

#[tokio::test]
async fn smtplib_sendmail_of_a_plain_text_message() {
    let sink = Sink::start(Limits::default()).await;
    sink.python(
        r#"
import smtplib, sys
message = (
    "From: Alice Example <alice@example.com>\r\n"
    "To: bob@example.com\r\n"
    "Subject: Plain hello\r\n"
    "\r\n"
    "Hi Bob,\r\n"
    ".this line starts with a dot\r\n"
    "Confirm: https://app.example/confirm?t=1\r\n"
)
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as smtp:
    refused = smtp.sendmail("bounce@example.com", ["bob@example.com", "carol@example.com"], message)
    assert refused == {}, refused
"#,
    )
    .await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.subject.as_deref(), Some("Plain hello"));
    assert_eq!(mail.sent_from, "bounce@example.com");
    assert_eq!(mail.sent_to, ["bob@example.com", "carol@example.com"]);
    assert_eq!(
        mail.header_from.as_deref(),
        Some("Alice Example <alice@example.com>")
    );
    assert_eq!(mail.header_to, ["bob@example.com"]);
    assert_eq!(mail.contenttype, "text/plain");
    assert!(!mail.multipart);
    assert_eq!(
        mail.payload,
        Payload::Single(Some(
            "Hi Bob,\r\n.this line starts with a dot\r\nConfirm: https://app.example/confirm?t=1\r\n"
                .to_owned()
        ))
    );
    assert_eq!(mail.links, ["https://app.example/confirm?t=1"]);
}

#[tokio::test]
async fn smtplib_send_message_with_text_and_html_alternatives() {
    let sink = Sink::start(Limits::default()).await;
    sink.python(
        r#"
import smtplib, sys
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
message = EmailMessage()
message["Subject"] = "Welcome, René"
message["From"] = "Shop <shop@example.com>"
message["To"] = "Bob <bob@example.com>, carol@example.com"
message["Cc"] = "dave@example.com"
message["Date"] = formatdate(localtime=True)
message["Message-ID"] = make_msgid(domain="example.com")
message.set_content("Hello!\nActivate: https://shop.example/activate?id=7\n")
message.add_alternative(
    '<p>Hello!</p><a href="https://shop.example/activate?id=7&amp;src=mail">Activate</a>'
    '<a href="https://shop.example/help">Help</a>\n',
    subtype="html",
)
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as smtp:
    smtp.ehlo()
    smtp.send_message(message)
"#,
    )
    .await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    // send_message takes the envelope from the headers, Cc included.
    assert_eq!(mail.sent_from, "shop@example.com");
    assert_eq!(
        mail.sent_to,
        ["bob@example.com", "carol@example.com", "dave@example.com"]
    );
    assert!(mail.multipart);
    assert_eq!(
        mail.links,
        [
            "https://shop.example/activate?id=7",
            "https://shop.example/activate?id=7&src=mail",
            "https://shop.example/help"
        ]
    );
    insta::assert_snapshot!(redacted_json(mail), @r#"
    {
      "subject": "Welcome, René",
      "sent_from": "shop@example.com",
      "sent_to": [
        "bob@example.com",
        "carol@example.com",
        "dave@example.com"
      ],
      "header_from": "Shop <shop@example.com>",
      "header_to": [
        "Bob <bob@example.com>",
        "carol@example.com"
      ],
      "cc": [
        "dave@example.com"
      ],
      "date": "[date]",
      "contenttype": "multipart/alternative",
      "multipart": true,
      "payload": [
        {
          "contenttype": "text/plain",
          "filename": null,
          "size": 54,
          "payload": "Hello!\r\nActivate: https://shop.example/activate?id=7\r\n"
        },
        {
          "contenttype": "text/html",
          "filename": null,
          "size": 129,
          "payload": "<p>Hello!</p><a href=\"https://shop.example/activate?id=7&amp;src=mail\">Activate</a><a href=\"https://shop.example/help\">Help</a>\r\n"
        }
      ],
      "links": [
        "https://shop.example/activate?id=7",
        "https://shop.example/activate?id=7&src=mail",
        "https://shop.example/help"
      ],
      "headers": {
        "Subject": "Welcome, René",
        "From": "Shop <shop@example.com>",
        "To": "Bob <bob@example.com>, carol@example.com",
        "Cc": "dave@example.com",
        "Date": "[date]",
        "Message-ID": "[message-id]",
        "MIME-Version": "1.0",
        "Content-Type": "multipart/alternative; boundary=\"[boundary]\""
      }
    }
    "#);
}

/// The message as pretty JSON, with what changes from run to run replaced by placeholders.
fn redacted_json(mail: &Mail) -> String {
    let boundary = regex::Regex::new(r#"boundary="[^"]*""#).unwrap();
    let mut mail = mail.clone();
    mail.date = Some("[date]".to_owned());
    for (name, value) in &mut mail.headers {
        match name.as_str() {
            "Date" => *value = "[date]".to_owned(),
            "Message-ID" => *value = "[message-id]".to_owned(),
            "Content-Type" => {
                *value = boundary
                    .replace(value, r#"boundary="[boundary]""#)
                    .into_owned();
            }
            _ => {}
        }
    }
    serde_json::to_string_pretty(&mail).unwrap()
}

#[tokio::test]
async fn smtplib_send_message_with_attachments_and_a_utf8_address() {
    let sink = Sink::start(Limits::default()).await;
    sink.python(
        r#"
import smtplib, sys
from email.message import EmailMessage
message = EmailMessage()
message["Subject"] = "Your report"
message["From"] = "reports@example.com"
message["To"] = "josé@example.com"
message.set_content("The report is attached.\n")
message.add_attachment(bytes(range(256)) * 4, maintype="application", subtype="pdf", filename="report.pdf")
message.add_attachment("a,b\n1,2\n", subtype="csv", filename="data.csv")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as smtp:
    # A non-ASCII address makes smtplib use SMTPUTF8 and BODY=8BITMIME.
    smtp.send_message(message)
"#,
    )
    .await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.sent_to, ["josé@example.com"]);
    assert_eq!(mail.header_to, ["josé@example.com"]);
    assert_eq!(mail.contenttype, "multipart/mixed");
    let Payload::Multipart(parts) = &mail.payload else {
        panic!("expected parts, got {:?}", mail.payload);
    };
    let summary: Vec<_> = parts
        .iter()
        .map(|p| (p.contenttype.as_str(), p.filename.as_deref(), p.size))
        .collect();
    assert_eq!(
        summary,
        [
            ("text/plain", None, 25),
            ("application/pdf", Some("report.pdf"), 1024),
            ("text/csv", Some("data.csv"), 10),
        ]
    );
    // smtplib sends CRLF line ends, and payloads are what was on the wire, decoded.
    assert_eq!(
        parts[0].payload.as_deref(),
        Some("The report is attached.\r\n")
    );
    assert_eq!(parts[1].payload, None);
    assert_eq!(parts[2].payload.as_deref(), Some("a,b\r\n1,2\r\n"));
}

#[tokio::test]
async fn django_style_login_and_several_messages_on_one_connection() {
    let sink = Sink::start(Limits::default()).await;
    // This is what Django's SMTP backend does with a user set: login(), then sendmail() of
    // message.as_bytes(linesep="\r\n") for each message, then quit().
    sink.python(
        r#"
import smtplib, sys
from email.mime.text import MIMEText
smtp = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="app.example", timeout=10)
smtp.login("user", "secret")
for n in (1, 2):
    message = MIMEText(f"Message {n}\n", "plain", "utf-8")
    message["Subject"] = f"Number {n}"
    message["From"] = "app@example.com"
    message["To"] = "user@example.com"
    raw = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    smtp.sendmail("app@example.com", ["user@example.com"], raw)
# AUTH LOGIN, step by step, on a second connection.
second = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
second.ehlo()
second.user, second.password = "user", "secret"
second.auth("LOGIN", second.auth_login, initial_response_ok=False)
second.quit()
smtp.quit()
"#,
    )
    .await;
    // MIMEText with a utf-8 charset is base64-encoded, so the decoded text keeps the `\n`
    // line ends it was written with.
    let subjects: Vec<_> = sink
        .mails()
        .into_iter()
        .map(|mail| (mail.subject, mail.payload))
        .collect();
    assert_eq!(
        subjects,
        [
            (
                Some("Number 1".to_owned()),
                Payload::Single(Some("Message 1\n".to_owned()))
            ),
            (
                Some("Number 2".to_owned()),
                Payload::Single(Some("Message 2\n".to_owned()))
            ),
        ]
    );
}

#[tokio::test]
async fn smtplib_starttls_fails_when_tls_is_required() {
    let sink = Sink::start(Limits::default()).await;
    sink.python(
        r#"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as smtp:
    try:
        smtp.starttls()
    except smtplib.SMTPNotSupportedError:
        pass
    else:
        raise AssertionError("STARTTLS should not be offered")
    code, _ = smtp.docmd("STARTTLS")
    assert code == 454, code
"#,
    )
    .await;
    assert!(sink.mails().is_empty());
}

#[tokio::test]
async fn dot_stuffed_lines_and_bare_newlines_are_restored() {
    let sink = Sink::start(Limits::default()).await;
    let mut client = Client::connect(sink.addr).await;
    assert_eq!(client.command("HELO raw").await, 250);
    assert_eq!(client.command("MAIL FROM:<a@example.com>").await, 250);
    assert_eq!(client.command("RCPT TO:<b@example.com>").await, 250);
    assert_eq!(client.command("DATA").await, 354);
    client
        .send("Subject: dots\r\n\r\n..\r\n..leading\r\nbare\nLF\r\n.\r\n")
        .await;
    assert_eq!(client.reply().await.0, 250);
    assert_eq!(client.command("QUIT").await, 221);
    assert!(client.closed().await);
    let mails = sink.mails();
    assert_eq!(
        mails[0].payload,
        Payload::Single(Some(".\r\n.leading\r\nbare\r\nLF\r\n".to_owned()))
    );
}

#[tokio::test]
async fn dot_terminator_ends_the_body_and_following_lines_are_commands() {
    let sink = Sink::start(Limits::default()).await;
    let mut client = Client::connect(sink.addr).await;
    assert_eq!(client.command("MAIL FROM:<a@example.com>").await, 250);
    assert_eq!(client.command("RCPT TO:<b@example.com>").await, 250);
    assert_eq!(client.command("DATA").await, 354);
    client
        .send("Subject: one\r\n\r\nbody\r\n.\r\nNOOP\r\n")
        .await;
    assert_eq!(client.reply().await.0, 250);
    assert_eq!(client.reply().await.0, 250, "NOOP after the body");
    assert_eq!(
        sink.mails()[0].payload,
        Payload::Single(Some("body\r\n".to_owned()))
    );
}

#[tokio::test]
async fn rset_discards_the_transaction() {
    let sink = Sink::start(Limits::default()).await;
    let mut client = Client::connect(sink.addr).await;
    assert_eq!(client.command("EHLO raw").await, 250);
    assert_eq!(client.command("MAIL FROM:<first@example.com>").await, 250);
    assert_eq!(client.command("RCPT TO:<x@example.com>").await, 250);
    assert_eq!(client.command("RSET").await, 250);
    assert_eq!(client.command("DATA").await, 503);
    assert_eq!(client.command("MAIL FROM:<second@example.com>").await, 250);
    assert_eq!(client.command("RCPT TO:<y@example.com>").await, 250);
    assert_eq!(client.command("DATA").await, 354);
    client.send("Subject: after reset\r\n\r\nhi\r\n.\r\n").await;
    assert_eq!(client.reply().await.0, 250);
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].sent_from, "second@example.com");
    assert_eq!(mails[0].sent_to, ["y@example.com"]);
}

#[tokio::test]
async fn pipelined_commands_get_their_replies_in_order() {
    let sink = Sink::start(Limits::default()).await;
    let mut client = Client::connect(sink.addr).await;
    let (code, extensions) = {
        client.send("EHLO pipe\r\n").await;
        client.reply().await
    };
    assert_eq!(code, 250);
    assert!(
        extensions.iter().any(|e| e == "PIPELINING"),
        "{extensions:?}"
    );
    // One write holding a whole transaction up to DATA, as RFC 2920 permits.
    client
        .send("MAIL FROM:<p@example.com>\r\nRCPT TO:<q@example.com>\r\nRCPT TO:<>\r\nRCPT TO:<r@example.com>\r\nDATA\r\n")
        .await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(client.reply().await.0);
    }
    assert_eq!(codes, [250, 250, 501, 250, 354]);
    client
        .send("Subject: piped\r\n\r\nx\r\n.\r\nMAIL FROM:<p2@example.com>\r\nRCPT TO:<q2@example.com>\r\nDATA\r\n")
        .await;
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(client.reply().await.0);
    }
    assert_eq!(codes, [250, 250, 250, 354]);
    client
        .send("Subject: piped again\r\n\r\ny\r\n.\r\nQUIT\r\n")
        .await;
    assert_eq!(client.reply().await.0, 250);
    assert_eq!(client.reply().await.0, 221);
    let envelopes: Vec<_> = sink
        .mails()
        .into_iter()
        .map(|mail| (mail.sent_from, mail.sent_to))
        .collect();
    assert_eq!(
        envelopes,
        [
            (
                "p@example.com".to_owned(),
                vec!["q@example.com".to_owned(), "r@example.com".to_owned()]
            ),
            (
                "p2@example.com".to_owned(),
                vec!["q2@example.com".to_owned()]
            ),
        ]
    );
}

#[tokio::test]
async fn oversized_messages_and_lines_are_refused_and_the_connection_goes_on() {
    let limits = Limits {
        max_message_bytes: 1024,
        max_command_line: 128,
        ..Limits::default()
    };
    let sink = Sink::start(limits).await;
    let mut client = Client::connect(sink.addr).await;
    let (code, texts) = client
        .send_and_reply(&format!("NOOP {}\r\n", "x".repeat(200)))
        .await;
    assert_eq!((code, texts), (500, vec!["line too long".to_owned()]));
    assert_eq!(
        client.command("MAIL FROM:<a@example.com> SIZE=2048").await,
        552
    );
    assert_eq!(client.command("MAIL FROM:<a@example.com>").await, 250);
    assert_eq!(client.command("RCPT TO:<b@example.com>").await, 250);
    assert_eq!(client.command("DATA").await, 354);
    // Many short lines, then one line longer than the whole allowance.
    client.send(&"0123456789\r\n".repeat(100)).await;
    client.send(&format!("{}\r\n.\r\n", "y".repeat(5000))).await;
    let (code, texts) = client.reply().await;
    assert_eq!(
        (code, texts),
        (
            552,
            vec!["message size exceeds fixed maximum message size".to_owned()]
        )
    );
    // The same connection still delivers a message that fits.
    assert_eq!(client.command("MAIL FROM:<a@example.com>").await, 250);
    assert_eq!(client.command("RCPT TO:<b@example.com>").await, 250);
    assert_eq!(client.command("DATA").await, 354);
    client.send("Subject: small\r\n\r\nok\r\n.\r\n").await;
    assert_eq!(client.reply().await.0, 250);
    let subjects: Vec<_> = sink.mails().into_iter().map(|m| m.subject).collect();
    assert_eq!(subjects, [Some("small".to_owned())]);
}

#[tokio::test]
async fn an_idle_client_is_told_and_disconnected() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let sink = Sink::start(limits).await;
    let mut client = Client::connect(sink.addr).await;
    let (code, _) = client.reply().await;
    assert_eq!(code, 421);
    assert!(client.closed().await);
}

#[tokio::test]
async fn concurrent_connections_print_whole_lines() {
    let sink = Sink::start(Limits::default()).await;
    let mut clients = tokio::task::JoinSet::new();
    for n in 0..8 {
        let addr = sink.addr;
        clients.spawn(async move {
            let mut client = Client::connect(addr).await;
            assert_eq!(
                client
                    .command(&format!("MAIL FROM:<{n}@example.com>"))
                    .await,
                250
            );
            assert_eq!(client.command("RCPT TO:<all@example.com>").await, 250);
            assert_eq!(client.command("DATA").await, 354);
            let body = format!("Subject: {n}\r\n\r\n{}\r\n.\r\n", "z".repeat(50_000));
            client.send(&body).await;
            assert_eq!(client.reply().await.0, 250);
        });
    }
    while let Some(joined) = clients.join_next().await {
        joined.unwrap();
    }
    let mut senders: Vec<_> = sink.mails().into_iter().map(|m| m.sent_from).collect();
    senders.sort();
    let expected: Vec<_> = (0..8).map(|n| format!("{n}@example.com")).collect();
    assert_eq!(senders, expected);
    assert_eq!(sink.raw_lines().len(), 8);
}

/// An output whose reader went away.
struct Closed;

impl Write for Closed {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends one complete message on a fresh connection and returns the reply to its body, or
/// `None` if the server closed the connection instead.
async fn send_one(client: &mut Client) -> Option<u16> {
    assert_eq!(client.command("MAIL FROM:<a@example.com>").await, 250);
    assert_eq!(client.command("RCPT TO:<b@example.com>").await, 250);
    assert_eq!(client.command("DATA").await, 354);
    client.send("Subject: lost\r\n\r\nx\r\n.\r\n").await;
    let mut line = String::new();
    let read = tokio::time::timeout(STEP, client.reader.read_line(&mut line))
        .await
        .expect("an answer in time")
        .unwrap();
    (read > 0).then(|| line[..3].parse().unwrap())
}

#[tokio::test]
async fn a_message_that_cannot_be_printed_is_refused_with_451() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (printer, _failure) = printer::Printer::start(Closed).unwrap();
    let server = tokio::spawn(async move {
        let (stream, peer) = listener.accept().await.unwrap();
        connection::handle(stream, peer, Limits::default(), printer).await
    });
    let mut client = Client::connect(addr).await;
    assert_eq!(send_one(&mut client).await, Some(451));
    assert_eq!(client.command("QUIT").await, 221);
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_broken_output_stops_the_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(listener, Closed));
    let mut client = Client::connect(addr).await;
    // The server stops as soon as the output fails, so the connection may be cut before
    // its `451` goes out; either way the message must not be acknowledged.
    let answer = send_one(&mut client).await;
    assert!(matches!(answer, None | Some(451)), "{answer:?}");
    let stopped = tokio::time::timeout(STEP, server)
        .await
        .expect("the server stops in time")
        .unwrap();
    let error = stopped.expect_err("a broken output stops the server");
    insta::assert_snapshot!(error, @"cannot write received mail to the output");
    assert!(
        matches!(error, SmtpError::Output(ref cause) if cause.kind() == std::io::ErrorKind::BrokenPipe)
    );
}

#[tokio::test]
async fn run_reports_a_taken_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let error = run(addr).await.expect_err("the port is taken");
    let message = error
        .to_string()
        .replace(&addr.port().to_string(), "<port>");
    insta::assert_snapshot!(message, @"cannot listen on 127.0.0.1:<port>");
    assert!(
        matches!(error, SmtpError::Bind { ref source, .. } if source.kind() == std::io::ErrorKind::AddrInUse)
    );
}

#[test]
fn the_ready_line_names_the_bound_address() {
    let addr: SocketAddr = "127.0.0.1:2525".parse().unwrap();
    insta::assert_snapshot!(ready_line(addr), @"smtp-sink listening on 127.0.0.1:2525");
    assert!(ready_line(addr).starts_with(READY_PREFIX));
}
