//! `mqtt`: Kapacitor's MQTT handler. Publishes the event's message to `topic` on the broker
//! at `url` (`tcp://host:port`). A small MQTT 3.1.1 client: CONNECT (clean session), PUBLISH
//! with QoS 0, 1 (PUBACK) or 2 (PUBREC/PUBREL/PUBCOMP), DISCONNECT; one connection per event.

use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use weir_engine::alert::Event;

use super::opts::Opts;
use super::template::Template;
use super::{Failure, HandlerError};

const OPTIONS: &[&str] = &[
    "url",
    "topic",
    "qos",
    "retained",
    "client_id",
    "username",
    "password",
    "timeout",
];
const DEFAULT_URL: &str = "tcp://localhost:1883";

pub(crate) struct Mqtt {
    addr: String,
    topic: Template,
    qos: u8,
    retained: bool,
    client_id: String,
    username: String,
    password: String,
    timeout: Duration,
}

impl Mqtt {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<Mqtt, HandlerError> {
        let o = Opts::new(name, "mqtt", o, OPTIONS)?;
        let text = o.string_or("url", DEFAULT_URL)?;
        let url = o.parse_url("url", &text, &["tcp", "mqtt"])?;
        let host = url.host_str().unwrap_or("localhost");
        let addr = format!("{host}:{}", url.port().unwrap_or(1883));
        if !o.has("topic") {
            return Err(o.missing("topic"));
        }
        let topic = o.template("topic", "")?;
        if topic.is_empty() {
            return Err(o.missing("topic"));
        }
        let qos = o.int("qos")?.unwrap_or(0);
        if !(0..=2).contains(&qos) {
            return Err(o.invalid("qos", format!("{qos} is not 0, 1 or 2")));
        }
        let client_id = o.string_or("client_id", &format!("weir-{name}"))?;
        Ok(Mqtt {
            addr,
            topic,
            qos: qos as u8,
            retained: o.bool("retained")?,
            client_id,
            username: o.string_or("username", "")?,
            password: o.string_or("password", "")?,
            timeout: o.duration("timeout")?.unwrap_or(Duration::from_secs(10)),
        })
    }

    pub(crate) async fn send(&self, ev: &Event) -> Result<(), Failure> {
        let topic = self.topic.render(ev);
        if topic.is_empty() || topic.contains(['+', '#']) {
            return Err(Failure::fatal(format!(
                "mqtt: '{topic}' is not a topic to publish to"
            )));
        }
        match tokio::time::timeout(self.timeout, self.publish(&topic, ev.message.as_bytes())).await
        {
            Ok(r) => r,
            Err(_) => Err(Failure::retry(format!(
                "mqtt {}: no answer within {:?}",
                self.addr, self.timeout
            ))),
        }
    }

    async fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), Failure> {
        let io = |e: std::io::Error| Failure::retry(format!("mqtt {}: {e}", self.addr));
        let mut conn = TcpStream::connect(&self.addr).await.map_err(io)?;
        conn.write_all(&connect_packet(
            &self.client_id,
            &self.username,
            &self.password,
        ))
        .await
        .map_err(io)?;
        let (kind, body) = read_packet(&mut conn).await.map_err(io)?;
        if kind >> 4 != 2 || body.len() < 2 {
            return Err(Failure::retry(format!(
                "mqtt {}: expected CONNACK, got packet type {}",
                self.addr,
                kind >> 4
            )));
        }
        match body[1] {
            0 => {}
            3 => {
                return Err(Failure::retry(format!(
                    "mqtt {}: server unavailable",
                    self.addr
                )))
            }
            code => {
                let why = match code {
                    1 => "unacceptable protocol version",
                    2 => "client identifier rejected",
                    4 => "bad user name or password",
                    5 => "not authorized",
                    _ => "refused",
                };
                return Err(Failure::fatal(format!(
                    "mqtt {}: connection refused: {why} (code {code})",
                    self.addr
                )));
            }
        }
        let id: u16 = 1;
        conn.write_all(&publish_packet(topic, payload, self.qos, self.retained, id))
            .await
            .map_err(io)?;
        match self.qos {
            1 => expect(&mut conn, 4, &self.addr).await?,
            2 => {
                expect(&mut conn, 5, &self.addr).await?;
                conn.write_all(&[0x62, 0x02, (id >> 8) as u8, id as u8])
                    .await
                    .map_err(io)?;
                expect(&mut conn, 7, &self.addr).await?;
            }
            _ => {}
        }
        conn.write_all(&[0xE0, 0x00]).await.map_err(io)?;
        let _ = conn.shutdown().await;
        Ok(())
    }
}

async fn expect(conn: &mut TcpStream, kind: u8, addr: &str) -> Result<(), Failure> {
    let (k, _) = read_packet(conn)
        .await
        .map_err(|e| Failure::retry(format!("mqtt {addr}: {e}")))?;
    if k >> 4 == kind {
        Ok(())
    } else {
        Err(Failure::retry(format!(
            "mqtt {addr}: expected packet type {kind}, got {}",
            k >> 4
        )))
    }
}

fn remaining_length(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&s[..n]);
}

pub(crate) fn connect_packet(client_id: &str, username: &str, password: &str) -> Vec<u8> {
    let mut body = Vec::new();
    string(&mut body, b"MQTT");
    body.push(4); // protocol level 3.1.1
    let mut flags = 0x02; // clean session
    if !username.is_empty() {
        flags |= 0x80;
        if !password.is_empty() {
            flags |= 0x40;
        }
    }
    body.push(flags);
    body.extend_from_slice(&60u16.to_be_bytes()); // keep alive, s
    string(&mut body, client_id.as_bytes());
    if !username.is_empty() {
        string(&mut body, username.as_bytes());
        if !password.is_empty() {
            string(&mut body, password.as_bytes());
        }
    }
    let mut out = vec![0x10];
    remaining_length(&mut out, body.len());
    out.extend(body);
    out
}

pub(crate) fn publish_packet(
    topic: &str,
    payload: &[u8],
    qos: u8,
    retain: bool,
    id: u16,
) -> Vec<u8> {
    let mut body = Vec::new();
    string(&mut body, topic.as_bytes());
    if qos > 0 {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    let mut out = vec![0x30 | (qos << 1) | u8::from(retain)];
    remaining_length(&mut out, body.len());
    out.extend(body);
    out
}

async fn read_packet(conn: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let kind = conn.read_u8().await?;
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = conn.read_u8().await?;
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "bad MQTT remaining length",
            ));
        }
    }
    let mut body = vec![0; len];
    conn.read_exact(&mut body).await?;
    Ok((kind, body))
}
