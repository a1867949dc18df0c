//! Geo commands: GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH,
//! GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their `_RO` variants.
//!
//! A geo set is a plain sorted set ([`types::ZSet`]) whose scores are 52-bit
//! geohashes ([`types::geohash`]). This module follows Redis's `geo.c`:
//! GEOADD is ZADD with computed scores (and emits ZADD's `zadd` event);
//! searches scan the score ranges of the nine cells around the centre in
//! Redis's order, keep the points whose decoded position lies inside the
//! circle or box, and sort by distance only when asked to (or when COUNT
//! needs the nearest ones), so even unsorted replies come in Redis's order.
//! Arguments are checked in Redis's order with its error texts; distances
//! are printed with `%.4f` and coordinates as `%.17Lf` without trailing
//! zeros (RESP3: doubles), as Redis prints them.

use keyspace::Value;
use resp::ReplyWriter;
use types::geohash::{self, Shape, ShapeKind};
use types::zset_value::{AddFlags, AddOutcome, ScoreRange};
use types::ZSet;

use crate::args::{eq, int};
use crate::collections::{self, remove_if_empty};
use crate::error::{CmdError, CmdResult, NOT_FLOAT, SYNTAX};
use crate::notify;
// Coordinates and radii read like getDoubleFromObject: a score's rules.
use crate::zset::parse_score as parse_double;
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("geoadd", geoadd),
    ("geodist", geodist),
    ("geohash", geohash_cmd),
    ("geopos", geopos),
    ("georadius", georadius),
    ("georadius_ro", georadius_ro),
    ("georadiusbymember", georadiusbymember),
    ("georadiusbymember_ro", georadiusbymember_ro),
    ("geosearch", geosearch),
    ("geosearchstore", geosearchstore),
];

const NO_MEMBER: &str = "ERR could not decode requested zset member";

// ---------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------

/// A float argument, or Redis's error: `msg` when given, else "not a valid float".
fn double_arg(s: &[u8], msg: Option<&'static str>) -> Result<f64, CmdError> {
    parse_double(s).ok_or_else(|| msg.map_or(NOT_FLOAT, CmdError::new))
}

/// A longitude/latitude pair (Redis's `extractLongLatOrReply`).
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let x = double_arg(lon, None)?;
    let y = double_arg(lat, None)?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&x)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&y)
    {
        return Err(CmdError::new(format!(
            "ERR invalid longitude,latitude pair {x:.6},{y:.6}"
        )));
    }
    Ok((x, y))
}

