//! A blocking API, for plain `#[test]` functions with no async runtime of their own.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! let bundle = teamster::Bundle::load("bundle.toml")?.start_blocking()?;
//! let line = bundle.wait_for_line("db", "ready to accept", Duration::from_secs(10))?;
//! println!("{}: {}", bundle.connection("db", "url").unwrap_or("?"), line.text);
//! bundle.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Why a runtime of its own, with worker threads, rather than `block_on` on the caller's
//! thread: every service task reads its pipes in every phase. Between two calls the test
//! thread runs its own code, and a runtime that only makes progress inside `block_on`
//! would leave the services' output unread, until a chatty service blocked on a full pipe.
//! Two worker threads keep the bundle supervised whatever the test does meanwhile.

use std::time::Duration;

use crate::logs::{LinePredicate, LogLine, LogWaitError, Logs};
use crate::orchestrator::{Bundle, Running as AsyncRunning, ServiceHandle, StartError};
use crate::{Travel, TravelError, TravelReport};

/// A running bundle for blocking code. Dropping it stops every service, in order, and
/// returns once every process tree is gone.
#[derive(Debug)]
pub struct Running {
    // Declared first so that it drops before the runtime: `Drop` stops it on that runtime.
    inner: Option<AsyncRunning>,
    rt: tokio::runtime::Runtime,
}

impl Bundle {
    /// Starts the bundle on a runtime of its own and waits until every service is ready;
    /// see [`crate::blocking`].
    pub fn start_blocking(self) -> Result<Running, StartError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("teamster")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let inner = rt.block_on(self.start())?;
        Ok(Running {
            inner: Some(inner),
            rt,
        })
    }
}

impl crate::bundle::BundleBuilder {
    /// Builds the spec and starts it, blocking; see [`crate::blocking`].
    pub fn start_blocking(self) -> Result<Running, StartError> {
        Bundle::new(self.build().map_err(StartError::Invalid)?).start_blocking()
    }
}

impl Running {
    fn inner(&self) -> &AsyncRunning {
        self.inner.as_ref().expect("present until dropped")
    }

    /// The async handle, for everything this type does not wrap (its methods that are not
    /// `async` can be called from any thread).
    pub fn bundle(&self) -> &AsyncRunning {
        self.inner()
    }

    /// One service by name.
    pub fn service(&self, name: &str) -> Option<&ServiceHandle> {
        self.inner().service(name)
    }

    /// The logs of the whole bundle.
    pub fn logs(&self) -> Logs {
        self.inner().logs()
    }

    /// One connection value, e.g. `bundle.connection("db", "url")`.
    pub fn connection(&self, service: &str, key: &str) -> Option<&str> {
        self.inner().connection(service, key)
    }

    /// Waits for the first line of `service` matching `predicate` (a substring, a
    /// `regex::Regex`, or [`crate::line_where`]), among its lines so far and the new ones.
    ///
    /// # Panics
    /// If the bundle has no service called `service`.
    pub fn wait_for_line<P: LinePredicate>(
        &self,
        service: &str,
        predicate: P,
        timeout: Duration,
    ) -> Result<LogLine, LogWaitError> {
        let logs = self
            .service(service)
            .unwrap_or_else(|| panic!("no service named `{service}` in this bundle"))
            .logs();
        self.rt.block_on(std::future::IntoFuture::into_future(
            logs.until(predicate, timeout).lines_back(usize::MAX),
        ))
    }

    /// Moves the clock of every service with `faketime` on.
    pub fn time_travel(&self, travel: impl Into<Travel>) -> Result<TravelReport, TravelError> {
        self.inner().time_travel(travel)
    }

    /// Runs a future on the bundle's runtime, for the async parts of the API, e.g. a
    /// sub-command's `output()`.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }

    /// Stops every service in reverse dependency order and waits until every tree is gone.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(inner) = self.inner.take() {
            self.rt.block_on(inner.stop());
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}
