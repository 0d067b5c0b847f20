//! `opsgenie2`: Kapacitor's OpsGenie v2 (Alert API) handler.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use weir_engine::alert::{Event, Level};

use super::http::Request;
use super::opts::Opts;
use super::{gojson, Failure, HandlerError, HttpKind};

const OPTIONS: &[&str] = &[
    "url",
    "api_key",
    "teams",
    "teams_list",
    "recipients",
    "recipients_list",
    "recovery_action",
    "details",
];
const DEFAULT_URL: &str = "https://api.opsgenie.com/v2/alerts";

pub(crate) struct OpsGenie2 {
    url: reqwest::Url,
    api_key: String,
    teams: Vec<String>,
    recipients: Vec<String>,
    recovery_action: String,
    details: bool,
}

impl OpsGenie2 {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<OpsGenie2, HandlerError> {
        let o = Opts::new(name, "opsgenie2", o, OPTIONS)?;
        let mut teams = o.list("teams")?;
        teams.extend(o.list("teams_list")?);
        let mut recipients = o.list("recipients")?;
        recipients.extend(o.list("recipients_list")?);
        let recovery_action = o.string_or("recovery_action", "notes")?;
        if recovery_action != "notes" && recovery_action != "close" {
            return Err(o.invalid(
                "recovery_action",
                format!("'{recovery_action}' is not 'notes' or 'close'"),
            ));
        }
        Ok(OpsGenie2 {
            url: o.url("url", Some(DEFAULT_URL))?,
            api_key: o.required("api_key")?,
            teams,
            recipients,
            recovery_action,
            details: o.bool("details")?,
        })
    }
}

impl HttpKind for OpsGenie2 {
    fn request(&self, ev: &Event) -> Result<Request, Failure> {
        let alias = base64::engine::general_purpose::URL_SAFE.encode(ev.id.as_bytes());
        let mut url = self.url.clone();
        let mut body = Map::new();
        if ev.level == Level::Ok {
            // Recovery: a note on (or closing) the alert, by alias.
            let path = url.path().trim_end_matches('/').to_string();
            url.set_path(&format!("{path}/{alias}/{}", self.recovery_action));
            url.set_query(Some("identifierType=alias"));
            body.insert("note".into(), json!(ev.message));
        } else {
            let priority = match ev.level {
                Level::Info => "P5",
                Level::Warning => "P3",
                _ => "P1",
            };
            body.insert("entity".into(), json!(ev.id));
            body.insert("alias".into(), json!(alias));
            body.insert("message".into(), json!(ev.message));
            body.insert("note".into(), json!(""));
            body.insert("priority".into(), json!(priority));
            let description = if self.details && !ev.details.is_empty() {
                ev.details.clone()
            } else {
                gojson::result_text(ev)
            };
            body.insert("description".into(), json!(description));
            let mut details = Map::new();
            details.insert("Monitoring Tool".into(), json!("Kapacitor"));
            details.insert("Level".into(), json!(ev.level.as_str()));
            for (k, v) in &ev.data.tags {
                details.insert(k.clone(), json!(v));
            }
            details.insert("Kapacitor Task Name".into(), json!(ev.data.name));
            body.insert("details".into(), Value::Object(details));
            let mut responders: Vec<Value> = self
                .teams
                .iter()
                .map(|t| json!({"name": t, "type": "team"}))
                .collect();
            responders.extend(
                self.recipients
                    .iter()
                    .map(|u| json!({"username": u, "type": "user"})),
            );
            if !responders.is_empty() {
                body.insert("responders".into(), Value::Array(responders));
            }
        }
        Ok(Request::json(url, Value::Object(body))
            .header("Authorization", format!("GenieKey {}", self.api_key)))
    }
}
