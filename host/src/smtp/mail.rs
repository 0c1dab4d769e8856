//! The JSON record printed for every message received.
//!
//! The field names are those of HitchSMTP's output, which test suites already match on:
//! `subject`, `sent_from`, `sent_to`, `header_from`, `header_to`, `date`, `contenttype`,
//! `multipart`, `payload` and `links`, plus `cc` and `headers`. MIME structure, transfer
//! encodings (base64, quoted-printable), charsets and RFC 2047 encoded words are decoded by
//! the `mail-parser` crate, so every text field is plain UTF-8.

use std::borrow::Cow;

use mail_parser::{
    Address, Header, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders,
    PartType,
};
use serde::{Deserialize, Serialize};

use super::links::{self, Markup};

/// One received message, as printed on a single line of the sink's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    /// The decoded `Subject` header, if any.
    pub subject: Option<String>,
    /// The envelope sender (`MAIL FROM`); empty for the null sender `<>`.
    pub sent_from: String,
    /// The envelope recipients (`RCPT TO`), in the order given. Unlike `header_to`, this
    /// includes `Bcc` recipients.
    pub sent_to: Vec<String>,
    /// The `From` header as `Name <address>` (or just `address`), several joined by `, `.
    pub header_from: Option<String>,
    /// The `To` header's addresses, each as `Name <address>` or `address`.
    pub header_to: Vec<String>,
    /// The `Cc` header's addresses, in the same form.
    pub cc: Vec<String>,
    /// The `Date` header in RFC 3339 when it parses, otherwise as written.
    pub date: Option<String>,
    /// The top-level `type/subtype`, lowercase, without parameters (`text/plain` if absent).
    pub contenttype: String,
    /// Whether the top-level type is `multipart/*`.
    pub multipart: bool,
    /// The decoded body; see [`Payload`].
    pub payload: Payload,
    /// Every `http`/`https` URL in the message's text and HTML parts (attachments
    /// excluded), without duplicates, in order of appearance.
    pub links: Vec<String>,
    /// The top-level headers, in message order. A name that appears several times keeps its
    /// first value, as Python's `message[name]` does. Unstructured headers are decoded;
    /// structured ones (addresses, `Content-Type`, dates) are given as written, unfolded.
    #[serde(with = "ordered_map")]
    pub headers: Vec<(String, String)>,
}

/// The body of a message.
///
/// In JSON a single-part message's payload is a string (or `null` when it is not text), and
/// a multipart message's payload is an array of [`Part`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Payload {
    /// A single-part message: its decoded text, or `None` when it is not `text/*`.
    Single(Option<String>),
    /// A multipart message: its leaf parts, depth first, nested multiparts flattened.
    Multipart(Vec<Part>),
}

/// One leaf part of a multipart message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The part's `type/subtype`, lowercase, without parameters.
    pub contenttype: String,
    /// The attachment's file name, from `Content-Disposition` or `Content-Type`.
    pub filename: Option<String>,
    /// The size of the decoded content, in bytes.
    pub size: usize,
    /// The decoded text for `text/*` parts, the raw text of an attached `message/rfc822`,
    /// and `None` for binary parts.
    pub payload: Option<String>,
}

impl Mail {
    /// Builds the record of the message `raw` (as received after `DATA`, dot-unstuffed)
    /// sent with the given envelope.
    pub fn from_message(sent_from: String, sent_to: Vec<String>, raw: &[u8]) -> Self {
        let Some(message) = MessageParser::default().parse(raw) else {
            // Nothing that looks like a message (for example an empty body): the envelope is
            // still worth reporting.
            return Self {
                subject: None,
                sent_from,
                sent_to,
                header_from: None,
                header_to: Vec::new(),
                cc: Vec::new(),
                date: None,
                contenttype: DEFAULT_CONTENT_TYPE.to_owned(),
                multipart: false,
                payload: Payload::Single(None),
                links: Vec::new(),
                headers: Vec::new(),
            };
        };
        let root = message.root_part();
        let multipart = matches!(root.body, PartType::Multipart(_));
        let payload = if multipart {
            let mut parts = Vec::new();
            flatten(&message, root, &mut parts);
            Payload::Multipart(parts.iter().map(|part| describe(part)).collect())
        } else {
            Payload::Single(text_of(root).map(Cow::into_owned))
        };
        Self {
            subject: message.subject().map(str::to_owned),
            sent_from,
            sent_to,
            header_from: message
                .from()
                .map(|from| display_addresses(from).join(", ")),
            header_to: message.to().map(display_addresses).unwrap_or_default(),
            cc: message.cc().map(display_addresses).unwrap_or_default(),
            date: message.date().map(|date| date.to_rfc3339()).or_else(|| {
                message
                    .header_raw(HeaderName::Date)
                    .map(|raw| unfold(raw).into_owned())
            }),
            contenttype: content_type(root),
            multipart,
            payload,
            links: links_of(&message),
            headers: headers_of(&message),
        }
    }
}

