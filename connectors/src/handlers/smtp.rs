//! `smtp`: Kapacitor's email handler. Subject is the event's message, the body (HTML) its
//! details, as Kapacitor's gomail message. A small SMTP client: EHLO, AUTH PLAIN when a
//! username is set, MAIL/RCPT/DATA, QUIT; one connection per email. (No STARTTLS: use a
//! local relay for servers that require TLS.)

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use weir_engine::alert::Event;

use super::opts::Opts;
use super::{Failure, HandlerError};

const OPTIONS: &[&str] = &[
    "host",
    "port",
    "username",
    "password",
    "from",
    "to",
    "no_verify",
    "idle_timeout",
    "timeout",
];

pub(crate) struct Smtp {
    host: String,
    port: u16,
    username: String,
    password: String,
    from: String,
    to: Vec<String>,
    timeout: Duration,
}

fn check_address(o: &Opts, key: &str, a: &str) -> Result<(), HandlerError> {
    let ok = a.contains('@') && !a.contains(['\r', '\n', '<', '>', ',']) && !a.trim().is_empty();
    if ok {
        Ok(())
    } else {
        Err(o.invalid(key, format!("'{a}' is not an email address")))
    }
}

impl Smtp {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<Smtp, HandlerError> {
        let o = Opts::new(name, "smtp", o, OPTIONS)?;
        let port = o.int("port")?.unwrap_or(25);
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| o.invalid("port", format!("{port} is not a TCP port")))?;
        let from = o.required("from")?;
        check_address(&o, "from", &from)?;
        let to = o.list("to")?;
        if to.is_empty() {
            return Err(o.missing("to"));
        }
        for a in &to {
            check_address(&o, "to", a)?;
        }
        o.bool("no_verify")?;
        o.duration("idle_timeout")?;
        Ok(Smtp {
            host: o.string_or("host", "localhost")?,
            port,
            username: o.string_or("username", "")?,
            password: o.string_or("password", "")?,
            from,
            to,
            timeout: o.duration("timeout")?.unwrap_or(Duration::from_secs(30)),
        })
    }

    /// The message as sent after DATA (before dot-stuffing).
    pub(crate) fn message(&self, ev: &Event, date: &str) -> String {
        let mut m = String::new();
        m.push_str("Mime-Version: 1.0\r\n");
        m.push_str(&format!("Date: {date}\r\n"));
        m.push_str(&format!("From: {}\r\n", self.from));
        m.push_str(&format!("To: {}\r\n", self.to.join(", ")));
        m.push_str(&format!("Subject: {}\r\n", encode_header(&ev.message)));
        m.push_str("Content-Type: text/html; charset=UTF-8\r\n");
        m.push_str("Content-Transfer-Encoding: quoted-printable\r\n");
        m.push_str("\r\n");
        m.push_str(&quoted_printable(&ev.details));
        m
    }

    pub(crate) async fn send(&self, ev: &Event) -> Result<(), Failure> {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S +0000")
            .to_string();
        let msg = self.message(ev, &date);
        match tokio::time::timeout(self.timeout, self.session(&msg)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::retry(format!(
                "smtp {}:{}: no answer within {:?}",
                self.host, self.port, self.timeout
            ))),
        }
    }

    async fn session(&self, msg: &str) -> Result<(), Failure> {
        let server = format!("{}:{}", self.host, self.port);
        let conn = TcpStream::connect(&server)
            .await
            .map_err(|e| Failure::retry(format!("smtp {server}: {e}")))?;
        let mut s = Session {
            conn: BufReader::new(conn),
            server,
        };
        s.expect(None, 220).await?;
        s.expect(Some("EHLO localhost".into()), 250).await?;
        if !self.username.is_empty() {
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("\0{}\0{}", self.username, self.password));
            s.expect(Some(format!("AUTH PLAIN {token}")), 235).await?;
        }
        s.expect(Some(format!("MAIL FROM:<{}>", self.from)), 250)
            .await?;
        for to in &self.to {
            s.expect(Some(format!("RCPT TO:<{to}>")), 250).await?;
        }
        s.expect(Some("DATA".into()), 354).await?;
        let mut data = String::with_capacity(msg.len() + 8);
        for line in msg.split_inclusive("\r\n") {
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
        }
        if !data.ends_with("\r\n") {
            data.push_str("\r\n");
        }
        data.push_str(".\r\n");
        s.write(&data).await?;
        s.expect(None, 250).await?;
        let _ = s.expect(Some("QUIT".into()), 221).await;
        Ok(())
    }
}

