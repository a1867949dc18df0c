//! Geo commands end to end, differential against a real redis-server:
//! fixed tables of replies and errors, then seeded random points worldwide
//! (poles and the antimeridian included) searched with random centres,
//! radii, boxes and options. Replies are compared byte for byte, order
//! included: Ferrocache scans the same cells in the same order as Redis, so
//! even unsorted replies agree.
//!
//! A missing redis-server fails these tests (CI installs it).

mod common;

use common::diff::{check, Diff};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[test]
fn diff_basics() {
    check(
        "geo: basics",
        &[
            &[
                "GEOADD",
                "k",
                "13.361389",
                "38.115556",
                "Palermo",
                "15.087269",
                "37.502669",
                "Catania",
            ],
            &["GEOADD", "k", "13.361389", "38.115556", "Palermo"],
            &[
                "GEOADD", "k", "CH", "13.5", "38.1", "Palermo", "1", "1", "new",
            ],
            &[
                "GEOADD", "k", "NX", "CH", "1", "1", "Palermo", "2", "2", "new2",
            ],
            &["GEOADD", "k", "XX", "1", "1", "absent"],
            &[
                "GEOADD",
                "k",
                "XX",
                "CH",
                "13.361389",
                "38.115556",
                "Palermo",
                "3",
                "3",
                "absent",
            ],
            &["GEOADD", "nokey", "XX", "1", "1", "a"],
            &["EXISTS", "nokey"],
            &["ZRANGE", "k", "0", "-1", "WITHSCORES"],
            &["GEOPOS", "k", "Palermo", "Catania", "missing", "new"],
            &["GEOPOS", "nokey", "a", "b"],
            &["GEOPOS", "k"],
            &["GEOHASH", "k", "Palermo", "Catania", "missing"],
            &["GEOHASH", "nokey", "a"],
            &["GEOHASH", "k"],
            &["GEODIST", "k", "Palermo", "Catania"],
            &["GEODIST", "k", "Palermo", "Catania", "km"],
            &["GEODIST", "k", "Palermo", "Catania", "MI"],
            &["GEODIST", "k", "Palermo", "Catania", "ft"],
            &["GEODIST", "k", "Palermo", "Catania", "m"],
            &["GEODIST", "k", "Palermo", "Palermo"],
            &["GEODIST", "k", "Palermo", "missing"],
            &["GEODIST", "nokey", "a", "b"],
            &[
                "GEOADD",
                "edge",
                "180",
                "85.05112878",
                "ne",
                "-180",
                "-85.05112878",
                "sw",
                "0",
                "0",
                "zero",
            ],
            &[
                "GEOADD",
                "edge",
                "-0",
                "-0",
                "negzero",
                "179.9999999",
                "0",
                "am",
            ],
            &["GEOPOS", "edge", "ne", "sw", "zero", "negzero", "am"],
            &["GEOHASH", "edge", "ne", "sw", "zero", "negzero", "am"],
            &["GEODIST", "edge", "ne", "sw", "km"],
            &[
                "GEOSEARCH",
                "edge",
                "FROMLONLAT",
                "-179.9",
                "0",
                "BYRADIUS",
                "50",
                "km",
                "WITHCOORD",
                "WITHDIST",
                "WITHHASH",
            ],
            &[
                "GEOSEARCH",
                "edge",
                "FROMLONLAT",
                "0",
                "85",
                "BYRADIUS",
                "20000",
                "km",
                "ASC",
                "WITHDIST",
            ],
            // Scores that are no geohash still decode.
            &["ZADD", "z", "0", "a", "4503599627370495", "b", "1.5", "c"],
            &["GEOPOS", "z", "a", "b", "c"],
            &["GEOHASH", "z", "a", "b", "c"],
            // Wrong types.
            &["SET", "str", "x"],
            &["GEOADD", "str", "1", "1", "a"],
            &["GEOPOS", "str", "a"],
            &["GEOHASH", "str", "a"],
            &["GEODIST", "str", "a", "b"],
            &[
                "GEOSEARCH",
                "str",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
            ],
            &["GEORADIUS", "str", "0", "0", "1", "km"],
            &["GEORADIUSBYMEMBER", "str", "a", "1", "km"],
            &[
                "GEOSEARCHSTORE",
                "dst",
                "str",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
            ],
        ],
    );
}

