//! AWS Query protocol requests: the form parameters of the body and the URL
//! query, the action, and the flattened lists botocore sends
//! (`CacheNodeIdsToRemove.CacheNodeId.1`, `Tags.Tag.1.Key`).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::error::ApiError;

/// One API request's parameters.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
    /// The names the operation looked at, so tests can find parameters an
    /// operation never reads (a list item name that differs from the model's).
    consulted: RefCell<BTreeSet<String>>,
}

impl Params {
    /// The URL query's parameters, then the form body's (a body value wins).
    pub fn parse(query: Option<&str>, body: &[u8]) -> Params {
        let mut values = BTreeMap::new();
        let query = query.unwrap_or("").as_bytes();
        for (k, v) in form_urlencoded::parse(query).chain(form_urlencoded::parse(body)) {
            values.insert(k.into_owned(), v.into_owned());
        }
        Params {
            values,
            consulted: RefCell::default(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.consulted.borrow_mut().insert(name.to_string());
        self.values.get(name).map(String::as_str)
    }

    /// The parameters sent that the operation never looked at.
    pub fn unread(&self) -> Vec<&str> {
        let consulted = self.consulted.borrow();
        self.values
            .keys()
            .filter(|k| !consulted.contains(*k))
            .map(String::as_str)
            .collect()
    }

    /// A parameter the operation cannot do without.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::missing(name))
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ApiError::invalid_value(format!(
                        "Invalid value for {name}: {v} is not an integer."
                    ))
                })
            })
            .transpose()
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::invalid_value(format!(
                    "Invalid value for {name}: {v} is not a boolean."
                ))),
            })
            .transpose()
    }

    /// An identifier (`CacheClusterId`, `SnapshotName`...), checked by
    /// [`check_identifier`], lowercase as the managed service stores them.
    pub fn identifier(&self, name: &str, max_len: usize) -> Result<String, ApiError> {
        let id = self.required(name)?;
        check_identifier(name, id, max_len)?;
        Ok(id.to_ascii_lowercase())
    }

    /// What a Describe call lists: the item its `param` names (compared
    /// lowercase; `not_found` when there is none), or every item.
    pub fn named<'a, T>(
        &self,
        items: &'a [T],
        param: &str,
        key: impl Fn(&T) -> &str,
        not_found: impl Fn(&str) -> ApiError,
    ) -> Result<Vec<&'a T>, ApiError> {
        match self.get(param).map(str::to_ascii_lowercase) {
            None => Ok(items.iter().collect()),
            Some(name) => match items.iter().find(|t| key(t) == name) {
                Some(t) => Ok(vec![t]),
                None => Err(not_found(&name)),
            },
        }
    }

    /// One page of `items` (sorted by `key`) after `Marker`, at most
    /// `MaxRecords` (in `limits`: min, max, default), and the marker of the
    /// next page.
    pub fn page<'a, T>(
        &self,
        items: impl IntoIterator<Item = &'a T>,
        key: impl Fn(&T) -> &str,
        limits: (i64, i64, i64),
    ) -> Result<(Vec<&'a T>, Option<String>), ApiError> {
        let (min, max, default) = limits;
        let n = self.int("MaxRecords")?.unwrap_or(default);
        if !(min..=max).contains(&n) {
            return Err(ApiError::invalid_value(format!(
                "Invalid value for MaxRecords: it must be between {min} and {max}."
            )));
        }
        let marker = self.get("Marker").unwrap_or("");
        let mut page: Vec<&T> = items
            .into_iter()
            .filter(|t| key(t) > marker)
            .take(n as usize + 1)
            .collect();
        let next = (page.len() > n as usize).then(|| {
            page.truncate(n as usize);
            page.last().map_or(String::new(), |t| key(t).to_string())
        });
        Ok((page, next))
    }

    /// `SnapshotWindow` (`hh:mm-hh:mm`, UTC), checked.
    pub fn snapshot_window(&self) -> Result<Option<String>, ApiError> {
        match self.get("SnapshotWindow") {
            Some(w) if !crate::snapshots::valid_window(w) => Err(ApiError::invalid_value(format!(
                "Invalid value for SnapshotWindow: {w}. It looks like 05:00-06:00 (UTC)."
            ))),
            w => Ok(w.map(str::to_string)),
        }
    }

    /// A flattened list: `Name.Item.1`, `Name.Item.2`, ... (botocore's
    /// query serializer numbers from 1, without gaps).
    pub fn list(&self, name: &str, item: &str) -> Vec<&str> {
        (1..)
            .map_while(|i| self.get(&format!("{name}.{item}.{i}")))
            .collect()
    }

    /// A flattened list of structures: `Tags.Tag.1.Key`, `Tags.Tag.1.Value`.
    pub fn structs(&self, name: &str, item: &str) -> Vec<BTreeMap<String, String>> {
        let mut out = Vec::new();
        for i in 1.. {
            let prefix = format!("{name}.{item}.{i}.");
            let fields: BTreeMap<String, String> = self
                .values
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .inspect(|(k, _)| {
                    self.consulted.borrow_mut().insert(k.to_string());
                })
                .map(|(k, v)| (k[prefix.len()..].to_string(), v.clone()))
                .collect();
            if fields.is_empty() {
                break;
            }
            out.push(fields);
        }
        out
    }
}

