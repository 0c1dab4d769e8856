//! A plugin that opens a TCP connection, so it imports `wasi:sockets`. The host links no
//! sockets at all, so it must reject this component before running any of it.

use teamster_plugin_sdk::{Error, Info, Kind, NoConfig, Process, Service};

struct Sockets;

impl Kind for Sockets {
    type Config = NoConfig;

    fn info() -> Info {
        Info::new(
            "sockets",
            "0.0.1",
            "Tries to reach the network (test plugin)",
        )
    }

    fn configure(_svc: &Service<NoConfig>) -> Result<Process, Error> {
        let stream = std::net::TcpStream::connect("127.0.0.1:9")?;
        drop(stream);
        Ok(Process::new("true"))
    }
}

teamster_plugin_sdk::export_kind!(Sockets);
