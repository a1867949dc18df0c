//! The control plane's records: cache clusters and their nodes, events, and
//! the node types the API accepts with the memory and threads each gives a
//! node.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A cache cluster (one Redis node, or one or more Memcached nodes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cluster {
    pub id: String,
    pub engine: Engine,
    pub engine_version: String,
    pub node_type: String,
    /// `creating`, `available`, `modifying`, `rebooting cache cluster
    /// nodes`, `deleting` (the managed service's words).
    pub status: String,
    pub created_ms: u64,
    pub region: String,
    pub account: String,
    pub parameter_group: String,
    pub nodes: Vec<Node>,
    pub snapshot_retention_limit: i64,
    pub snapshot_window: String,
    pub maintenance_window: String,
    pub auto_minor_version_upgrade: bool,
    /// Memcached: the node list changed this many times; nodes are told
    /// (`config set cluster`) until `discovery_pushed` catches up.
    pub discovery_version: u64,
    pub discovery_pushed: u64,
    /// The replication group this cluster is a member of.
    #[serde(default)]
    pub replication_group: Option<String>,
    /// The cache subnet group it was created in.
    #[serde(default)]
    pub subnet_group: Option<String>,
    /// Encryption in transit and the AUTH token of a standalone Redis
    /// cluster (a group member's `tls` follows its group; the token is the
    /// group's).
    #[serde(default)]
    pub security: Security,
    /// Changes asked for without `ApplyImmediately`: made in the next
    /// maintenance window (or by a later modification that applies at once).
    #[serde(default)]
    pub pending: PendingChanges,
}

/// A cluster's modifications waiting for its maintenance window
/// (`PendingModifiedValues`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PendingChanges {
    pub num_cache_nodes: Option<i64>,
    pub node_ids_to_remove: Vec<String>,
    pub node_type: Option<String>,
}

impl PendingChanges {
    pub fn is_empty(&self) -> bool {
        self.num_cache_nodes.is_none() && self.node_type.is_none()
    }

    /// These changes, with `newer`'s where both have one.
    pub fn overlaid(mut self, newer: PendingChanges) -> PendingChanges {
        if newer.num_cache_nodes.is_some() {
            self.num_cache_nodes = newer.num_cache_nodes;
            self.node_ids_to_remove = newer.node_ids_to_remove;
        }
        if newer.node_type.is_some() {
            self.node_type = newer.node_type;
        }
        self
    }
}

/// Encryption in transit and AUTH tokens (`AuthToken`) of a standalone
/// Redis cluster or a replication group.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Security {
    /// Nodes serve TLS only.
    pub tls: bool,
    /// SHA-256 (hex) of the tokens the `default` user accepts: one, or two
    /// while a ROTATE is not yet followed by a SET.
    pub auth_token_hashes: Vec<String>,
    pub auth_token_modified_ms: Option<u64>,
}

impl Cluster {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:elasticache:{}:{}:cluster:{}",
            self.region, self.account, self.id
        )
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Redis,
    Memcached,
}

impl Engine {
    pub fn parse(name: &str) -> Option<Engine> {
        match name.to_ascii_lowercase().as_str() {
            "redis" => Some(Engine::Redis),
            "memcached" => Some(Engine::Memcached),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Redis => "redis",
            Engine::Memcached => "memcached",
        }
    }

    /// The version the nodes report (what Ferrocache implements).
    pub fn version(self) -> &'static str {
        match self {
            Engine::Redis => "7.2.4",
            Engine::Memcached => "1.6.22",
        }
    }

    /// The default parameter group's name.
    pub fn parameter_group(self) -> &'static str {
        match self {
            Engine::Redis => "default.redis7",
            Engine::Memcached => "default.memcached1.6",
        }
    }
}

