//! `pushover`: Kapacitor's Pushover handler (a form POST to the messages API).

use serde_json::{Map, Value};
use weir_engine::alert::{Event, Level};

use super::http::{Body, Request};
use super::opts::Opts;
use super::{Failure, HandlerError, HttpKind};

const OPTIONS: &[&str] = &[
    "api_url",
    "token",
    "user_key",
    "device",
    "title",
    "url",
    "url_title",
    "sound",
];
const DEFAULT_URL: &str = "https://api.pushover.net/1/messages.json";

pub(crate) struct Pushover {
    api_url: reqwest::Url,
    token: String,
    user_key: String,
    optional: Vec<(&'static str, String)>,
}

impl Pushover {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<Pushover, HandlerError> {
        let o = Opts::new(name, "pushover", o, OPTIONS)?;
        let mut optional = Vec::new();
        for (key, field) in [
            ("device", "device"),
            ("title", "title"),
            ("url", "url"),
            ("url_title", "url_title"),
            ("sound", "sound"),
        ] {
            let v = o.string_or(key, "")?;
            if !v.is_empty() {
                optional.push((field, v));
            }
        }
        Ok(Pushover {
            api_url: o.url("api_url", Some(DEFAULT_URL))?,
            token: o.required("token")?,
            user_key: o.required("user_key")?,
            optional,
        })
    }
}

/// Kapacitor's priorities: OK -2 (no alert), INFO -1 (quiet), WARNING 0, CRITICAL 1 (high).
fn priority(level: Level) -> i32 {
    match level {
        Level::Ok => -2,
        Level::Info => -1,
        Level::Warning => 0,
        Level::Critical => 1,
    }
}

impl HttpKind for Pushover {
    fn request(&self, ev: &Event) -> Result<Request, Failure> {
        let mut form = vec![
            ("token".to_string(), self.token.clone()),
            ("user".to_string(), self.user_key.clone()),
            ("message".to_string(), ev.message.clone()),
            ("priority".to_string(), priority(ev.level).to_string()),
        ];
        form.extend(
            self.optional
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone())),
        );
        Ok(Request {
            url: self.api_url.clone(),
            headers: Vec::new(),
            body: Body::Form(form),
            basic_auth: None,
            timeout: None,
        })
    }
}
