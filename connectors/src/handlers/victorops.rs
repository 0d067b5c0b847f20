//! `victorops`: Kapacitor's VictorOps (Splunk On-Call) REST integration handler.

use serde_json::{json, Map, Value};
use weir_engine::alert::{Event, Level};

use super::http::Request;
use super::opts::Opts;
use super::{gojson, Failure, HandlerError, HttpKind};

const OPTIONS: &[&str] = &["url", "api_key", "routing_key", "json_data"];
const DEFAULT_URL: &str = "https://alert.victorops.com/integrations/generic/20131114/alert";

pub(crate) struct VictorOps {
    url: reqwest::Url,
    json_data: bool,
}

impl VictorOps {
    pub(crate) fn new(name: &str, o: &Map<String, Value>) -> Result<VictorOps, HandlerError> {
        let o = Opts::new(name, "victorops", o, OPTIONS)?;
        let mut url = o.url("url", Some(DEFAULT_URL))?;
        let api_key = o.required("api_key")?;
        let routing_key = o.string_or("routing_key", "")?;
        let mut path = url.path().trim_end_matches('/').to_string();
        for part in [api_key, routing_key] {
            if !part.is_empty() {
                path.push('/');
                path.push_str(&part);
            }
        }
        url.set_path(&path);
        Ok(VictorOps {
            url,
            json_data: o.bool("json_data")?,
        })
    }
}

impl HttpKind for VictorOps {
    fn request(&self, ev: &Event) -> Result<Request, Failure> {
        let message_type = match ev.level {
            Level::Ok => "RECOVERY",
            l => l.as_str(),
        };
        let data = if self.json_data {
            ev.kapacitor_json()["data"].clone()
        } else {
            json!(gojson::result_text(ev))
        };
        let body = json!({
            "message_type": message_type,
            "entity_id": ev.id,
            "state_message": ev.message,
            "timestamp": ev.time.div_euclid(1_000_000_000),
            "monitoring_tool": "kapacitor",
            "data": data,
        });
        Ok(Request::json(self.url.clone(), body))
    }
}
