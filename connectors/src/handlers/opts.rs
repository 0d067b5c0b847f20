//! Reading a handler's options (the JSON object `CREATE HANDLER ... WITH (...)` stored) with
//! errors that name the option.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::HandlerError;

/// A handler's options, keys normalised (`icon-emoji` and `icon_emoji` are one option).
pub(crate) struct Opts {
    handler: String,
    kind: &'static str,
    map: BTreeMap<String, Value>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

impl Opts {
    /// Rejects options that are not in `known`.
    pub(crate) fn new(
        handler: &str,
        kind: &'static str,
        options: &Map<String, Value>,
        known: &[&str],
    ) -> Result<Opts, HandlerError> {
        let mut map = BTreeMap::new();
        for (k, v) in options {
            let key = k.to_ascii_lowercase().replace('-', "_");
            if !known.contains(&key.as_str()) {
                return Err(HandlerError::UnknownOption {
                    handler: handler.to_string(),
                    kind,
                    option: k.clone(),
                    known: known.join(", "),
                });
            }
            if !v.is_null() {
                map.insert(key, v.clone());
            }
        }
        Ok(Opts {
            handler: handler.to_string(),
            kind,
            map,
        })
    }

    fn wrong(&self, key: &str, expected: &'static str, v: &Value) -> HandlerError {
        HandlerError::OptionType {
            handler: self.handler.clone(),
            kind: self.kind,
            option: key.to_string(),
            expected,
            got: type_name(v),
        }
    }

    pub(crate) fn invalid(&self, key: &str, reason: impl Into<String>) -> HandlerError {
        HandlerError::InvalidOption {
            handler: self.handler.clone(),
            kind: self.kind,
            option: key.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn missing(&self, key: &str) -> HandlerError {
        HandlerError::MissingOption {
            handler: self.handler.clone(),
            kind: self.kind,
            option: key.to_string(),
        }
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// A string; numbers and booleans are taken as their text.
    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, HandlerError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    pub(crate) fn string_or(&self, key: &str, default: &str) -> Result<String, HandlerError> {
        Ok(self.string(key)?.unwrap_or_else(|| default.to_string()))
    }

    pub(crate) fn required(&self, key: &str) -> Result<String, HandlerError> {
        match self.string(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(self.missing(key)),
        }
    }

    pub(crate) fn bool(&self, key: &str) -> Result<bool, HandlerError> {
        match self.map.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(self.wrong(key, "a boolean", v)),
        }
    }

    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, HandlerError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Ok(Some(i)),
                None => Err(self.invalid(key, format!("{n} is not a whole number"))),
            },
            Some(Value::String(s)) => match s.trim().parse::<i64>() {
                Ok(i) => Ok(Some(i)),
                Err(_) => Err(self.invalid(key, format!("'{s}' is not a whole number"))),
            },
            Some(v) => Err(self.wrong(key, "a number", v)),
        }
    }

    /// A duration: text like `10s`, `1m30s`, `500ms`, `24h`, or a number of seconds.
    pub(crate) fn duration(&self, key: &str) -> Result<Option<Duration>, HandlerError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(s) if s >= 0.0 && s.is_finite() => Ok(Some(Duration::from_secs_f64(s))),
                _ => Err(self.invalid(key, format!("{n} is not a duration"))),
            },
            Some(Value::String(s)) => humantime::parse_duration(s.trim()).map(Some).map_err(|e| {
                self.invalid(key, format!("'{s}' is not a duration like 10s or 1m ({e})"))
            }),
            Some(v) => Err(self.wrong(key, "a duration", v)),
        }
    }

    /// A list of strings; a single string is a list of one.
    pub(crate) fn list(&self, key: &str) -> Result<Vec<String>, HandlerError> {
        match self.map.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    v => Err(self.wrong(key, "a list of strings", v)),
                })
                .collect(),
            Some(v) => Err(self.wrong(key, "a list of strings", v)),
        }
    }

    /// A map: a JSON object, or (as `WITH (...)` has no map literal) a list of `key: value`
    /// or `key=value` strings (split at the first `:` or `=`), or one such string, or a
    /// string holding a JSON object.
    pub(crate) fn map(&self, key: &str) -> Result<Map<String, Value>, HandlerError> {
        let pair = |text: &str| -> Result<(String, Value), HandlerError> {
            match text.find([':', '=']) {
                Some(i) if !text[..i].trim().is_empty() => Ok((
                    text[..i].trim().to_string(),
                    Value::String(text[i + 1..].trim().to_string()),
                )),
                _ => Err(self.invalid(key, format!("'{text}' is not 'key: value' or 'key=value'"))),
            }
        };
        match self.map.get(key) {
            None => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(Value::String(s)) if s.trim_start().starts_with('{') => {
                match serde_json::from_str::<Value>(s) {
                    Ok(Value::Object(m)) => Ok(m),
                    _ => Err(self.invalid(key, format!("'{s}' is not a JSON object"))),
                }
            }
            Some(Value::String(s)) => Ok(std::iter::once(pair(s)).collect::<Result<_, _>>()?),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => pair(s),
                    v => Err(self.wrong(key, "a map or a list of 'key: value' strings", v)),
                })
                .collect(),
            Some(v) => Err(self.wrong(key, "a map", v)),
        }
    }

    /// A map of strings.
    pub(crate) fn string_map(&self, key: &str) -> Result<BTreeMap<String, String>, HandlerError> {
        let m = self.map(key)?;
        m.into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                Value::Number(n) => Ok((k, n.to_string())),
                Value::Bool(b) => Ok((k, b.to_string())),
                v => Err(self.wrong(key, "a map of strings", &v)),
            })
            .collect()
    }

    /// A URL (http or https) that parses.
    pub(crate) fn url(
        &self,
        key: &str,
        default: Option<&str>,
    ) -> Result<reqwest::Url, HandlerError> {
        let text = match (self.string(key)?, default) {
            (Some(s), _) if !s.is_empty() => s,
            (_, Some(d)) => d.to_string(),
            _ => return Err(self.missing(key)),
        };
        self.parse_url(key, &text, &["http", "https"])
    }

    pub(crate) fn parse_url(
        &self,
        key: &str,
        text: &str,
        schemes: &[&str],
    ) -> Result<reqwest::Url, HandlerError> {
        let bad = |reason: String| HandlerError::BadUrl {
            handler: self.handler.clone(),
            kind: self.kind,
            option: key.to_string(),
            url: text.to_string(),
            reason,
        };
        let url = reqwest::Url::parse(text).map_err(|e| bad(e.to_string()))?;
        if !schemes.contains(&url.scheme()) {
            return Err(bad(format!(
                "scheme must be {}, not {}",
                schemes.join(" or "),
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host".to_string()));
        }
        Ok(url)
    }

    /// A template option: checked now, rendered per event.
    pub(crate) fn template(
        &self,
        key: &str,
        default: &str,
    ) -> Result<super::template::Template, HandlerError> {
        let text = self.string_or(key, default)?;
        super::template::Template::parse(&text).map_err(|e| self.invalid(key, e))
    }
}