/// Identifiers: 1 to `max_len` letters, digits or hyphens, starting with
/// a letter, without a trailing or a double hyphen.
pub fn check_identifier(what: &str, id: &str, max_len: usize) -> Result<(), ApiError> {
    let valid = (1..=max_len).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.ends_with('-')
        && !id.contains("--");
    if valid {
        return Ok(());
    }
    Err(ApiError::invalid_value(format!(
        "Invalid value for {what}: {id}. It must contain from 1 to {max_len} alphanumeric \
         characters or hyphens; the first character must be a letter; it cannot end with a \
         hyphen or contain two consecutive hyphens."
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_query_lists_and_structures() {
        let p = Params::parse(
            Some("Action=DescribeCacheClusters&Version=2015-02-02"),
            b"CacheClusterId=demo&ShowCacheNodeInfo=true&CacheNodeIdsToRemove.CacheNodeId.1=0002\
              &CacheNodeIdsToRemove.CacheNodeId.2=0003&Tags.Tag.1.Key=env&Tags.Tag.1.Value=a%20b\
              &Tags.Tag.2.Key=team&MaxRecords=20",
        );
        assert_eq!(p.get("Action"), Some("DescribeCacheClusters"));
        assert_eq!(p.required("CacheClusterId").unwrap(), "demo");
        assert_eq!(p.bool("ShowCacheNodeInfo").unwrap(), Some(true));
        assert_eq!(p.int("MaxRecords").unwrap(), Some(20));
        assert_eq!(
            p.list("CacheNodeIdsToRemove", "CacheNodeId"),
            ["0002", "0003"]
        );
        let tags = p.structs("Tags", "Tag");
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0]["Value"], "a b");
        assert_eq!(tags[1].get("Value"), None);
        assert_eq!(p.required("Engine").unwrap_err().code, "MissingParameter");
        for bad_id in ["1abc", "a--b", "abc-", ""] {
            assert!(check_identifier("Id", bad_id, 40).is_err(), "{bad_id}");
        }
        assert!(check_identifier("Id", &"a".repeat(41), 40).is_err());
        assert!(check_identifier("Id", "Orders-2", 40).is_ok());
        let items = ["a", "b", "c"];
        let p = Params::parse(None, b"MaxRecords=2");
        let (page, next) = p.page(&items, |s| s, (1, 100, 100)).unwrap();
        assert_eq!((page, next.as_deref()), (vec![&"a", &"b"], Some("b")));
        let p = Params::parse(None, b"MaxRecords=2&Marker=b");
        assert_eq!(
            p.page(&items, |s| s, (1, 100, 100)).unwrap(),
            (vec![&"c"], None)
        );
        let bad = Params::parse(None, b"MaxRecords=x&ShowCacheNodeInfo=yes");
        assert_eq!(
            bad.int("MaxRecords").unwrap_err().code,
            "InvalidParameterValue"
        );
        assert_eq!(
            bad.bool("ShowCacheNodeInfo").unwrap_err().code,
            "InvalidParameterValue"
        );
    }
}