/// RFC 2045 section 5.2: a part without `Content-Type` is plain US-ASCII text.
const DEFAULT_CONTENT_TYPE: &str = "text/plain";

/// The leaf parts under `part`, depth first.
fn flatten<'a>(
    message: &'a Message<'a>,
    part: &'a MessagePart<'a>,
    out: &mut Vec<&'a MessagePart<'a>>,
) {
    match &part.body {
        PartType::Multipart(children) => {
            for &child in children {
                if let Some(child) = message.parts.get(child as usize) {
                    flatten(message, child, out);
                }
            }
        }
        _ => out.push(part),
    }
}

fn describe(part: &MessagePart<'_>) -> Part {
    Part {
        contenttype: content_type(part),
        filename: part.attachment_name().map(str::to_owned),
        size: part.len(),
        payload: match &part.body {
            PartType::Message(nested) => {
                Some(String::from_utf8_lossy(nested.raw_message()).into_owned())
            }
            _ => text_of(part).map(Cow::into_owned),
        },
    }
}

/// The decoded text of a `text/*` part.
fn text_of<'a>(part: &'a MessagePart<'a>) -> Option<Cow<'a, str>> {
    match &part.body {
        PartType::Text(text) | PartType::Html(text) => Some(Cow::Borrowed(text.as_ref())),
        _ => None,
    }
}

fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(subtype) => format!("{}/{}", ct.ctype(), subtype).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => DEFAULT_CONTENT_TYPE.to_owned(),
    }
}

/// The links of every text and HTML part that is not an attachment.
fn links_of(message: &Message<'_>) -> Vec<String> {
    let mut found = Vec::new();
    let mut parts = Vec::new();
    flatten(message, message.root_part(), &mut parts);
    for part in parts {
        let is_attachment = part
            .content_disposition()
            .is_some_and(|disposition| disposition.is_attachment());
        if is_attachment {
            continue;
        }
        match &part.body {
            PartType::Text(text) => links::collect(text, Markup::Plain, &mut found),
            PartType::Html(html) => links::collect(html, Markup::Html, &mut found),
            _ => {}
        }
    }
    found
}

/// `Name <address>` for named addresses (the name quoted when it holds RFC 5322 specials),
/// the bare address otherwise; group members are listed without their group.
fn display_addresses(address: &Address<'_>) -> Vec<String> {
    address
        .iter()
        .map(|addr| match (addr.name(), addr.address()) {
            (Some(name), Some(email)) if !name.is_empty() => {
                if name.contains(|c: char| "()<>[]:;@\\,.\"".contains(c)) {
                    let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
                    format!("\"{escaped}\" <{email}>")
                } else {
                    format!("{name} <{email}>")
                }
            }
            (_, Some(email)) => email.to_owned(),
            (name, None) => name.unwrap_or_default().to_owned(),
        })
        .collect()
}

fn headers_of(message: &Message<'_>) -> Vec<(String, String)> {
    let raw = message.raw_message();
    let mut headers: Vec<(String, String)> = Vec::new();
    for header in message.headers() {
        let name = header.name();
        if headers
            .iter()
            .any(|(seen, _)| seen.eq_ignore_ascii_case(name))
        {
            continue;
        }
        headers.push((name.to_owned(), header_text(header, raw)));
    }
    headers
}

/// A header's value as text: decoded when it is unstructured, as written otherwise.
fn header_text(header: &Header<'_>, raw: &[u8]) -> String {
    match &header.value {
        HeaderValue::Text(text) => unfold(text).into_owned(),
        HeaderValue::TextList(list) => unfold(&list.join(", ")).into_owned(),
        _ => {
            let start = header.offset_start as usize;
            let end = (header.offset_end as usize).min(raw.len());
            let written = String::from_utf8_lossy(raw.get(start..end).unwrap_or_default());
            unfold(&written).into_owned()
        }
    }
}

/// Joins a folded header value back onto one line (RFC 5322 section 2.2.3) and trims it.
fn unfold(value: &str) -> Cow<'_, str> {
    let value = value.trim();
    if value.contains(['\r', '\n']) {
        Cow::Owned(value.replace("\r\n", "").replace('\n', ""))
    } else {
        Cow::Borrowed(value)
    }
}