#[test]
fn diff_errors() {
    check(
        "geo: errors",
        &[
            &[
                "GEOADD",
                "k",
                "13.361389",
                "38.115556",
                "Palermo",
                "15.087269",
                "37.502669",
                "Catania",
            ],
            &["GEOADD", "k", "200", "100", "a"],
            &["GEOADD", "k", "-180.0001", "0", "a"],
            &["GEOADD", "k", "0", "85.06", "a"],
            &["GEOADD", "k", "inf", "0", "a"],
            &["GEOADD", "k", "1e400", "0", "a"],
            &["GEOADD", "k", "nan", "0", "a"],
            &["GEOADD", "k", "x", "0", "a"],
            &["GEOADD", "k", "0", " 1", "a"],
            &["GEOADD", "k", "1", "1", "a", "1", "1"],
            &["GEOADD", "k", "NX", "XX", "1", "1", "a"],
            &["GEOADD", "k", "XX", "NX", "CH", "1", "1", "a"],
            &["GEOADD", "k", "CH", "1", "1"],
            &["GEOADD", "k", "NX", "XX", "CH"],
            &["GEOADD", "k", "GT", "1", "1", "a"],
            &["GEOADD", "k", "1", "1", "a", "500", "1", "b"],
            &["ZCARD", "k"],
            &["GEOADD", "k"],
            &["GEODIST", "k", "Palermo", "Catania", "yards"],
            &["GEODIST", "nokey", "a", "b", "yards"],
            &["GEODIST", "k", "Palermo", "Catania", "km", "extra"],
            &["GEODIST", "k", "Palermo"],
            &["GEORADIUS", "k", "15", "37", "-1", "km"],
            &["GEORADIUS", "k", "15", "37", "x", "km"],
            &["GEORADIUS", "k", "15", "37", "1", "yd"],
            &["GEORADIUS", "k", "15", "91", "1", "km"],
            &["GEORADIUS", "k", "15", "37", "1", "km", "COUNT"],
            &["GEORADIUS", "k", "15", "37", "1", "km", "COUNT", "0"],
            &["GEORADIUS", "k", "15", "37", "1", "km", "COUNT", "-3"],
            &["GEORADIUS", "k", "15", "37", "1", "km", "COUNT", "x"],
            &["GEORADIUS", "k", "15", "37", "1", "km", "ANY"],
            &["GEORADIUS", "k", "15", "37", "1", "km", "STORE"],
            &[
                "GEORADIUS",
                "k",
                "15",
                "37",
                "1",
                "km",
                "STORE",
                "d",
                "WITHDIST",
            ],
            &[
                "GEORADIUS",
                "k",
                "15",
                "37",
                "1",
                "km",
                "WITHHASH",
                "STOREDIST",
                "d",
            ],
            &[
                "GEORADIUS",
                "k",
                "15",
                "37",
                "1",
                "km",
                "FROMLONLAT",
                "1",
                "1",
            ],
            &[
                "GEORADIUS",
                "k",
                "15",
                "37",
                "1",
                "km",
                "BYBOX",
                "1",
                "1",
                "km",
            ],
            &["GEORADIUS", "k", "15", "37", "1", "km", "bogus"],
            &["GEORADIUS_RO", "k", "15", "37", "1", "km", "STORE", "d"],
            &["GEORADIUS_RO", "k", "15", "37", "1", "km", "STOREDIST", "d"],
            &["GEORADIUSBYMEMBER", "k", "missing", "1", "km"],
            &["GEORADIUSBYMEMBER", "k", "Palermo", "-1", "km"],
            &["GEORADIUSBYMEMBER", "nokey", "missing", "-1", "km"],
            &["GEORADIUSBYMEMBER", "nokey", "missing", "-1", "km", "bogus"],
            &["GEORADIUSBYMEMBER", "nokey", "missing", "1", "km", "ANY"],
            &[
                "GEORADIUSBYMEMBER_RO",
                "k",
                "Palermo",
                "1",
                "km",
                "STORE",
                "d",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMMEMBER",
                "missing",
                "BYRADIUS",
                "10",
                "km",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMMEMBER",
                "missing",
                "BYRADIUS",
                "-10",
                "km",
            ],
            &[
                "GEOSEARCH",
                "k",
                "BYRADIUS",
                "-10",
                "km",
                "FROMMEMBER",
                "missing",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "FROMMEMBER",
                "Palermo",
                "BYRADIUS",
                "1",
                "km",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMMEMBER",
                "Palermo",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMMEMBER",
                "Palermo",
                "FROMMEMBER",
                "Catania",
                "BYRADIUS",
                "1",
                "km",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
                "BYBOX",
                "1",
                "1",
                "km",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYBOX",
                "1",
                "1",
                "km",
                "BYRADIUS",
                "1",
                "km",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
                "BYRADIUS",
                "2",
                "km",
            ],
            &["GEOSEARCH", "k", "FROMLONLAT", "0", "0"],
            &["GEOSEARCH", "k", "BYRADIUS", "1", "km"],
            &["geosearch", "k", "BYRADIUS", "1", "km", "WITHDIST"],
            &["GeoSearch", "k", "FROMLONLAT", "0", "0", "WITHDIST"],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYBOX",
                "-1",
                "1",
                "km",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYBOX",
                "1",
                "-1",
                "km",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYBOX",
                "x",
                "-1",
                "km",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYBOX",
                "1",
                "x",
                "km",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYBOX",
                "1",
                "1",
                "yd",
            ],
            &["GEOSEARCH", "k", "FROMLONLAT", "0", "0", "BYBOX", "1", "1"],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "91",
                "BYBOX",
                "1",
                "1",
                "km",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
                "STORE",
                "d",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
                "STOREDIST",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
                "ANY",
            ],
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
                "COUNT",
                "0",
                "ANY",
            ],
            &[
                "GEOSEARCH",
                "nokey",
                "FROMMEMBER",
                "x",
                "BYRADIUS",
                "1",
                "km",
            ],
            &["GEOSEARCH", "nokey", "FROMMEMBER", "x"],
            &[
                "GEOSEARCH",
                "nokey",
                "FROMLONLAT",
                "0",
                "100",
                "BYRADIUS",
                "1",
                "km",
            ],
            &[
                "GEOSEARCHSTORE",
                "d",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
                "WITHCOORD",
            ],
            &[
                "GEOSEARCHSTORE",
                "d",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
                "STORE",
                "e",
            ],
            &["GEOSEARCHSTORE", "d", "k", "FROMLONLAT", "0", "0"],
            &["GEOSEARCHSTORE", "d", "nokey", "FROMMEMBER", "x"],
            &[
                "GEOSEARCHSTORE",
                "d",
                "nokey",
                "FROMMEMBER",
                "x",
                "BYBOX",
                "1",
                "1",
                "m",
            ],
        ],
    );
}

