//! `alerta`: Kapacitor's Alerta handler (`POST {url}/alert`).

use std::time::Duration;

use serde_json::{json, Map, Value};
use weir_engine::alert::{Event, Level};

use super::http::Request;
use super::opts::Opts;
use super::template::Template;
use super::{Failure, HandlerError, HttpKind};

const OPTIONS: &[&str] = &[
    "url",
    "token",
    "token_prefix",
    "resource",
    "event",
    "environment",
    "group",
    "value",
    "origin",
    "service",
    "correlate",
    "attributes",
    "timeout",
];

pub(crate) struct Alerta {
    url: reqwest::Url,
    token: String,
    token_prefix: String,
    resource: Template,
    event: Template,
    environment: Template,
    group: Template,
    value: Template,
    origin: String,
    service: Vec<Template>,
    correlate: Vec<Template>,
    /// String values are templates; others are sent as they are.
    attributes: Vec<(String, Result<Template, Value>)>,
    timeout: Duration,
}

impl Alerta {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<Alerta, HandlerError> {
        let o = Opts::new(name, "alerta", o, OPTIONS)?;
        let mut url = o.url("url", None)?;
        let path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{path}/alert"));
        let templates = |key: &str| -> Result<Vec<Template>, HandlerError> {
            o.list(key)?
                .iter()
                .map(|t| Template::parse(t).map_err(|e| o.invalid(key, e)))
                .collect()
        };
        Ok(Alerta {
            url,
            token: o.string_or("token", "")?,
            token_prefix: o
                .string("token_prefix")?
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "Bearer".into()),
            resource: o.template("resource", "{{ .Name }}")?,
            event: o.template("event", "{{ .ID }}")?,
            environment: o.template("environment", "")?,
            group: o.template("group", "{{ .Group }}")?,
            value: o.template("value", "")?,
            origin: o.string_or("origin", "")?,
            service: templates("service")?,
            correlate: templates("correlate")?,
            attributes: o
                .map("attributes")?
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Template::parse(&s)
                        .map(|t| (k, Ok(t)))
                        .map_err(|e| o.invalid("attributes", e)),
                    v => Ok((k, Err(v))),
                })
                .collect::<Result<_, _>>()?,
            timeout: o
                .duration("timeout")?
                .unwrap_or(Duration::from_secs(24 * 3600)),
        })
    }
}

impl HttpKind for Alerta {
    fn request(&self, ev: &Event) -> Result<Request, Failure> {
        let severity = match ev.level {
            Level::Ok => "ok",
            Level::Info => "informational",
            Level::Warning => "warning",
            Level::Critical => "critical",
        };
        let or_name = |ts: &[Template]| -> Vec<String> {
            if ts.is_empty() {
                vec![ev.data.name.clone()]
            } else {
                ts.iter().map(|t| t.render(ev)).collect()
            }
        };
        let mut body = Map::new();
        body.insert("resource".into(), json!(self.resource.render(ev)));
        body.insert("event".into(), json!(self.event.render(ev)));
        body.insert("environment".into(), json!(self.environment.render(ev)));
        body.insert("severity".into(), json!(severity));
        body.insert("group".into(), json!(self.group.render(ev)));
        body.insert("value".into(), json!(self.value.render(ev)));
        body.insert("text".into(), json!(ev.message));
        body.insert("origin".into(), json!(self.origin));
        body.insert("rawData".into(), ev.kapacitor_json()["data"].clone());
        body.insert("service".into(), json!(or_name(&self.service)));
        body.insert("correlate".into(), json!(or_name(&self.correlate)));
        if !self.attributes.is_empty() {
            let attrs: Map<String, Value> = self
                .attributes
                .iter()
                .map(|(k, v)| match v {
                    Ok(t) => (k.clone(), json!(t.render(ev))),
                    Err(v) => (k.clone(), v.clone()),
                })
                .collect();
            body.insert("attributes".into(), Value::Object(attrs));
        }
        body.insert("timeout".into(), json!(self.timeout.as_secs()));
        let tags: Vec<String> = ev
            .data
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        body.insert("tags".into(), json!(tags));
        Ok(Request::json(self.url.clone(), Value::Object(body)).header(
            "Authorization",
            format!("{} {}", self.token_prefix, self.token),
        ))
    }
}
