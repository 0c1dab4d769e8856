//! Reading CRLF-terminated lines with a bound on their length.
//!
//! `AsyncBufReadExt::read_until` would buffer a line of any length, so a client that never
//! sends a newline could make the server allocate without end. This reader keeps at most
//! `limit` bytes of a line and, once a line is too long, discards the rest of it up to the
//! next newline so the conversation can go on with a clear reply.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What one call to [`read_line`] produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LineRead {
    /// A whole line is in the buffer, without its `\n` or `\r\n` terminator.
    Line,
    /// The line was longer than the limit; it has been consumed and dropped.
    TooLong,
    /// The peer closed the connection (a partial last line is dropped with it).
    Eof,
}

/// Reads one line into `buf` (cleared first), keeping at most `limit` bytes including the
/// terminator. A lone `\n` is accepted as a terminator as well as `\r\n`, because lenient
/// clients exist and a sink should not be the one to reject them.
pub(crate) async fn read_line<R>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<LineRead>
where
    R: AsyncBufRead + Unpin,
{
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            buf.clear();
            return Ok(LineRead::Eof);
        }
        let (taken, complete) = match available.iter().position(|&b| b == b'\n') {
            Some(newline) => (newline + 1, true),
            None => (available.len(), false),
        };
        if !too_long {
            if buf.len() + taken > limit {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&available[..taken]);
            }
        }
        reader.consume(taken);
        if complete {
            if too_long {
                return Ok(LineRead::TooLong);
            }
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(LineRead::Line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], limit: usize) -> Vec<(LineRead, Vec<u8>)> {
        // A tiny buffer makes lines straddle refills, which is the interesting case.
        let mut reader = tokio::io::BufReader::with_capacity(3, input);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            let read = read_line(&mut reader, &mut buf, limit).await.unwrap();
            let done = read == LineRead::Eof;
            out.push((read, buf.clone()));
            if done {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn splits_crlf_and_lf_lines_across_refills() {
        let got = lines(b"EHLO x\r\nNOOP\nQUIT\r\n", 64).await;
        assert_eq!(
            got,
            vec![
                (LineRead::Line, b"EHLO x".to_vec()),
                (LineRead::Line, b"NOOP".to_vec()),
                (LineRead::Line, b"QUIT".to_vec()),
                (LineRead::Eof, Vec::new()),
            ]
        );
    }

    #[tokio::test]
    async fn drops_an_overlong_line_and_resumes_after_it() {
        let got = lines(b"0123456789abcdef\r\nOK\r\n", 8).await;
        assert_eq!(
            got,
            vec![
                (LineRead::TooLong, Vec::new()),
                (LineRead::Line, b"OK".to_vec()),
                (LineRead::Eof, Vec::new()),
            ]
        );
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_fits() {
        let got = lines(b"123456\r\n", 8).await;
        assert_eq!(got[0], (LineRead::Line, b"123456".to_vec()));
    }

    #[tokio::test]
    async fn a_partial_last_line_is_eof() {
        let got = lines(b"QUI", 8).await;
        assert_eq!(got, vec![(LineRead::Eof, Vec::new())]);
    }
}
