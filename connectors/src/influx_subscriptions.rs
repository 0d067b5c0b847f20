//! InfluxDB 1.x subscriptions: the few `/query` statements weir needs to have InfluxDB push
//! the points it receives to weir's `/write`, and the pure decision of what to create and
//! drop.
//!
//! InfluxDB keeps subscriptions per database and retention policy and forwards every point
//! written there to each destination (`DESTINATIONS ALL`). weir owns the subscriptions with
//! its own name (`[influxdb] subscription_name`) and never touches the others.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

/// Why a statement sent to InfluxDB failed.
#[derive(Debug, thiserror::Error)]
pub enum InfluxError {
    /// No answer at all (connection refused, timeout): InfluxDB may just not be up yet.
    #[error("InfluxDB at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// 401/403: the configured credentials are wrong or lack admin rights.
    #[error("InfluxDB refused the credentials (HTTP {status}): {message}")]
    Unauthorized { status: u16, message: String },
    /// The database does not exist (yet): a subscription can only be made on an existing one.
    #[error("database {0:?} does not exist in InfluxDB")]
    DatabaseNotFound(String),
    /// The retention policy does not exist in its database.
    #[error("retention policy {rp:?} does not exist in database {db:?}")]
    RetentionPolicyNotFound { db: String, rp: String },
    /// A subscription of that name exists on that database and retention policy already.
    #[error("subscription already exists")]
    AlreadyExists,
    /// A subscription to drop is not there (any more).
    #[error("subscription not found")]
    NotFound,
    /// InfluxDB answered the statement with another error.
    #[error("InfluxDB answered {statement:?} with an error: {message}")]
    Statement { statement: String, message: String },
    /// Any other HTTP failure status.
    #[error("InfluxDB answered {statement:?} with HTTP {status}: {message}")]
    Http {
        statement: String,
        status: u16,
        message: String,
    },
    /// The answer is not what InfluxDB 1.x sends.
    #[error("unexpected answer from InfluxDB to {statement:?}: {reason}")]
    BadAnswer { statement: String, reason: String },
}

/// One subscription as `SHOW SUBSCRIPTIONS` lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subscription {
    pub database: String,
    pub retention_policy: String,
    pub name: String,
    /// `ALL` or `ANY`.
    pub mode: String,
    pub destinations: Vec<String>,
}

/// Credentials for InfluxDB's HTTP API.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    #[default]
    None,
    /// `[influxdb] username/password`, sent as Basic auth.
    Basic { username: String, password: String },
    /// `[influxdb] token`, sent as `Authorization: Token ...`.
    Token(String),
}

impl Auth {
    /// Basic auth when a username is set, else a token when one is set, else none (the same
    /// choice weir makes for its writes to InfluxDB).
    pub fn from_config(username: &str, password: &str, token: &str) -> Auth {
        if !username.is_empty() {
            Auth::Basic {
                username: username.to_string(),
                password: password.to_string(),
            }
        } else if !token.is_empty() {
            Auth::Token(token.to_string())
        } else {
            Auth::None
        }
    }
}

/// A client for the subscription statements of InfluxDB 1.x's `/query` API.
#[derive(Debug, Clone)]
pub struct SubscriptionClient {
    http: reqwest::Client,
    base: String,
    auth: Auth,
}

