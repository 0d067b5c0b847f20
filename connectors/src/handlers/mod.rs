//! Alert handlers: where alert events go once a task published them to a topic.
//!
//! A handler is defined by `CREATE HANDLER name ON TOPIC t KIND k WITH (...)`; the server keeps
//! the definitions and hands them to a [`Dispatcher`], which runs one tokio task per handler.
//! [`Dispatcher::publish`] only enqueues (it never blocks or awaits); each handler's task sends
//! its events in order, retrying with exponential backoff on connection errors, 5xx and 429,
//! and giving up on other 4xx at once. One slow or failing handler never delays another.
//!
//! Every kind sends the request that Kapacitor's handler of the same name sends (Kapacitor
//! 1.6/1.7), with Kapacitor's option names (`icon-emoji` may be written `icon_emoji`), to a
//! URL (or address) that can be overridden. `docs/handlers.md` lists the kinds, their options
//! and their requests.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::Notify;
use weir_engine::alert::Event;

mod alerta;
mod discord;
mod exec;
mod gojson;
mod hipchat;
mod http;
mod log;
mod mqtt;
mod opsgenie2;
mod opts;
mod pagerduty2;
mod post;
mod pushover;
mod sensu;
mod slack;
mod smtp;
mod tcp;
mod teams;
mod telegram;
mod template;
mod victorops;

/// The handler kinds, as `CREATE HANDLER ... KIND k` names them.
pub use weir_engine::alert::HANDLER_KINDS as KINDS;

/// A handler definition as the server stores it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct HandlerSpec {
    pub name: String,
    pub topic: String,
    pub kind: String,
    /// `WITH (...)`: strings, numbers, booleans, durations as text (`"10s"`), lists as arrays,
    /// maps as objects.
    pub options: Map<String, Value>,
}

/// What is wrong with a handler definition. Every message names the handler and the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    #[error("handler {handler}: unknown kind '{kind}'; known kinds: {known}")]
    UnknownKind {
        handler: String,
        kind: String,
        known: String,
    },
    #[error("handler {handler}: kind {kind} needs option '{option}'")]
    MissingOption {
        handler: String,
        kind: &'static str,
        option: String,
    },
    #[error(
        "handler {handler}: unknown option '{option}' for kind {kind}; known options: {known}"
    )]
    UnknownOption {
        handler: String,
        kind: &'static str,
        option: String,
        known: String,
    },
    #[error("handler {handler}: option '{option}' of kind {kind} must be {expected}, not {got}")]
    OptionType {
        handler: String,
        kind: &'static str,
        option: String,
        expected: &'static str,
        got: &'static str,
    },
    #[error("handler {handler}: option '{option}' of kind {kind}: {reason}")]
    InvalidOption {
        handler: String,
        kind: &'static str,
        option: String,
        reason: String,
    },
    #[error(
        "handler {handler}: option '{option}' of kind {kind} is not a valid URL '{url}': {reason}"
    )]
    BadUrl {
        handler: String,
        kind: &'static str,
        option: String,
        url: String,
        reason: String,
    },
}

/// Checks a definition fully: the kind is known, required options are there, every option has
/// the right type, no option is unknown, URLs and templates parse. `CREATE HANDLER` calls it,
/// so a bad handler is refused with a message naming the option.
pub fn validate(spec: &HandlerSpec) -> Result<(), HandlerError> {
    build(spec).map(|_| ())
}

/// Why one attempt to send an event failed.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// Connection errors, timeouts, 5xx and 429 are worth another attempt; a refusal (other
    /// 4xx, a bad event) is not.
    pub retry: bool,
    pub message: String,
}

impl Failure {
    pub(crate) fn retry(message: impl Into<String>) -> Failure {
        Failure {
            retry: true,
            message: message.into(),
        }
    }
    pub(crate) fn fatal(message: impl Into<String>) -> Failure {
        Failure {
            retry: false,
            message: message.into(),
        }
    }
}

/// A kind that sends one HTTP POST per event.
pub(crate) trait HttpKind: Send + Sync {
    fn request(&self, ev: &Event) -> Result<http::Request, Failure>;
}

/// A built handler.
pub(crate) enum Handler {
    Http(Box<dyn HttpKind>),
    Log(log::Log),
    Tcp(tcp::Tcp),
    Exec(exec::Exec),
    Smtp(smtp::Smtp),
    Sensu(sensu::Sensu),
    Mqtt(mqtt::Mqtt),
}

