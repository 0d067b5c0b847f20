//! `discord`: Kapacitor's Discord webhook handler.

use serde_json::{json, Map, Value};
use weir_engine::alert::{Event, Level};

use super::http::Request;
use super::opts::Opts;
use super::template::Template;
use super::{Failure, HandlerError, HttpKind};

const OPTIONS: &[&str] = &[
    "url",
    "username",
    "avatar_url",
    "embed_title",
    "timestamp",
    "workspace",
];

pub(crate) struct Discord {
    url: reqwest::Url,
    username: String,
    avatar_url: String,
    embed_title: Template,
    timestamp: bool,
}

impl Discord {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<Discord, HandlerError> {
        let o = Opts::new(name, "discord", o, OPTIONS)?;
        let avatar_url = o.string_or("avatar_url", "")?;
        if !avatar_url.is_empty() {
            o.parse_url("avatar_url", &avatar_url, &["http", "https"])?;
        }
        Ok(Discord {
            url: o.url("url", None)?,
            username: o.string_or("username", "")?,
            avatar_url,
            embed_title: o.template("embed_title", "")?,
            timestamp: o.bool("timestamp")?,
        })
    }
}

impl HttpKind for Discord {
    fn request(&self, ev: &Event) -> Result<Request, Failure> {
        let color = match ev.level {
            Level::Critical => 0xF9_5F53,
            Level::Warning => 0xF4_8D38,
            _ => 0x7A_65F2,
        };
        let timestamp = if self.timestamp {
            chrono::DateTime::from_timestamp_nanos(ev.time)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        } else {
            String::new()
        };
        let body = json!({
            "username": self.username,
            "avatar_url": self.avatar_url,
            "embeds": [{
                "color": color,
                "title": self.embed_title.render(ev),
                "description": ev.message,
                "timestamp": timestamp,
            }],
        });
        Ok(Request::json(self.url.clone(), body))
    }
}
