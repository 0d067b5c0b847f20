//! `tcp`: Kapacitor's tcp handler. Connects to `address` and writes the event's
//! `alert.Data` JSON followed by a newline (Kapacitor's encoder adds one more, so two).

use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt as _;
use weir_engine::alert::Event;

use super::opts::Opts;
use super::{Failure, HandlerError};

const OPTIONS: &[&str] = &["address", "timeout"];

pub(crate) struct Tcp {
    address: String,
    timeout: Duration,
}

/// Checks `host:port`.
pub(crate) fn check_address(o: &Opts, key: &str, addr: &str) -> Result<(), HandlerError> {
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(o.invalid(key, format!("'{addr}' is not host:port"))),
    }
}

impl Tcp {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<Tcp, HandlerError> {
        let o = Opts::new(name, "tcp", o, OPTIONS)?;
        let address = o.required("address")?;
        check_address(&o, "address", &address)?;
        Ok(Tcp {
            address,
            timeout: o.duration("timeout")?.unwrap_or(Duration::from_secs(10)),
        })
    }

    pub(crate) async fn send(&self, ev: &Event) -> Result<(), Failure> {
        let mut bytes = serde_json::to_vec(&ev.kapacitor_json()).unwrap_or_default();
        bytes.extend_from_slice(b"\n\n");
        let addr = self.address.as_str();
        let io = async {
            let mut conn = tokio::net::TcpStream::connect(addr).await?;
            conn.write_all(&bytes).await?;
            conn.shutdown().await
        };
        match tokio::time::timeout(self.timeout, io).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure::retry(format!("tcp handler: {addr}: {e}"))),
            Err(_) => Err(Failure::retry(format!(
                "tcp handler: {addr}: no connection within {:?}",
                self.timeout
            ))),
        }
    }
}