impl Handler {
    async fn send(&self, client: &reqwest::Client, ev: &Event) -> Result<(), Failure> {
        match self {
            Handler::Http(k) => http::send(client, k.request(ev)?).await,
            Handler::Log(h) => h.send(ev).await,
            Handler::Tcp(h) => h.send(ev).await,
            Handler::Exec(h) => h.send(ev).await,
            Handler::Smtp(h) => h.send(ev).await,
            Handler::Sensu(h) => h.send(ev).await,
            Handler::Mqtt(h) => h.send(ev).await,
        }
    }
}

pub(crate) fn build(spec: &HandlerSpec) -> Result<Handler, HandlerError> {
    let n = spec.name.as_str();
    let o = &spec.options;
    let kind = spec.kind.to_ascii_lowercase();
    Ok(match kind.as_str() {
        "log" => Handler::Log(log::Log::new(n, o)?),
        "post" => Handler::Http(Box::new(post::Post::new(n, o)?)),
        "tcp" => Handler::Tcp(tcp::Tcp::new(n, o)?),
        "exec" => Handler::Exec(exec::Exec::new(n, o)?),
        "smtp" => Handler::Smtp(smtp::Smtp::new(n, o)?),
        "slack" => Handler::Http(Box::new(slack::Slack::new(n, o)?)),
        "pagerduty2" => Handler::Http(Box::new(pagerduty2::PagerDuty2::new(n, o)?)),
        "opsgenie2" => Handler::Http(Box::new(opsgenie2::OpsGenie2::new(n, o)?)),
        "alerta" => Handler::Http(Box::new(alerta::Alerta::new(n, o)?)),
        "sensu" => Handler::Sensu(sensu::Sensu::new(n, o)?),
        "hipchat" => Handler::Http(Box::new(hipchat::HipChat::new(n, o)?)),
        "teams" => Handler::Http(Box::new(teams::Teams::new(n, o)?)),
        "telegram" => Handler::Http(Box::new(telegram::Telegram::new(n, o)?)),
        "victorops" => Handler::Http(Box::new(victorops::VictorOps::new(n, o)?)),
        "pushover" => Handler::Http(Box::new(pushover::Pushover::new(n, o)?)),
        "discord" => Handler::Http(Box::new(discord::Discord::new(n, o)?)),
        "mqtt" => Handler::Mqtt(mqtt::Mqtt::new(n, o)?),
        _ => {
            return Err(HandlerError::UnknownKind {
                handler: spec.name.clone(),
                kind: spec.kind.clone(),
                known: KINDS.join(", "),
            })
        }
    })
}

/// How the dispatcher retries and how much it queues.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Wait before the first retry; doubled after each failed attempt.
    pub initial_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// Attempts per event (the first one included) before it is given up and counted failed.
    pub max_attempts: u32,
    /// Events queued per handler; a full queue drops its oldest event.
    pub queue_capacity: usize,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_attempts: 6,
            queue_capacity: 10_000,
        }
    }
}

/// One handler's counters, as `GET /api/v1/topics/{topic}/handlers` shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandlerStats {
    pub name: String,
    pub topic: String,
    pub kind: String,
    /// Events delivered.
    pub sent: u64,
    /// Events given up: refused (4xx other than 429) or still failing after `max_attempts`.
    pub failed: u64,
    /// Attempts that failed and were tried again.
    pub retries: u64,
    /// Events dropped unsent because the queue was full.
    pub dropped: u64,
    /// Events waiting, the one being sent included.
    pub queued: u64,
    /// The last failure, retried or not.
    pub last_error: Option<String>,
    /// When the last event was delivered (RFC 3339).
    pub last_sent: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Slot {
    spec: HandlerSpec,
    queue: Mutex<VecDeque<Event>>,
    wake: Notify,
    busy: AtomicBool,
    sent: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
    last_sent: Mutex<Option<String>>,
}

struct Running {
    slot: Arc<Slot>,
    task: tokio::task::JoinHandle<()>,
}

