//! The one HTTP POST most kinds send, and how its outcome is judged.

use std::time::Duration;

use serde_json::Value;

use super::Failure;

/// What an HTTP kind sends for one event.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub url: reqwest::Url,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub basic_auth: Option<(String, String)>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// `Content-Type: application/json`; with `newline` the text ends with one, as Go's
    /// `json.Encoder` writes it (`json.Marshal` does not).
    Json { value: Value, newline: bool },
    /// `Content-Type: application/x-www-form-urlencoded`, keys sorted as Go's
    /// `url.Values.Encode` sorts them.
    Form(Vec<(String, String)>),
}

impl Request {
    pub(crate) fn json(url: reqwest::Url, body: Value) -> Request {
        Request {
            url,
            headers: Vec::new(),
            body: Body::Json {
                value: body,
                newline: true,
            },
            basic_auth: None,
            timeout: None,
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// Where the request went, without the path or query (tokens live there).
fn target(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", url.scheme()),
        (Some(h), None) => format!("{}://{h}", url.scheme()),
        _ => url.scheme().to_string(),
    }
}

/// An error with its causes (`error sending request: ... : Connection refused`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
    }
    text
}

/// Posts the request. 2xx is success; connection errors, timeouts, 408, 429 and 5xx are
/// retried; any other status is a refusal, reported with the response body.
pub(crate) async fn send(client: &reqwest::Client, req: Request) -> Result<(), Failure> {
    let to = target(&req.url);
    let mut b = client.post(req.url);
    if let Some(t) = req.timeout {
        b = b.timeout(t);
    }
    if let Some((user, pass)) = &req.basic_auth {
        b = b.basic_auth(user, Some(pass));
    }
    let mut has_ct = false;
    for (k, v) in &req.headers {
        has_ct |= k.eq_ignore_ascii_case("content-type");
        b = b.header(k.as_str(), v.as_str());
    }
    match req.body {
        Body::Json { value, newline } => {
            let mut bytes = serde_json::to_vec(&value).unwrap_or_default();
            if newline {
                bytes.push(b'\n');
            }
            if !has_ct {
                b = b.header("Content-Type", "application/json");
            }
            b = b.body(bytes);
        }
        Body::Form(mut pairs) => {
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            b = b.form(&pairs);
        }
    }
    let resp = b
        .send()
        .await
        .map_err(|e| Failure::retry(format!("POST to {to} failed: {}", chain(&e.without_url()))))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let body = resp.text().await.unwrap_or_default();
    let body = body.trim();
    let body = if body.len() > 1000 {
        let mut end = 1000;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        &body[..end]
    } else {
        body
    };
    let message = format!("POST to {to} returned {status}: {body}");
    let code = status.as_u16();
    if code == 408 || code == 429 || status.is_server_error() {
        Err(Failure::retry(message))
    } else {
        Err(Failure::fatal(message))
    }
}
