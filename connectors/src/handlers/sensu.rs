//! `sensu`: Kapacitor's Sensu handler. Writes a check result to the Sensu client socket
//! (TCP, `addr`) and expects `ok` back.

use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use weir_engine::alert::{Event, Level};

use super::opts::Opts;
use super::template::Template;
use super::{Failure, HandlerError};

const OPTIONS: &[&str] = &["addr", "source", "handlers", "metadata", "timeout"];

pub(crate) struct Sensu {
    addr: String,
    source: Template,
    handlers: Vec<String>,
    metadata: Map<String, Value>,
    timeout: Duration,
}

impl Sensu {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<Sensu, HandlerError> {
        let o = Opts::new(name, "sensu", o, OPTIONS)?;
        let addr = o.required("addr")?;
        super::tcp::check_address(&o, "addr", &addr)?;
        Ok(Sensu {
            addr,
            source: o.template("source", "Kapacitor")?,
            handlers: o.list("handlers")?,
            metadata: o.map("metadata")?,
            timeout: o.duration("timeout")?.unwrap_or(Duration::from_secs(10)),
        })
    }

    /// The check result Kapacitor writes.
    pub(crate) fn body(&self, ev: &Event) -> Value {
        let status = match ev.level {
            Level::Ok | Level::Info => 0,
            Level::Warning => 1,
            Level::Critical => 2,
        };
        let mut body = Map::new();
        body.insert("name".into(), json!(ev.id));
        body.insert("source".into(), json!(self.source.render(ev)));
        body.insert("output".into(), json!(ev.message));
        body.insert("status".into(), json!(status));
        body.insert(
            "handlers".into(),
            if self.handlers.is_empty() {
                Value::Null
            } else {
                json!(self.handlers)
            },
        );
        for (k, v) in &self.metadata {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(body)
    }

    pub(crate) async fn send(&self, ev: &Event) -> Result<(), Failure> {
        let valid = !ev.id.is_empty()
            && ev
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
        if !valid {
            return Err(Failure::fatal(format!(
                "invalid name {:?} for sensu alert: the alert ID must match ^[\\w\\.-]+$",
                ev.id
            )));
        }
        let mut bytes = serde_json::to_vec(&self.body(ev)).unwrap_or_default();
        bytes.push(b'\n');
        let addr = self.addr.as_str();
        let io = async {
            let mut conn = tokio::net::TcpStream::connect(addr).await?;
            conn.write_all(&bytes).await?;
            let mut resp = Vec::new();
            conn.read_to_end(&mut resp).await?;
            Ok::<_, std::io::Error>(resp)
        };
        let resp = match tokio::time::timeout(self.timeout, io).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(Failure::retry(format!("sensu handler: {addr}: {e}"))),
            Err(_) => {
                return Err(Failure::retry(format!(
                    "sensu handler: {addr}: no answer within {:?}",
                    self.timeout
                )))
            }
        };
        if resp == b"ok" {
            Ok(())
        } else {
            Err(Failure::retry(format!(
                "sensu socket error: {}",
                String::from_utf8_lossy(&resp)
            )))
        }
    }
}
