//! Alert topics: where alert tasks publish events and handlers subscribe.
//!
//! A topic keeps the latest event of every alert ID published to it (as Kapacitor's topics
//! do); its level is the highest level among them. Topics are created by the first event
//! published to them (or a handler naming them) and survive restarts: every publish stores the
//! changed topics in `Table::Topics` before the events are handed to the handlers.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use weir_engine::alert::{Event, Level};
use weir_engine::store::{Change, Store, StoreError, Table};

/// Receives every published event (the handler dispatcher).
pub type Deliver = Arc<dyn Fn(&Event) + Send + Sync>;

/// One topic's stored record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TopicRecord {
    /// Latest event by alert ID.
    events: BTreeMap<String, Event>,
}

impl TopicRecord {
    fn level(&self) -> Level {
        self.events
            .values()
            .map(|e| e.level)
            .max()
            .unwrap_or(Level::Ok)
    }
}

/// The topics of this weir.
pub struct Topics {
    store: Arc<Store>,
    topics: Mutex<BTreeMap<String, TopicRecord>>,
    deliver: Deliver,
}

impl std::fmt::Debug for Topics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topics")
            .field("topics", &self.topics.lock().len())
            .finish()
    }
}

/// An event as the API shows it: Kapacitor's alert data plus where it came from.
pub fn event_json(e: &Event) -> Value {
    let mut v = e.kapacitor_json();
    v["topic"] = json!(e.topic);
    v["task"] = json!(e.task);
    v
}

impl Topics {
    /// The topics stored in `store`; published events also go to `deliver`.
    pub fn open(store: Arc<Store>, deliver: Deliver) -> Result<Topics, StoreError> {
        let topics = store
            .list::<TopicRecord>(Table::Topics)?
            .into_iter()
            .collect();
        Ok(Topics {
            store,
            topics: Mutex::new(topics),
            deliver,
        })
    }

    /// Records `events` (stored before this returns) and hands them to the handlers.
    pub fn publish(&self, events: &[Event]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        {
            let mut topics = self.topics.lock();
            let mut changed: BTreeMap<&str, &TopicRecord> = BTreeMap::new();
            for e in events {
                topics
                    .entry(e.topic.clone())
                    .or_default()
                    .events
                    .insert(e.id.clone(), e.clone());
            }
            for e in events {
                if let Some(t) = topics.get(&e.topic) {
                    changed.insert(e.topic.as_str(), t);
                }
            }
            let changes = changed
                .into_iter()
                .map(|(name, record)| Change::put(Table::Topics, name, record))
                .collect::<Result<Vec<_>, _>>()?;
            self.store.apply(&changes)?;
        }
        for e in events {
            (self.deliver)(e);
        }
        Ok(())
    }

    /// Every topic with its level and number of alert IDs.
    pub fn list(&self) -> Vec<Value> {
        self.topics
            .lock()
            .iter()
            .map(|(name, t)| {
                json!({ "topic": name, "level": t.level().as_str(), "events": t.events.len() })
            })
            .collect()
    }

    /// The latest event of every alert ID of `topic`, most severe first, then by ID.
    pub fn events(&self, topic: &str) -> Option<Vec<Value>> {
        let topics = self.topics.lock();
        let t = topics.get(topic)?;
        let mut events: Vec<&Event> = t.events.values().collect();
        events.sort_by(|a, b| b.level.cmp(&a.level).then_with(|| a.id.cmp(&b.id)));
        Some(events.into_iter().map(event_json).collect())
    }

    /// Forgets a topic and its events (`DROP TOPIC`, `DELETE /api/v1/topics/{topic}`).
    pub fn delete(&self, topic: &str) -> Result<bool, StoreError> {
        let existed = self.topics.lock().remove(topic).is_some();
        if existed {
            self.store.delete(Table::Topics, topic)?;
        }
        Ok(existed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use weir_engine::alert::EventSeries;

    fn event(topic: &str, id: &str, level: Level) -> Event {
        Event {
            topic: topic.into(),
            task: "t".into(),
            id: id.into(),
            message: format!("{id} is {}", level.as_str()),
            details: String::new(),
            time: 0,
            duration: 0,
            level,
            previous_level: Level::Ok,
            recoverable: true,
            data: EventSeries {
                name: "cpu".into(),
                tags: BTreeMap::new(),
                columns: vec!["time".into()],
                values: vec![],
            },
        }
    }

    #[test]
    fn latest_event_per_id_survives_reopen_and_is_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let deliver: Deliver = Arc::new(move |e: &Event| sink.lock().push(e.id.clone()));
        let topics = Topics::open(Arc::clone(&store), deliver).unwrap();
        topics
            .publish(&[
                event("cpu", "a", Level::Warning),
                event("cpu", "b", Level::Critical),
                event("cpu", "a", Level::Ok),
                event("disk", "c", Level::Info),
            ])
            .unwrap();
        assert_eq!(*seen.lock(), vec!["a", "b", "a", "c"]);
        drop(topics);
        let topics = Topics::open(store, Arc::new(|_: &Event| {})).unwrap();
        assert_eq!(
            topics.list(),
            vec![
                json!({"topic": "cpu", "level": "CRITICAL", "events": 2}),
                json!({"topic": "disk", "level": "INFO", "events": 1}),
            ]
        );
        let events = topics.events("cpu").unwrap();
        assert_eq!(events[0]["id"], "b");
        assert_eq!(events[1]["id"], "a");
        assert_eq!(events[1]["level"], "OK");
        assert!(topics.events("nope").is_none());
        assert!(topics.delete("disk").unwrap());
        assert_eq!(topics.list().len(), 1);
    }
}