/// A replication group with cluster mode disabled: one node group of a
/// primary cluster and replica clusters (one node each), with endpoints
/// that stay put across failovers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReplicationGroup {
    pub id: String,
    pub description: String,
    /// `creating`, `available`, `modifying`, `deleting`.
    pub status: String,
    pub created_ms: u64,
    pub region: String,
    pub account: String,
    pub node_type: String,
    pub automatic_failover: bool,
    pub multi_az: bool,
    /// Member cache clusters, in the order they were added.
    pub members: Vec<String>,
    /// The member whose node is the primary.
    pub primary: String,
    /// Ports of the primary and reader endpoints (served by the control
    /// plane, which forwards to the current primary, or spreads over the
    /// replicas).
    pub primary_port: u16,
    pub reader_port: u16,
    pub snapshot_retention_limit: i64,
    pub snapshot_window: String,
    /// TestFailover or ModifyReplicationGroup's PrimaryClusterId asked for
    /// this member to become the primary; the reconciler does it.
    #[serde(default)]
    pub promote: Option<String>,
    /// Keep the primary cluster when the group is deleted.
    #[serde(default)]
    pub retain_primary: bool,
    /// The user group whose users are the nodes' ACL users (RBAC).
    #[serde(default)]
    pub user_group: Option<String>,
    #[serde(default)]
    pub security: Security,
}

/// An RBAC user: a Redis ACL user that user groups put on nodes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub id: String,
    /// The name clients AUTH with (several users may share `default`).
    pub name: String,
    pub engine: String,
    pub access_string: String,
    /// SHA-256 (hex) of each password; the passwords are not kept.
    pub password_hashes: Vec<String>,
    pub no_password: bool,
    pub region: String,
    pub account: String,
}

/// A set of users, attached to replication groups.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserGroup {
    pub id: String,
    pub engine: String,
    pub user_ids: Vec<String>,
    pub region: String,
    pub account: String,
}

impl ReplicationGroup {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:elasticache:{}:{}:replicationgroup:{}",
            self.region, self.account, self.id
        )
    }
}

/// A snapshot: one Redis node's RDB file in the backup directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub name: String,
    /// `creating`, `available`, `failed`.
    pub status: String,
    /// `manual` or `automated`.
    pub source: String,
    pub created_ms: u64,
    /// The standalone cluster snapshotted, or the group (then
    /// `node_cluster` is the member whose node was saved).
    pub cluster_id: Option<String>,
    pub group_id: Option<String>,
    pub group_description: Option<String>,
    pub automatic_failover: bool,
    pub node_cluster: String,
    pub node_created_ms: u64,
    pub engine_version: String,
    pub node_type: String,
    pub region: String,
    pub account: String,
    pub file: PathBuf,
    /// Bytes of the RDB file.
    pub size: u64,
    /// The node's `rdb_saves` when BGSAVE was asked for (None: not yet).
    pub saves_before: Option<u64>,
    /// CopySnapshot: the file to copy instead of saving a node.
    pub copy_of: Option<PathBuf>,
}

impl Snapshot {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:elasticache:{}:{}:snapshot:{}",
            self.region, self.account, self.name
        )
    }
}

impl User {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:elasticache:{}:{}:user:{}",
            self.region, self.account, self.id
        )
    }
}

impl UserGroup {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:elasticache:{}:{}:usergroup:{}",
            self.region, self.account, self.id
        )
    }
}

/// A parameter group: a family's parameters with the values set in it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ParameterGroup {
    pub name: String,
    pub family: String,
    pub description: String,
    /// Parameters set in this group (the others have the family default).
    pub values: std::collections::BTreeMap<String, String>,
    pub region: String,
    pub account: String,
}

impl ParameterGroup {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:elasticache:{}:{}:parametergroup:{}",
            self.region, self.account, self.name
        )
    }
}

/// A cache subnet group (a record: nodes listen on loopback).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubnetGroup {
    pub name: String,
    pub description: String,
    pub subnet_ids: Vec<String>,
    pub region: String,
    pub account: String,
}

impl SubnetGroup {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:elasticache:{}:{}:subnetgroup:{}",
            self.region, self.account, self.name
        )
    }
}

