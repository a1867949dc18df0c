//! Geohash arithmetic behind Redis's geo commands, computed exactly as Redis
//! 7.0's `geohash.c` / `geohash_helper.c` compute it so that scores, decoded
//! coordinates, distances and search results agree bit for bit.
//!
//! A position is stored in a sorted set as a 52-bit score: longitude and
//! latitude are each quantised to 26 bits ("steps") over
//! `[-180, 180]` × `[-85.05112878, 85.05112878]` (the Web Mercator latitude
//! limits) and interleaved, longitude in the odd bits, latitude in the even
//! ones. A coarser hash (fewer steps) names a square cell whose members are
//! one contiguous score range, which is what radius and box searches scan:
//! [`search_ranges`] picks a cell size from the search radius, takes the
//! centre cell and its eight neighbours, drops the ones the search area
//! cannot reach, and yields their score ranges; [`Shape::distance_if_inside`]
//! then filters candidates exactly.

/// Longitude limits.
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// Latitude limits (those of the Web Mercator projection).
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// Steps (bits per coordinate) of a stored position.
pub const STEP_MAX: u8 = 26;
/// Earth's quadratic mean radius for WGS-84, in metres (Redis's constant).
pub const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the equator's length in the Mercator projection, in metres.
const MERCATOR_MAX: f64 = 20037726.37;
/// Degrees to radians, as Redis's `deg_rad` computes it (`M_PI / 180.0`).
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A coordinate interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The longitude range of stored positions.
pub const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
/// The latitude range of stored positions.
pub const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A geohash: `2 * step` interleaved bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    /// Redis's `HASHISZERO`: the marker of a neighbour excluded from a search.
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash left-aligned to 52 bits (Redis's `geohashAlign52Bits`).
    pub fn align52(&self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }
}

/// The cell a hash names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    pub hash: HashBits,
    pub longitude: Range,
    pub latitude: Range,
}

/// Spreads the low 32 bits of `v` over the even bits of the result.
fn spread(v: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let mut x = u64::from(v);
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
    }
    x
}

/// Gathers the even bits of `v` into the low 32 bits of the result.
fn squash(v: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
        0x0000_0000_FFFF_FFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = v;
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
    }
    x
}

/// Interleaves: `lat` in the even bits, `lon` in the odd bits.
fn interleave(lat: u32, lon: u32) -> u64 {
    spread(lat) | (spread(lon) << 1)
}

/// Splits interleaved bits into (latitude part, longitude part).
fn deinterleave(bits: u64) -> (u32, u32) {
    (squash(bits) as u32, squash(bits >> 1) as u32)
}

/// A C `double` → `uint32_t` conversion for the in-range values geohashing
/// produces (truncation toward zero).
fn to_u32(v: f64) -> u32 {
    v as u32
}

/// Encodes a position with `step` bits per coordinate over the given ranges
/// (Redis's `geohashEncode`); None outside the ranges or the Mercator limits.
pub fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<HashBits> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if !(lat_range.min..=lat_range.max).contains(&latitude)
        || !(long_range.min..=long_range.max).contains(&longitude)
    {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let long_offset = (longitude - long_range.min) / (long_range.max - long_range.min) * scale;
    Some(HashBits {
        bits: interleave(to_u32(lat_offset), to_u32(long_offset)),
        step,
    })
}

/// Encodes a position over the stored-position ranges.
pub fn encode_wgs84(longitude: f64, latitude: f64, step: u8) -> Option<HashBits> {
    encode(LONG_RANGE, LAT_RANGE, longitude, latitude, step)
}

/// The 52-bit score of a position, or None if it is out of range.
pub fn score_of(longitude: f64, latitude: f64) -> Option<u64> {
    encode_wgs84(longitude, latitude, STEP_MAX).map(|h| h.align52())
}