/// Owns the handler instances and their queues; the server publishes every alert event here.
pub struct Dispatcher {
    config: DispatchConfig,
    client: reqwest::Client,
    handlers: Mutex<BTreeMap<String, Running>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("config", &self.config)
            .field("handlers", &lock(&self.handlers).keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Dispatcher {
    pub fn new(config: DispatchConfig) -> Dispatcher {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "alert handlers: HTTP client with defaults");
                reqwest::Client::new()
            });
        Dispatcher {
            config,
            client,
            handlers: Mutex::new(BTreeMap::new()),
        }
    }

    /// Replaces the whole set of handlers. Handlers whose definition did not change keep their
    /// queue, task and stats; changed and new ones start afresh; removed ones stop (their
    /// queued events are dropped). Definitions that do not [`validate`] are skipped with an
    /// error logged (the server validates them at `CREATE HANDLER`).
    ///
    /// Spawns the handlers' tasks on the current tokio runtime: call it inside one (outside
    /// a runtime no handler is started and an error is logged).
    pub fn set_handlers(&self, specs: Vec<HandlerSpec>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                "alert handlers not started: set_handlers called outside a tokio runtime"
            );
            return;
        };
        let mut running = lock(&self.handlers);
        let mut next = BTreeMap::new();
        for spec in specs {
            if let Some(r) = running.remove(&spec.name) {
                if r.slot.spec == spec {
                    next.insert(spec.name.clone(), r);
                    continue;
                }
                r.task.abort();
            }
            let handler = match build(&spec) {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(handler = %spec.name, error = %e, "alert handler not started");
                    continue;
                }
            };
            let slot = Arc::new(Slot {
                spec: spec.clone(),
                queue: Mutex::new(VecDeque::new()),
                wake: Notify::new(),
                busy: AtomicBool::new(false),
                sent: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                last_error: Mutex::new(None),
                last_sent: Mutex::new(None),
            });
            let task = rt.spawn(run(
                Arc::clone(&slot),
                handler,
                self.client.clone(),
                self.config.clone(),
            ));
            next.insert(spec.name, Running { slot, task });
        }
        for (_, r) in std::mem::take(&mut *running) {
            r.task.abort();
        }
        *running = next;
    }

    /// Queues the event for every handler on its topic. Never blocks and never awaits: a full
    /// queue drops its oldest event (counted in `dropped`).
    pub fn publish(&self, event: &Event) {
        let running = lock(&self.handlers);
        for r in running.values() {
            if r.slot.spec.topic != event.topic {
                continue;
            }
            {
                let mut q = lock(&r.slot.queue);
                while q.len() >= self.config.queue_capacity.max(1) {
                    q.pop_front();
                    r.slot.dropped.fetch_add(1, Relaxed);
                }
                q.push_back(event.clone());
            }
            r.slot.wake.notify_one();
        }
    }

    /// Every handler's counters, by name.
    pub fn stats(&self) -> Vec<HandlerStats> {
        let running = lock(&self.handlers);
        running
            .values()
            .map(|r| {
                let s = &r.slot;
                let queued = lock(&s.queue).len() as u64 + u64::from(s.busy.load(Relaxed));
                HandlerStats {
                    name: s.spec.name.clone(),
                    topic: s.spec.topic.clone(),
                    kind: s.spec.kind.clone(),
                    sent: s.sent.load(Relaxed),
                    failed: s.failed.load(Relaxed),
                    retries: s.retries.load(Relaxed),
                    dropped: s.dropped.load(Relaxed),
                    queued,
                    last_error: lock(&s.last_error).clone(),
                    last_sent: lock(&s.last_sent).clone(),
                }
            })
            .collect()
    }

    /// Waits until every queue is empty and no event is being sent, or `timeout` passed.
    /// Returns whether the queues were emptied.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let idle = {
                let running = lock(&self.handlers);
                running.values().all(|r| {
                    // `busy` is set before the event leaves the queue, so checking the queue
                    // first and `busy` second never misses an event in between.
                    lock(&r.slot.queue).is_empty() && !r.slot.busy.load(Relaxed)
                })
            };
            if idle {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        for (_, r) in std::mem::take(&mut *lock(&self.handlers)) {
            r.task.abort();
        }
    }
}

fn now_rfc3339() -> String {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    weir_engine::time_text::rfc3339_go(ns)
}

/// One handler's task: sends its queue in order, retrying each event with backoff.
async fn run(slot: Arc<Slot>, handler: Handler, client: reqwest::Client, config: DispatchConfig) {
    loop {
        let event = {
            let mut q = lock(&slot.queue);
            if q.is_empty() {
                None
            } else {
                slot.busy.store(true, Relaxed);
                q.pop_front()
            }
        };
        let Some(event) = event else {
            slot.wake.notified().await;
            continue;
        };
        let mut backoff = config.initial_backoff;
        let mut attempt = 1u32;
        loop {
            match handler.send(&client, &event).await {
                Ok(()) => {
                    slot.sent.fetch_add(1, Relaxed);
                    *lock(&slot.last_sent) = Some(now_rfc3339());
                    break;
                }
                Err(f) => {
                    tracing::warn!(
                        handler = %slot.spec.name, kind = %slot.spec.kind, attempt,
                        error = %f.message, "alert handler failed"
                    );
                    *lock(&slot.last_error) = Some(f.message);
                    if !f.retry || attempt >= config.max_attempts.max(1) {
                        slot.failed.fetch_add(1, Relaxed);
                        break;
                    }
                    slot.retries.fetch_add(1, Relaxed);
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(config.max_backoff);
                }
            }
        }
        slot.busy.store(false, Relaxed);
    }
}