/// Metres per unit (Redis's `extractUnitOrReply`).
fn unit(s: &[u8]) -> Result<f64, CmdError> {
    if eq(s, "m") {
        Ok(1.0)
    } else if eq(s, "km") {
        Ok(1000.0)
    } else if eq(s, "ft") {
        Ok(0.3048)
    } else if eq(s, "mi") {
        Ok(1609.34)
    } else {
        Err(CmdError::new(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// `<radius> <unit>`: the radius (in the unit) and metres per unit.
fn radius_arg(r: &[u8], u: &[u8]) -> Result<(f64, f64), CmdError> {
    let radius = double_arg(r, Some("ERR need numeric radius"))?;
    if radius < 0.0 {
        return Err(CmdError::new("ERR radius cannot be negative"));
    }
    Ok((radius, unit(u)?))
}

/// `<width> <height> <unit>`: the box (in the unit) and metres per unit.
fn box_arg(w: &[u8], h: &[u8], u: &[u8]) -> Result<(f64, f64, f64), CmdError> {
    let width = double_arg(w, Some("ERR need numeric width"))?;
    let height = double_arg(h, Some("ERR need numeric height"))?;
    if height < 0.0 || width < 0.0 {
        return Err(CmdError::new("ERR height or width cannot be negative"));
    }
    Ok((width, height, unit(u)?))
}

/// The position stored for `member`, if any.
fn member_pos(z: &ZSet, member: &[u8]) -> Option<(f64, f64)> {
    z.score(member).and_then(geohash::decode_score)
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/// A distance as Redis's `addReplyDoubleDistance` prints it (`%.4f`).
fn reply_distance(out: &mut ReplyWriter, d: f64) {
    out.bulk_str(&format!("{d:.4}"));
}

/// A coordinate as Redis's `addReplyHumanLongDouble` prints it: `%.17Lf`
/// of the (exactly widened) double without trailing zeros, "-0" as "0";
/// a bulk string in RESP2, a double in RESP3.
fn reply_coordinate(out: &mut ReplyWriter, v: f64) {
    let text = human_coordinate(v);
    if out.is_resp3() {
        out.out.push(b',');
        out.out.extend_from_slice(text.as_bytes());
        out.out.extend_from_slice(b"\r\n");
    } else {
        out.bulk_str(&text);
    }
}

fn human_coordinate(v: f64) -> String {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

// ---------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS
// ---------------------------------------------------------------------------

/// GEOADD key [NX|XX] [CH] lon lat member [lon lat member ...]: ZADD with
/// the members' geohashes as scores.
fn geoadd(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let key = a[1];
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut idx = 2;
    while idx < a.len() {
        if eq(a[idx], "nx") {
            nx = true;
        } else if eq(a[idx], "xx") {
            xx = true;
        } else if eq(a[idx], "ch") {
            ch = true;
        } else {
            break;
        }
        idx += 1;
    }
    let rest = &a[idx..];
    // An empty list passes here and fails in ZADD with the same error.
    if !rest.len().is_multiple_of(3) || (xx && nx) || rest.is_empty() {
        return Err(SYNTAX);
    }
    let scores = rest
        .chunks(3)
        .map(|t| {
            let (lon, lat) = lon_lat(t[0], t[1])?;
            // In range, so encoding cannot fail.
            Ok(geohash::score_of(lon, lat).unwrap_or(0) as f64)
        })
        .collect::<Result<Vec<f64>, CmdError>>()?;
    let limits = ctx.server.config.hot.limits();
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let exists = collections::write(&mut l, db, key, collections::zset)?.is_some();
    let (mut added, mut updated) = (0i64, 0i64);
    if exists || !xx {
        let z = collections::write_or_create(&mut l, db, key, collections::zset, || {
            Value::ZSet(Default::default())
        })?;
        let flags = AddFlags {
            nx,
            xx,
            ..AddFlags::default()
        };
        for (t, &score) in rest.chunks(3).zip(&scores) {
            match z.add(t[2], score, flags, &limits) {
                Ok(AddOutcome::Added(_)) => added += 1,
                Ok(AddOutcome::Updated(_)) => updated += 1,
                // Scores are finite integers: never NaN.
                Ok(_) | Err(_) => {}
            }
        }
        if added + updated > 0 {
            notify::emit(notify::ZSET, "zadd", db, key);
        }
        if remove_if_empty(&mut l, db, key) {
            notify::emit(notify::GENERIC, "del", db, key);
        }
    }
    drop(l);
    ctx.out.int(if ch { added + updated } else { added });
    Ok(())
}

/// GEODIST key member1 member2 [unit]
fn geodist(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let to_meters = match a.len() {
        5 => unit(a[4])?,
        n if n > 5 => return Err(SYNTAX),
        _ => 1.0,
    };
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let Some(z) = collections::read(&mut l, db, a[1], collections::zset)? else {
        drop(l);
        ctx.out.null();
        return Ok(());
    };
    let d = match (z.score(a[2]), z.score(a[3])) {
        (Some(s1), Some(s2)) => match (geohash::decode_score(s1), geohash::decode_score(s2)) {
            (Some((x1, y1)), Some((x2, y2))) => Some(geohash::distance(x1, y1, x2, y2)),
            _ => None,
        },
        _ => None,
    };
    drop(l);
    match d {
        Some(d) => reply_distance(&mut ctx.out, d / to_meters),
        None => ctx.out.null(),
    }
    Ok(())
}

/// GEOHASH key [member ...]: 11-character standard geohashes.
fn geohash_cmd(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let z = collections::read(&mut l, db, a[1], collections::zset)?;
    let hashes: Vec<Option<[u8; 11]>> = a[2..]
        .iter()
        .map(|m| {
            z.as_ref()
                .and_then(|z| z.score(m))
                .and_then(geohash::geohash_string)
        })
        .collect();
    drop(l);
    ctx.out.array(hashes.len());
    for h in hashes {
        match h {
            Some(h) => ctx.out.bulk(&h),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// GEOPOS key [member ...]: `[longitude, latitude]` pairs, nil for missing members.
fn geopos(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let z = collections::read(&mut l, db, a[1], collections::zset)?;
    let positions: Vec<Option<(f64, f64)>> = a[2..]
        .iter()
        .map(|m| z.as_ref().and_then(|z| member_pos(z, m)))
        .collect();
    drop(l);
    ctx.out.array(positions.len());
    for p in positions {
        match p {
            Some((lon, lat)) => {
                ctx.out.array(2);
                reply_coordinate(&mut ctx.out, lon);
                reply_coordinate(&mut ctx.out, lat);
            }
            None => ctx.out.null_array(),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Searches
// ---------------------------------------------------------------------------

/// Which search command runs (Redis's `RADIUS_*` / `GEOSEARCH*` flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS key lon lat radius unit ...
    Radius { read_only: bool },
    /// GEORADIUSBYMEMBER key member radius unit ...
    ByMember { read_only: bool },
    /// GEOSEARCH key ...
    Search,
    /// GEOSEARCHSTORE dst key ...
    SearchStore,
}

impl Variant {
    fn is_search(self) -> bool {
        matches!(self, Variant::Search | Variant::SearchStore)
    }

    /// Whether STORE / STOREDIST with a key are accepted.
    fn takes_store_key(self) -> bool {
        matches!(
            self,
            Variant::Radius { read_only: false } | Variant::ByMember { read_only: false }
        )
    }

    /// Index of the first optional argument.
    fn base_args(self) -> usize {
        match self {
            Variant::Radius { .. } => 6,
            Variant::ByMember { .. } => 5,
            Variant::Search => 2,
            Variant::SearchStore => 3,
        }
    }

    /// Index of the source key.
    fn src(self) -> usize {
        if self == Variant::SearchStore {
            2
        } else {
            1
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A parsed search.
struct Query<'a> {
    centre: Option<(f64, f64)>,
    /// The shape and metres per unit.
    kind: Option<(ShapeKind, f64)>,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    any: bool,
    sort: Sort,
    /// 0: unlimited.
    count: i64,
    store: Option<&'a [u8]>,
    storedist: bool,
}

/// The store key a search names, found by parsing its options without the
/// source set (needed to lock both keys before the real parse). Parse
/// errors are left for the real parse, which meets them no later.
fn store_key<'a>(a: &[&'a [u8]], v: Variant) -> Option<&'a [u8]> {
    if v == Variant::SearchStore {
        return Some(a[1]);
    }
    if !v.takes_store_key() {
        return None;
    }
    parse(a, v, None, false).ok().and_then(|q| q.store)
}

/// Parses a search the way Redis's `georadiusGeneric` does, in its order:
/// `zset` is the source set (None if absent); `resolve` says whether a
/// FROMMEMBER / BYMEMBER member is looked up in it (false for the
/// store-key pre-scan, where any member is accepted).
fn parse<'a>(
    a: &[&'a [u8]],
    v: Variant,
    zset: Option<&ZSet>,
    resolve: bool,
) -> Result<Query<'a>, CmdError> {
    let mut q = Query {
        centre: None,
        kind: None,
        withdist: false,
        withhash: false,
        withcoord: false,
        any: false,
        sort: Sort::None,
        count: 0,
        store: if v == Variant::SearchStore {
            Some(a[1])
        } else {
            None
        },
        storedist: false,
    };
    let lookup = |member: &[u8]| -> Result<(f64, f64), CmdError> {
        if !resolve {
            return Ok((0.0, 0.0));
        }
        zset.and_then(|z| member_pos(z, member))
            .ok_or_else(|| CmdError::new(NO_MEMBER))
    };
    match v {
        Variant::Radius { .. } => {
            q.centre = Some(lon_lat(a[2], a[3])?);
            let (r, conv) = radius_arg(a[4], a[5])?;
            q.kind = Some((ShapeKind::Circle { radius: r }, conv));
        }
        // Without a source set (and in the pre-scan) the radius goes
        // unchecked: the reply is empty whatever it is.
        Variant::ByMember { .. } if zset.is_none() => {}
        Variant::ByMember { .. } => {
            q.centre = Some(lookup(a[2])?);
            let (r, conv) = radius_arg(a[3], a[4])?;
            q.kind = Some((ShapeKind::Circle { radius: r }, conv));
        }
        Variant::Search | Variant::SearchStore => {}
    }
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let base = v.base_args();
    let opts = a.get(base..).unwrap_or(&[]);
    let remaining = opts.len();
    let mut i = 0;
    while i < remaining {
        let arg = opts[i];
        if eq(arg, "withdist") {
            q.withdist = true;
        } else if eq(arg, "withhash") {
            q.withhash = true;
        } else if eq(arg, "withcoord") {
            q.withcoord = true;
        } else if eq(arg, "any") {
            q.any = true;
        } else if eq(arg, "asc") {
            q.sort = Sort::Asc;
        } else if eq(arg, "desc") {
            q.sort = Sort::Desc;
        } else if eq(arg, "count") && i + 1 < remaining {
            q.count = int(opts[i + 1])?;
            if q.count <= 0 {
                return Err(CmdError::new("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (eq(arg, "store") || eq(arg, "storedist"))
            && i + 1 < remaining
            && v.takes_store_key()
        {
            q.store = Some(opts[i + 1]);
            q.storedist = eq(arg, "storedist");
            i += 1;
        } else if eq(arg, "storedist") && v == Variant::SearchStore {
            q.storedist = true;
        } else if eq(arg, "frommember") && i + 1 < remaining && v.is_search() && !fromloc {
            // Without a source set, parsing goes on and the reply is empty.
            if zset.is_some() || !resolve {
                q.centre = Some(lookup(opts[i + 1])?);
            }
            frommember = true;
            i += 1;
        } else if eq(arg, "fromlonlat") && i + 2 < remaining && v.is_search() && !frommember {
            q.centre = Some(lon_lat(opts[i + 1], opts[i + 2])?);
            fromloc = true;
            i += 2;
        } else if eq(arg, "byradius") && i + 2 < remaining && v.is_search() && !bybox {
            let (r, conv) = radius_arg(opts[i + 1], opts[i + 2])?;
            q.kind = Some((ShapeKind::Circle { radius: r }, conv));
            byradius = true;
            i += 2;
        } else if eq(arg, "bybox") && i + 3 < remaining && v.is_search() && !byradius {
            let (w, h, conv) = box_arg(opts[i + 1], opts[i + 2], opts[i + 3])?;
            q.kind = Some((
                ShapeKind::Box {
                    width: w,
                    height: h,
                },
                conv,
            ));
            bybox = true;
            i += 3;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    if q.store.is_some() && (q.withdist || q.withhash || q.withcoord) {
        return Err(CmdError::new(format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if v == Variant::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    let name = String::from_utf8_lossy(a[0]);
    if v.is_search() && !(frommember || fromloc) {
        return Err(CmdError::new(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if v.is_search() && !(byradius || bybox) {
        return Err(CmdError::new(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if q.any && q.count == 0 {
        return Err(CmdError::new(
            "ERR the ANY argument requires COUNT argument",
        ));
    }
    Ok(q)
}

/// A point a search found.
struct Found {
    member: Vec<u8>,
    score: f64,
    longitude: f64,
    latitude: f64,
    /// Metres from the centre.
    dist: f64,
}

/// The members of `z` inside `shape`, in Redis's discovery order; with a
/// nonzero `limit` (ANY) the scan stops once that many are found (Redis's
/// `membersOfAllNeighbors`).
fn find_points(z: &ZSet, shape: &Shape, limit: usize) -> Vec<Found> {
    let mut found = Vec::new();
    let full = |found: &Vec<Found>| limit > 0 && found.len() >= limit;
    for (min, max) in geohash::search_ranges(shape) {
        if full(&found) {
            break;
        }
        let range = ScoreRange {
            min: min as f64,
            max: max as f64,
            min_exclusive: false,
            max_exclusive: true,
        };
        let Some((first, last)) = z.score_range(&range) else {
            continue;
        };
        for (member, score) in z.iter_from(first, false).take(last - first + 1) {
            if let Some((lon, lat)) = geohash::decode_score(score) {
                if let Some(dist) = shape.distance_if_inside(lon, lat) {
                    found.push(Found {
                        member: member.to_vec(),
                        score,
                        longitude: lon,
                        latitude: lat,
                        dist,
                    });
                }
            }
            if full(&found) {
                break;
            }
        }
    }
    found
}

/// GEORADIUS, GEORADIUSBYMEMBER (and `_RO`), GEOSEARCH and GEOSEARCHSTORE
/// (Redis's `georadiusGeneric`).
fn search(ctx: &mut Ctx, a: &[&[u8]], v: Variant) -> CmdResult {
    let src = a[v.src()];
    let dst = store_key(a, v);
    let db = ctx.db();
    let limits = ctx.server.config.hot.limits();
    let mut l = match dst {
        Some(d) => ctx.lock([src, d]),
        None => ctx.lock([src]),
    };
    let z = collections::read(&mut l, db, src, collections::zset)?;
    let q = parse(a, v, z.as_deref(), true)?;
    let Some(z) = z else {
        // No source set: an empty reply, or an emptied destination.
        match q.store {
            Some(d) => {
                if l.remove(db, d).is_some() {
                    notify::emit(notify::GENERIC, "del", db, d);
                }
                drop(l);
                ctx.out.int(0);
            }
            None => {
                drop(l);
                ctx.out.array(0);
            }
        }
        return Ok(());
    };
    let (Some((longitude, latitude)), Some((kind, conversion))) = (q.centre, q.kind) else {
        // The parse guarantees both once the source set exists.
        return Err(SYNTAX);
    };
    let shape = Shape {
        longitude,
        latitude,
        kind,
        conversion,
    };
    let limit = if q.any { q.count as usize } else { 0 };
    let mut found = find_points(z, &shape, limit);
    // COUNT wants the nearest ones unless ANY says any will do.
    let sort = if q.count != 0 && q.sort == Sort::None && !q.any {
        Sort::Asc
    } else {
        q.sort
    };
    let returned = if q.count == 0 {
        found.len()
    } else {
        found.len().min(q.count as usize)
    };
    let by_distance = |x: &Found, y: &Found| match sort {
        Sort::Desc => y.dist.total_cmp(&x.dist),
        _ => x.dist.total_cmp(&y.dist),
    };
    if sort != Sort::None {
        if returned == found.len() {
            // glibc's qsort, which Redis calls here, is a (stable) merge sort.
            found.sort_by(by_distance);
        } else if returned > 0 {
            // Only the first `returned` matter: Redis's partial quicksort,
            // whose placement of equal distances the reply shows.
            crate::sort::pqsort(&mut found, &by_distance, 0, returned - 1);
        }
    }
    found.truncate(returned);
    match q.store {
        None => {
            drop(l);
            reply_points(&mut ctx.out, &found, &q, conversion);
        }
        Some(d) => {
            if found.is_empty() {
                if l.remove(db, d).is_some() {
                    notify::emit(notify::GENERIC, "del", db, d);
                }
            } else {
                let entries = found
                    .into_iter()
                    .map(|f| {
                        let score = if q.storedist {
                            f.dist / conversion
                        } else {
                            f.score
                        };
                        (f.member, score)
                    })
                    .collect();
                let zset = ZSet::from_entries(entries, &limits);
                l.set(db, d, Value::ZSet(zset), 0);
                let event = if v.is_search() {
                    "geosearchstore"
                } else {
                    "georadiusstore"
                };
                notify::emit(notify::ZSET, event, db, d);
            }
            drop(l);
            ctx.out.int(returned as i64);
        }
    }
    Ok(())
}

/// The reply of a search without a store key.
fn reply_points(out: &mut ReplyWriter, found: &[Found], q: &Query, conversion: f64) {
    let options = usize::from(q.withdist) + usize::from(q.withhash) + usize::from(q.withcoord);
    out.array(found.len());
    for f in found {
        if options > 0 {
            out.array(options + 1);
        }
        out.bulk(&f.member);
        if q.withdist {
            reply_distance(out, f.dist / conversion);
        }
        if q.withhash {
            out.int(f.score as i64);
        }
        if q.withcoord {
            out.array(2);
            reply_coordinate(out, f.longitude);
            reply_coordinate(out, f.latitude);
        }
    }
}

fn georadius(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    search(ctx, a, Variant::Radius { read_only: false })
}

fn georadius_ro(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    search(ctx, a, Variant::Radius { read_only: true })
}

fn georadiusbymember(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    search(ctx, a, Variant::ByMember { read_only: false })
}

fn georadiusbymember_ro(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    search(ctx, a, Variant::ByMember { read_only: true })
}

fn geosearch(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    search(ctx, a, Variant::Search)
}

fn geosearchstore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    search(ctx, a, Variant::SearchStore)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_print_like_redis() {
        assert_eq!(human_coordinate(13.361389338970184), "13.36138933897018433");
        assert_eq!(human_coordinate(-0.0), "0");
        assert_eq!(human_coordinate(180.0), "180");
        assert_eq!(human_coordinate(-1.5), "-1.5");
    }

    #[test]
    fn c_rounding_of_ties() {
        // glibc's printf rounds exact ties to even; so must the formatting.
        assert_eq!(format!("{:.4}", 0.03125), "0.0312");
        assert_eq!(format!("{:.4}", 0.03135), format!("{:.4}", 0.03135_f64));
        assert_eq!(format!("{:.0}", 2.5), "2");
        assert_eq!(format!("{:.0}", 3.5), "4");
    }

    #[test]
    fn doubles_read_like_strtod() {
        assert_eq!(parse_double(b"1.5"), Some(1.5));
        assert_eq!(parse_double(b" 1"), None);
        assert_eq!(parse_double(b"1 "), None);
        assert_eq!(parse_double(b"nan"), None);
        assert_eq!(parse_double(b""), None);
        assert_eq!(parse_double(b"1e400"), None);
    }

    #[test]
    fn invalid_pairs_print_with_six_decimals() {
        let e = lon_lat(b"200", b"100").err().map(|e| e.text().into_owned());
        assert_eq!(
            e.as_deref(),
            Some("ERR invalid longitude,latitude pair 200.000000,100.000000")
        );
    }
}
