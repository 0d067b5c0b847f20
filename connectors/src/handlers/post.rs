//! `post`: Kapacitor's httppost handler. POSTs the event's `alert.Data` JSON.

use std::time::Duration;

use serde_json::{Map, Value};
use weir_engine::alert::Event;

use super::http::Request;
use super::opts::Opts;
use super::template::Template;
use super::{Failure, HandlerError, HttpKind};

const OPTIONS: &[&str] = &[
    "url",
    "headers",
    "username",
    "password",
    "timeout",
    "capture_response",
];

pub(crate) struct Post {
    url: reqwest::Url,
    /// A URL with template actions (`http://hooks/{{ .ID }}`), rendered per event.
    url_template: Option<Template>,
    headers: Vec<(String, String)>,
    auth: Option<(String, String)>,
    timeout: Option<Duration>,
}

impl Post {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<Post, HandlerError> {
        let o = Opts::new(name, "post", o, OPTIONS)?;
        let text = o.required("url")?;
        let (url, url_template) = if text.contains("{{") {
            let t = Template::parse(&text).map_err(|e| o.invalid("url", e))?;
            let url = o
                .parse_url("url", &t.render_sample(), &["http", "https"])
                .map_err(|e| match e {
                    // Name the URL as written, not the sample.
                    HandlerError::BadUrl {
                        handler,
                        kind,
                        option,
                        reason,
                        ..
                    } => HandlerError::BadUrl {
                        handler,
                        kind,
                        option,
                        url: text.clone(),
                        reason,
                    },
                    e => e,
                })?;
            (url, Some(t))
        } else {
            (o.url("url", None)?, None)
        };
        // Kapacitor's `capture-response` puts the response body in the error; weir always does.
        o.bool("capture_response")?;
        let mut headers = Vec::new();
        for (k, v) in o.string_map("headers")? {
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(&v).is_err()
            {
                return Err(o.invalid("headers", format!("'{k}: {v}' is not a valid HTTP header")));
            }
            headers.push((k, v));
        }
        let auth = match o.string("username")? {
            Some(u) if !u.is_empty() => Some((u, o.string_or("password", "")?)),
            _ => None,
        };
        Ok(Post {
            url,
            url_template,
            headers,
            auth,
            timeout: o.duration("timeout")?.filter(|d| !d.is_zero()),
        })
    }
}

impl HttpKind for Post {
    fn request(&self, ev: &Event) -> Result<Request, Failure> {
        let url = match &self.url_template {
            None => self.url.clone(),
            Some(t) => {
                let text = t.render(ev);
                reqwest::Url::parse(&text).map_err(|e| {
                    Failure::fatal(format!("post handler: the url template gave '{text}': {e}"))
                })?
            }
        };
        let mut r = Request::json(url, ev.kapacitor_json());
        // Kapacitor sets Content-Type after the user's headers: JSON always wins.
        r.headers = self
            .headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
            .cloned()
            .collect();
        r.basic_auth = self.auth.clone();
        r.timeout = self.timeout;
        Ok(r)
    }
}