/// One node process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Node {
    /// `0001`, `0002`, ...
    pub id: String,
    pub port: u16,
    /// `creating`, `available`, `rebooting`, `deleting`.
    pub status: String,
    pub created_ms: u64,
    pub dir: PathBuf,
    /// RebootCacheCluster asked for a restart the reconciler has not done.
    #[serde(default)]
    pub reboot_pending: bool,
    /// Digest of the ACL users last applied to this (Redis) node since it
    /// started; None after a start.
    #[serde(default)]
    pub acl_applied: Option<String>,
    /// Digest of the `immediate` parameters set on this node since it
    /// started, and of the `requires-reboot` ones it started with.
    #[serde(default)]
    pub params_applied: Option<String>,
    #[serde(default)]
    pub started_with: Option<String>,
}

/// An event (DescribeEvents).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub source_id: String,
    /// `cache-cluster`, `replication-group`, ...
    pub source_type: String,
    pub message: String,
    pub date_ms: u64,
}

/// A node type: memory for the data (`maxmemory`, memcached `-m`) and
/// vCPUs (worker threads, at most this host's cores).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeType {
    pub name: &'static str,
    pub memory_mib: u64,
    pub vcpus: u32,
}

/// The node types accepted, with the managed service's memory per type.
pub const NODE_TYPES: &[NodeType] = &[
    NodeType {
        name: "cache.t2.micro",
        memory_mib: 568,
        vcpus: 1,
    },
    NodeType {
        name: "cache.t2.small",
        memory_mib: 1587,
        vcpus: 1,
    },
    NodeType {
        name: "cache.t2.medium",
        memory_mib: 3297,
        vcpus: 2,
    },
    NodeType {
        name: "cache.t3.micro",
        memory_mib: 512,
        vcpus: 2,
    },
    NodeType {
        name: "cache.t3.small",
        memory_mib: 1403,
        vcpus: 2,
    },
    NodeType {
        name: "cache.t3.medium",
        memory_mib: 3164,
        vcpus: 2,
    },
    NodeType {
        name: "cache.t4g.micro",
        memory_mib: 512,
        vcpus: 2,
    },
    NodeType {
        name: "cache.t4g.small",
        memory_mib: 1403,
        vcpus: 2,
    },
    NodeType {
        name: "cache.t4g.medium",
        memory_mib: 3164,
        vcpus: 2,
    },
    NodeType {
        name: "cache.m5.large",
        memory_mib: 6533,
        vcpus: 2,
    },
    NodeType {
        name: "cache.m5.xlarge",
        memory_mib: 13240,
        vcpus: 4,
    },
    NodeType {
        name: "cache.m6g.large",
        memory_mib: 6533,
        vcpus: 2,
    },
    NodeType {
        name: "cache.m6g.xlarge",
        memory_mib: 13240,
        vcpus: 4,
    },
    NodeType {
        name: "cache.m7g.large",
        memory_mib: 6533,
        vcpus: 2,
    },
    NodeType {
        name: "cache.m7g.xlarge",
        memory_mib: 13240,
        vcpus: 4,
    },
    NodeType {
        name: "cache.r5.large",
        memory_mib: 13384,
        vcpus: 2,
    },
    NodeType {
        name: "cache.r5.xlarge",
        memory_mib: 26952,
        vcpus: 4,
    },
    NodeType {
        name: "cache.r6g.large",
        memory_mib: 13384,
        vcpus: 2,
    },
    NodeType {
        name: "cache.r6g.xlarge",
        memory_mib: 26952,
        vcpus: 4,
    },
    NodeType {
        name: "cache.r7g.large",
        memory_mib: 13384,
        vcpus: 2,
    },
    NodeType {
        name: "cache.r7g.xlarge",
        memory_mib: 26952,
        vcpus: 4,
    },
];

pub fn node_type(name: &str) -> Option<&'static NodeType> {
    NODE_TYPES.iter().find(|t| t.name == name)
}

/// Node ids as the managed service numbers them.
pub fn node_id(n: usize) -> String {
    format!("{n:04}")
}