/// The cell of a hash (Redis's `geohashDecode`).
pub fn decode(long_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let (ilat, ilon) = deinterleave(hash.bits);
    let cells = (1u64 << hash.step) as f64;
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let edge = |min: f64, i: u64, scale: f64| min + (i as f64 / cells) * scale;
    Some(Area {
        hash,
        latitude: Range {
            min: edge(lat_range.min, u64::from(ilat), lat_scale),
            max: edge(lat_range.min, u64::from(ilat) + 1, lat_scale),
        },
        longitude: Range {
            min: edge(long_range.min, u64::from(ilon), long_scale),
            max: edge(long_range.min, u64::from(ilon) + 1, long_scale),
        },
    })
}

/// The centre of a cell, clamped to the valid ranges.
fn area_centre(area: &Area) -> (f64, f64) {
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The (longitude, latitude) a sorted-set score stands for: the centre of its
/// 26-step cell (Redis's `decodeGeohash`).
pub fn decode_score(score: f64) -> Option<(f64, f64)> {
    // C's double → uint64_t conversion; Rust's `as` saturates where C's is
    // undefined (negative or huge scores), which is the sane reading.
    let hash = HashBits {
        bits: score as u64,
        step: STEP_MAX,
    };
    decode(LONG_RANGE, LAT_RANGE, hash).map(|a| area_centre(&a))
}

/// The standard 11-character base-32 geohash of a score, as GEOHASH prints
/// it: the position is decoded, re-encoded over latitude [-90, 90] (the
/// standard range), and the 52 bits written 5 at a time, the 11th character
/// being '0' since there are no more bits.
pub fn geohash_string(score: f64) -> Option<[u8; 11]> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score)?;
    let std_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    // Decoded positions are always in range, so encoding succeeds; an
    // all-zero hash stands in for the impossible failure.
    let bits = encode(LONG_RANGE, std_lat, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    Some(out)
}

/// The eight cells around a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Neighbors {
    pub north: HashBits,
    pub east: HashBits,
    pub west: HashBits,
    pub south: HashBits,
    pub north_east: HashBits,
    pub south_east: HashBits,
    pub north_west: HashBits,
    pub south_west: HashBits,
}

/// Moves a hash one cell east (`d > 0`) or west (`d < 0`), wrapping around.
fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    hash.bits = x | y;
}

/// Moves a hash one cell north (`d > 0`) or south (`d < 0`), wrapping around.
fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    hash.bits = x | y;
}

/// The eight neighbours of a cell (Redis's `geohashNeighbors`).
pub fn neighbors(hash: HashBits) -> Neighbors {
    let moved = |dx: i8, dy: i8| {
        let mut h = hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    Neighbors {
        east: moved(1, 0),
        west: moved(-1, 0),
        south: moved(0, -1),
        north: moved(0, 1),
        north_west: moved(-1, 1),
        south_west: moved(-1, -1),
        north_east: moved(1, 1),
        south_east: moved(1, -1),
    }
}

/// Great-circle distance in metres by the haversine formula (Redis's
/// `geohashGetDistance`). This is Redis 7.0's form, the one the
/// differential tests run against; 7.2 takes a shortcut for equal
/// longitudes (`R * |Δlat|`), which agrees with this to the last bits and
/// so prints the same at GEODIST's four decimals.
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lat1r = deg_rad(lat1d);
    let lon1r = deg_rad(lon1d);
    let lat2r = deg_rad(lat2d);
    let lon2r = deg_rad(lon2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_M * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// The step whose cells are about the size of a search of `range_meters`
/// around latitude `lat` (Redis's `geohashEstimateStepsByRadius`).
pub fn estimate_steps(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    // Meridians converge towards the poles: cells there must be wider.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// What a search covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShapeKind {
    /// Within `radius` (in the search's unit) of the centre.
    Circle { radius: f64 },
    /// An axis-aligned box `width` × `height` (in the search's unit)
    /// centred on the centre.
    Box { width: f64, height: f64 },
}

/// A search area: a centre, a shape, and the metres in one of the shape's units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub longitude: f64,
    pub latitude: f64,
    pub kind: ShapeKind,
    /// Metres per unit (1 for m, 1000 for km, 0.3048 for ft, 1609.34 for mi).
    pub conversion: f64,
}

/// The longitude/latitude bounds of a search: `[min_lon, min_lat, max_lon, max_lat]`.
fn bounding_box(shape: &Shape) -> [f64; 4] {
    let (half_height, half_width) = match shape.kind {
        ShapeKind::Circle { radius } => (radius, radius),
        ShapeKind::Box { width, height } => (height / 2.0, width / 2.0),
    };
    let height = shape.conversion * half_height;
    let width = shape.conversion * half_width;
    let (longitude, latitude) = (shape.longitude, shape.latitude);
    let lat_delta = rad_deg(height / EARTH_RADIUS_M);
    let long_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(latitude + lat_delta).cos());
    let long_delta_bottom = rad_deg(width / EARTH_RADIUS_M / deg_rad(latitude - lat_delta).cos());
    // The edge nearer the pole spans more longitude: the northern edge in the
    // northern hemisphere, the southern one in the southern.
    let long_delta = if latitude < 0.0 {
        long_delta_bottom
    } else {
        long_delta_top
    };
    [
        longitude - long_delta,
        latitude - lat_delta,
        longitude + long_delta,
        latitude + lat_delta,
    ]
}