#[test]
fn diff_store() {
    check(
        "geo: store",
        &[
            &[
                "GEOADD",
                "k",
                "13.361389",
                "38.115556",
                "Palermo",
                "15.087269",
                "37.502669",
                "Catania",
                "12.758489",
                "38.788135",
                "edge1",
                "17.241510",
                "38.788135",
                "edge2",
            ],
            &[
                "GEOSEARCHSTORE",
                "d",
                "k",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
            ],
            &["ZRANGE", "d", "0", "-1", "WITHSCORES"],
            &[
                "GEOSEARCHSTORE",
                "d",
                "k",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "400",
                "km",
                "STOREDIST",
                "DESC",
                "COUNT",
                "3",
            ],
            &["ZRANGE", "d", "0", "-1", "WITHSCORES"],
            &[
                "GEOSEARCHSTORE",
                "d",
                "k",
                "FROMLONLAT",
                "15",
                "37",
                "BYBOX",
                "400",
                "400",
                "mi",
                "STOREDIST",
            ],
            &["ZRANGE", "d", "0", "-1", "WITHSCORES"],
            &["OBJECT", "ENCODING", "d"],
            &["GEORADIUS", "k", "15", "37", "200", "km", "STORE", "r"],
            &["ZRANGE", "r", "0", "-1", "WITHSCORES"],
            &[
                "GEORADIUS",
                "k",
                "15",
                "37",
                "200",
                "km",
                "STOREDIST",
                "r",
                "STORE",
                "r2",
            ],
            &["ZRANGE", "r2", "0", "-1", "WITHSCORES"],
            &[
                "GEORADIUSBYMEMBER",
                "k",
                "Palermo",
                "500",
                "ft",
                "STOREDIST",
                "r3",
            ],
            &["ZRANGE", "r3", "0", "-1", "WITHSCORES"],
            // An empty result deletes the destination.
            &[
                "GEOSEARCHSTORE",
                "d",
                "k",
                "FROMLONLAT",
                "-100",
                "-37",
                "BYRADIUS",
                "1",
                "km",
            ],
            &["EXISTS", "d"],
            &["SET", "s", "x"],
            &["GEORADIUS", "k", "15", "37", "200", "km", "STORE", "s"],
            &["TYPE", "s"],
            &["EXPIRE", "s", "100"],
            &[
                "GEOSEARCHSTORE",
                "s",
                "k",
                "FROMMEMBER",
                "Palermo",
                "BYRADIUS",
                "1",
                "m",
            ],
            &["TTL", "s"],
            &[
                "GEOSEARCHSTORE",
                "s",
                "nokey",
                "FROMMEMBER",
                "Palermo",
                "BYRADIUS",
                "1",
                "m",
            ],
            &["EXISTS", "s"],
            &["SET", "s", "x"],
            &["GEORADIUSBYMEMBER", "nokey", "m", "-1", "km", "STORE", "s"],
            &["EXISTS", "s"],
            // The source is the destination.
            &[
                "GEOSEARCHSTORE",
                "k",
                "k",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
            ],
            &["ZRANGE", "k", "0", "-1", "WITHSCORES"],
        ],
    );
}

