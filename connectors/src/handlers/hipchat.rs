//! `hipchat`: Kapacitor's HipChat handler (`POST {url}/{room}/notification?auth_token=...`).

use serde_json::{json, Map, Value};
use weir_engine::alert::{Event, Level};

use super::http::Request;
use super::opts::Opts;
use super::{Failure, HandlerError, HttpKind};

const OPTIONS: &[&str] = &["url", "room", "token"];

pub(crate) struct HipChat {
    url: reqwest::Url,
}

impl HipChat {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<HipChat, HandlerError> {
        let o = Opts::new(name, "hipchat", o, OPTIONS)?;
        let mut url = o.url("url", None)?;
        let room = o.required("room")?;
        let token = o.string_or("token", "")?;
        let path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{path}/{room}/notification"));
        url.query_pairs_mut()
            .clear()
            .append_pair("auth_token", &token);
        Ok(HipChat { url })
    }
}

impl HttpKind for HipChat {
    fn request(&self, ev: &Event) -> Result<Request, Failure> {
        let color = match ev.level {
            Level::Warning => "yellow",
            Level::Critical => "red",
            _ => "green",
        };
        let body = json!({
            "from": "kapacitor",
            "color": color,
            "message": ev.message,
            "notify": true,
        });
        Ok(Request::json(self.url.clone(), body))
    }
}
