//! The HTTP readiness probe: one `GET` over a plain TCP connection.
//!
//! Readiness only needs the status line, so a full HTTP client would be dead weight. The
//! request is written by hand with `Connection: close`, and the response is read only up to
//! the end of its first line; the rest is never looked at.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::probe::{ProbeError, ProbeResult};

/// The bound on one whole attempt: connect, send, and read the status line.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// A status line longer than this is not HTTP; stop reading instead of buffering forever.
const MAX_STATUS_LINE: usize = 8 * 1024;

/// The parts of an `http://` URL a probe needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    /// Host name or address, without the brackets of an IPv6 literal.
    pub(crate) host: String,
    /// Port, 80 when the URL names none.
    pub(crate) port: u16,
    /// Path and query, `/` when the URL names none.
    pub(crate) path: String,
}

impl HttpUrl {
    /// Parses `http://host[:port][/path]`; userinfo and fragments are rejected as invalid.
    pub(crate) fn parse(url: &str) -> Result<HttpUrl, ProbeError> {
        let invalid = |reason: &'static str| ProbeError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(invalid("expected http://host[:port][/path]"));
        };
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(ProbeError::UnsupportedScheme {
                url: url.to_owned(),
                scheme: scheme.to_owned(),
            });
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        if path.contains('#') {
            return Err(invalid("fragments are not sent to servers"));
        }
        if path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(invalid("the path contains whitespace"));
        }
        if authority.contains('@') {
            return Err(invalid("credentials in the url are not supported"));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let Some((host, after)) = bracketed.split_once(']') else {
                return Err(invalid("unclosed `[` in the host"));
            };
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(invalid("unexpected text after `]`")),
                },
            }
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("the host is empty"));
        }
        let port = match port {
            None => 80,
            Some(p) => p
                .parse()
                .map_err(|_| invalid("the port is not a number from 0 to 65535"))?,
        };
        Ok(HttpUrl {
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// The `Host` header value: brackets around IPv6 literals, the port unless it is 80.
    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            80 => host,
            port => format!("{host}:{port}"),
        }
    }
}

/// Makes one `GET` and compares the status with `expected` (any 2xx when `None`).
pub(crate) async fn probe(url: &HttpUrl, expected: Option<u16>) -> ProbeResult {
    match tokio::time::timeout(ATTEMPT_TIMEOUT, status_of(url)).await {
        Err(_) => ProbeResult::not_yet(format!(
            "no http response within {}s",
            ATTEMPT_TIMEOUT.as_secs()
        )),
        Ok(Err(reason)) => ProbeResult::NotYet { reason },
        Ok(Ok(status)) => {
            let good = match expected {
                Some(want) => status == want,
                None => (200..300).contains(&status),
            };
            if good {
                ProbeResult::Ready
            } else {
                ProbeResult::not_yet(format!("http status {status}"))
            }
        }
    }
}

/// Sends the request and returns the response's status code, or why there is none.
async fn status_of(url: &HttpUrl) -> Result<u16, String> {
    let mut stream = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", url.host_header()))?;
    // Nagle's algorithm would hold back the small request; probes want the answer now.
    stream.set_nodelay(true).ok();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: teamster-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path,
        url.host_header()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send the http request: {e}"))?;

    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            return parse_status_line(&buf[..end]);
        }
        if buf.len() > MAX_STATUS_LINE {
            return Err("the response's first line is too long to be http".to_owned());
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("cannot read the http response: {e}"))?;
        if n == 0 {
            return match buf.is_empty() {
                true => Err("the connection closed without an http response".to_owned()),
                false => parse_status_line(&buf),
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Parses `HTTP/1.1 200 OK` into `200`.
fn parse_status_line(line: &[u8]) -> Result<u16, String> {
    let line = String::from_utf8_lossy(line);
    let line = line.trim_end_matches('\r');
    let malformed = || format!("malformed http status line {line:?}");
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") {
        return Err(malformed());
    }
    let code = parts.next().ok_or_else(malformed)?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    code.parse().map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> HttpUrl {
        HttpUrl::parse(url).unwrap()
    }

    #[test]
    fn parses_host_port_and_path() {
        assert_eq!(
            parsed("http://127.0.0.1:8080/health?full=1"),
            HttpUrl {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/health?full=1".into()
            }
        );
    }

    #[test]
    fn defaults_port_80_and_root_path() {
        let url = parsed("http://localhost");
        assert_eq!((url.port, url.path.as_str()), (80, "/"));
        assert_eq!(url.host_header(), "localhost");
        assert_eq!(parsed("HTTP://example.test?x").path, "/?x");
    }

    #[test]
    fn parses_ipv6_literals() {
        let url = parsed("http://[::1]:9000/");
        assert_eq!((url.host.as_str(), url.port), ("::1", 9000));
        assert_eq!(url.host_header(), "[::1]:9000");
        assert_eq!(parsed("http://[::1]").port, 80);
    }

    #[test]
    fn rejects_what_it_cannot_probe() {
        let errors: Vec<String> = [
            "https://localhost/",
            "localhost:8080",
            "http://:8080/",
            "http://host:99999/",
            "http://host:http/",
            "http://user:pw@host/",
            "http://[::1/",
            "http://host/a#frag",
            "http://host/a b",
        ]
        .iter()
        .map(|url| HttpUrl::parse(url).unwrap_err().to_string())
        .collect();
        insta::assert_snapshot!(errors.join("\n"), @r"
        unsupported url scheme `https` in `https://localhost/`: http conditions speak plain http only; use http:// or a tcp condition
        invalid http url `localhost:8080`: expected http://host[:port][/path]
        invalid http url `http://:8080/`: the host is empty
        invalid http url `http://host:99999/`: the port is not a number from 0 to 65535
        invalid http url `http://host:http/`: the port is not a number from 0 to 65535
        invalid http url `http://user:pw@host/`: credentials in the url are not supported
        invalid http url `http://[::1/`: unclosed `[` in the host
        invalid http url `http://host/a#frag`: fragments are not sent to servers
        invalid http url `http://host/a b`: the path contains whitespace
        ");
    }

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content\r"), Ok(204));
        assert_eq!(parse_status_line(b"HTTP/1.0 503"), Ok(503));
        assert!(parse_status_line(b"SSH-2.0-OpenSSH_9.6").is_err());
        assert!(parse_status_line(b"HTTP/1.1 20x OK").is_err());
        assert!(parse_status_line(b"HTTP/1.1").is_err());
    }
}