/// A random position: mostly anywhere, sometimes at the poles' latitude
/// limits or next to the antimeridian.
fn random_point(rng: &mut StdRng) -> (f64, f64) {
    let lon = match rng.gen_range(0..10) {
        0 => 180.0 - rng.gen_range(0.0..0.5),
        1 => -180.0 + rng.gen_range(0.0..0.5),
        _ => rng.gen_range(-180.0..180.0),
    };
    let lat = match rng.gen_range(0..10) {
        0 => 85.05112878 - rng.gen_range(0.0..5.0),
        1 => -85.05112878 + rng.gen_range(0.0..5.0),
        _ => rng.gen_range(-85.05112878..85.05112878),
    };
    (lon, lat)
}

/// A random distance with its unit: from metres to a good part of the globe.
fn random_distance(rng: &mut StdRng, max_log10_m: f64) -> (String, &'static str) {
    let unit = ["m", "km", "mi", "ft", "KM"][rng.gen_range(0..5)];
    let metres_per_unit = match unit {
        "m" => 1.0,
        "ft" => 0.3048,
        "mi" => 1609.34,
        _ => 1000.0,
    };
    let metres = 10f64.powf(rng.gen_range(0.0..max_log10_m));
    (format!("{}", metres / metres_per_unit), unit)
}

/// Random search options (no STORE).
fn random_options(rng: &mut StdRng, any_ok: bool) -> Vec<String> {
    let mut opts = Vec::new();
    for o in ["WITHDIST", "WITHCOORD", "WITHHASH"] {
        if rng.gen_bool(0.4) {
            opts.push(o.to_string());
        }
    }
    match rng.gen_range(0..3) {
        0 => opts.push("ASC".into()),
        1 => opts.push("DESC".into()),
        _ => {}
    }
    if rng.gen_bool(0.4) {
        opts.push("COUNT".into());
        opts.push(rng.gen_range(1..20).to_string());
        if any_ok && rng.gen_bool(0.4) {
            opts.push("ANY".into());
        }
    }
    // Redis reads options in any order.
    let n = opts.len();
    if n > 1 && rng.gen_bool(0.3) {
        opts.swap(0, n - 1);
    }
    opts
}

