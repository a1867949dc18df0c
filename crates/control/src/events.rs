//! DescribeEvents: what happened to which resource, filtered by source and
//! time window, oldest first.

use crate::error::ApiError;
use crate::model::Event;
use crate::query::Params;
use crate::xml::{parse_timestamp, timestamp, Xml};
use crate::{now_ms, Control};

const SOURCE_TYPES: &[&str] = &[
    "cache-cluster",
    "cache-parameter-group",
    "cache-security-group",
    "cache-subnet-group",
    "replication-group",
    "serverless-cache",
    "serverless-cache-snapshot",
    "user",
    "user-group",
];

fn time(p: &Params, name: &str) -> Result<Option<u64>, ApiError> {
    p.get(name)
        .map(|t| {
            parse_timestamp(t).ok_or_else(|| {
                ApiError::invalid_value(format!(
                    "Invalid value for {name}: {t} is not a timestamp."
                ))
            })
        })
        .transpose()
}

pub fn describe(ctl: &Control, p: &Params) -> Result<Option<Xml>, ApiError> {
    let source_type = p.get("SourceType");
    if let Some(t) = source_type.filter(|t| !SOURCE_TYPES.contains(t)) {
        return Err(ApiError::invalid_value(format!(
            "Invalid value for SourceType: {t}."
        )));
    }
    let source_id = p.get("SourceIdentifier").map(str::to_ascii_lowercase);
    let max = p.int("MaxRecords")?.unwrap_or(100);
    if !(20..=100).contains(&max) {
        return Err(ApiError::invalid_value(
            "Invalid value for MaxRecords: it must be between 20 and 100.",
        ));
    }
    let now = now_ms();
    let end = time(p, "EndTime")?.unwrap_or(now);
    let start = match (time(p, "StartTime")?, p.int("Duration")?) {
        (Some(s), _) => s,
        (None, Some(minutes)) if minutes >= 0 => end.saturating_sub(minutes as u64 * 60_000),
        (None, Some(_)) => return Err(ApiError::invalid_value("Duration must not be negative.")),
        (None, None) => end.saturating_sub(60 * 60_000),
    };
    let skip = match p.get("Marker") {
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| ApiError::invalid_value(format!("Invalid value for Marker: {m}.")))?,
        None => 0,
    };
    let matching: Vec<Event> = ctl
        .store
        .events()?
        .into_iter()
        .filter(|e| e.date_ms >= start && e.date_ms <= end)
        .filter(|e| source_type.is_none_or(|t| e.source_type == t))
        .filter(|e| source_id.as_deref().is_none_or(|id| e.source_id == id))
        .collect();
    let page: Vec<&Event> = matching.iter().skip(skip).take(max as usize).collect();
    let mut x = Xml::default();
    if skip + page.len() < matching.len() {
        x.field("Marker", skip + page.len());
    }
    x.node("Events", |x| {
        for e in page {
            x.node("Event", |x| {
                x.field("SourceIdentifier", &e.source_id);
                x.field("SourceType", &e.source_type);
                x.field("Message", &e.message);
                x.field("Date", timestamp(e.date_ms));
            });
        }
    });
    Ok(Some(x))
}
