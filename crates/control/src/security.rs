//! Encryption in transit (`TransitEncryptionEnabled`: nodes serve TLS
//! only, with the control plane's certificate authority) and AUTH tokens
//! (`AuthToken`: the `default` user's password, for Redis clusters and
//! groups without RBAC), as the managed service takes them on create and
//! changes them with `AuthTokenUpdateStrategy` on modify.

use crate::error::ApiError;
use crate::model::{Engine, Security};
use crate::query::Params;
use crate::xml::{timestamp, Xml};

/// The managed service's rule for tokens: 16 to 128 printable characters,
/// the only non-alphanumeric ones being `!&#$^<>-`.
fn check_token(token: &str) -> Result<(), ApiError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "!&#$^<>-".contains(c);
    if !(16..=128).contains(&token.len()) || !token.chars().all(allowed) {
        return Err(ApiError::invalid_value(
            "Invalid AuthToken: it must be 16 to 128 printable characters; the only \
             non-alphanumeric characters allowed are !, &, #, $, ^, <, > and -.",
        ));
    }
    Ok(())
}

fn hash(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn no_auth_without_tls() -> ApiError {
    ApiError::invalid_combination(
        "AuthToken requires TransitEncryptionEnabled: AUTH is only available with \
         encryption in transit.",
    )
}

fn no_auth_with_rbac() -> ApiError {
    ApiError::invalid_combination(
        "AuthToken and user groups (RBAC) cannot be used together: the user group's \
         users replace the AUTH token.",
    )
}

/// Encryption and AUTH of a new cluster or group.
pub fn from_create(
    p: &Params,
    engine: Engine,
    rbac: bool,
    now_ms: u64,
) -> Result<Security, ApiError> {
    if p.bool("AtRestEncryptionEnabled")? == Some(true) {
        return Err(ApiError::invalid_combination(
            "AtRestEncryptionEnabled is not supported by this control plane: node data \
             directories are not encrypted.",
        ));
    }
    let tls = p.bool("TransitEncryptionEnabled")?.unwrap_or(false);
    check_mode(p, tls)?;
    let mut security = Security {
        tls,
        ..Security::default()
    };
    if let Some(token) = p.get("AuthToken") {
        if engine == Engine::Memcached {
            return Err(ApiError::invalid_combination(
                "AuthToken is for the redis engine.",
            ));
        }
        if !tls {
            return Err(no_auth_without_tls());
        }
        if rbac {
            return Err(no_auth_with_rbac());
        }
        check_token(token)?;
        security.auth_token_hashes = vec![hash(token)];
        security.auth_token_modified_ms = Some(now_ms);
    }
    Ok(security)
}

/// `TransitEncryptionMode`: `required` (TLS only) is what nodes do;
/// `preferred` (TLS and plain text on one port) is not.
fn check_mode(p: &Params, tls: bool) -> Result<(), ApiError> {
    match p.get("TransitEncryptionMode") {
        None => Ok(()),
        Some(_) if !tls => Err(ApiError::invalid_combination(
            "TransitEncryptionMode requires TransitEncryptionEnabled.",
        )),
        Some(m) if m.eq_ignore_ascii_case("required") => Ok(()),
        Some(m) => Err(ApiError::invalid_value(format!(
            "Invalid value for TransitEncryptionMode: {m}. Nodes serve TLS only: use required."
        ))),
    }
}

/// ModifyCacheCluster / ModifyReplicationGroup: `AuthToken` with
/// `AuthTokenUpdateStrategy` ROTATE (the default: old and new tokens both
/// accepted), SET (after a ROTATE: only the new one) or DELETE (when a user
/// group takes over). `rbac`: a user group is attached after this request.
/// Returns whether anything changed.
pub fn modify(
    p: &Params,
    security: &mut Security,
    rbac: bool,
    now_ms: u64,
) -> Result<bool, ApiError> {
    let tls = p.bool("TransitEncryptionEnabled")?;
    if tls.is_some_and(|t| t != security.tls) {
        return Err(ApiError::invalid_combination(
            "Changing encryption in transit of an existing cluster is not supported by this \
             control plane: create a new one from a snapshot instead.",
        ));
    }
    check_mode(p, security.tls)?;
    let strategy = p
        .get("AuthTokenUpdateStrategy")
        .map(str::to_ascii_uppercase);
    let token = p.get("AuthToken");
    let hashes = match (strategy.as_deref(), token) {
        (None, None) => {
            // A user group replaces the token.
            if rbac && !security.auth_token_hashes.is_empty() {
                security.auth_token_hashes.clear();
                security.auth_token_modified_ms = Some(now_ms);
                return Ok(true);
            }
            return Ok(false);
        }
        (Some("DELETE"), None) if rbac => Vec::new(),
        (Some("DELETE"), _) => {
            return Err(ApiError::invalid_combination(
                "AuthTokenUpdateStrategy DELETE is allowed only when moving to RBAC: give \
                 UserGroupIdsToAdd and no AuthToken.",
            ))
        }
        (Some(_), None) => {
            return Err(ApiError::invalid_combination(
                "AuthTokenUpdateStrategy ROTATE or SET must be given with an AuthToken.",
            ))
        }
        (s, Some(token)) => {
            if !security.tls {
                return Err(no_auth_without_tls());
            }
            if rbac {
                return Err(no_auth_with_rbac());
            }
            check_token(token)?;
            let new = hash(token);
            match s.unwrap_or("ROTATE") {
                "ROTATE" => {
                    // The token in use stays valid beside the new one.
                    let mut kept: Vec<String> = security
                        .auth_token_hashes
                        .last()
                        .cloned()
                        .into_iter()
                        .collect();
                    kept.retain(|h| *h != new);
                    kept.push(new);
                    kept
                }
                "SET" if security.auth_token_hashes.len() > 1 => vec![new],
                "SET" => {
                    return Err(ApiError::invalid_combination(
                        "AuthTokenUpdateStrategy SET is allowed only after a ROTATE.",
                    ))
                }
                other => {
                    return Err(ApiError::invalid_value(format!(
                        "Invalid value for AuthTokenUpdateStrategy: {other}. Valid values are \
                         SET, ROTATE and DELETE."
                    )))
                }
            }
        }
    };
    security.auth_token_hashes = hashes;
    security.auth_token_modified_ms = Some(now_ms);
    Ok(true)
}

/// The `default` user of a node without RBAC: its tokens' hashes, or open.
pub fn default_user_rules(security: &Security) -> Vec<String> {
    let mut rules: Vec<String> = ["reset", "on", "~*", "&*", "+@all"]
        .map(String::from)
        .to_vec();
    if security.auth_token_hashes.is_empty() {
        rules.push("nopass".into());
    }
    rules.extend(security.auth_token_hashes.iter().map(|h| format!("#{h}")));
    rules
}

/// The describe fields.
pub fn write(x: &mut Xml, security: &Security) {
    x.field("AuthTokenEnabled", !security.auth_token_hashes.is_empty());
    if let Some(ms) = security.auth_token_modified_ms {
        x.field("AuthTokenLastModifiedDate", timestamp(ms));
    }
    x.field("TransitEncryptionEnabled", security.tls);
    if security.tls {
        x.field("TransitEncryptionMode", "required");
    }
    x.field("AtRestEncryptionEnabled", false);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let body: String = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        Params::parse(None, body.as_bytes())
    }

    const TOKEN: &str = "This-is-a-sample-token";
    const OTHER: &str = "Another-sample-token-2";

    #[test]
    fn create_rules() {
        let ok = from_create(
            &params(&[("TransitEncryptionEnabled", "true"), ("AuthToken", TOKEN)]),
            Engine::Redis,
            false,
            1,
        )
        .expect("valid");
        assert!(ok.tls);
        assert_eq!(ok.auth_token_hashes, vec![hash(TOKEN)]);
        let err = |pairs: &[(&str, &str)], engine, rbac| {
            from_create(&params(pairs), engine, rbac, 1)
                .expect_err("refused")
                .code
        };
        assert_eq!(
            err(&[("AuthToken", TOKEN)], Engine::Redis, false),
            "InvalidParameterCombination"
        );
        let short = [("TransitEncryptionEnabled", "true"), ("AuthToken", "short")];
        assert_eq!(err(&short, Engine::Redis, false), "InvalidParameterValue");
        let spaced = [
            ("TransitEncryptionEnabled", "true"),
            ("AuthToken", "has+a+space+in+it+0123"),
        ];
        assert_eq!(err(&spaced, Engine::Redis, false), "InvalidParameterValue");
        let both = [("TransitEncryptionEnabled", "true"), ("AuthToken", TOKEN)];
        assert_eq!(
            err(&both, Engine::Redis, true),
            "InvalidParameterCombination"
        );
        let mc = [("TransitEncryptionEnabled", "true"), ("AuthToken", TOKEN)];
        assert_eq!(
            err(&mc, Engine::Memcached, false),
            "InvalidParameterCombination"
        );
        let preferred = [
            ("TransitEncryptionEnabled", "true"),
            ("TransitEncryptionMode", "preferred"),
        ];
        assert_eq!(
            err(&preferred, Engine::Redis, false),
            "InvalidParameterValue"
        );
    }

    #[test]
    fn rotate_then_set_then_delete() {
        let mut s = Security {
            tls: true,
            auth_token_hashes: vec![hash(TOKEN)],
            auth_token_modified_ms: Some(1),
        };
        let set = [("AuthToken", OTHER), ("AuthTokenUpdateStrategy", "SET")];
        assert!(
            modify(&params(&set), &mut s, false, 2).is_err(),
            "SET needs a ROTATE first"
        );
        assert!(modify(&params(&[("AuthToken", OTHER)]), &mut s, false, 2).expect("rotate"));
        assert_eq!(s.auth_token_hashes, vec![hash(TOKEN), hash(OTHER)]);
        assert!(modify(&params(&set), &mut s, false, 3).expect("set"));
        assert_eq!(s.auth_token_hashes, vec![hash(OTHER)]);
        assert_eq!(s.auth_token_modified_ms, Some(3));
        let delete = [("AuthTokenUpdateStrategy", "DELETE")];
        assert!(
            modify(&params(&delete), &mut s, false, 4).is_err(),
            "only towards RBAC"
        );
        assert!(modify(&params(&delete), &mut s, true, 4).expect("delete"));
        assert!(s.auth_token_hashes.is_empty());
        assert!(default_user_rules(&s).contains(&"nopass".to_string()));
        let plain = &mut Security::default();
        assert!(modify(&params(&[("AuthToken", TOKEN)]), plain, false, 5).is_err());
        let switch = [("TransitEncryptionEnabled", "true")];
        assert!(modify(&params(&switch), plain, false, 5).is_err());
        assert!(!modify(&params(&[]), plain, false, 5).expect("nothing"));
    }
}