fn fmt(v: f64) -> String {
    format!("{v}")
}

/// Random geo sets searched with random shapes and options on both servers.
fn random_round(seed: u64, points: usize, place: fn(&mut StdRng) -> (f64, f64), max_log10_m: f64) {
    let mut d = Diff::new("geo: random searches");
    let mut rng = StdRng::seed_from_u64(seed);
    for proto in [2, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        let mut members = Vec::new();
        let mut add = vec!["GEOADD".to_string(), "g".to_string()];
        for i in 0..points {
            let (lon, lat) = place(&mut rng);
            let name = format!("m{i}");
            add.extend([fmt(lon), fmt(lat), name.clone()]);
            members.push(name);
            // A few members share a position.
            if i % 37 == 0 {
                add.extend([fmt(lon), fmt(lat), format!("twin{i}")]);
            }
        }
        let mut lines: Vec<Vec<String>> = vec![add];
        lines.push(vec!["ZCARD".into(), "g".into()]);
        for _ in 0..300 {
            let mut line: Vec<String> = Vec::new();
            let (lon, lat) = place(&mut rng);
            let member = members[rng.gen_range(0..members.len())].clone();
            let (r, unit) = random_distance(&mut rng, max_log10_m);
            match rng.gen_range(0..6) {
                0 | 1 => {
                    line.extend(["GEOSEARCH".into(), "g".into()]);
                    if rng.gen_bool(0.5) {
                        line.extend(["FROMLONLAT".into(), fmt(lon), fmt(lat)]);
                    } else {
                        line.extend(["FROMMEMBER".into(), member]);
                    }
                    if rng.gen_bool(0.5) {
                        line.extend(["BYRADIUS".into(), r, unit.into()]);
                    } else {
                        let (h, _) = random_distance(&mut rng, max_log10_m);
                        line.extend(["BYBOX".into(), r, h, unit.into()]);
                    }
                    line.extend(random_options(&mut rng, true));
                }
                2 => {
                    line.extend([
                        "GEORADIUS".into(),
                        "g".into(),
                        fmt(lon),
                        fmt(lat),
                        r,
                        unit.into(),
                    ]);
                    line.extend(random_options(&mut rng, true));
                }
                3 => {
                    line.extend([
                        "GEORADIUSBYMEMBER_RO".into(),
                        "g".into(),
                        member,
                        r,
                        unit.into(),
                    ]);
                    line.extend(random_options(&mut rng, true));
                }
                4 => {
                    // Stored results, read back with their scores.
                    line.extend(["GEOSEARCHSTORE".into(), "dst".into(), "g".into()]);
                    line.extend(["FROMLONLAT".into(), fmt(lon), fmt(lat)]);
                    line.extend(["BYRADIUS".into(), r, unit.into()]);
                    if rng.gen_bool(0.5) {
                        line.push("STOREDIST".into());
                    }
                    if rng.gen_bool(0.5) {
                        line.extend(["COUNT".into(), rng.gen_range(1..10).to_string()]);
                    }
                    lines.push(line);
                    line = vec![
                        "ZRANGE".into(),
                        "dst".into(),
                        "0".into(),
                        "-1".into(),
                        "WITHSCORES".into(),
                    ];
                }
                _ => {
                    let other = members[rng.gen_range(0..members.len())].clone();
                    lines.push(vec![
                        "GEOPOS".into(),
                        "g".into(),
                        member.clone(),
                        other.clone(),
                        "nope".into(),
                    ]);
                    lines.push(vec![
                        "GEOHASH".into(),
                        "g".into(),
                        member.clone(),
                        other.clone(),
                    ]);
                    line.extend(["GEODIST".into(), "g".into(), member, other, unit.into()]);
                }
            }
            lines.push(line);
        }
        d.run_owned(&lines);
    }
    d.finish();
}

/// Small sets: the listpack encoding.
#[test]
fn diff_random_small() {
    random_round(0x6e0, 100, random_point, 7.3);
}

/// Large sets: the skiplist encoding, dense enough for long replies.
#[test]
fn diff_random_large() {
    random_round(0x6e1, 3000, random_point, 7.3);
}

