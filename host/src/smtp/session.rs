//! The SMTP conversation as a state machine that never touches a socket.
//!
//! Keeping the protocol apart from I/O lets every rule of RFC 5321 (which command is allowed
//! when, which reply code answers what) be tested with plain function calls, and leaves the
//! connection loop with only reading, writing and the `DATA` body. The session sees one line
//! at a time and answers with a [`Next`]: a reply, a reply that opens the `DATA` body, or a
//! reply after which the connection closes.

use super::limits::Limits;

/// The name the server gives itself in the greeting and in `EHLO`/`HELO` replies.
pub(crate) const SERVER_NAME: &str = "localhost";

/// One SMTP reply: a code and one or more text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub(crate) fn new(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            lines: vec![text.into()],
        }
    }

    /// The reply's code (`250`, `354`, …).
    #[cfg(test)]
    pub(crate) fn code(&self) -> u16 {
        self.code
    }

    /// Appends the wire form, `250-first\r\n…250 last\r\n`, to `out`.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        let last = self.lines.len().saturating_sub(1);
        for (index, line) in self.lines.iter().enumerate() {
            let separator = if index == last { ' ' } else { '-' };
            out.extend_from_slice(format!("{}{separator}{line}\r\n", self.code).as_bytes());
        }
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut wire = Vec::new();
        self.write_to(&mut wire);
        f.write_str(&String::from_utf8_lossy(&wire))
    }
}

/// What the connection does after the session has seen a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Send the reply and read the next command.
    Reply(Reply),
    /// Send the reply (`354`) and read the message body up to the lone `.` line. The
    /// transaction is over as far as the session is concerned: whether the body is then
    /// accepted or not, the next command starts afresh (RFC 5321 section 4.1.1.4).
    Data {
        /// The `354` reply.
        reply: Reply,
        /// Who the message is from and to.
        envelope: Envelope,
    },
    /// Send the reply and close the connection.
    Close(Reply),
}

/// The envelope of one message: who the client says it is from and to whom it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    /// The `MAIL FROM` path, empty for the null sender `<>`.
    pub(crate) from: String,
    /// The `RCPT TO` paths, in the order given.
    pub(crate) to: Vec<String>,
}

/// Where the current mail transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Transaction {
    /// No `MAIL FROM` yet (or the last one was finished or reset).
    Idle,
    /// `MAIL FROM` accepted; recipients may be added.
    Open(Envelope),
}

/// Where authentication stands. Every credential is accepted, but the exchange still has to
/// follow RFC 4954 so that clients finish their side of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// No `AUTH` yet.
    Anonymous,
    /// `AUTH PLAIN` without an initial response: the next line is the response.
    AwaitingPlain,
    /// `AUTH LOGIN` without a user name: the next line is the user name.
    AwaitingLoginUser,
    /// `AUTH LOGIN` has the user name: the next line is the password.
    AwaitingLoginPassword,
    /// Authenticated as whoever the client claimed to be.
    Authenticated,
}

/// `Username:` and `Password:` in base64, the challenges `AUTH LOGIN` clients expect.
const LOGIN_USER_CHALLENGE: &str = "VXNlcm5hbWU6";
const LOGIN_PASSWORD_CHALLENGE: &str = "UGFzc3dvcmQ6";

/// One client's conversation with the server.
#[derive(Debug)]
pub(crate) struct Session {
    limits: Limits,
    transaction: Transaction,
    auth: Auth,
}