impl SubscriptionClient {
    /// A client for the InfluxDB at `url` (`http://host:8086`). Requests time out after
    /// `timeout`, so an InfluxDB that hangs never stalls the caller for long.
    pub fn new(url: &str, auth: Auth, timeout: Duration) -> Result<Self, InfluxError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| InfluxError::Unreachable {
                url: url.to_string(),
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            base: url.trim_end_matches('/').to_string(),
            auth,
        })
    }

    /// Every subscription on every database (`SHOW SUBSCRIPTIONS`).
    pub async fn show_subscriptions(&self) -> Result<Vec<Subscription>, InfluxError> {
        let statement = "SHOW SUBSCRIPTIONS";
        let result = self.query(statement).await?;
        parse_subscriptions(statement, &result)
    }

    /// The default retention policy of `db` (`SHOW RETENTION POLICIES ON db`).
    pub async fn default_retention_policy(&self, db: &str) -> Result<String, InfluxError> {
        let statement = format!("SHOW RETENTION POLICIES ON {}", quote_ident(db));
        let result = self
            .query(&statement)
            .await
            .map_err(|e| not_found(e, db, None))?;
        parse_default_rp(&statement, &result)
    }

    /// `CREATE SUBSCRIPTION name ON db.rp DESTINATIONS ALL 'dest', ...`.
    pub async fn create_subscription(
        &self,
        name: &str,
        db: &str,
        rp: &str,
        destinations: &[String],
    ) -> Result<(), InfluxError> {
        let dests: Vec<String> = destinations.iter().map(|d| quote_string(d)).collect();
        let statement = format!(
            "CREATE SUBSCRIPTION {} ON {}.{} DESTINATIONS ALL {}",
            quote_ident(name),
            quote_ident(db),
            quote_ident(rp),
            dests.join(", ")
        );
        self.query(&statement)
            .await
            .map(drop)
            .map_err(|e| not_found(e, db, Some(rp)))
    }

    /// `DROP SUBSCRIPTION name ON db.rp`.
    pub async fn drop_subscription(
        &self,
        name: &str,
        db: &str,
        rp: &str,
    ) -> Result<(), InfluxError> {
        let statement = format!(
            "DROP SUBSCRIPTION {} ON {}.{}",
            quote_ident(name),
            quote_ident(db),
            quote_ident(rp)
        );
        self.query(&statement)
            .await
            .map(drop)
            .map_err(|e| not_found(e, db, Some(rp)))
    }

    /// POSTs one statement to `/query` and returns its result object.
    async fn query(&self, statement: &str) -> Result<Value, InfluxError> {
        let mut req = self
            .http
            .post(format!("{}/query", self.base))
            .form(&[("q", statement)]);
        req = match &self.auth {
            Auth::None => req,
            Auth::Basic { username, password } => req.basic_auth(username, Some(password)),
            Auth::Token(t) => req.header("Authorization", format!("Token {t}")),
        };
        let resp = req.send().await.map_err(|e| InfluxError::Unreachable {
            url: self.base.clone(),
            reason: error_chain(&e),
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| InfluxError::Unreachable {
            url: self.base.clone(),
            reason: error_chain(&e),
        })?;
        let body: Option<Value> = serde_json::from_str(&text).ok();
        let message = || {
            body.as_ref()
                .and_then(|b| b.get("error"))
                .and_then(Value::as_str)
                .map_or_else(|| text.trim().to_string(), str::to_string)
        };
        if status == 401 || status == 403 {
            return Err(InfluxError::Unauthorized {
                status,
                message: message(),
            });
        }
        if !(200..300).contains(&status) {
            return Err(InfluxError::Http {
                statement: statement.to_string(),
                status,
                message: message(),
            });
        }
        let bad = |reason: &str| InfluxError::BadAnswer {
            statement: statement.to_string(),
            reason: reason.to_string(),
        };
        let body = body.ok_or_else(|| bad("not JSON"))?;
        let result = body
            .get("results")
            .and_then(|r| r.get(0))
            .cloned()
            .ok_or_else(|| bad("no results"))?;
        if let Some(e) = result.get("error").and_then(Value::as_str) {
            return Err(statement_error(statement, e));
        }
        Ok(result)
    }
}

/// Types the error messages of InfluxDB 1.x that callers act on.
fn statement_error(statement: &str, message: &str) -> InfluxError {
    match message {
        "subscription already exists" => InfluxError::AlreadyExists,
        "subscription not found" => InfluxError::NotFound,
        _ => InfluxError::Statement {
            statement: statement.to_string(),
            message: message.to_string(),
        },
    }
}

/// Names the database or retention policy in InfluxDB's "not found" errors.
fn not_found(e: InfluxError, db: &str, rp: Option<&str>) -> InfluxError {
    match &e {
        InfluxError::Statement { message, .. } if message.starts_with("database not found") => {
            InfluxError::DatabaseNotFound(db.to_string())
        }
        InfluxError::Statement { message, .. }
            if message.starts_with("retention policy not found") =>
        {
            InfluxError::RetentionPolicyNotFound {
                db: db.to_string(),
                rp: rp.unwrap_or_default().to_string(),
            }
        }
        _ => e,
    }
}

/// An error with its causes (reqwest puts "connection refused" in the source chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `"name"`, InfluxQL-quoted.
fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `'text'`, InfluxQL-quoted.
fn quote_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The column `name` of a series, by position.
fn column(series: &Value, name: &str) -> Option<usize> {
    series
        .get("columns")?
        .as_array()?
        .iter()
        .position(|c| c.as_str() == Some(name))
}