/// A position in one of a few dense clusters: at the latitude limits, on
/// both sides of the antimeridian, on the equator and the prime meridian.
fn cluster_point(rng: &mut StdRng) -> (f64, f64) {
    const CENTRES: [(f64, f64); 6] = [
        (179.999, 0.0),
        (-179.999, 60.0),
        (0.0, 0.0),
        (12.5, 84.9),
        (-100.0, -84.9),
        (179.9, -70.0),
    ];
    let (lon, lat) = CENTRES[rng.gen_range(0..CENTRES.len())];
    let lon = (lon + rng.gen_range(-0.3..0.3)).clamp(-180.0, 180.0);
    let lat = (lat + rng.gen_range(-0.3..0.3)).clamp(-85.05112878, 85.05112878);
    (lon, lat)
}

/// Dense clusters where cells, poles and the antimeridian meet, searched
/// with radii and boxes from 1 m to 100 km.
#[test]
fn diff_random_clusters() {
    random_round(0x6e3, 2000, cluster_point, 5.0);
}

/// Every member's position and hash, and the distance between neighbours
/// in the set, for points all over the globe.
#[test]
fn diff_positions() {
    let mut d = Diff::new("geo: positions");
    let mut rng = StdRng::seed_from_u64(0x6e2);
    d.reconnect(2);
    d.line(&["~skip", "FLUSHALL"]);
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut names = Vec::new();
    for i in 0..500 {
        let (lon, lat) = random_point(&mut rng);
        names.push(format!("p{i}"));
        lines.push(vec![
            "GEOADD".into(),
            "g".into(),
            fmt(lon),
            fmt(lat),
            format!("p{i}"),
        ]);
    }
    for chunk in names.chunks(50) {
        let mut pos = vec!["GEOPOS".to_string(), "g".to_string()];
        pos.extend(chunk.iter().cloned());
        lines.push(pos.clone());
        pos[0] = "GEOHASH".into();
        lines.push(pos);
    }
    for w in names.windows(2) {
        for unit in ["m", "ft"] {
            lines.push(vec![
                "GEODIST".into(),
                "g".into(),
                w[0].clone(),
                w[1].clone(),
                unit.into(),
            ]);
        }
    }
    lines.push(vec![
        "ZRANGE".into(),
        "g".into(),
        "0".into(),
        "-1".into(),
        "WITHSCORES".into(),
    ]);
    d.run_owned(&lines);
    d.finish();
}

/// Keyspace events: GEOADD is ZADD's `zadd`; stores name themselves; an
/// emptied destination is a `del`.
#[test]
fn diff_notifications() {
    let mut d = Diff::new("geo: notifications");
    d.reconnect(2);
    d.line(&["~skip", "CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let (mut sub_r, mut sub_f) = (d.redis.raw(), d.ferro.raw());
    for sub in [&mut sub_r, &mut sub_f] {
        sub.cmd(&[b"PSUBSCRIBE", b"__keyevent@0__:*"]);
        sub.read_reply();
    }
    d.run(&[
        &["GEOADD", "k", "1", "1", "a"],
        &["GEOADD", "k", "1", "1", "a"],
        &["GEOADD", "k", "XX", "CH", "2", "2", "a"],
        &[
            "GEOSEARCHSTORE",
            "d",
            "k",
            "FROMLONLAT",
            "2",
            "2",
            "BYRADIUS",
            "1",
            "km",
        ],
        &["GEORADIUS", "k", "2", "2", "1", "km", "STORE", "e"],
        &[
            "GEOSEARCHSTORE",
            "d",
            "k",
            "FROMLONLAT",
            "50",
            "2",
            "BYRADIUS",
            "1",
            "km",
        ],
    ]);
    // zadd, zadd, geosearchstore, georadiusstore, del: in order.
    for _ in 0..5 {
        let (r, f) = (sub_r.read_reply(), sub_f.read_reply());
        if r != f {
            let (rs, fs) = (common::diff::show(&r), common::diff::show(&f));
            d.fail("keyevent", &rs, &fs);
        }
    }
    d.finish();
}
