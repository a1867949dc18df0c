//! The control plane's API against botocore's ElastiCache model
//! (`tests/data/elasticache-2015-02-02.json`, written by
//! `scripts/botocore-model.py`): requests are serialized from the model the
//! way botocore's query serializer does and every parameter sent must be
//! read by the operation; every answer is checked element by element
//! against the operation's output shape (member and list item names,
//! scalar types, enum values), and every error's code and HTTP status
//! against the model's error shapes. Nodes are real `ferrocache` processes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use control::query::Params;
use control::{Caller, ControlConfig, Running};
use quick_xml::events::Event;
use serde_json::{json, Value};

/// Errors any Query-protocol operation may answer (AWS's common errors),
/// and ours for operations not built yet.
const COMMON_ERRORS: &[&str] = &[
    "InvalidAction",
    "MissingAction",
    "MissingParameter",
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "UnsupportedOperation",
];

struct Model(Value);

impl Model {
    fn load() -> Model {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/elasticache-2015-02-02.json"
        );
        let text = std::fs::read_to_string(path).expect("the model file");
        Model(serde_json::from_str(&text).expect("the model is JSON"))
    }

    fn shape(&self, name: &str) -> &Value {
        let shape = &self.0["shapes"][name];
        assert!(shape.is_object(), "no shape {name} in the model");
        shape
    }

    fn operation(&self, name: &str) -> &Value {
        let op = &self.0["operations"][name];
        assert!(op.is_object(), "no operation {name} in the model");
        op
    }

    /// The wire code → HTTP status of every modeled error.
    fn error_statuses(&self) -> BTreeMap<String, u16> {
        let shapes = self.0["shapes"].as_object().expect("shapes");
        shapes
            .values()
            .filter_map(|s| {
                let e = s.get("error")?;
                Some((
                    e["code"].as_str()?.to_string(),
                    e["httpStatusCode"].as_u64()? as u16,
                ))
            })
            .collect()
    }

    /// `input` (JSON as boto3 takes it) as botocore's query serializer
    /// flattens it: lists as `Name.<item>.N` with the member's
    /// `locationName` (else `member`), structures as `Name.Member`.
    fn serialize(&self, op: &str, input: &Value) -> Vec<(String, String)> {
        let mut out = vec![
            ("Action".to_string(), op.to_string()),
            ("Version".to_string(), "2015-02-02".to_string()),
        ];
        let shape = self.operation(op)["input"]["shape"]
            .as_str()
            .unwrap_or_else(|| panic!("{op} takes no input"));
        self.flatten(shape, "", input, &mut out);
        out
    }

    fn flatten(
        &self,
        shape_name: &str,
        prefix: &str,
        value: &Value,
        out: &mut Vec<(String, String)>,
    ) {
        let shape = self.shape(shape_name);
        match shape["type"].as_str() {
            Some("structure") => {
                let obj = value.as_object().expect("a structure is a JSON object");
                for (k, v) in obj {
                    let member = &shape["members"][k];
                    let inner = member["shape"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{k} is not a member of {shape_name}"));
                    let name = member["locationName"].as_str().unwrap_or(k);
                    let path = if prefix.is_empty() {
                        name.to_string()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    self.flatten(inner, &path, v, out);
                }
            }
            Some("list") => {
                let item = shape["member"]["locationName"].as_str().unwrap_or("member");
                let inner = shape["member"]["shape"]
                    .as_str()
                    .expect("list member shape");
                for (i, v) in value
                    .as_array()
                    .expect("a list is a JSON array")
                    .iter()
                    .enumerate()
                {
                    self.flatten(inner, &format!("{prefix}.{item}.{}", i + 1), v, out);
                }
            }
            _ => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push((prefix.to_string(), text));
            }
        }
    }

    /// Checks `el` against `shape_name`; problems go to `errors`.
    fn check(&self, shape_name: &str, el: &Element, path: &str, errors: &mut Vec<String>) {
        let shape = self.shape(shape_name);
        let kind = shape["type"].as_str().unwrap_or("");
        if !matches!(kind, "structure" | "list") && !el.children.is_empty() {
            errors.push(format!(
                "{path}: a {kind} ({shape_name}) with child elements"
            ));
            return;
        }
        let text = el.text.as_str();
        match kind {
            "structure" => {
                let members = shape["members"].as_object().expect("members");
                let mut seen = Vec::new();
                for child in &el.children {
                    let member = members.iter().find(|(name, m)| {
                        m["locationName"].as_str().unwrap_or(name.as_str()) == child.name
                    });
                    let child_path = format!("{path}/{}", child.name);
                    match member {
                        None => errors.push(format!("{child_path}: not a member of {shape_name}")),
                        Some((_, m)) => {
                            if seen.contains(&child.name) {
                                errors.push(format!("{child_path}: repeated"));
                            }
                            seen.push(child.name.clone());
                            let inner = m["shape"].as_str().expect("member shape");
                            self.check(inner, child, &child_path, errors);
                        }
                    }
                }
            }
            "list" => {
                let item = shape["member"]["locationName"].as_str().unwrap_or("member");
                let inner = shape["member"]["shape"]
                    .as_str()
                    .expect("list member shape");
                for (i, child) in el.children.iter().enumerate() {
                    let child_path = format!("{path}/{}[{}]", child.name, i + 1);
                    if child.name != item {
                        errors.push(format!(
                            "{child_path}: list items of {shape_name} are <{item}>"
                        ));
                    }
                    self.check(inner, child, &child_path, errors);
                }
            }
            "string" => {
                if let Some(allowed) = shape["enum"].as_array() {
                    if !allowed.iter().any(|a| a == text) {
                        errors.push(format!(
                            "{path}: {text:?} is not one of {shape_name} {allowed:?}"
                        ));
                    }
                }
            }
            "integer" | "long" if text.parse::<i64>().is_err() => {
                errors.push(format!("{path}: {text:?} is not an integer"));
            }
            "double" | "float" if text.parse::<f64>().is_err() => {
                errors.push(format!("{path}: {text:?} is not a number"));
            }
            "boolean" if text != "true" && text != "false" => {
                errors.push(format!("{path}: {text:?} is not a boolean"));
            }
            "timestamp" if !is_iso8601(text) => {
                errors.push(format!("{path}: {text:?} is not an ISO 8601 timestamp"));
            }
            _ => {}
        }
    }
}