fn parse_subscriptions(statement: &str, result: &Value) -> Result<Vec<Subscription>, InfluxError> {
    let bad = |reason: String| InfluxError::BadAnswer {
        statement: statement.to_string(),
        reason,
    };
    let mut out = Vec::new();
    let Some(series) = result.get("series").and_then(Value::as_array) else {
        return Ok(out);
    };
    for s in series {
        let db = s
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a series without a database name".into()))?;
        let cols = ["retention_policy", "name", "mode", "destinations"]
            .map(|c| column(s, c).ok_or_else(|| bad(format!("no column {c:?}"))));
        let [rp_i, name_i, mode_i, dest_i] = cols;
        let (rp_i, name_i, mode_i, dest_i) = (rp_i?, name_i?, mode_i?, dest_i?);
        for row in s
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let text = |i: usize| {
                row.get(i)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let destinations = row
                .get(dest_i)
                .and_then(Value::as_array)
                .map(|ds| {
                    ds.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            out.push(Subscription {
                database: db.to_string(),
                retention_policy: text(rp_i),
                name: text(name_i),
                mode: text(mode_i),
                destinations,
            });
        }
    }
    Ok(out)
}

fn parse_default_rp(statement: &str, result: &Value) -> Result<String, InfluxError> {
    let bad = |reason: &str| InfluxError::BadAnswer {
        statement: statement.to_string(),
        reason: reason.to_string(),
    };
    let series = result
        .get("series")
        .and_then(|s| s.get(0))
        .ok_or_else(|| bad("no retention policies"))?;
    let name_i = column(series, "name").ok_or_else(|| bad("no column \"name\""))?;
    let default_i = column(series, "default").ok_or_else(|| bad("no column \"default\""))?;
    series
        .get("values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|row| row.get(default_i).and_then(Value::as_bool) == Some(true))
        .and_then(|row| row.get(name_i).and_then(Value::as_str))
        .map(str::to_string)
        .ok_or_else(|| bad("no default retention policy"))
}

/// A change to make so InfluxDB's subscriptions match what weir wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Drop weir's subscription on `database.retention_policy` (stale or to be replaced).
    Drop {
        database: String,
        retention_policy: String,
    },
    /// Create weir's subscription on `database.retention_policy`.
    Create {
        database: String,
        retention_policy: String,
    },
}

/// What to do so that exactly the `(database, retention policy)` pairs in `wanted` have a
/// subscription called `name` that sends everything (`ALL`) to `destination` alone: drops
/// first (a subscription of that name with another mode or destination is dropped and
/// created again), then creates. Subscriptions of other names are never touched.
pub fn plan(
    name: &str,
    destination: &str,
    wanted: &BTreeSet<(String, String)>,
    existing: &[Subscription],
) -> Vec<Action> {
    let mut drops = BTreeSet::new();
    let mut good = BTreeSet::new();
    for s in existing.iter().filter(|s| s.name == name) {
        let key = (s.database.clone(), s.retention_policy.clone());
        let current = s.mode.eq_ignore_ascii_case("ALL") && s.destinations == [destination];
        if current && wanted.contains(&key) {
            good.insert(key);
        } else {
            drops.insert(key);
        }
    }
    let creates = wanted
        .iter()
        .filter(|k| !good.contains(*k))
        .map(|(db, rp)| Action::Create {
            database: db.clone(),
            retention_policy: rp.clone(),
        });
    drops
        .into_iter()
        .map(|(database, retention_policy)| Action::Drop {
            database,
            retention_policy,
        })
        .chain(creates)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sub(db: &str, rp: &str, name: &str, dest: &str) -> Subscription {
        Subscription {
            database: db.into(),
            retention_policy: rp.into(),
            name: name.into(),
            mode: "ALL".into(),
            destinations: vec![dest.into()],
        }
    }

    fn wanted(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(d, r)| (d.to_string(), r.to_string()))
            .collect()
    }

    fn create(db: &str, rp: &str) -> Action {
        Action::Create {
            database: db.into(),
            retention_policy: rp.into(),
        }
    }

    fn drop_(db: &str, rp: &str) -> Action {
        Action::Drop {
            database: db.into(),
            retention_policy: rp.into(),
        }
    }

    const URL: &str = "http://127.0.0.1:9092";

    #[test]
    fn creates_what_is_missing_and_keeps_what_is_current() {
        let existing = [sub("telegraf", "autogen", "weir", URL)];
        let actions = plan(
            "weir",
            URL,
            &wanted(&[("telegraf", "autogen"), ("app", "week")]),
            &existing,
        );
        assert_eq!(actions, vec![create("app", "week")]);
        assert!(plan("weir", URL, &wanted(&[("telegraf", "autogen")]), &existing).is_empty());
    }

    #[test]
    fn drops_stale_ones_and_replaces_changed_destinations() {
        let existing = [
            sub("old", "autogen", "weir", URL),
            sub("telegraf", "autogen", "weir", "http://10.0.0.1:9092"),
            sub("telegraf", "week", "weir", URL),
        ];
        let actions = plan("weir", URL, &wanted(&[("telegraf", "autogen")]), &existing);
        assert_eq!(
            actions,
            vec![
                drop_("old", "autogen"),
                drop_("telegraf", "autogen"),
                drop_("telegraf", "week"),
                create("telegraf", "autogen"),
            ]
        );
    }

    #[test]
    fn replaces_other_modes_and_extra_destinations() {
        let mut any = sub("telegraf", "autogen", "weir", URL);
        any.mode = "ANY".into();
        let mut two = sub("app", "autogen", "weir", URL);
        two.destinations.push("http://other:9092".into());
        let actions = plan(
            "weir",
            URL,
            &wanted(&[("telegraf", "autogen"), ("app", "autogen")]),
            &[any, two],
        );
        assert_eq!(
            actions,
            vec![
                drop_("app", "autogen"),
                drop_("telegraf", "autogen"),
                create("app", "autogen"),
                create("telegraf", "autogen"),
            ]
        );
    }

    #[test]
    fn never_touches_other_names() {
        let existing = [
            sub("telegraf", "autogen", "kapacitor-1", "http://k:9092"),
            sub("old", "autogen", "weir-2", URL),
            sub("old", "autogen", "weir", URL),
        ];
        let actions = plan("weir", URL, &wanted(&[]), &existing);
        assert_eq!(actions, vec![drop_("old", "autogen")]);
        let actions = plan("weir", URL, &wanted(&[("telegraf", "autogen")]), &existing);
        assert_eq!(
            actions,
            vec![drop_("old", "autogen"), create("telegraf", "autogen")]
        );
    }

    #[test]
    fn parses_show_subscriptions() {
        let result = json!({"statement_id": 0, "series": [
            {"name": "telegraf", "columns": ["retention_policy", "name", "mode", "destinations"],
             "values": [["autogen", "weir", "ALL", ["http://127.0.0.1:9092"]],
                        ["autogen", "k", "ANY", ["udp://a:1", "udp://b:1"]]]},
            {"name": "_internal", "columns": ["retention_policy", "name", "mode", "destinations"],
             "values": [["monitor", "weir", "ALL", ["http://x"]]]}
        ]});
        let subs = parse_subscriptions("SHOW SUBSCRIPTIONS", &result).unwrap();
        assert_eq!(subs.len(), 3);
        assert_eq!(subs[0], sub("telegraf", "autogen", "weir", URL));
        assert_eq!(subs[1].destinations.len(), 2);
        assert_eq!(subs[2].database, "_internal");
        let none = parse_subscriptions("SHOW SUBSCRIPTIONS", &json!({"statement_id": 0})).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn parses_the_default_retention_policy() {
        let result = json!({"statement_id": 0, "series": [{
            "columns": ["name", "duration", "shardGroupDuration", "replicaN", "default"],
            "values": [["autogen", "0s", "168h0m0s", 1, false], ["week", "168h0m0s", "24h0m0s", 1, true]]
        }]});
        assert_eq!(parse_default_rp("SHOW", &result).unwrap(), "week");
        let err = parse_default_rp("SHOW", &json!({"statement_id": 0})).unwrap_err();
        assert!(matches!(err, InfluxError::BadAnswer { .. }), "{err}");
    }

    #[test]
    fn quotes_identifiers_and_strings() {
        assert_eq!(quote_ident(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote_string("http://h:1/x'y"), r"'http://h:1/x\'y'");
    }

    #[test]
    fn types_influxdb_errors() {
        let e = not_found(
            statement_error("S", "database not found: telegraf"),
            "telegraf",
            None,
        );
        assert!(
            matches!(e, InfluxError::DatabaseNotFound(ref d) if d == "telegraf"),
            "{e}"
        );
        let e = not_found(
            statement_error("S", "retention policy not found: week"),
            "telegraf",
            Some("week"),
        );
        assert!(
            matches!(e, InfluxError::RetentionPolicyNotFound { .. }),
            "{e}"
        );
        assert!(matches!(
            statement_error("S", "subscription already exists"),
            InfluxError::AlreadyExists
        ));
        assert!(matches!(
            statement_error("S", "subscription not found"),
            InfluxError::NotFound
        ));
    }
}
