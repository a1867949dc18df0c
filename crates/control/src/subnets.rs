//! Cache subnet groups: CreateCacheSubnetGroup, DescribeCacheSubnetGroups,
//! ModifyCacheSubnetGroup, DeleteCacheSubnetGroup. On one host every node
//! listens on loopback, so a subnet group is a record: it is kept, listed,
//! named by the clusters created in it, and cannot be deleted while one
//! uses it. The `default` group always exists.

use crate::error::ApiError;
use crate::model::SubnetGroup;
use crate::query::{check_identifier, Params};
use crate::xml::Xml;
use crate::Control;

pub const DEFAULT: &str = "default";

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        "CacheSubnetGroupNotFoundFault",
        400,
        format!("Cache subnet group {name} not found."),
    )
}

fn builtin_default(ctl: &Control) -> SubnetGroup {
    SubnetGroup {
        name: DEFAULT.into(),
        description: "default".into(),
        subnet_ids: vec!["subnet-loopback".into()],
        region: ctl.region.clone(),
        account: crate::ACCOUNT.into(),
    }
}

fn all(ctl: &Control) -> Result<Vec<SubnetGroup>, ApiError> {
    let mut groups = ctl.store.subnet_groups()?;
    if !groups.iter().any(|g| g.name == DEFAULT) {
        groups.push(builtin_default(ctl));
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(groups)
}

/// The subnet group a new cluster or replication group names (checked),
/// lowercase.
pub fn chosen(ctl: &Control, p: &Params) -> Result<Option<String>, ApiError> {
    let Some(name) = p.get("CacheSubnetGroupName") else {
        return Ok(None);
    };
    let name = name.to_ascii_lowercase();
    if !all(ctl)?.iter().any(|g| g.name == name) {
        return Err(not_found(&name));
    }
    Ok(Some(name))
}

fn subnet_ids(p: &Params) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = p
        .list("SubnetIds", "SubnetIdentifier")
        .into_iter()
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err(ApiError::missing("SubnetIds"));
    }
    if let Some(bad) = ids.iter().find(|id| !id.starts_with("subnet-")) {
        return Err(ApiError::new(
            "InvalidSubnet",
            400,
            format!("The subnet ID {bad} is not valid (subnet-...)."),
        ));
    }
    Ok(ids)
}

pub fn create(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let name = p.required("CacheSubnetGroupName")?.to_ascii_lowercase();
    check_identifier("CacheSubnetGroupName", &name, 255)?;
    let description = p.required("CacheSubnetGroupDescription")?;
    let ids = subnet_ids(p)?;
    let tags = crate::tags::from_params(p)?;
    let _guard = ctl.lock.lock();
    if all(ctl)?.iter().any(|g| g.name == name) {
        return Err(ApiError::new(
            "CacheSubnetGroupAlreadyExists",
            400,
            format!("Cache subnet group {name} already exists."),
        ));
    }
    let g = SubnetGroup {
        name,
        description: description.into(),
        subnet_ids: ids,
        region: ctl.region.clone(),
        account: crate::ACCOUNT.into(),
    };
    ctl.store.put_subnet_group(&g)?;
    ctl.store.put_tags(&g.arn(), &tags)?;
    Ok(Some(one(&g)))
}

pub fn modify(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let name = p.required("CacheSubnetGroupName")?.to_ascii_lowercase();
    let _guard = ctl.lock.lock();
    let mut g = all(ctl)?
        .into_iter()
        .find(|g| g.name == name)
        .ok_or_else(|| not_found(&name))?;
    if let Some(d) = p.get("CacheSubnetGroupDescription") {
        g.description = d.into();
    }
    if !p.list("SubnetIds", "SubnetIdentifier").is_empty() {
        g.subnet_ids = subnet_ids(p)?;
    }
    ctl.store.put_subnet_group(&g)?;
    Ok(Some(one(&g)))
}

pub fn delete(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let name = p.required("CacheSubnetGroupName")?.to_ascii_lowercase();
    let _guard = ctl.lock.lock();
    let g = all(ctl)?
        .into_iter()
        .find(|g| g.name == name)
        .ok_or_else(|| not_found(&name))?;
    let in_use = name == DEFAULT
        || ctl
            .store
            .clusters()?
            .iter()
            .any(|c| c.subnet_group.as_deref() == Some(name.as_str()));
    if in_use {
        return Err(ApiError::new(
            "CacheSubnetGroupInUse",
            400,
            format!("Cache subnet group {name} is in use."),
        ));
    }
    ctl.store.remove_subnet_group(&name)?;
    ctl.store.put_tags(&g.arn(), &[])?;
    Ok(None)
}

pub fn describe(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let groups = all(ctl)?;
    let (page, marker) = p.page(
        p.named(&groups, "CacheSubnetGroupName", |g| &g.name, not_found)?,
        |g| &g.name,
        (20, 100, 100),
    )?;
    let mut x = Xml::default();
    x.opt("Marker", marker);
    x.node("CacheSubnetGroups", |x| {
        for g in page {
            write(x, g);
        }
    });
    Ok(Some(x))
}

fn one(g: &SubnetGroup) -> Xml {
    let mut x = Xml::default();
    write(&mut x, g);
    x
}

fn write(x: &mut Xml, g: &SubnetGroup) {
    x.node("CacheSubnetGroup", |x| {
        x.field("CacheSubnetGroupName", &g.name);
        x.field("CacheSubnetGroupDescription", &g.description);
        x.field("VpcId", "vpc-loopback");
        x.node("Subnets", |x| {
            for id in &g.subnet_ids {
                x.node("Subnet", |x| {
                    x.field("SubnetIdentifier", id);
                    x.node("SubnetAvailabilityZone", |x| {
                        x.field("Name", format!("{}a", g.region));
                    });
                    x.node("SupportedNetworkTypes", |x| x.field("member", "ipv4"));
                });
            }
        });
        x.field("ARN", g.arn());
        x.node("SupportedNetworkTypes", |x| x.field("member", "ipv4"));
    });
}
