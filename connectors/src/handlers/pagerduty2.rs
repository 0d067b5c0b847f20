//! `pagerduty2`: Kapacitor's PagerDuty Events API v2 handler.

use serde_json::{json, Map, Value};
use weir_engine::alert::{Event, Level};

use super::http::Request;
use super::opts::Opts;
use super::template::Template;
use super::{Failure, HandlerError, HttpKind};

const OPTIONS: &[&str] = &["url", "routing_key", "links", "client_url"];
const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

pub(crate) struct PagerDuty2 {
    url: reqwest::Url,
    routing_key: String,
    links: Vec<(Template, Option<Template>)>,
    client_url: String,
}

impl PagerDuty2 {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<PagerDuty2, HandlerError> {
        let opts = Opts::new(name, "pagerduty2", o, OPTIONS)?;
        let mut links = Vec::new();
        if let Some(v) = o.get("links").filter(|v| !v.is_null()) {
            let Value::Array(items) = v else {
                return Err(opts.invalid("links", "must be a list of {href, text} maps"));
            };
            for item in items {
                let (href, text) = match item {
                    Value::String(h) => (h.clone(), None),
                    Value::Object(m) => {
                        let href = m.get("href").and_then(Value::as_str).ok_or_else(|| {
                            opts.invalid("links", "every link needs an 'href' string")
                        })?;
                        let text = m.get("text").and_then(Value::as_str).map(str::to_string);
                        (href.to_string(), text)
                    }
                    _ => return Err(opts.invalid("links", "must be a list of {href, text} maps")),
                };
                let href = Template::parse(&href).map_err(|e| opts.invalid("links", e))?;
                let text = text
                    .filter(|t| !t.is_empty())
                    .map(|t| Template::parse(&t))
                    .transpose()
                    .map_err(|e| opts.invalid("links", e))?;
                links.push((href, text));
            }
        }
        Ok(PagerDuty2 {
            url: opts.url("url", Some(DEFAULT_URL))?,
            routing_key: opts.required("routing_key")?,
            links,
            client_url: opts.string_or("client_url", "")?,
        })
    }
}

impl HttpKind for PagerDuty2 {
    fn request(&self, ev: &Event) -> Result<Request, Failure> {
        let (action, severity) = match ev.level {
            Level::Warning => ("trigger", "warning"),
            Level::Critical => ("trigger", "critical"),
            Level::Info => ("trigger", "info"),
            Level::Ok => ("resolve", "info"),
        };
        let links = if self.links.is_empty() {
            Value::Null
        } else {
            Value::Array(
                self.links
                    .iter()
                    .map(|(href, text)| {
                        let href = href.render(ev);
                        let text = text.as_ref().map_or_else(|| href.clone(), |t| t.render(ev));
                        json!({"href": href, "text": text})
                    })
                    .collect(),
            )
        };
        let timestamp = chrono::DateTime::from_timestamp_nanos(ev.time)
            .format("%Y-%m-%dT%H:%M:%S%.9fZ")
            .to_string();
        let source = ev.data.tags.get("host").map_or("unknown", String::as_str);
        let body = json!({
            "routing_key": self.routing_key,
            "event_action": action,
            "dedup_key": ev.id,
            "payload": {
                "summary": ev.message,
                "source": source,
                "severity": severity,
                "timestamp": timestamp,
                "class": ev.task,
                "component": "",
                "group": "",
                "custom_details": {"result": ev.kapacitor_json()["data"].clone()},
            },
            "images": null,
            "links": links,
            "client": "kapacitor",
            "client_url": self.client_url,
        });
        Ok(Request::json(self.url.clone(), body)
            .header("Accept", "application/vnd.pagerduty+json;version=2"))
    }
}