/// `2026-11-29T03:38:05.123Z` (the fraction optional).
fn is_iso8601(text: &str) -> bool {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && text.ends_with('Z')
}

/// One XML element with its text (unescaped) and children.
#[derive(Debug, Default)]
struct Element {
    name: String,
    xmlns: Option<String>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn parse(xml: &str) -> Element {
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut stack = vec![Element::default()];
        loop {
            match reader
                .read_event()
                .unwrap_or_else(|e| panic!("bad XML ({e}): {xml}"))
            {
                Event::Start(e) => stack.push(Element::open(&e)),
                Event::Empty(e) => {
                    let el = Element::open(&e);
                    stack.last_mut().expect("parent").children.push(el);
                }
                Event::Text(t) => {
                    let text = t.unescape().expect("XML text");
                    stack.last_mut().expect("element").text.push_str(&text);
                }
                Event::End(_) => {
                    let el = stack.pop().expect("open element");
                    stack.last_mut().expect("parent").children.push(el);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        let mut document = stack.pop().expect("document");
        assert!(
            stack.is_empty() && document.children.len() == 1,
            "one root element: {xml}"
        );
        document.children.pop().expect("root")
    }

    fn open(e: &quick_xml::events::BytesStart) -> Element {
        let xmlns = e
            .attributes()
            .flatten()
            .find(|a| a.key.as_ref() == b"xmlns")
            .map(|a| String::from_utf8_lossy(&a.value).into_owned());
        Element {
            name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
            xmlns,
            ..Element::default()
        }
    }

    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The element at a `/`-separated path of child names.
    fn find(&self, path: &str) -> Option<&Element> {
        path.split('/').try_fold(self, |el, part| el.child(part))
    }

    /// The text at a `/`-separated path of child names.
    fn at(&self, path: &str) -> Option<&str> {
        self.find(path).map(|el| el.text.as_str())
    }
}

/// A control plane with real nodes, in its own directory; dropping it
/// kills every node it started.
struct Service {
    running: Option<Running>,
    data_dir: PathBuf,
    model: Model,
    statuses: BTreeMap<String, u16>,
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
        let nodes = self.data_dir.join("nodes");
        for cluster in std::fs::read_dir(&nodes).into_iter().flatten().flatten() {
            for node in std::fs::read_dir(cluster.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let pid = std::fs::read_to_string(node.path().join("node.pid")).unwrap_or_default();
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    // SAFETY: kill(2) with a pid read from our own node's pid file.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl Service {
    fn start(name: &str) -> Service {
        let data_dir =
            std::env::temp_dir().join(format!("ferrocache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data_dir);
        let running = control::start(ControlConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            data_dir: data_dir.clone(),
            node_ports: 46100..=46199,
            region: "us-east-1".into(),
            binary: PathBuf::from(env!("CARGO_BIN_EXE_ferrocache")),
            credentials: Vec::new(),
        })
        .expect("the control plane starts");
        let model = Model::load();
        let statuses = model.error_statuses();
        Service {
            running: Some(running),
            data_dir,
            model,
            statuses,
        }
    }

    /// Sends `op` with `input` serialized from the model; checks the
    /// answer against the model and that every parameter was read, and
    /// returns the result element (`Err(code)` for an error answer).
    fn call(&self, op: &str, input: Value) -> Result<Element, String> {
        let pairs = self.model.serialize(op, &input);
        let body: String = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let params = Params::parse(None, body.as_bytes());
        let caller = Caller {
            region: "us-east-1".into(),
            account: "000000000000".into(),
        };
        let ctl = &self.running.as_ref().expect("running").control;
        let (status, xml) = control::handle(
            ctl,
            &params,
            &caller,
            "7d1c1e2e-0000-4000-8000-000000000000",
        );
        let root = Element::parse(&xml);
        let ns = self.model.0["xmlNamespace"].as_str();
        assert_eq!(root.xmlns.as_deref(), ns, "{op}: namespace of {xml}");
        if root.name == "ErrorResponse" {
            let code = root.at("Error/Code").expect("Error/Code").to_string();
            assert!(
                root.at("Error/Message").is_some() && root.at("RequestId").is_some(),
                "{xml}"
            );
            assert_eq!(
                root.at("Error/Type"),
                Some(if status >= 500 { "Receiver" } else { "Sender" }),
                "{xml}"
            );
            let modeled = self.model.operation(op)["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| self.model.shape(e["shape"].as_str()?)["error"]["code"].as_str())
                .any(|c| c == code);
            assert!(
                modeled || COMMON_ERRORS.contains(&code.as_str()),
                "{op} may not answer {code}: {xml}"
            );
            let want = self.statuses.get(&code).copied().unwrap_or(400);
            assert_eq!(status, want, "{op}: HTTP status of {code}");
            return Err(code);
        }
        assert_eq!(status, 200, "{op}: {xml}");
        assert_eq!(root.name, format!("{op}Response"));
        let unread = params.unread();
        assert!(unread.is_empty(), "{op} did not read {unread:?}");
        assert_eq!(
            root.at("ResponseMetadata/RequestId").map(str::len),
            Some(36),
            "{xml}"
        );
        let output = &self.model.operation(op)["output"];
        let Some(shape) = output["shape"].as_str() else {
            assert_eq!(root.children.len(), 1, "{op} has no result: {xml}");
            return Ok(Element::default());
        };
        let wrapper = output["resultWrapper"].as_str().expect("result wrapper");
        assert_eq!(
            root.children.len(),
            2,
            "{op}: a result and the metadata: {xml}"
        );
        let result = root.children.into_iter().next().expect("result");
        assert_eq!(result.name, wrapper);
        let mut errors = Vec::new();
        self.model.check(shape, &result, wrapper, &mut errors);
        assert!(
            errors.is_empty(),
            "{op} answered outside the model:\n{}\n{xml}",
            errors.join("\n")
        );
        Ok(result)
    }

    fn ok(&self, op: &str, input: Value) -> Element {
        self.call(op, input)
            .unwrap_or_else(|code| panic!("{op} failed with {code}"))
    }

    /// Polls `op` until the text at `path` of its result is `want`.
    fn wait(&self, op: &str, input: Value, path: &str, want: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let result = self.ok(op, input.clone());
            if result.at(path) == Some(want) {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "{op}: {path} never became {want}: {result:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn snapshot_available(&self, input: Value) {
        let status = "Snapshots/Snapshot/SnapshotStatus";
        self.wait("DescribeSnapshots", input, status, "available");
    }

    fn wait_gone(&self, op: &str, input: Value) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.call(op, input.clone()).is_ok() {
            assert!(Instant::now() < deadline, "{op}: {input} is never deleted");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Form encoding of one key or value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The node ids of the one cluster a DescribeCacheClusters result lists.
fn node_ids(result: &Element) -> Vec<&str> {
    result
        .find("CacheClusters/CacheCluster/CacheNodes")
        .map(|n| {
            n.children
                .iter()
                .filter_map(|c| c.at("CacheNodeId"))
                .collect()
        })
        .unwrap_or_default()
}

/// A weekly maintenance window (UTC) open from a minute ago for an hour.
fn window_from_now() -> String {
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        / 60;
    // 1970-01-01 was a Thursday.
    let at = |minutes: u64| {
        let week = (minutes + 4 * 1440) % (7 * 1440);
        let (day, rest) = (week / 1440, week % 1440);
        format!("{}:{:02}:{:02}", DAYS[day as usize], rest / 60, rest % 60)
    };
    format!("{}-{}", at(now - 1), at(now + 60))
}

/// The texts of the items of the list at `path`.
fn texts<'a>(el: &'a Element, path: &str) -> Vec<&'a str> {
    el.find(path)
        .map(|l| l.children.iter().map(|c| c.text.as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn every_answer_matches_botocore_s_model() {
    let s = Service::start("api-model");
    let arn =
        |kind: &str, id: &str| format!("arn:aws:elasticache:us-east-1:000000000000:{kind}:{id}");

    // Supporting resources first: parameter group, subnet group, users.
    s.ok(
        "CreateCacheParameterGroup",
        json!({"CacheParameterGroupName": "model-params", "CacheParameterGroupFamily": "redis7",
               "Description": "model check", "Tags": [{"Key": "team", "Value": "cache"}]}),
    );
    s.ok(
        "ModifyCacheParameterGroup",
        json!({"CacheParameterGroupName": "model-params",
               "ParameterNameValues": [{"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"},
                                       {"ParameterName": "timeout", "ParameterValue": "30"}]}),
    );
    let params = s.ok(
        "DescribeCacheParameters",
        json!({"CacheParameterGroupName": "model-params", "Source": "user"}),
    );
    let user_set: Vec<&str> = params
        .child("Parameters")
        .map(|l| {
            l.children
                .iter()
                .filter_map(|p| p.at("ParameterName"))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(user_set, ["maxmemory-policy", "timeout"]);
    s.ok(
        "ResetCacheParameterGroup",
        json!({"CacheParameterGroupName": "model-params",
          "ParameterNameValues": [{"ParameterName": "timeout"}]}),
    );
    s.ok("DescribeCacheParameterGroups", json!({"MaxRecords": 20}));
    s.ok(
        "DescribeEngineDefaultParameters",
        json!({"CacheParameterGroupFamily": "memcached1.6"}),
    );
    s.ok(
        "CreateCacheSubnetGroup",
        json!({"CacheSubnetGroupName": "model-subnets", "CacheSubnetGroupDescription": "loopback",
               "SubnetIds": ["subnet-1", "subnet-2"]}),
    );
    let subnets = s.ok(
        "ModifyCacheSubnetGroup",
        json!({"CacheSubnetGroupName": "model-subnets", "SubnetIds": ["subnet-3"]}),
    );
    assert_eq!(
        subnets.at("CacheSubnetGroup/Subnets/Subnet/SubnetIdentifier"),
        Some("subnet-3")
    );
    s.ok("DescribeCacheSubnetGroups", json!({}));
    s.ok(
        "CreateUser",
        json!({"UserId": "model-reader", "UserName": "reader", "Engine": "redis",
               "AccessString": "on ~* +@read", "Passwords": ["reader-password-1"]}),
    );
    s.ok(
        "CreateUser",
        json!({"UserId": "model-default", "UserName": "default", "Engine": "redis",
          "AccessString": "on ~* +@all", "NoPasswordRequired": true}),
    );
    s.ok(
        "ModifyUser",
        json!({"UserId": "model-reader", "AppendAccessString": "+ping"}),
    );
    s.ok(
        "CreateUserGroup",
        json!({"UserGroupId": "model-users", "Engine": "redis", "UserIds": ["model-default"]}),
    );
    let group = s.ok(
        "ModifyUserGroup",
        json!({"UserGroupId": "model-users", "UserIdsToAdd": ["model-reader"]}),
    );
    assert_eq!(texts(&group, "UserIds"), ["model-default", "model-reader"]);
    s.ok("DescribeUsers", json!({"Engine": "redis"}));
    s.ok("DescribeUserGroups", json!({}));

    // A Memcached cluster, grown and shrunk.
    s.ok(
        "CreateCacheCluster",
        json!({"CacheClusterId": "model-mc", "Engine": "memcached", "NumCacheNodes": 2,
               "CacheNodeType": "cache.t3.micro", "CacheSubnetGroupName": "model-subnets",
               "Tags": [{"Key": "env", "Value": "test"}]}),
    );
    let mc = json!({"CacheClusterId": "model-mc", "ShowCacheNodeInfo": true});
    s.wait(
        "DescribeCacheClusters",
        mc.clone(),
        "CacheClusters/CacheCluster/CacheClusterStatus",
        "available",
    );
    // Without ApplyImmediately a new node count waits (for the
    // maintenance window); ApplyImmediately alone then applies it.
    let modified = s.ok(
        "ModifyCacheCluster",
        json!({"CacheClusterId": "model-mc", "NumCacheNodes": 3}),
    );
    let cluster = "CacheCluster/PendingModifiedValues/NumCacheNodes";
    assert_eq!(modified.at(cluster), Some("3"));
    assert_eq!(modified.at("CacheCluster/NumCacheNodes"), Some("2"));
    s.ok(
        "ModifyCacheCluster",
        json!({"CacheClusterId": "model-mc", "ApplyImmediately": true}),
    );
    let status = "CacheClusters/CacheCluster/CacheClusterStatus";
    s.wait("DescribeCacheClusters", mc.clone(), status, "available");
    assert_eq!(
        node_ids(&s.ok("DescribeCacheClusters", mc.clone())),
        ["0001", "0002", "0003"]
    );
    // A removal waits too, until the maintenance window opens: moved to now.
    let modified = s.ok(
        "ModifyCacheCluster",
        json!({"CacheClusterId": "model-mc", "NumCacheNodes": 2,
          "CacheNodeIdsToRemove": ["0002"]}),
    );
    assert_eq!(
        texts(
            &modified,
            "CacheCluster/PendingModifiedValues/CacheNodeIdsToRemove"
        ),
        ["0002"]
    );
    s.ok(
        "ModifyCacheCluster",
        json!({"CacheClusterId": "model-mc", "PreferredMaintenanceWindow": window_from_now()}),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while node_ids(&s.ok("DescribeCacheClusters", mc.clone())) != ["0001", "0003"] {
        assert!(
            Instant::now() < deadline,
            "the maintenance window did not remove node 0002"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let cluster = s.wait("DescribeCacheClusters", mc.clone(), status, "available");
    assert!(cluster
        .find("CacheClusters/CacheCluster/PendingModifiedValues")
        .is_some_and(|p| p.children.is_empty()));
    s.ok(
        "RebootCacheCluster",
        json!({"CacheClusterId": "model-mc", "CacheNodeIdsToReboot": ["0001"]}),
    );
    s.wait(
        "DescribeCacheClusters",
        mc.clone(),
        "CacheClusters/CacheCluster/CacheClusterStatus",
        "available",
    );

    // Tags by ARN.
    let mc_arn = arn("cluster", "model-mc");
    s.ok(
        "AddTagsToResource",
        json!({"ResourceName": mc_arn, "Tags": [{"Key": "owner", "Value": "ops"}]}),
    );
    let tags = s.ok(
        "RemoveTagsFromResource",
        json!({"ResourceName": mc_arn, "TagKeys": ["env"]}),
    );
    assert_eq!(tags.at("TagList/Tag/Key"), Some("owner"));
    s.ok("ListTagsForResource", json!({"ResourceName": mc_arn}));

    // A replication group using the users, then replicas, failover, snapshots.
    s.ok(
        "CreateReplicationGroup",
        json!({"ReplicationGroupId": "model-rg", "ReplicationGroupDescription": "model check",
               "Engine": "redis", "NumCacheClusters": 2, "CacheNodeType": "cache.t3.small",
               "AutomaticFailoverEnabled": true, "CacheParameterGroupName": "model-params",
               "UserGroupIds": ["model-users"], "Tags": [{"Key": "env", "Value": "test"}]}),
    );
    let rg = json!({"ReplicationGroupId": "model-rg"});
    let status = "ReplicationGroups/ReplicationGroup/Status";
    s.wait("DescribeReplicationGroups", rg.clone(), status, "available");
    s.ok(
        "IncreaseReplicaCount",
        json!({"ReplicationGroupId": "model-rg", "NewReplicaCount": 2, "ApplyImmediately": true}),
    );
    s.wait("DescribeReplicationGroups", rg.clone(), status, "available");
    s.ok(
        "DecreaseReplicaCount",
        json!({"ReplicationGroupId": "model-rg", "NewReplicaCount": 1, "ApplyImmediately": true}),
    );
    s.wait("DescribeReplicationGroups", rg.clone(), status, "available");
    s.ok(
        "TestFailover",
        json!({"ReplicationGroupId": "model-rg", "NodeGroupId": "0001"}),
    );
    s.wait("DescribeReplicationGroups", rg.clone(), status, "available");
    s.ok(
        "ModifyReplicationGroup",
        json!({"ReplicationGroupId": "model-rg", "SnapshotRetentionLimit": 3,
          "SnapshotWindow": "05:00-06:00", "UserGroupIdsToRemove": ["model-users"]}),
    );
    s.wait("DescribeReplicationGroups", rg.clone(), status, "available");
    // A node type change waits in the members, then applies at once.
    s.ok(
        "ModifyReplicationGroup",
        json!({"ReplicationGroupId": "model-rg", "CacheNodeType": "cache.t3.medium"}),
    );
    let members = s.ok("DescribeCacheClusters", json!({"ShowCacheNodeInfo": true}));
    let pending: Vec<&str> = members
        .find("CacheClusters")
        .map(|l| {
            l.children
                .iter()
                .filter(|c| c.at("ReplicationGroupId") == Some("model-rg"))
                .filter_map(|c| c.at("PendingModifiedValues/CacheNodeType"))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(pending, ["cache.t3.medium", "cache.t3.medium"]);
    let group = s.ok(
        "ModifyReplicationGroup",
        json!({"ReplicationGroupId": "model-rg", "ApplyImmediately": true}),
    );
    assert_eq!(
        group.at("ReplicationGroup/CacheNodeType"),
        Some("cache.t3.medium")
    );
    s.wait("DescribeReplicationGroups", rg.clone(), status, "available");
    s.ok(
        "DescribeCacheClusters",
        json!({"ShowCacheNodeInfo": true, "MaxRecords": 20}),
    );
    s.ok(
        "CreateSnapshot",
        json!({"ReplicationGroupId": "model-rg", "SnapshotName": "model-snap"}),
    );
    let snap = json!({"SnapshotName": "model-snap", "ShowNodeGroupConfig": true});
    s.snapshot_available(snap);
    s.ok(
        "CopySnapshot",
        json!({"SourceSnapshotName": "model-snap", "TargetSnapshotName": "model-copy"}),
    );
    s.snapshot_available(json!({"SnapshotName": "model-copy"}));
    s.ok("DeleteSnapshot", json!({"SnapshotName": "model-copy"}));

    // Catalogues and events.
    s.ok("DescribeCacheEngineVersions", json!({"Engine": "redis"}));
    s.ok(
        "ListAllowedNodeTypeModifications",
        json!({"ReplicationGroupId": "model-rg"}),
    );
    let events = s.ok(
        "DescribeEvents",
        json!({"SourceType": "cache-cluster", "Duration": 60}),
    );
    assert!(events
        .child("Events")
        .is_some_and(|e| !e.children.is_empty()));

    // Error answers: codes and statuses as modeled.
    let missing = json!({"CacheClusterId": "model-none"});
    assert_eq!(
        s.call("DescribeCacheClusters", missing).unwrap_err(),
        "CacheClusterNotFound"
    );
    assert_eq!(
        s.call(
            "DescribeReplicationGroups",
            json!({"ReplicationGroupId": "model-none"})
        )
        .unwrap_err(),
        "ReplicationGroupNotFoundFault"
    );
    let again = json!({"CacheClusterId": "model-mc", "Engine": "memcached", "NumCacheNodes": 1});
    assert_eq!(
        s.call("CreateCacheCluster", again).unwrap_err(),
        "CacheClusterAlreadyExists"
    );
    let bad = json!({"CacheClusterId": "model-bad", "Engine": "memcached", "NumCacheNodes": 0});
    assert_eq!(
        s.call("CreateCacheCluster", bad).unwrap_err(),
        "InvalidParameterValue"
    );
    assert_eq!(
        s.call("DeleteUser", json!({"UserId": "model-none"}))
            .unwrap_err(),
        "UserNotFound"
    );
    assert_eq!(
        s.call("DescribeSnapshots", json!({"SnapshotName": "model-none"}))
            .unwrap_err(),
        "SnapshotNotFoundFault"
    );
    assert_eq!(s.call("CreateReplicationGroup",
        json!({"ReplicationGroupId": "model-rg", "ReplicationGroupDescription": "again", "Engine": "redis"})).unwrap_err(),
        "ReplicationGroupAlreadyExists");

    // Deletes, and their final states.
    s.ok(
        "DeleteReplicationGroup",
        json!({"ReplicationGroupId": "model-rg", "FinalSnapshotIdentifier": "model-final"}),
    );
    s.wait_gone(
        "DescribeReplicationGroups",
        json!({"ReplicationGroupId": "model-rg"}),
    );
    s.snapshot_available(json!({"SnapshotName": "model-final"}));
    s.ok("DeleteCacheCluster", json!({"CacheClusterId": "model-mc"}));
    s.wait_gone(
        "DescribeCacheClusters",
        json!({"CacheClusterId": "model-mc"}),
    );
    s.ok("DeleteUserGroup", json!({"UserGroupId": "model-users"}));
    s.wait_gone("DescribeUserGroups", json!({"UserGroupId": "model-users"}));
    s.ok("DeleteUser", json!({"UserId": "model-reader"}));
    s.ok(
        "DeleteCacheParameterGroup",
        json!({"CacheParameterGroupName": "model-params"}),
    );
    s.ok(
        "DeleteCacheSubnetGroup",
        json!({"CacheSubnetGroupName": "model-subnets"}),
    );
}

#[test]
fn unknown_actions_and_versions_are_refused() {
    let s = Service::start("api-refusals");
    let ctl = &s.running.as_ref().expect("running").control;
    let caller = Caller {
        region: "us-east-1".into(),
        account: "000000000000".into(),
    };
    for (body, code) in [
        ("Action=LaunchRockets&Version=2015-02-02", "InvalidAction"),
        ("Version=2015-02-02", "MissingAction"),
        (
            "Action=DescribeEvents&Version=2012-01-01",
            "InvalidParameterValue",
        ),
        (
            "Action=DescribeCacheClusters&MaxRecords=ten",
            "InvalidParameterValue",
        ),
    ] {
        let (status, xml) =
            control::handle(ctl, &Params::parse(None, body.as_bytes()), &caller, "id");
        let root = Element::parse(&xml);
        assert_eq!(
            (status, root.at("Error/Code")),
            (400, Some(code)),
            "{body}: {xml}"
        );
    }
}