impl Session {
    /// A new conversation; send [`Session::greeting`] first.
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            transaction: Transaction::Idle,
            auth: Auth::Anonymous,
        }
    }

    /// The `220` banner sent as soon as the client connects.
    pub(crate) fn greeting() -> Reply {
        Reply::new(220, format!("{SERVER_NAME} ESMTP teamster smtp-sink ready"))
    }

    /// The reply to a command line that exceeded [`Limits::max_command_line`].
    pub(crate) fn line_too_long() -> Reply {
        Reply::new(500, "line too long")
    }

    /// The reply sent before closing an idle connection.
    pub(crate) fn idle_timeout() -> Reply {
        Reply::new(
            421,
            format!("{SERVER_NAME} idle for too long, closing connection"),
        )
    }

    /// Handles one line (without its terminator) received outside a message body.
    pub(crate) fn line(&mut self, line: &[u8]) -> Next {
        let line = String::from_utf8_lossy(line);
        match self.auth {
            Auth::AwaitingPlain | Auth::AwaitingLoginUser | Auth::AwaitingLoginPassword => {
                Next::Reply(self.auth_response(&line))
            }
            Auth::Anonymous | Auth::Authenticated => self.command(&line),
        }
    }

    fn command(&mut self, line: &str) -> Next {
        let (verb, args) = match line.split_once(' ') {
            Some((verb, args)) => (verb, args.trim()),
            None => (line.trim(), ""),
        };
        let reply = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => self.ehlo(args),
            "HELO" => self.helo(args),
            "MAIL" => self.mail(args),
            "RCPT" => self.rcpt(args),
            "DATA" => return self.data(args),
            "RSET" => {
                self.transaction = Transaction::Idle;
                Reply::new(250, "OK")
            }
            "NOOP" => Reply::new(250, "OK"),
            "VRFY" if args.is_empty() => Reply::new(501, "VRFY needs a user or mailbox"),
            "VRFY" => Reply::new(
                252,
                "cannot VRFY user, but will accept message and attempt delivery",
            ),
            "HELP" => Reply::new(214, "see RFC 5321; this server accepts every message"),
            "AUTH" => self.auth(args),
            "STARTTLS" => Reply::new(454, "TLS not available"),
            "QUIT" => {
                return Next::Close(Reply::new(221, format!("{SERVER_NAME} closing connection")));
            }
            // Real SMTP commands this server knows of but does not offer.
            "EXPN" | "BDAT" | "TURN" | "ETRN" | "ATRN" | "SEND" | "SOML" | "SAML" => {
                Reply::new(502, "command not implemented")
            }
            _ => Reply::new(500, "command unrecognized"),
        };
        Next::Reply(reply)
    }

    fn ehlo(&mut self, args: &str) -> Reply {
        if args.is_empty() {
            return Reply::new(501, "EHLO needs a domain or address literal");
        }
        self.transaction = Transaction::Idle;
        Reply {
            code: 250,
            lines: vec![
                format!("{SERVER_NAME} at your service"),
                "8BITMIME".to_owned(),
                "SMTPUTF8".to_owned(),
                "PIPELINING".to_owned(),
                format!("SIZE {}", self.limits.max_message_bytes),
                "AUTH PLAIN LOGIN".to_owned(),
                "HELP".to_owned(),
            ],
        }
    }

    fn helo(&mut self, args: &str) -> Reply {
        if args.is_empty() {
            return Reply::new(501, "HELO needs a domain");
        }
        self.transaction = Transaction::Idle;
        Reply::new(250, SERVER_NAME)
    }

    fn mail(&mut self, args: &str) -> Reply {
        if self.transaction != Transaction::Idle {
            return Reply::new(503, "nested MAIL command");
        }
        let Some(rest) = strip_prefix_ignore_case(args, "FROM:") else {
            return Reply::new(501, "syntax: MAIL FROM:<address>");
        };
        let Some((from, params)) = split_path(rest) else {
            return Reply::new(501, "syntax: MAIL FROM:<address>");
        };
        for param in params.split_ascii_whitespace() {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.parse::<u64>() {
                    Ok(size) if size > self.limits.max_message_bytes as u64 => {
                        return Reply::new(552, "message size exceeds fixed maximum message size");
                    }
                    Ok(_) => {}
                    Err(_) => return Reply::new(501, "SIZE needs a number of bytes"),
                },
                "BODY" => match value.to_ascii_uppercase().as_str() {
                    "7BIT" | "8BITMIME" => {}
                    _ => return Reply::new(501, "BODY must be 7BIT or 8BITMIME"),
                },
                // SMTPUTF8 is advertised; AUTH= is part of the AUTH extension (RFC 4954).
                "SMTPUTF8" | "AUTH" => {}
                _ => return Reply::new(555, "MAIL FROM parameter not recognized"),
            }
        }
        self.transaction = Transaction::Open(Envelope {
            from,
            to: Vec::new(),
        });
        Reply::new(250, "OK")
    }

    fn rcpt(&mut self, args: &str) -> Reply {
        let Transaction::Open(envelope) = &mut self.transaction else {
            return Reply::new(503, "need MAIL before RCPT");
        };
        let Some(rest) = strip_prefix_ignore_case(args, "TO:") else {
            return Reply::new(501, "syntax: RCPT TO:<address>");
        };
        let Some((to, params)) = split_path(rest) else {
            return Reply::new(501, "syntax: RCPT TO:<address>");
        };
        if to.is_empty() {
            return Reply::new(501, "RCPT TO needs an address");
        }
        if !params.trim().is_empty() {
            return Reply::new(555, "RCPT TO parameters not recognized");
        }
        if envelope.to.len() >= self.limits.max_recipients {
            return Reply::new(452, "too many recipients");
        }
        envelope.to.push(to);
        Reply::new(250, "OK")
    }

    fn data(&mut self, args: &str) -> Next {
        if !args.is_empty() {
            return Next::Reply(Reply::new(501, "DATA takes no arguments"));
        }
        match std::mem::replace(&mut self.transaction, Transaction::Idle) {
            Transaction::Open(envelope) if !envelope.to.is_empty() => Next::Data {
                reply: Reply::new(354, "end data with <CR><LF>.<CR><LF>"),
                envelope,
            },
            unchanged => {
                let reply = match &unchanged {
                    Transaction::Idle => Reply::new(503, "need MAIL before DATA"),
                    Transaction::Open(_) => Reply::new(503, "need RCPT before DATA"),
                };
                self.transaction = unchanged;
                Next::Reply(reply)
            }
        }
    }

    fn auth(&mut self, args: &str) -> Reply {
        if self.auth == Auth::Authenticated {
            return Reply::new(503, "already authenticated");
        }
        if self.transaction != Transaction::Idle {
            return Reply::new(503, "AUTH not allowed during a mail transaction");
        }
        let mut words = args.split_ascii_whitespace();
        let mechanism = words.next().map(str::to_ascii_uppercase);
        let initial_response = words.next();
        match (mechanism.as_deref(), initial_response) {
            (None, _) => Reply::new(501, "AUTH needs a mechanism"),
            (Some("PLAIN"), Some(_)) => self.authenticated(),
            (Some("PLAIN"), None) => {
                self.auth = Auth::AwaitingPlain;
                Reply::new(334, "")
            }
            (Some("LOGIN"), Some(_)) => {
                self.auth = Auth::AwaitingLoginPassword;
                Reply::new(334, LOGIN_PASSWORD_CHALLENGE)
            }
            (Some("LOGIN"), None) => {
                self.auth = Auth::AwaitingLoginUser;
                Reply::new(334, LOGIN_USER_CHALLENGE)
            }
            (Some(_), _) => Reply::new(504, "unrecognized authentication mechanism"),
        }
    }

    fn auth_response(&mut self, line: &str) -> Reply {
        if line.trim() == "*" {
            self.auth = Auth::Anonymous;
            return Reply::new(501, "authentication cancelled");
        }
        match self.auth {
            Auth::AwaitingLoginUser => {
                self.auth = Auth::AwaitingLoginPassword;
                Reply::new(334, LOGIN_PASSWORD_CHALLENGE)
            }
            _ => self.authenticated(),
        }
    }

    fn authenticated(&mut self) -> Reply {
        self.auth = Auth::Authenticated;
        Reply::new(235, "authentication succeeded")
    }
}

