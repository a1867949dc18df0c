//! Users and user groups (RBAC): CreateUser, DescribeUsers, ModifyUser,
//! DeleteUser, CreateUserGroup, DescribeUserGroups, ModifyUserGroup,
//! DeleteUserGroup. A user group attached to a replication group
//! (`UserGroupIds`) becomes the ACL users of every node of the group; the
//! groups' pass applies it (`failover.rs`, `acl_rules`). Passwords are kept
//! as SHA-256 hashes only, and given to nodes as `#<hash>` rules.

use sha2::Digest;

use crate::agent::Agent;
use crate::error::ApiError;
use crate::model::{Cluster, Security, User, UserGroup};
use crate::query::{check_identifier, Params};
use crate::xml::Xml;
use crate::Control;

/// The user every account has, as the managed service creates it.
pub const DEFAULT_USER: &str = "default";

fn user_not_found(id: &str) -> ApiError {
    ApiError::new("UserNotFound", 404, format!("User {id} not found."))
}

fn group_not_found(id: &str) -> ApiError {
    ApiError::new(
        "UserGroupNotFound",
        404,
        format!("User group {id} not found."),
    )
}

fn engine(p: &Params) -> Result<String, ApiError> {
    let e = p.required("Engine")?.to_ascii_lowercase();
    if e != "redis" && e != "valkey" {
        return Err(ApiError::invalid_value(format!(
            "Invalid value for Engine: {e}. Users are for the redis (or valkey) engine."
        )));
    }
    Ok(e)
}

/// The built-in `default` user (on, no password, everything), when the
/// store has none yet.
fn builtin_default(ctl: &Control) -> User {
    User {
        id: DEFAULT_USER.into(),
        name: DEFAULT_USER.into(),
        engine: "redis".into(),
        access_string: "on ~* +@all".into(),
        password_hashes: Vec::new(),
        no_password: true,
        region: ctl.region.clone(),
        account: crate::ACCOUNT.into(),
    }
}

/// Every user, the built-in default included.
pub fn all_users(ctl: &Control) -> Result<Vec<User>, ApiError> {
    let mut users = ctl.store.users()?;
    if !users.iter().any(|u| u.id == DEFAULT_USER) {
        users.insert(0, builtin_default(ctl));
    }
    users.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(users)
}

fn user(ctl: &Control, id: &str) -> Result<User, ApiError> {
    all_users(ctl)?
        .into_iter()
        .find(|u| u.id == id)
        .ok_or_else(|| user_not_found(id))
}

/// Checks an access string: ACL rules, without passwords (they are given
/// apart, as the managed service requires).
fn access_string(text: &str) -> Result<String, ApiError> {
    let rules: Vec<&str> = text.split_whitespace().collect();
    if rules.is_empty() {
        return Err(ApiError::invalid_value("AccessString must not be empty."));
    }
    if rules
        .iter()
        .any(|r| r.starts_with(['>', '<', '#', '!']) || r.eq_ignore_ascii_case("nopass"))
    {
        return Err(ApiError::invalid_value(
            "Access string must not contain passwords; use Passwords or NoPasswordRequired.",
        ));
    }
    Ok(rules.join(" "))
}