/// Serializes `Vec<(String, String)>` as a JSON object whose keys keep their order.
mod ordered_map {
    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        entries: &[(String, String)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (name, value) in entries {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, String)>, D::Error> {
        struct Entries;

        impl<'de> Visitor<'de> for Entries {
            type Value = Vec<(String, String)>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of header names to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(entries)
            }
        }

        deserializer.deserialize_map(Entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Mail {
        Mail::from_message(
            "envelope@example.com".to_owned(),
            vec!["rcpt@example.com".to_owned()],
            raw.as_bytes(),
        )
    }

    #[test]
    fn decodes_encoded_words_quoted_printable_and_addresses() {
        let mail = parse(concat!(
            "From: =?utf-8?q?Ren=C3=A9_Dupont?= <rene@example.com>\r\n",
            "To: bob@example.com, \"Doe, Jane\" <jane@example.com>\r\n",
            "Cc: Team: carol@example.com;\r\n",
            "Subject: =?utf-8?b?Q2Fmw6kgbWVudQ==?=\r\n",
            "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n",
            "X-Tracking: folded\r\n value\r\n",
            "Content-Type: text/plain; charset=utf-8\r\n",
            "Content-Transfer-Encoding: quoted-printable\r\n",
            "\r\n",
            "Caf=C3=A9: https://menu.example/today=\r\n?lang=fr\r\n",
        ));
        assert_eq!(mail.subject.as_deref(), Some("Café menu"));
        assert_eq!(
            mail.header_from.as_deref(),
            Some("René Dupont <rene@example.com>")
        );
        assert_eq!(
            mail.header_to,
            ["bob@example.com", "\"Doe, Jane\" <jane@example.com>"]
        );
        assert_eq!(mail.cc, ["carol@example.com"]);
        assert_eq!(mail.date.as_deref(), Some("2003-07-01T10:52:37+02:00"));
        assert_eq!(mail.contenttype, "text/plain");
        assert!(!mail.multipart);
        assert_eq!(
            mail.payload,
            Payload::Single(Some(
                "Café: https://menu.example/today?lang=fr\r\n".to_owned()
            ))
        );
        assert_eq!(mail.links, ["https://menu.example/today?lang=fr"]);
        let header = |name: &str| {
            mail.headers
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(header("X-Tracking"), Some("folded value"));
        assert_eq!(
            header("To"),
            Some("bob@example.com, \"Doe, Jane\" <jane@example.com>")
        );
    }

    #[test]
    fn an_unparseable_date_is_kept_as_written() {
        let mail = parse("Date: sometime soon\r\nSubject: x\r\n\r\nbody\r\n");
        assert_eq!(mail.date.as_deref(), Some("sometime soon"));
    }

    #[test]
    fn a_message_without_headers_still_reports_the_envelope() {
        let mail = parse("");
        assert_eq!(mail.sent_from, "envelope@example.com");
        assert_eq!(mail.sent_to, ["rcpt@example.com"]);
        assert_eq!(mail.payload, Payload::Single(None));
    }

    #[test]
    fn nested_multiparts_are_flattened_and_attachments_give_no_links() {
        let mail = parse(concat!(
            "Content-Type: multipart/mixed; boundary=outer\r\n",
            "\r\n",
            "--outer\r\n",
            "Content-Type: multipart/alternative; boundary=inner\r\n",
            "\r\n",
            "--inner\r\n",
            "Content-Type: text/plain\r\n",
            "\r\n",
            "Go to https://a.example/\r\n",
            "--inner\r\n",
            "Content-Type: text/html\r\n",
            "\r\n",
            "<a href=\"https://b.example/?x=1&amp;y=2\">b</a>\r\n",
            "--inner--\r\n",
            "--outer\r\n",
            "Content-Type: text/csv; name=data.csv\r\n",
            "Content-Disposition: attachment; filename=data.csv\r\n",
            "\r\n",
            "url,https://not-a-link.example/\r\n",
            "--outer\r\n",
            "Content-Type: application/octet-stream\r\n",
            "Content-Transfer-Encoding: base64\r\n",
            "Content-Disposition: attachment; filename=\"blob.bin\"\r\n",
            "\r\n",
            "AAEC\r\n",
            "--outer--\r\n",
        ));
        assert!(mail.multipart);
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
                ("text/plain", None, 24),
                ("text/html", None, 46),
                ("text/csv", Some("data.csv"), 31),
                ("application/octet-stream", Some("blob.bin"), 3),
            ]
        );
        assert_eq!(parts[3].payload, None);
        assert_eq!(
            mail.links,
            ["https://a.example/", "https://b.example/?x=1&y=2"]
        );
    }

    #[test]
    fn the_record_round_trips_through_json_with_headers_in_order() {
        let mail = parse("Subject: s\r\nX-B: 2\r\nX-A: 1\r\nX-B: 3\r\n\r\nhello\r\n");
        let json = serde_json::to_string(&mail).unwrap();
        assert!(
            json.contains(r#""headers":{"Subject":"s","X-B":"2","X-A":"1"}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Mail>(&json).unwrap(), mail);
    }
}