struct Session {
    conn: BufReader<TcpStream>,
    server: String,
}

impl Session {
    async fn write(&mut self, text: &str) -> Result<(), Failure> {
        self.conn
            .get_mut()
            .write_all(text.as_bytes())
            .await
            .map_err(|e| Failure::retry(format!("smtp {}: {e}", self.server)))
    }

    /// Sends a command (if any) and reads the reply; a reply other than `code` is a failure,
    /// retried for 4xx (temporary), not for 5xx.
    async fn expect(&mut self, cmd: Option<String>, code: u16) -> Result<(), Failure> {
        if let Some(c) = &cmd {
            self.write(&format!("{c}\r\n")).await?;
        }
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            let n = self
                .conn
                .read_line(&mut line)
                .await
                .map_err(|e| Failure::retry(format!("smtp {}: {e}", self.server)))?;
            if n == 0 {
                return Err(Failure::retry(format!(
                    "smtp {}: connection closed",
                    self.server
                )));
            }
            reply.push_str(&line);
            let b = line.as_bytes();
            if b.len() < 4 || b[3] != b'-' {
                break;
            }
        }
        let got: u16 = reply.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        if got == code || (code == 250 && got == 251) {
            return Ok(());
        }
        let what = cmd
            .as_deref()
            .map(|c| {
                if c.starts_with("AUTH") {
                    "AUTH PLAIN"
                } else {
                    c
                }
            })
            .unwrap_or("greeting");
        let message = format!("smtp {}: {what}: {}", self.server, reply.trim());
        if (400..500).contains(&got) {
            Err(Failure::retry(message))
        } else {
            Err(Failure::fatal(message))
        }
    }
}

/// RFC 2047 Q-encoding for a header with non-ASCII text, as Go's `mime.QEncoding`.
fn encode_header(s: &str) -> String {
    let s = s.replace(['\r', '\n'], " ");
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return s;
    }
    let mut out = String::from("=?UTF-8?q?");
    for b in s.bytes() {
        match b {
            b' ' => out.push('_'),
            b'=' | b'?' | b'_' => out.push_str(&format!("={b:02X}")),
            0x21..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("={b:02X}")),
        }
    }
    out.push_str("?=");
    out
}

/// Quoted-printable (RFC 2045) with CRLF line ends and soft breaks at 76 characters.
pub(crate) fn quoted_printable(s: &str) -> String {
    let mut out = String::new();
    let text = s.replace("\r\n", "\n");
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let bytes = line.as_bytes();
        let mut width = 0;
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let enc = match b {
                b'=' => format!("={b:02X}"),
                b' ' | b'\t' if last => format!("={b:02X}"),
                b' ' | b'\t' | 0x21..=0x7e => (b as char).to_string(),
                _ => format!("={b:02X}"),
            };
            if width + enc.len() > 75 {
                out.push_str("=\r\n");
                width = 0;
            }
            width += enc.len();
            out.push_str(&enc);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_lines() {
        assert_eq!(quoted_printable("a=b \nc\t d"), "a=3Db=20\r\nc\t d");
        let long = "x".repeat(100);
        let qp = quoted_printable(&long);
        assert!(qp.split("\r\n").all(|l| l.len() <= 76), "{qp}");
        assert_eq!(qp.replace("=\r\n", ""), long);
        assert_eq!(quoted_printable("é"), "=C3=A9");
    }

    #[test]
    fn non_ascii_subjects_are_q_encoded() {
        assert_eq!(encode_header("plain subject"), "plain subject");
        assert_eq!(encode_header("CPU é_?"), "=?UTF-8?q?CPU_=C3=A9=5F=3F?=");
    }
}