/// Strips an ASCII prefix such as `FROM:` regardless of case.
fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Splits `<path> params` into the address and the parameters.
///
/// Some clients put a space after the colon or leave out the angle brackets; both are taken.
/// A source route (`<@relay:user@host>`, obsolete but legal) is dropped down to the mailbox.
fn split_path(text: &str) -> Option<(String, &str)> {
    let text = text.trim_start();
    let (path, params) = if let Some(inner) = text.strip_prefix('<') {
        let close = inner.find('>')?;
        (&inner[..close], &inner[close + 1..])
    } else {
        let end = text.find(' ').unwrap_or(text.len());
        (&text[..end], &text[end..])
    };
    let mailbox = match path.strip_prefix('@') {
        Some(routed) => routed.split_once(':')?.1,
        None => path,
    };
    Some((mailbox.to_owned(), params))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds lines to a fresh session and renders every reply, as a client would see them.
    /// Every line ends in `⏎` so that trailing spaces (such as `334 `) stay visible.
    fn converse(lines: &[&str]) -> String {
        let mut session = Session::new(Limits::default());
        let mut transcript = String::new();
        for line in lines {
            transcript.push_str(&format!("> {line}⏎\n"));
            let reply = match session.line(line.as_bytes()) {
                Next::Reply(reply) | Next::Close(reply) => reply,
                Next::Data { reply, envelope } => {
                    transcript.push_str(&format!("(body of {envelope:?})\n"));
                    reply
                }
            };
            transcript.push_str(&reply.to_string().replace("\r\n", "⏎\n"));
        }
        transcript
    }

    #[test]
    fn ehlo_advertises_the_extensions_clients_need() {
        insta::assert_snapshot!(converse(&["EHLO client.example"]), @r"
        > EHLO client.example⏎
        250-localhost at your service⏎
        250-8BITMIME⏎
        250-SMTPUTF8⏎
        250-PIPELINING⏎
        250-SIZE 33554432⏎
        250-AUTH PLAIN LOGIN⏎
        250 HELP⏎
        ");
    }

    #[test]
    fn a_full_transaction_collects_the_envelope() {
        insta::assert_snapshot!(converse(&[
            "HELO client",
            "mail from: <alice@example.com> SIZE=120 BODY=8BITMIME",
            "RCPT TO:<bob@example.com>",
            "RCPT TO:bob2@example.com",
            "DATA",
        ]), @r#"
        > HELO client⏎
        250 localhost⏎
        > mail from: <alice@example.com> SIZE=120 BODY=8BITMIME⏎
        250 OK⏎
        > RCPT TO:<bob@example.com>⏎
        250 OK⏎
        > RCPT TO:bob2@example.com⏎
        250 OK⏎
        > DATA⏎
        (body of Envelope { from: "alice@example.com", to: ["bob@example.com", "bob2@example.com"] })
        354 end data with <CR><LF>.<CR><LF>⏎
        "#);
    }

    #[test]
    fn commands_out_of_order_get_503_and_rset_starts_over() {
        insta::assert_snapshot!(converse(&[
            "RCPT TO:<bob@example.com>",
            "DATA",
            "MAIL FROM:<>",
            "DATA",
            "MAIL FROM:<again@example.com>",
            "RSET",
            "MAIL FROM:<@relay.example:again@example.com>",
        ]), @r"
        > RCPT TO:<bob@example.com>⏎
        503 need MAIL before RCPT⏎
        > DATA⏎
        503 need MAIL before DATA⏎
        > MAIL FROM:<>⏎
        250 OK⏎
        > DATA⏎
        503 need RCPT before DATA⏎
        > MAIL FROM:<again@example.com>⏎
        503 nested MAIL command⏎
        > RSET⏎
        250 OK⏎
        > MAIL FROM:<@relay.example:again@example.com>⏎
        250 OK⏎
        ");
    }

    #[test]
    fn bad_parameters_and_unknown_commands_are_refused_clearly() {
        insta::assert_snapshot!(converse(&[
            "MAIL FROM:<a@example.com> SIZE=99999999999",
            "MAIL FROM:<a@example.com> SIZE=lots",
            "MAIL FROM:<a@example.com> BODY=BINARYMIME",
            "MAIL FROM:<a@example.com> RET=FULL",
            "MAIL TO:<a@example.com>",
            "EHLO",
            "EXPN staff",
            "BDAT 100 LAST",
            "GET / HTTP/1.1",
            "",
            "VRFY bob",
            "NOOP",
            "HELP",
            "STARTTLS",
            "QUIT",
        ]), @r"
        > MAIL FROM:<a@example.com> SIZE=99999999999⏎
        552 message size exceeds fixed maximum message size⏎
        > MAIL FROM:<a@example.com> SIZE=lots⏎
        501 SIZE needs a number of bytes⏎
        > MAIL FROM:<a@example.com> BODY=BINARYMIME⏎
        501 BODY must be 7BIT or 8BITMIME⏎
        > MAIL FROM:<a@example.com> RET=FULL⏎
        555 MAIL FROM parameter not recognized⏎
        > MAIL TO:<a@example.com>⏎
        501 syntax: MAIL FROM:<address>⏎
        > EHLO⏎
        501 EHLO needs a domain or address literal⏎
        > EXPN staff⏎
        502 command not implemented⏎
        > BDAT 100 LAST⏎
        502 command not implemented⏎
        > GET / HTTP/1.1⏎
        500 command unrecognized⏎
        > ⏎
        500 command unrecognized⏎
        > VRFY bob⏎
        252 cannot VRFY user, but will accept message and attempt delivery⏎
        > NOOP⏎
        250 OK⏎
        > HELP⏎
        214 see RFC 5321; this server accepts every message⏎
        > STARTTLS⏎
        454 TLS not available⏎
        > QUIT⏎
        221 localhost closing connection⏎
        ");
    }

    #[test]
    fn auth_plain_and_login_accept_anything() {
        insta::assert_snapshot!(converse(&[
            "AUTH CRAM-MD5",
            "AUTH LOGIN",
            "*",
            "AUTH LOGIN",
            "dXNlcg==",
            "cGFzcw==",
            "AUTH PLAIN AHVzZXIAcGFzcw==",
        ]), @r"
        > AUTH CRAM-MD5⏎
        504 unrecognized authentication mechanism⏎
        > AUTH LOGIN⏎
        334 VXNlcm5hbWU6⏎
        > *⏎
        501 authentication cancelled⏎
        > AUTH LOGIN⏎
        334 VXNlcm5hbWU6⏎
        > dXNlcg==⏎
        334 UGFzc3dvcmQ6⏎
        > cGFzcw==⏎
        235 authentication succeeded⏎
        > AUTH PLAIN AHVzZXIAcGFzcw==⏎
        503 already authenticated⏎
        ");
        insta::assert_snapshot!(converse(&[
            "AUTH PLAIN",
            "AHVzZXIAcGFzcw==",
            "MAIL FROM:<a@example.com> AUTH=<>",
        ]), @r"
        > AUTH PLAIN⏎
        334 ⏎
        > AHVzZXIAcGFzcw==⏎
        235 authentication succeeded⏎
        > MAIL FROM:<a@example.com> AUTH=<>⏎
        250 OK⏎
        ");
    }

    #[test]
    fn recipients_are_bounded() {
        let limits = Limits {
            max_recipients: 2,
            ..Limits::default()
        };
        let mut session = Session::new(limits);
        let mut codes = Vec::new();
        for line in [
            "MAIL FROM:<a@example.com>",
            "RCPT TO:<1@example.com>",
            "RCPT TO:<2@example.com>",
            "RCPT TO:<3@example.com>",
        ] {
            let Next::Reply(reply) = session.line(line.as_bytes()) else {
                panic!("{line} should get a plain reply");
            };
            codes.push(reply.code());
        }
        assert_eq!(codes, [250, 250, 250, 452]);
    }
}
