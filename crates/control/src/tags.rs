//! Tags: AddTagsToResource, ListTagsForResource, RemoveTagsFromResource,
//! and the `Tags` of the Create operations. Tags are kept by resource ARN
//! (`arn:aws:elasticache:<region>:<account>:<type>:<name>`), and go with
//! their resource when it is deleted.

use crate::error::ApiError;
use crate::query::Params;
use crate::xml::Xml;
use crate::Control;

/// The managed service's limit of tags per resource.
const MAX_TAGS: usize = 50;

pub type Tags = Vec<(String, String)>;

/// The `Tags.Tag.N.Key` / `.Value` of a request, checked.
pub fn from_params(p: &Params) -> Result<Tags, ApiError> {
    let mut tags = Tags::new();
    for t in p.structs("Tags", "Tag") {
        let key = t.get("Key").cloned().unwrap_or_default();
        let value = t.get("Value").cloned().unwrap_or_default();
        if key.is_empty() || key.len() > 128 || value.len() > 256 || key.starts_with("aws:") {
            return Err(ApiError::invalid_value(format!(
                "Invalid tag {key}: keys have 1 to 128 characters and do not start with aws:, \
                 values at most 256."
            )));
        }
        tags.retain(|(k, _)| *k != key);
        tags.push((key, value));
    }
    if tags.len() > MAX_TAGS {
        return Err(quota());
    }
    Ok(tags)
}

fn quota() -> ApiError {
    ApiError::new(
        "TagQuotaPerResourceExceeded",
        400,
        format!("A resource has at most {MAX_TAGS} tags."),
    )
}

/// Checks that the ARN names an existing resource of this control plane.
fn resource(ctl: &Control, arn: &str) -> Result<(), ApiError> {
    let invalid = || ApiError::new("InvalidARN", 400, format!("The ARN {arn} is not valid."));
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let [_, _, service, _, _, kind, name] = parts.as_slice() else {
        return Err(invalid());
    };
    if !arn.starts_with("arn:") || *service != "elasticache" || name.is_empty() {
        return Err(invalid());
    }
    let found = match *kind {
        "cluster" => ctl.store.cluster(name)?.is_some(),
        "replicationgroup" => ctl.store.group(name)?.is_some(),
        "snapshot" => ctl.store.snapshot(name)?.is_some(),
        "user" => crate::users::all_users(ctl)?.iter().any(|u| u.id == *name),
        "usergroup" => ctl.store.user_group(name)?.is_some(),
        "parametergroup" => crate::params::group(ctl, name).is_ok(),
        "subnetgroup" => ctl.store.subnet_groups()?.iter().any(|g| g.name == *name),
        _ => return Err(invalid()),
    };
    if found {
        return Ok(());
    }
    Err(match *kind {
        "cluster" => ApiError::cluster_not_found(name),
        "replicationgroup" => ApiError::new(
            "ReplicationGroupNotFoundFault",
            404,
            format!("ReplicationGroup {name} not found."),
        ),
        "snapshot" => crate::snapshots::not_found(name),
        "user" => ApiError::new("UserNotFound", 404, format!("User {name} not found.")),
        "subnetgroup" => ApiError::new(
            "CacheSubnetGroupNotFoundFault",
            400,
            format!("Cache subnet group {name} not found."),
        ),
        "parametergroup" => ApiError::new(
            "CacheParameterGroupNotFound",
            404,
            format!("CacheParameterGroup {name} not found."),
        ),
        _ => ApiError::new(
            "UserGroupNotFound",
            404,
            format!("User group {name} not found."),
        ),
    })
}

fn tag_list(tags: &Tags) -> Xml {
    let mut x = Xml::default();
    x.node("TagList", |x| {
        for (k, v) in tags {
            x.node("Tag", |x| {
                x.field("Key", k);
                x.field("Value", v);
            });
        }
    });
    x
}

pub fn list(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let arn = p.required("ResourceName")?;
    resource(ctl, arn)?;
    Ok(Some(tag_list(&ctl.store.tags(arn)?)))
}

pub fn add(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let arn = p.required("ResourceName")?;
    let new = from_params(p)?;
    let _guard = ctl.lock.lock();
    resource(ctl, arn)?;
    let mut tags = ctl.store.tags(arn)?;
    for (k, v) in new {
        match tags.iter_mut().find(|(key, _)| *key == k) {
            Some(t) => t.1 = v,
            None => tags.push((k, v)),
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(quota());
    }
    ctl.store.put_tags(arn, &tags)?;
    Ok(Some(tag_list(&tags)))
}

pub fn remove(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let arn = p.required("ResourceName")?;
    let keys = p.list("TagKeys", "member");
    let _guard = ctl.lock.lock();
    resource(ctl, arn)?;
    let mut tags = ctl.store.tags(arn)?;
    if let Some(k) = keys.iter().find(|k| !tags.iter().any(|(key, _)| key == *k)) {
        return Err(ApiError::new(
            "TagNotFound",
            404,
            format!("Tag {k} not found on {arn}."),
        ));
    }
    tags.retain(|(k, _)| !keys.contains(&k.as_str()));
    ctl.store.put_tags(arn, &tags)?;
    Ok(Some(tag_list(&tags)))
}