/// The centre cell and its neighbours covering a search, neighbours the
/// search cannot reach zeroed (Redis's `geohashCalculateAreasByShapeWGS84`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchAreas {
    pub hash: HashBits,
    pub neighbors: Neighbors,
    pub area: Area,
}

/// A zero cell, for the (unreachable) failure of decoding a nonzero hash.
const NO_AREA: Area = Area {
    hash: HashBits { bits: 0, step: 0 },
    longitude: Range { min: 0.0, max: 0.0 },
    latitude: Range { min: 0.0, max: 0.0 },
};

fn decode_wgs84(hash: HashBits) -> Area {
    decode(LONG_RANGE, LAT_RANGE, hash).unwrap_or(NO_AREA)
}

/// Encodes the centre at `steps`, with its neighbours and cell.
fn cells_at(lon: f64, lat: f64, steps: u8) -> (HashBits, Neighbors, Area) {
    // The centre was validated by the caller; a failed encoding (never
    // expected) leaves an all-zero hash as Redis's would.
    let hash = encode_wgs84(lon, lat, steps).unwrap_or(HashBits {
        bits: 0,
        step: steps,
    });
    (hash, neighbors(hash), decode_wgs84(hash))
}

/// The cells covering a search.
pub fn areas_by_shape(shape: &Shape) -> SearchAreas {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let (longitude, latitude) = (shape.longitude, shape.latitude);
    // A box is covered by the circle through its corners.
    let radius = match shape.kind {
        ShapeKind::Circle { radius } => radius,
        ShapeKind::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * shape.conversion;
    let mut steps = estimate_steps(radius, latitude);
    let (mut hash, mut nb, mut area) = cells_at(longitude, latitude, steps);

    // Near a cell's edge the estimated step may leave part of the search
    // outside the nine cells: then use cells twice as large.
    let north = decode_wgs84(nb.north);
    let south = decode_wgs84(nb.south);
    let east = decode_wgs84(nb.east);
    let west = decode_wgs84(nb.west);
    let decrease_step = north.latitude.max < max_lat
        || south.latitude.min > min_lat
        || east.longitude.max < max_lon
        || west.longitude.min > min_lon;
    if steps > 1 && decrease_step {
        steps -= 1;
        (hash, nb, area) = cells_at(longitude, latitude, steps);
    }

    // Drop the neighbours on sides the search does not reach.
    if steps >= 2 {
        let zero = HashBits::default();
        if area.latitude.min < min_lat {
            nb.south = zero;
            nb.south_west = zero;
            nb.south_east = zero;
        }
        if area.latitude.max > max_lat {
            nb.north = zero;
            nb.north_east = zero;
            nb.north_west = zero;
        }
        if area.longitude.min < min_lon {
            nb.west = zero;
            nb.south_west = zero;
            nb.north_west = zero;
        }
        if area.longitude.max > max_lon {
            nb.east = zero;
            nb.south_east = zero;
            nb.north_east = zero;
        }
    }
    SearchAreas {
        hash,
        neighbors: nb,
        area,
    }
}

/// The score ranges `[min, max)` to scan for a search, in Redis's order
/// (centre, N, S, E, W, NE, NW, SE, SW), skipping excluded neighbours and a
/// cell equal to the one scanned just before it (large searches make
/// adjacent neighbours coincide).
pub fn search_ranges(shape: &Shape) -> Vec<(u64, u64)> {
    let a = areas_by_shape(shape);
    let n = a.neighbors;
    let cells = [
        a.hash,
        n.north,
        n.south,
        n.east,
        n.west,
        n.north_east,
        n.north_west,
        n.south_east,
        n.south_west,
    ];
    let mut out = Vec::with_capacity(9);
    // Index of the cell scanned last; 0 (the centre) never counts as a
    // duplicate source, as in Redis.
    let mut last = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() || (last != 0 && *cell == cells[last]) {
            continue;
        }
        let next = HashBits {
            bits: cell.bits + 1,
            step: cell.step,
        };
        out.push((cell.align52(), next.align52()));
        last = i;
    }
    out
}

