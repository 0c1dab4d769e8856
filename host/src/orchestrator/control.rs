//! The control socket of a bundle run by `teamster up`: how `teamster exec`, `travel` and
//! `now` reach the running host.
//!
//! Why a socket rather than files: a sub-command is built by the service's plugin instance
//! and needs the service's final environment, both of which live only in the host process;
//! and a travel must be logged in the host's stream. The protocol is one JSON request line
//! and one JSON reply line per connection, on `<run>/control.sock` (mode 0600).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::clock::BundleClock;
use super::running::ServiceHandle;
use crate::clock::Travel;
use crate::logs::LogHub;

/// A request to a running bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Build a sub-command of a service.
    Exec {
        /// The service.
        service: String,
        /// The sub-command.
        name: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// Move the bundle's clock: a relative spec (`+30d`) or an RFC 3339 instant.
    Travel {
        /// Relative travel, e.g. `+30d`.
        by: Option<String>,
        /// Absolute travel, e.g. `2027-01-01T09:00:00+01:00`.
        to: Option<String>,
    },
    /// The bundle's time.
    Now,
}

/// A command built by the running host, for the client to run with its own stdio.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecSpec {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// The complete environment.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// User to switch to when running as root.
    pub user: Option<String>,
}

/// A reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The command to run.
    Exec(ExecSpec),
    /// What a travel did.
    Travelled {
        /// The report line.
        report: String,
    },
    /// The bundle's time, RFC 3339.
    Now {
        /// The time.
        now: String,
    },
    /// The request failed.
    Error {
        /// Why.
        message: String,
    },
}

/// What the control server needs from a running bundle.
#[derive(Debug, Clone)]
pub(crate) struct Controller {
    pub services: Vec<ServiceHandle>,
    pub clock: BundleClock,
    pub hub: LogHub,
}

impl Controller {
    fn handle(&self, req: Request) -> Reply {
        let err = |message: String| Reply::Error { message };
        match req {
            Request::Exec {
                service,
                name,
                args,
            } => {
                let Some(svc) = self.services.iter().find(|s| s.name() == service) else {
                    let names: Vec<&str> = self.services.iter().map(|s| s.name()).collect();
                    return err(format!(
                        "no service `{service}` in this bundle (services: {})",
                        names.join(", ")
                    ));
                };
                match svc.subcommand(&name, &args) {
                    Ok(sub) => {
                        let mut env: Vec<(String, String)> = sub.base_env.as_ref().clone();
                        for (k, v) in &sub.spec.env {
                            env.retain(|(ek, _)| ek != k);
                            env.push((k.clone(), v.clone()));
                        }
                        Reply::Exec(ExecSpec {
                            argv: sub.spec.argv.clone(),
                            env,
                            cwd: sub.spec.cwd.clone().unwrap_or(sub.cwd.clone()),
                            user: sub.user.clone(),
                        })
                    }
                    Err(e) => err(crate::error_chain(&e)),
                }
            }
            Request::Travel { by, to } => {
                let travel = match (by, to) {
                    (Some(by), None) => Travel::parse(&by),
                    (None, Some(to)) => Travel::to_rfc3339(&to),
                    _ => return err("give either a relative travel or an instant".to_owned()),
                };
                let travel = match travel {
                    Ok(t) => t,
                    Err(e) => return err(crate::error_chain(&e)),
                };
                match self.clock.travel(travel) {
                    Ok(report) => {
                        self.hub.message(&report.to_string());
                        Reply::Travelled {
                            report: report.to_string(),
                        }
                    }
                    Err(e) => err(crate::error_chain(&e)),
                }
            }
            Request::Now => Reply::Now {
                now: self.clock.now().to_rfc3339(),
            },
        }
    }

    /// Serves requests on `<run>/control.sock` until the task is dropped.
    pub(crate) fn serve(self, run_dir: &Path) -> std::io::Result<tokio::task::JoinHandle<()>> {
        let path = run_dir.join("control.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let this = Arc::new(self);
        Ok(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let this = this.clone();
                tokio::spawn(async move {
                    let _ = serve_one(&this, stream).await;
                });
            }
        }))
    }
}

async fn serve_one(ctl: &Controller, stream: UnixStream) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(req) => {
            let ctl = ctl.clone();
            // Plugin calls block: keep them off the async workers.
            tokio::task::spawn_blocking(move || ctl.handle(req))
                .await
                .unwrap_or_else(|e| Reply::Error {
                    message: format!("the request failed: {e}"),
                })
        }
        Err(e) => Reply::Error {
            message: format!("bad request: {e}"),
        },
    };
    let mut out = serde_json::to_vec(&reply).expect("serializable");
    out.push(b'\n');
    w.write_all(&out).await
}

/// Why the client could not talk to a running bundle.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No `teamster up` runs for this project.
    #[error("no running bundle found at {} (is `teamster up` running in this project?)", path.display())]
    NotRunning {
        /// The socket path tried.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The exchange broke.
    #[error("the running bundle did not answer properly")]
    Protocol(#[source] std::io::Error),
}

/// Sends one request to the bundle whose run directory is `run_dir`.
pub async fn request(run_dir: &Path, req: &Request) -> Result<Reply, ControlError> {
    let path = run_dir.join("control.sock");
    let stream = UnixStream::connect(&path)
        .await
        .map_err(|source| ControlError::NotRunning { path, source })?;
    let (r, mut w) = stream.into_split();
    let mut out = serde_json::to_vec(req).expect("serializable");
    out.push(b'\n');
    w.write_all(&out).await.map_err(ControlError::Protocol)?;
    let mut line = String::new();
    BufReader::new(r)
        .read_line(&mut line)
        .await
        .map_err(ControlError::Protocol)?;
    serde_json::from_str(&line).map_err(|e| ControlError::Protocol(std::io::Error::other(e)))
}
