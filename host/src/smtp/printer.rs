//! The one writer of the sink's output.
//!
//! Every connection prints its messages through here, so lines from concurrent connections
//! never interleave, and the output (a blocking `std::io::Write`, usually stdout) is driven
//! from its own thread rather than blocking a runtime worker when the reader of the pipe is
//! slow. Each print is acknowledged only once the line is flushed, which is what lets the
//! server reply `250` strictly after the JSON line is out.

use std::io::Write;

use tokio::sync::{mpsc, oneshot};

/// How many lines may wait for the writer thread before printing connections wait too.
const QUEUE: usize = 64;

/// One line to print and the way to tell its connection that it was flushed.
#[derive(Debug)]
struct Job {
    line: String,
    flushed: oneshot::Sender<()>,
}

/// A handle to the writer thread; cheap to clone, one per connection.
#[derive(Debug, Clone)]
pub(crate) struct Printer {
    jobs: mpsc::Sender<Job>,
}

/// The output can no longer be written; the sink is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("the output of the smtp sink is closed")]
pub(crate) struct OutputClosed;

impl Printer {
    /// Starts the writer thread. The returned receiver yields the write error that stopped
    /// it, if one ever does; the thread also ends, quietly, once every [`Printer`] is dropped.
    pub(crate) fn start(
        mut out: impl Write + Send + 'static,
    ) -> std::io::Result<(Self, oneshot::Receiver<std::io::Error>)> {
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        let (failed, failure) = oneshot::channel();
        std::thread::Builder::new()
            .name("smtp-sink-output".to_owned())
            .spawn(move || {
                while let Some(job) = queue.blocking_recv() {
                    let mut bytes = job.line.into_bytes();
                    bytes.push(b'\n');
                    if let Err(error) = out.write_all(&bytes).and_then(|()| out.flush()) {
                        // Nobody may be listening any more; the error is only informative.
                        let _ = failed.send(error);
                        return;
                    }
                    // The connection may have gone away meanwhile; the line is out either way.
                    let _ = job.flushed.send(());
                }
            })?;
        Ok((Self { jobs }, failure))
    }

    /// Prints one line (which must not contain a newline) and returns once it is flushed.
    pub(crate) async fn print(&self, line: String) -> Result<(), OutputClosed> {
        let (flushed, done) = oneshot::channel();
        self.jobs
            .send(Job { line, flushed })
            .await
            .map_err(|_| OutputClosed)?;
        done.await.map_err(|_| OutputClosed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails every write, like stdout after the reading end went away.
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn prints_whole_lines_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let (printer, _failure) = Printer::start(std::fs::File::create(&path).unwrap()).unwrap();
        printer.print("{\"a\":1}".to_owned()).await.unwrap();
        printer.print("{\"b\":2}".to_owned()).await.unwrap();
        // Both prints were acknowledged, so both lines must already be in the file.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
    }

    #[tokio::test]
    async fn a_failing_output_is_reported_and_refuses_further_prints() {
        let (printer, failure) = Printer::start(Broken).unwrap();
        assert!(printer.print("lost".to_owned()).await.is_err());
        assert_eq!(
            failure.await.unwrap().kind(),
            std::io::ErrorKind::BrokenPipe
        );
        assert!(printer.print("also lost".to_owned()).await.is_err());
    }
}