impl Shape {
    /// The distance in metres from the centre to a point if the point is
    /// inside the shape (Redis's `geohashGetDistanceIfInRadiusWGS84` and
    /// `geohashGetDistanceIfInRectangle`).
    pub fn distance_if_inside(&self, lon: f64, lat: f64) -> Option<f64> {
        let (x1, y1) = (self.longitude, self.latitude);
        match self.kind {
            ShapeKind::Circle { radius } => {
                let d = distance(x1, y1, lon, lat);
                (d <= radius * self.conversion).then_some(d)
            }
            ShapeKind::Box { width, height } => {
                let lon_distance = distance(lon, lat, x1, lat);
                let lat_distance = distance(lon, lat, lon, y1);
                let (w, h) = (width * self.conversion, height * self.conversion);
                if lon_distance > w / 2.0 || lat_distance > h / 2.0 {
                    return None;
                }
                Some(distance(x1, y1, lon, lat))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn interleave_round_trips() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..10_000 {
            let (a, b): (u32, u32) = (rng.gen(), rng.gen());
            assert_eq!(deinterleave(interleave(a, b)), (a, b));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    /// Known values from Redis (GEOADD / GEOPOS / GEOHASH / GEODIST on
    /// redis-server 7.0.15).
    #[test]
    fn redis_vectors() {
        let palermo = score_of(13.361389, 38.115556).unwrap();
        let catania = score_of(15.087269, 37.502669).unwrap();
        assert_eq!(palermo, 3479099956230698);
        assert_eq!(catania, 3479447370796909);
        let (lon, lat) = decode_score(palermo as f64).unwrap();
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        assert_eq!(&geohash_string(palermo as f64).unwrap(), b"sqc8b49rny0");
        let (lon2, lat2) = decode_score(catania as f64).unwrap();
        assert_eq!(
            format!("{:.4}", distance(lon, lat, lon2, lat2) / 1000.0),
            "166.2742"
        );
    }

    #[test]
    fn encode_rejects_out_of_range() {
        assert!(score_of(180.1, 0.0).is_none());
        assert!(score_of(0.0, 85.06).is_none());
        assert!(score_of(-180.0, -85.05112878).is_some());
        assert!(encode_wgs84(0.0, 0.0, 0).is_none());
    }

    #[test]
    fn decode_is_within_half_a_cell() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let cell_lon = 360.0 / (1u64 << 26) as f64;
        let cell_lat = (LAT_MAX - LAT_MIN) / (1u64 << 26) as f64;
        for _ in 0..10_000 {
            let lon = rng.gen_range(LONG_MIN..LONG_MAX);
            let lat = rng.gen_range(LAT_MIN..LAT_MAX);
            let (dlon, dlat) = decode_score(score_of(lon, lat).unwrap() as f64).unwrap();
            assert!((dlon - lon).abs() <= cell_lon / 2.0 + 1e-12, "{lon} {dlon}");
            assert!((dlat - lat).abs() <= cell_lat / 2.0 + 1e-12, "{lat} {dlat}");
            // The decoded centre encodes back to the same cell.
            assert_eq!(score_of(dlon, dlat), score_of(lon, lat));
        }
    }

    #[test]
    fn neighbours_are_adjacent_and_wrap() {
        let h = encode_wgs84(10.0, 20.0, 10).unwrap();
        let nb = neighbors(h);
        let c = decode_wgs84(h);
        let e = decode_wgs84(nb.east);
        let n = decode_wgs84(nb.north);
        let sw = decode_wgs84(nb.south_west);
        assert_eq!(e.longitude.min, c.longitude.max);
        assert_eq!(e.latitude, c.latitude);
        assert_eq!(n.latitude.min, c.latitude.max);
        assert_eq!(sw.longitude.max, c.longitude.min);
        assert_eq!(sw.latitude.max, c.latitude.min);
        // East of the last column is the first one.
        let edge = encode_wgs84(179.99, 0.0, 8).unwrap();
        assert_eq!(decode_wgs84(neighbors(edge).east).longitude.min, -180.0);
    }

    #[test]
    fn distances() {
        assert_eq!(distance(0.0, 0.0, 0.0, 0.0), 0.0);
        // A quarter of a great circle.
        let q = distance(0.0, 0.0, 90.0, 0.0);
        assert!((q - EARTH_RADIUS_M * std::f64::consts::FRAC_PI_2).abs() < 1e-6);
        assert_eq!(distance(1.0, 2.0, 3.0, 4.0), distance(3.0, 4.0, 1.0, 2.0));
    }

    #[test]
    fn steps_estimate() {
        assert_eq!(estimate_steps(0.0, 0.0), 26);
        assert_eq!(estimate_steps(1.0, 0.0), 24);
        assert_eq!(estimate_steps(5_000_000.0, 0.0), 2);
        assert_eq!(estimate_steps(10_000_000.0, 0.0), 1);
        assert_eq!(
            estimate_steps(1000.0, 70.0),
            estimate_steps(1000.0, 0.0) - 1
        );
        assert_eq!(
            estimate_steps(1000.0, -85.0),
            estimate_steps(1000.0, 0.0) - 2
        );
    }

    /// Every point inside a random search lies in one of the scanned ranges
    /// (away from the poles: a search reaching over a pole misses points in
    /// Redis too).
    #[test]
    fn ranges_cover_the_search() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..2_000 {
            let kind = if rng.gen_bool(0.5) {
                ShapeKind::Circle {
                    radius: rng.gen_range(1.0..1_000_000.0),
                }
            } else {
                ShapeKind::Box {
                    width: rng.gen_range(1.0..2_000_000.0),
                    height: rng.gen_range(1.0..2_000_000.0),
                }
            };
            let shape = Shape {
                longitude: rng.gen_range(-180.0..180.0),
                latitude: rng.gen_range(-60.0..60.0),
                kind,
                conversion: 1.0,
            };
            let ranges = search_ranges(&shape);
            assert!(!ranges.is_empty());
            for _ in 0..50 {
                let lon = rng.gen_range(-180.0..180.0);
                let lat = rng.gen_range(LAT_MIN..LAT_MAX);
                let score = score_of(lon, lat).unwrap();
                let (dlon, dlat) = decode_score(score as f64).unwrap();
                if shape.distance_if_inside(dlon, dlat).is_some() {
                    assert!(
                        ranges.iter().any(|&(lo, hi)| lo <= score && score < hi),
                        "{shape:?} misses {lon},{lat}"
                    );
                }
            }
        }
    }
}
