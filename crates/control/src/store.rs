//! The durable state: clusters and events in an embedded redb database
//! (one file in the data directory), each record as JSON. Every change is
//! one committed transaction, so a restart finds what the API answered.

use std::path::Path;

use redb::{Database, ReadableTable, TableDefinition};

use crate::error::ApiError;
use crate::model::{
    Cluster, Event, ParameterGroup, ReplicationGroup, Snapshot, SubnetGroup, User, UserGroup,
};

const CLUSTERS: TableDefinition<&str, &[u8]> = TableDefinition::new("cache_clusters");
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("replication_groups");
const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");
const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
const USER_GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("user_groups");
const TAGS: TableDefinition<&str, &[u8]> = TableDefinition::new("tags");
const PARAMETER_GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("parameter_groups");
const SUBNET_GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("subnet_groups");

/// Events older than this are dropped, as the managed service keeps 14 days.
const EVENT_RETENTION_MS: u64 = 14 * 24 * 3600 * 1000;

pub struct Store {
    db: Database,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e)
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, String> {
        let db = Database::create(path)
            .map_err(|e| format!("cannot open the state store {}: {e}", path.display()))?;
        // Create the tables, so that readers never find them missing.
        let tx = db.begin_write().map_err(|e| e.to_string())?;
        tx.open_table(CLUSTERS).map_err(|e| e.to_string())?;
        tx.open_table(EVENTS).map_err(|e| e.to_string())?;
        tx.open_table(GROUPS).map_err(|e| e.to_string())?;
        tx.open_table(SNAPSHOTS).map_err(|e| e.to_string())?;
        tx.open_table(USERS).map_err(|e| e.to_string())?;
        tx.open_table(USER_GROUPS).map_err(|e| e.to_string())?;
        tx.open_table(TAGS).map_err(|e| e.to_string())?;
        tx.open_table(PARAMETER_GROUPS).map_err(|e| e.to_string())?;
        tx.open_table(SUBNET_GROUPS).map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        Ok(Store { db })
    }

    fn all<T: serde::de::DeserializeOwned>(
        &self,
        def: TableDefinition<&str, &[u8]>,
    ) -> Result<Vec<T>, ApiError> {
        let tx = self.db.begin_read().map_err(internal)?;
        let table = tx.open_table(def).map_err(internal)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(internal)? {
            let (_, v) = row.map_err(internal)?;
            out.push(serde_json::from_slice(v.value()).map_err(internal)?);
        }
        Ok(out)
    }

    fn one<T: serde::de::DeserializeOwned>(
        &self,
        def: TableDefinition<&str, &[u8]>,
        id: &str,
    ) -> Result<Option<T>, ApiError> {
        let tx = self.db.begin_read().map_err(internal)?;
        let table = tx.open_table(def).map_err(internal)?;
        let Some(v) = table.get(id).map_err(internal)? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(internal)
    }

    fn put<T: serde::Serialize>(
        &self,
        def: TableDefinition<&str, &[u8]>,
        id: &str,
        record: &T,
    ) -> Result<(), ApiError> {
        let value = serde_json::to_vec(record).map_err(internal)?;
        let tx = self.db.begin_write().map_err(internal)?;
        tx.open_table(def)
            .map_err(internal)?
            .insert(id, value.as_slice())
            .map_err(internal)?;
        tx.commit().map_err(internal)
    }

    fn remove(&self, def: TableDefinition<&str, &[u8]>, id: &str) -> Result<(), ApiError> {
        let tx = self.db.begin_write().map_err(internal)?;
        tx.open_table(def)
            .map_err(internal)?
            .remove(id)
            .map_err(internal)?;
        tx.commit().map_err(internal)
    }

    /// Every cluster, by id.
    pub fn clusters(&self) -> Result<Vec<Cluster>, ApiError> {
        self.all(CLUSTERS)
    }

    pub fn cluster(&self, id: &str) -> Result<Option<Cluster>, ApiError> {
        self.one(CLUSTERS, id)
    }

    pub fn put_cluster(&self, c: &Cluster) -> Result<(), ApiError> {
        self.put(CLUSTERS, &c.id, c)
    }

    pub fn remove_cluster(&self, id: &str) -> Result<(), ApiError> {
        self.remove(CLUSTERS, id)
    }

    /// Every replication group, by id.
    pub fn groups(&self) -> Result<Vec<ReplicationGroup>, ApiError> {
        self.all(GROUPS)
    }

    pub fn group(&self, id: &str) -> Result<Option<ReplicationGroup>, ApiError> {
        self.one(GROUPS, id)
    }

    pub fn put_group(&self, g: &ReplicationGroup) -> Result<(), ApiError> {
        self.put(GROUPS, &g.id, g)
    }

    pub fn remove_group(&self, id: &str) -> Result<(), ApiError> {
        self.remove(GROUPS, id)
    }

    /// Every snapshot, by name.
    pub fn snapshots(&self) -> Result<Vec<Snapshot>, ApiError> {
        self.all(SNAPSHOTS)
    }

    pub fn snapshot(&self, name: &str) -> Result<Option<Snapshot>, ApiError> {
        self.one(SNAPSHOTS, name)
    }

    pub fn put_snapshot(&self, s: &Snapshot) -> Result<(), ApiError> {
        self.put(SNAPSHOTS, &s.name, s)
    }

    pub fn remove_snapshot(&self, name: &str) -> Result<(), ApiError> {
        self.remove(SNAPSHOTS, name)
    }

    pub fn users(&self) -> Result<Vec<User>, ApiError> {
        self.all(USERS)
    }

    pub fn put_user(&self, u: &User) -> Result<(), ApiError> {
        self.put(USERS, &u.id, u)
    }

    pub fn remove_user(&self, id: &str) -> Result<(), ApiError> {
        self.remove(USERS, id)
    }

    pub fn user_groups(&self) -> Result<Vec<UserGroup>, ApiError> {
        self.all(USER_GROUPS)
    }

    pub fn user_group(&self, id: &str) -> Result<Option<UserGroup>, ApiError> {
        self.one(USER_GROUPS, id)
    }

    pub fn put_user_group(&self, g: &UserGroup) -> Result<(), ApiError> {
        self.put(USER_GROUPS, &g.id, g)
    }

    pub fn remove_user_group(&self, id: &str) -> Result<(), ApiError> {
        self.remove(USER_GROUPS, id)
    }

    /// Parameter groups created by users (the defaults are built in).
    pub fn parameter_groups(&self) -> Result<Vec<ParameterGroup>, ApiError> {
        self.all(PARAMETER_GROUPS)
    }

    pub fn put_parameter_group(&self, g: &ParameterGroup) -> Result<(), ApiError> {
        self.put(PARAMETER_GROUPS, &g.name, g)
    }

    pub fn remove_parameter_group(&self, name: &str) -> Result<(), ApiError> {
        self.remove(PARAMETER_GROUPS, name)
    }

    pub fn subnet_groups(&self) -> Result<Vec<SubnetGroup>, ApiError> {
        self.all(SUBNET_GROUPS)
    }

    pub fn put_subnet_group(&self, g: &SubnetGroup) -> Result<(), ApiError> {
        self.put(SUBNET_GROUPS, &g.name, g)
    }

    pub fn remove_subnet_group(&self, name: &str) -> Result<(), ApiError> {
        self.remove(SUBNET_GROUPS, name)
    }

    /// A resource's tags, by ARN.
    pub fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, ApiError> {
        Ok(self.one(TAGS, arn)?.unwrap_or_default())
    }

    /// Sets a resource's tags (none: forgets them).
    pub fn put_tags(&self, arn: &str, tags: &[(String, String)]) -> Result<(), ApiError> {
        if tags.is_empty() {
            self.remove(TAGS, arn)
        } else {
            self.put(TAGS, arn, &tags)
        }
    }

    /// Records an event (and drops those past the retention).
    pub fn add_event(&self, e: &Event) -> Result<(), ApiError> {
        let value = serde_json::to_vec(e).map_err(internal)?;
        let tx = self.db.begin_write().map_err(internal)?;
        {
            let mut table = tx.open_table(EVENTS).map_err(internal)?;
            let next = table
                .last()
                .map_err(internal)?
                .map_or(1, |(k, _)| k.value() + 1);
            table.insert(next, value.as_slice()).map_err(internal)?;
            let cutoff = e.date_ms.saturating_sub(EVENT_RETENTION_MS);
            let mut old = Vec::new();
            for row in table.iter().map_err(internal)? {
                let (k, v) = row.map_err(internal)?;
                match serde_json::from_slice::<Event>(v.value()) {
                    Ok(ev) if ev.date_ms >= cutoff => break,
                    _ => old.push(k.value()),
                }
            }
            for k in old {
                table.remove(k).map_err(internal)?;
            }
        }
        tx.commit().map_err(internal)
    }

    /// Every event kept, oldest first.
    pub fn events(&self) -> Result<Vec<Event>, ApiError> {
        let tx = self.db.begin_read().map_err(internal)?;
        let table = tx.open_table(EVENTS).map_err(internal)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(internal)? {
            let (_, v) = row.map_err(internal)?;
            out.push(serde_json::from_slice(v.value()).map_err(internal)?);
        }
        Ok(out)
    }
}
