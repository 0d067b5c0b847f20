//! `teams`: Kapacitor's Microsoft Teams handler (an Office 365 connector MessageCard).

use serde_json::{json, Map, Value};
use weir_engine::alert::{Event, Level};

use super::http::{Body, Request};
use super::opts::Opts;
use super::{Failure, HandlerError, HttpKind};

const OPTIONS: &[&str] = &["channel_url", "url"];
/// Kapacitor cuts the summary after this many bytes (and always appends "...").
const SUMMARY_CUTOFF: usize = 70;

pub(crate) struct Teams {
    url: reqwest::Url,
}

impl Teams {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<Teams, HandlerError> {
        let o = Opts::new(name, "teams", o, OPTIONS)?;
        let key = if o.has("channel_url") {
            "channel_url"
        } else {
            "url"
        };
        let url = if o.has(key) {
            o.url(key, None)?
        } else {
            return Err(o.missing("channel_url"));
        };
        Ok(Teams { url })
    }
}

impl HttpKind for Teams {
    fn request(&self, ev: &Event) -> Result<Request, Failure> {
        let level = ev.level.as_str();
        let (title, summary) = match (ev.id.is_empty(), ev.topic.is_empty()) {
            (true, true) => (level.to_string(), format!("{level}: {}", ev.message)),
            (true, false) => {
                let t = format!("{level}: [{}]", ev.topic);
                let s = format!("{t} - {}", ev.message);
                (t, s)
            }
            (false, _) => {
                let t = format!("{level}: [{}]", ev.id);
                let s = format!("{t} - {}", ev.message);
                (t, s)
            }
        };
        let mut cut = summary.len().min(SUMMARY_CUTOFF);
        while !summary.is_char_boundary(cut) {
            cut -= 1;
        }
        let color = match ev.level {
            Level::Warning => "FFA533",
            Level::Critical => "CC4A31",
            _ => "34CC25",
        };
        let body = json!({
            "@type": "MessageCard",
            "@context": "http://schema.org/extensions",
            "title": title,
            "text": ev.message,
            "summary": format!("{}...", &summary[..cut]),
            "themeColor": color,
        });
        let mut r = Request::json(self.url.clone(), body);
        // Kapacitor's Teams handler uses json.Marshal: no trailing newline.
        r.body = Body::Json {
            value: match r.body {
                Body::Json { value, .. } => value,
                Body::Form(_) => Value::Null,
            },
            newline: false,
        };
        Ok(r)
    }
}
