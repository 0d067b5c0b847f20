//! `telegram`: Kapacitor's Telegram handler (`POST {url}{token}/sendMessage`).

use serde_json::{json, Map, Value};
use weir_engine::alert::Event;

use super::http::Request;
use super::opts::Opts;
use super::{Failure, HandlerError, HttpKind};

const OPTIONS: &[&str] = &[
    "url",
    "token",
    "chat_id",
    "parse_mode",
    "disable_web_page_preview",
    "disable_notification",
];
const DEFAULT_URL: &str = "https://api.telegram.org/bot";

pub(crate) struct Telegram {
    url: reqwest::Url,
    chat_id: String,
    parse_mode: String,
    disable_web_page_preview: bool,
    disable_notification: bool,
}

impl Telegram {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<Telegram, HandlerError> {
        let o = Opts::new(name, "telegram", o, OPTIONS)?;
        let base = o.url("url", Some(DEFAULT_URL))?;
        let token = o.required("token")?;
        let parse_mode = o.string_or("parse_mode", "")?;
        let lower = parse_mode.to_ascii_lowercase();
        if !parse_mode.is_empty() && lower != "markdown" && lower != "html" {
            return Err(o.invalid(
                "parse_mode",
                format!("'{parse_mode}' is not valid, use 'Markdown' or 'HTML'"),
            ));
        }
        // Kapacitor: path.Join(url.Path + token, "sendMessage").
        let mut url = base.clone();
        let path = format!("{}{token}", base.path());
        url.set_path(&format!("{}/sendMessage", path.trim_end_matches('/')));
        Ok(Telegram {
            url,
            chat_id: o.required("chat_id")?,
            parse_mode,
            disable_web_page_preview: o.bool("disable_web_page_preview")?,
            disable_notification: o.bool("disable_notification")?,
        })
    }
}

impl HttpKind for Telegram {
    fn request(&self, ev: &Event) -> Result<Request, Failure> {
        let mut body = Map::new();
        body.insert("chat_id".into(), json!(self.chat_id));
        body.insert("text".into(), json!(ev.message));
        if !self.parse_mode.is_empty() {
            body.insert("parse_mode".into(), json!(self.parse_mode));
        }
        if self.disable_web_page_preview {
            body.insert("disable_web_page_preview".into(), json!(true));
        }
        if self.disable_notification {
            body.insert("disable_notification".into(), json!(true));
        }
        Ok(Request::json(self.url.clone(), Value::Object(body)))
    }
}
