//! XML answers in the Query protocol's shape:
//! `<OpResponse xmlns=...><OpResult>...</OpResult><ResponseMetadata>...`,
//! and `<ErrorResponse>` for errors. Element names follow botocore's model.

use std::fmt::Display;

use quick_xml::escape::escape;

use crate::error::ApiError;

pub const NAMESPACE: &str = "http://elasticache.amazonaws.com/doc/2015-02-02/";

/// An XML document being written.
#[derive(Default)]
pub struct Xml {
    out: String,
}

impl Xml {
    pub fn open(&mut self, tag: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
    }

    pub fn close(&mut self, tag: &str) {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    /// `<tag>value</tag>`, the value escaped.
    pub fn field(&mut self, tag: &str, value: impl Display) {
        self.open(tag);
        self.out.push_str(&escape(value.to_string()));
        self.close(tag);
    }

    /// A field written only when there is a value.
    pub fn opt(&mut self, tag: &str, value: Option<impl Display>) {
        if let Some(v) = value {
            self.field(tag, v);
        }
    }

    /// `<tag>...</tag>` around what `inner` writes.
    pub fn node(&mut self, tag: &str, inner: impl FnOnce(&mut Xml)) {
        self.open(tag);
        inner(self);
        self.close(tag);
    }

    pub fn empty(&mut self, tag: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push_str("/>");
    }
}

/// A successful answer to `action` with its result's elements (None: an
/// operation without output).
pub fn response(action: &str, request_id: &str, result: Option<Xml>) -> String {
    let mut x = Xml::default();
    x.out.push_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{NAMESPACE}\">"
    ));
    if let Some(result) = result {
        x.node(&format!("{action}Result"), |x| x.out.push_str(&result.out));
    }
    x.node("ResponseMetadata", |x| x.field("RequestId", request_id));
    x.close(&format!("{action}Response"));
    x.out
}

/// An error answer.
pub fn error_response(e: &ApiError, request_id: &str) -> String {
    let mut x = Xml::default();
    x.out.push_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{NAMESPACE}\">"
    ));
    x.node("Error", |x| {
        x.field("Type", e.fault_type());
        x.field("Code", e.code);
        x.field("Message", &e.message);
    });
    x.field("RequestId", request_id);
    x.close("ErrorResponse");
    x.out
}

/// A timestamp as the API writes them (ISO 8601, UTC, milliseconds).
pub fn timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Parses the API's timestamps (`2026-11-28T04:55:00Z`, fractions and
/// `+00:00` allowed) into milliseconds since the epoch.
pub fn parse_timestamp(text: &str) -> Option<u64> {
    let t = text.trim();
    let t = t
        .strip_suffix('Z')
        .or_else(|| t.strip_suffix("+00:00"))
        .unwrap_or(t);
    let (date, time) = t.split_once('T').unwrap_or((t, "00:00:00"));
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut h = hms.splitn(3, ':').map(|p| p.parse::<u64>().ok());
    let (hh, mm, ss) = (
        h.next()??,
        h.next().unwrap_or(Some(0))?,
        h.next().unwrap_or(Some(0))?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let frac_ms = format!("{:0<3}", &frac[..frac.len().min(3)])
        .parse::<u64>()
        .ok()?;
    // Days from civil (the inverse of civil_from_days).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days).ok()? * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(secs * 1000 + frac_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_escape_and_nest() {
        let mut x = Xml::default();
        x.node("CacheClusters", |x| {
            x.node("CacheCluster", |x| x.field("CacheClusterId", "a<b&c"));
        });
        x.opt("Marker", None::<&str>);
        let doc = response("DescribeCacheClusters", "req-1", Some(x));
        assert!(doc.ends_with(
            "<DescribeCacheClustersResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">\
             <DescribeCacheClustersResult><CacheClusters><CacheCluster><CacheClusterId>a&lt;b&amp;c\
             </CacheClusterId></CacheCluster></CacheClusters></DescribeCacheClustersResult>\
             <ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>\
             </DescribeCacheClustersResponse>"
        ));
        let err = error_response(&ApiError::cluster_not_found("x"), "req-2");
        assert!(err.contains(
            "<Error><Type>Sender</Type><Code>CacheClusterNotFound</Code>\
             <Message>CacheCluster not found: x</Message></Error><RequestId>req-2</RequestId>"
        ));
    }

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_795_841_700_123), "2026-11-28T04:55:00.123Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
        for ms in [0, 951_782_400_000, 1_795_841_700_123, 4_102_444_800_999] {
            assert_eq!(parse_timestamp(&timestamp(ms)), Some(ms));
        }
        assert_eq!(
            parse_timestamp("2026-11-28T04:55:00Z"),
            Some(1_795_841_700_000)
        );
        assert_eq!(parse_timestamp("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