/// Passwords (1 or 2, 16 to 128 printable characters, no spaces) or
/// NoPasswordRequired, from `Passwords` / `AuthenticationMode`.
fn authentication(p: &Params) -> Result<Option<(Vec<String>, bool)>, ApiError> {
    let mut passwords: Vec<&str> = p.list("Passwords", "member");
    let mode = p.get("AuthenticationMode.Type");
    passwords.extend(p.list("AuthenticationMode.Passwords", "member"));
    let no_password =
        p.bool("NoPasswordRequired")?.unwrap_or(false) || mode == Some("no-password-required");
    if mode == Some("iam") {
        return Err(ApiError::invalid_combination(
            "IAM authentication is not available on this control plane.",
        ));
    }
    match (passwords.is_empty(), no_password) {
        (true, false) if p.get("NoPasswordRequired").is_none() && mode.is_none() => {
            return Ok(None)
        }
        (true, false) => {
            return Err(ApiError::invalid_combination(
                "Give Passwords or NoPasswordRequired.",
            ))
        }
        (false, true) => {
            return Err(ApiError::invalid_combination(
                "Passwords and NoPasswordRequired cannot both be given.",
            ))
        }
        _ => {}
    }
    if passwords.len() > 2 {
        return Err(ApiError::invalid_value("A user has at most 2 passwords."));
    }
    for pw in &passwords {
        let ok = (16..=128).contains(&pw.len()) && pw.chars().all(|c| c.is_ascii_graphic());
        if !ok {
            return Err(ApiError::invalid_value(
                "Passwords must have 16 to 128 printable characters without spaces.",
            ));
        }
    }
    let hashes = passwords
        .iter()
        .map(|pw| {
            sha2::Sha256::digest(pw.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect();
    Ok(Some((hashes, no_password)))
}

pub fn create_user(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let id = p.required("UserId")?.to_ascii_lowercase();
    check_identifier("UserId", &id, 40)?;
    let name = p.required("UserName")?;
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid_value("UserName must not contain spaces."));
    }
    let engine = engine(p)?;
    let access = access_string(p.required("AccessString")?)?;
    let tags = crate::tags::from_params(p)?;
    let (password_hashes, no_password) = authentication(p)?
        .ok_or_else(|| ApiError::invalid_combination("Give Passwords or NoPasswordRequired."))?;
    let _guard = ctl.lock.lock();
    if all_users(ctl)?.iter().any(|u| u.id == id) {
        return Err(ApiError::new(
            "UserAlreadyExists",
            400,
            format!("User {id} already exists."),
        ));
    }
    let u = User {
        id,
        name: name.into(),
        engine,
        access_string: access,
        password_hashes,
        no_password,
        region: ctl.region.clone(),
        account: crate::ACCOUNT.into(),
    };
    ctl.store.put_user(&u)?;
    ctl.store.put_tags(&u.arn(), &tags)?;
    Ok(Some(user_fields(ctl, &u)?))
}

pub fn modify_user(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let id = p.required("UserId")?.to_ascii_lowercase();
    let _guard = ctl.lock.lock();
    let mut u = user(ctl, &id)?;
    if let Some(a) = p.get("AccessString") {
        u.access_string = access_string(a)?;
    }
    if let Some(a) = p.get("AppendAccessString") {
        u.access_string = format!("{} {}", u.access_string, access_string(a)?);
    }
    if let Some((hashes, no_password)) = authentication(p)? {
        u.password_hashes = hashes;
        u.no_password = no_password;
    }
    ctl.store.put_user(&u)?;
    ctl.wake_reconciler();
    Ok(Some(user_fields(ctl, &u)?))
}

pub fn delete_user(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let id = p.required("UserId")?.to_ascii_lowercase();
    if id == DEFAULT_USER {
        return Err(ApiError::invalid_value(
            "The default user cannot be deleted.",
        ));
    }
    let _guard = ctl.lock.lock();
    let u = user(ctl, &id)?;
    let fields = user_fields(ctl, &u)?;
    // It leaves its groups (and so the nodes of their replication groups).
    for mut g in ctl.store.user_groups()? {
        if g.user_ids.contains(&id) {
            if u.name == DEFAULT_USER {
                return Err(ApiError::new(
                    "DefaultUserAssociatedToUserGroup",
                    400,
                    format!("User {id} is the default user of user group {}.", g.id),
                ));
            }
            g.user_ids.retain(|x| *x != id);
            ctl.store.put_user_group(&g)?;
        }
    }
    ctl.store.remove_user(&id)?;
    ctl.store.put_tags(&u.arn(), &[])?;
    ctl.wake_reconciler();
    Ok(Some(fields))
}

pub fn describe_users(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let users = all_users(ctl)?;
    let engine = p.get("Engine").map(str::to_ascii_lowercase);
    let (page, marker) = p.page(
        p.named(&users, "UserId", |u| &u.id, user_not_found)?
            .into_iter()
            .filter(|u| engine.as_deref().is_none_or(|e| u.engine == e)),
        |u| &u.id,
        (20, 100, 100),
    )?;
    let mut x = Xml::default();
    x.node("Users", |x| {
        for u in &page {
            x.node("member", |x| write_user(x, ctl, u));
        }
    });
    x.opt("Marker", marker);
    Ok(Some(x))
}

pub fn create_user_group(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let id = p.required("UserGroupId")?.to_ascii_lowercase();
    check_identifier("UserGroupId", &id, 40)?;
    let engine = engine(p)?;
    let user_ids: Vec<String> = p
        .list("UserIds", "member")
        .iter()
        .map(|u| u.to_ascii_lowercase())
        .collect();
    let _guard = ctl.lock.lock();
    if ctl.store.user_group(&id)?.is_some() {
        return Err(ApiError::new(
            "UserGroupAlreadyExists",
            400,
            format!("User group {id} already exists."),
        ));
    }
    check_members(ctl, &user_ids)?;
    let tags = crate::tags::from_params(p)?;
    let g = UserGroup {
        id,
        engine,
        user_ids,
        region: ctl.region.clone(),
        account: crate::ACCOUNT.into(),
    };
    ctl.store.put_user_group(&g)?;
    ctl.store.put_tags(&g.arn(), &tags)?;
    Ok(Some(group_fields(ctl, &g)?))
}

/// The users exist, have distinct names, and one is named `default`.
fn check_members(ctl: &Control, user_ids: &[String]) -> Result<(), ApiError> {
    let users = all_users(ctl)?;
    let mut names = Vec::new();
    for id in user_ids {
        let u = users
            .iter()
            .find(|u| u.id == *id)
            .ok_or_else(|| user_not_found(id))?;
        if names.contains(&u.name) {
            return Err(ApiError::new(
                "DuplicateUserName",
                400,
                format!("Two users of the group are named {}.", u.name),
            ));
        }
        names.push(u.name.clone());
    }
    if !names.iter().any(|n| n == DEFAULT_USER) {
        return Err(ApiError::new(
            "DefaultUserRequired",
            400,
            "A user group must contain a user with the user name default.",
        ));
    }
    Ok(())
}

pub fn modify_user_group(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let id = p.required("UserGroupId")?.to_ascii_lowercase();
    let _guard = ctl.lock.lock();
    let mut g = ctl
        .store
        .user_group(&id)?
        .ok_or_else(|| group_not_found(&id))?;
    for add in p.list("UserIdsToAdd", "member") {
        let add = add.to_ascii_lowercase();
        if !g.user_ids.contains(&add) {
            g.user_ids.push(add);
        }
    }
    let remove: Vec<String> = p
        .list("UserIdsToRemove", "member")
        .iter()
        .map(|u| u.to_ascii_lowercase())
        .collect();
    g.user_ids.retain(|u| !remove.contains(u));
    check_members(ctl, &g.user_ids)?;
    ctl.store.put_user_group(&g)?;
    ctl.wake_reconciler();
    Ok(Some(group_fields(ctl, &g)?))
}

pub fn delete_user_group(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let id = p.required("UserGroupId")?.to_ascii_lowercase();
    let _guard = ctl.lock.lock();
    let g = ctl
        .store
        .user_group(&id)?
        .ok_or_else(|| group_not_found(&id))?;
    let attached = attached_to(ctl, &id)?;
    if !attached.is_empty() {
        return Err(ApiError::new(
            "InvalidUserGroupState",
            400,
            format!(
                "User group {id} is attached to replication group(s) {}.",
                attached.join(", ")
            ),
        ));
    }
    let fields = group_fields(ctl, &g)?;
    ctl.store.remove_user_group(&id)?;
    ctl.store.put_tags(&g.arn(), &[])?;
    Ok(Some(fields))
}

pub fn describe_user_groups(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let groups = ctl.store.user_groups()?;
    let (page, marker) = p.page(
        p.named(&groups, "UserGroupId", |g| &g.id, group_not_found)?,
        |g| &g.id,
        (20, 100, 100),
    )?;
    let mut described = Vec::new();
    for g in page {
        described.push((g, attached_to(ctl, &g.id)?));
    }
    let mut x = Xml::default();
    x.node("UserGroups", |x| {
        for (g, attached) in &described {
            x.node("member", |x| write_group(x, g, attached));
        }
    });
    x.opt("Marker", marker);
    Ok(Some(x))
}

/// Replication groups a user group is attached to.
fn attached_to(ctl: &Control, user_group: &str) -> Result<Vec<String>, ApiError> {
    Ok(ctl
        .store
        .groups()?
        .into_iter()
        .filter(|g| g.user_group.as_deref() == Some(user_group))
        .map(|g| g.id)
        .collect())
}

/// A user group that can be attached: it exists and its users are
/// complete (the `default` user is there).
pub fn attachable(ctl: &Control, id: &str) -> Result<(), ApiError> {
    let g = ctl
        .store
        .user_group(id)?
        .ok_or_else(|| group_not_found(id))?;
    check_members(ctl, &g.user_ids)
}

/// The ACL users of a Redis node: its replication group's, else its own
/// cluster's (see `acl_rules`).
pub fn node_acl(ctl: &Control, c: &Cluster) -> Vec<(String, Vec<String>)> {
    match c
        .replication_group
        .as_deref()
        .and_then(|g| ctl.store.group(g).ok().flatten())
    {
        Some(g) => acl_rules(ctl, g.user_group.as_deref(), &g.security),
        None => acl_rules(ctl, None, &c.security),
    }
}

/// The ACL SETUSER rules of a user group's users, by user name; without a
/// user group, the `default` user alone, with the AUTH tokens or open.
pub fn acl_rules(
    ctl: &Control,
    user_group: Option<&str>,
    security: &Security,
) -> Vec<(String, Vec<String>)> {
    let Some(id) = user_group else {
        return vec![(
            DEFAULT_USER.into(),
            crate::security::default_user_rules(security),
        )];
    };
    let users = all_users(ctl).unwrap_or_default();
    let Ok(Some(g)) = ctl.store.user_group(id) else {
        return Vec::new();
    };
    g.user_ids
        .iter()
        .filter_map(|uid| users.iter().find(|u| u.id == *uid))
        .map(|u| {
            let mut rules = vec!["reset".to_string()];
            rules.extend(u.access_string.split_whitespace().map(String::from));
            if u.no_password {
                rules.push("nopass".into());
            }
            rules.extend(u.password_hashes.iter().map(|h| format!("#{h}")));
            (u.name.clone(), rules)
        })
        .collect()
}

fn groups_of(ctl: &Control, user: &str) -> Result<Vec<String>, ApiError> {
    Ok(ctl
        .store
        .user_groups()?
        .into_iter()
        .filter(|g| g.user_ids.iter().any(|u| u == user))
        .map(|g| g.id)
        .collect())
}

/// CreateUser / ModifyUser / DeleteUser answer with the user's fields.
fn user_fields(ctl: &Control, u: &User) -> Result<Xml, ApiError> {
    let mut x = Xml::default();
    write_user(&mut x, ctl, u);
    Ok(x)
}

fn write_user(x: &mut Xml, ctl: &Control, u: &User) {
    let groups = groups_of(ctl, &u.id).unwrap_or_default();
    x.field("UserId", &u.id);
    x.field("UserName", &u.name);
    x.field("Status", "active");
    x.field("Engine", &u.engine);
    x.field("MinimumEngineVersion", "6.0");
    x.field("AccessString", &u.access_string);
    x.node("UserGroupIds", |x| {
        for g in &groups {
            x.field("member", g);
        }
    });
    x.node("Authentication", |x| {
        x.field(
            "Type",
            if u.no_password {
                "no-password"
            } else {
                "password"
            },
        );
        x.field("PasswordCount", u.password_hashes.len());
    });
    x.field("ARN", u.arn());
}

fn group_fields(ctl: &Control, g: &UserGroup) -> Result<Xml, ApiError> {
    let attached = attached_to(ctl, &g.id)?;
    let mut x = Xml::default();
    write_group(&mut x, g, &attached);
    Ok(x)
}

fn write_group(x: &mut Xml, g: &UserGroup, attached: &[String]) {
    x.field("UserGroupId", &g.id);
    x.field("Status", "active");
    x.field("Engine", &g.engine);
    x.node("UserIds", |x| {
        for u in &g.user_ids {
            x.field("member", u);
        }
    });
    x.field("MinimumEngineVersion", "6.0");
    x.node("ReplicationGroups", |x| {
        for r in attached {
            x.field("member", r);
        }
    });
    x.field("ARN", g.arn());
}

pub(crate) fn acl_digest(acl: &[(String, Vec<String>)]) -> String {
    use sha2::Digest;
    let text: String = acl
        .iter()
        .map(|(name, rules)| format!("{name} {}\n", rules.join(" ")))
        .collect();
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Sets the node's ACL users to `acl` (others deleted, the control plane's
/// own user kept). Returns whether the node took all of it.
pub(crate) fn apply_acl(agent: &Agent, port: u16, acl: &[(String, Vec<String>)]) -> bool {
    for (name, rules) in acl {
        let mut args = vec!["ACL", "SETUSER", name.as_str()];
        args.extend(rules.iter().map(String::as_str));
        match agent.redis(port, &args) {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::warn!("control: ACL SETUSER {name} on port {port}: {e}");
                return false;
            }
            None => return false,
        }
    }
    let Some(Ok(users)) = agent.redis(port, &["ACL", "USERS"]) else {
        return false;
    };
    for user in users.lines() {
        let kept = user == crate::agent::ADMIN_USER
            || user == DEFAULT_USER
            || acl.iter().any(|(name, _)| name == user);
        if !kept && agent.redis(port, &["ACL", "DELUSER", user]).is_none() {
            return false;
        }
    }
    true
}
