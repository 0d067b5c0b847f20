//! `slack`: Kapacitor's Slack handler (an incoming webhook, or `chat.postMessage` with a token).

use serde_json::{json, Map, Value};
use weir_engine::alert::{Event, Level};

use super::http::Request;
use super::opts::Opts;
use super::{Failure, HandlerError, HttpKind};

const OPTIONS: &[&str] = &[
    "url",
    "token",
    "channel",
    "username",
    "icon_emoji",
    "workspace",
];
/// The URL for a token (new-style Slack apps); webhooks have their own URL.
const POST_MESSAGE_URL: &str = "https://slack.com/api/chat.postMessage";

pub(crate) struct Slack {
    url: reqwest::Url,
    token: String,
    channel: String,
    username: String,
    icon_emoji: String,
}

impl Slack {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<Slack, HandlerError> {
        let o = Opts::new(name, "slack", o, OPTIONS)?;
        let token = o.string_or("token", "")?;
        let default = if token.is_empty() {
            None
        } else {
            Some(POST_MESSAGE_URL)
        };
        Ok(Slack {
            url: o.url("url", default)?,
            token,
            channel: o.string_or("channel", "")?,
            username: o.string_or("username", "kapacitor")?,
            icon_emoji: o.string_or("icon_emoji", "")?,
        })
    }
}

/// Kapacitor's attachment colors.
pub(crate) fn color(level: Level) -> &'static str {
    match level {
        Level::Warning => "warning",
        Level::Critical => "danger",
        _ => "good",
    }
}

impl HttpKind for Slack {
    fn request(&self, ev: &Event) -> Result<Request, Failure> {
        let body = json!({
            "channel": self.channel,
            "text": "",
            "attachments": [{
                "fallback": ev.message,
                "color": color(ev.level),
                "text": ev.message,
                "mrkdwn_in": ["text"],
            }],
            "username": self.username,
            "icon_emoji": self.icon_emoji,
        });
        let r = Request::json(self.url.clone(), body);
        Ok(if self.token.is_empty() {
            r
        } else {
            r.header("Authorization", format!("Bearer {}", self.token))
        })
    }
}
