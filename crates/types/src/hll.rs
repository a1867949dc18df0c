//! HyperLogLog, byte-compatible with Redis (`src/hyperloglog.c`): the value
//! is a plain string, so GET/SET/DUMP move it between servers unchanged.
//!
//! Layout: a 16-byte header — the magic `HYLL`, one encoding byte (0 dense,
//! 1 sparse), three unused bytes, and the last computed cardinality as a
//! little-endian u64 whose most significant bit marks the cache invalid —
//! followed by the registers:
//!
//! - dense: 16384 six-bit registers packed from the least significant bit of
//!   each byte upwards (12288 bytes, 12304 in all);
//! - sparse: a run-length code of ZERO (`00xxxxxx`, 1-64 zero registers),
//!   XZERO (`01xxxxxx yyyyyyyy`, 1-16384 zero registers) and VAL
//!   (`1vvvvvxx`, 1-4 registers holding 1-32) opcodes, promoted to dense when
//!   a register needs more than 32 or the string would outgrow
//!   `hll-sparse-max-bytes`.
//!
//! Elements are hashed with MurmurHash64A (seed `0xadc83b19`): the low 14
//! bits pick the register, the length of the run of zeros above them (plus
//! one, at most 51) is the register candidate. Counting uses Redis 7's
//! estimator (Ertl's "improved raw estimator" with its tau/sigma
//! corrections over the register histogram).
//!
//! Values come from the network (SET, RESTORE), so every reader here is
//! bounds-checked: a hostile sparse string yields [`Corrupted`], never a
//! panic. Where Redis reads one byte past the end of a string (the implicit
//! NUL terminator of an sds), [`byte_at`] reads a 0 too, so even corrupted
//! values evolve exactly as they do in Redis.

/// Header size: magic, encoding, 3 unused bytes, cached cardinality.
pub const HDR_SIZE: usize = 16;
/// Index bits: 2^14 registers.
pub const P: u32 = 14;
/// Hash bits left for the zero-run count.
pub const Q: u32 = 64 - P;
pub const REGISTERS: usize = 1 << P;
const P_MASK: u64 = (REGISTERS as u64) - 1;
const REGISTER_BITS: usize = 6;
const REGISTER_MAX: u32 = (1 << REGISTER_BITS) - 1;
/// Total size of a dense HyperLogLog string.
pub const DENSE_SIZE: usize = HDR_SIZE + (REGISTERS * REGISTER_BITS).div_ceil(8);
/// Encoding byte values.
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
const MAX_ENCODING: u8 = 1;

/// The largest value a sparse VAL opcode holds.
pub const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
const SPARSE_XZERO_BIT: u8 = 0x40;
const SPARSE_VAL_BIT: u8 = 0x80;

/// The hash seed Redis uses for elements.
pub const HASH_SEED: u64 = 0xadc83b19;
/// 0.5 / ln(2), the estimator's alpha for m → ∞.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The value is a HyperLogLog by its header but its registers do not decode
/// (Redis's "INVALIDOBJ Corrupted HLL object detected").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupted;

/// MurmurHash2, 64-bit version (MurmurHash64A), reading words little endian
/// as Redis does on every architecture.
pub fn murmurhash64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    // Redis multiplies the length as a C int by the 64-bit constant.
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let mut k = u64::from_le_bytes(word);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element lands in and the length of its "000..1" pattern
/// (1 ..= Q+1), Redis's hllPatLen.
pub fn pattern_len(element: &[u8]) -> (usize, u8) {
    let hash = murmurhash64a(element, HASH_SEED);
    let index = (hash & P_MASK) as usize;
    // The sentinel bit bounds the count at Q+1.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// The byte at `i`, or 0 past the end: Redis reads sds strings one byte past
/// their length (the NUL terminator), and decoding must agree with it.
#[inline]
fn byte_at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// Checks a string the way Redis's isHLLObjectOrReply does: long enough for
/// the header, the magic, a known encoding, and the exact dense length.
/// Returns the encoding byte. (Integer-encoded strings are rejected by the
/// caller, which sees the value's representation.)
pub fn check(s: &[u8]) -> Option<u8> {
    if s.len() < HDR_SIZE || &s[..4] != b"HYLL" {
        return None;
    }
    let encoding = s[4];
    if encoding > MAX_ENCODING || (encoding == DENSE && s.len() != DENSE_SIZE) {
        return None;
    }
    Some(encoding)
}

/// A new, empty HyperLogLog: sparse, one XZERO opcode for all registers.
pub fn new_sparse() -> Vec<u8> {
    let mut s = Vec::with_capacity(HDR_SIZE + 2);
    s.extend_from_slice(b"HYLL");
    s.push(SPARSE);
    s.extend_from_slice(&[0u8; 11]);
    // Redis fills the registers with as many XZERO opcodes as needed.
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        s.extend_from_slice(&xzero_op(run));
        left -= run;
    }
    s
}

/// A new, empty dense HyperLogLog.
pub fn new_dense() -> Vec<u8> {
    let mut s = vec![0u8; DENSE_SIZE];
    s[..4].copy_from_slice(b"HYLL");
    s[4] = DENSE;
    s
}

/// The cached cardinality, if valid.
pub fn cached_card(s: &[u8]) -> Option<u64> {
    let mut card = [0u8; 8];
    card.copy_from_slice(s.get(8..HDR_SIZE)?);
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

/// Stores a freshly computed cardinality in the header.
pub fn set_cached_card(s: &mut [u8], card: u64) {
    if let Some(field) = s.get_mut(8..HDR_SIZE) {
        field.copy_from_slice(&card.to_le_bytes());
    }
}

/// Marks the cached cardinality stale (the MSB of its last byte).
pub fn invalidate_cache(s: &mut [u8]) {
    if let Some(b) = s.get_mut(HDR_SIZE - 1) {
        *b |= 0x80;
    }
}

// ---------------------------------------------------------------------------
// Dense registers
// ---------------------------------------------------------------------------

/// Register `index` of a dense register area (the bytes after the header).
#[inline]
pub fn dense_get(regs: &[u8], index: usize) -> u8 {
    let bit = index * REGISTER_BITS;
    let (byte, fb) = (bit / 8, (bit & 7) as u32);
    let b0 = byte_at(regs, byte) as u32;
    let b1 = byte_at(regs, byte + 1) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX) as u8
}

/// Sets register `index` of a dense register area to `val` (< 64).
#[inline]
pub fn dense_set(regs: &mut [u8], index: usize, val: u8) {
    let bit = index * REGISTER_BITS;
    let (byte, fb) = (bit / 8, (bit & 7) as u32);
    let v = val as u32 & REGISTER_MAX;
    if let Some(b) = regs.get_mut(byte) {
        // The masks are truncated to the byte, as the C macro's stores are.
        *b &= !((REGISTER_MAX << fb) as u8);
        *b |= (v << fb) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((REGISTER_MAX >> (8 - fb)) as u8);
        *b |= (v >> (8 - fb)) as u8;
    }
}

/// Raises a dense register to `count` if it is lower; true if it changed.
#[inline]
fn dense_raise(regs: &mut [u8], index: usize, count: u8) -> bool {
    if count > dense_get(regs, index) {
        dense_set(regs, index, count);
        true
    } else {
        false
    }
}

/// Histogram of register values over a dense register area, unrolled over
/// groups of 4 registers (3 bytes) as the layout repeats.
fn dense_histogram(regs: &[u8], histo: &mut [u32; 64]) {
    for group in regs.chunks_exact(3).take(REGISTERS / 4) {
        let (a, b, c) = (group[0], group[1], group[2]);
        histo[(a & 63) as usize] += 1;
        histo[((a >> 6 | b << 2) & 63) as usize] += 1;
        histo[((b >> 4 | c << 4) & 63) as usize] += 1;
        histo[(c >> 2) as usize] += 1;
    }
}

// ---------------------------------------------------------------------------
// Sparse opcodes
// ---------------------------------------------------------------------------

/// A decoded sparse opcode: a run of `len` registers holding `value`
/// (0 for ZERO/XZERO) taking `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Op {
    value: u8,
    len: usize,
    size: usize,
}

/// Decodes the opcode at `p` (which must be inside `s`).
#[inline]
fn op_at(s: &[u8], p: usize) -> Op {
    let b = s[p];
    if b & 0xc0 == 0 {
        Op {
            value: 0,
            len: (b & 0x3f) as usize + 1,
            size: 1,
        }
    } else if b & SPARSE_VAL_BIT != 0 {
        Op {
            value: ((b >> 2) & 0x1f) + 1,
            len: (b & 3) as usize + 1,
            size: 1,
        }
    } else {
        Op {
            value: 0,
            len: ((((b & 0x3f) as usize) << 8) | byte_at(s, p + 1) as usize) + 1,
            size: 2,
        }
    }
}

fn is_xzero(b: u8) -> bool {
    b & 0xc0 == SPARSE_XZERO_BIT
}

fn is_val(b: u8) -> bool {
    b & SPARSE_VAL_BIT != 0
}

fn val_op(value: u8, len: usize) -> u8 {
    ((value - 1) << 2 | (len as u8 - 1)) | SPARSE_VAL_BIT
}

fn zero_op(len: usize) -> u8 {
    (len - 1) as u8
}

fn xzero_op(len: usize) -> [u8; 2] {
    let l = len - 1;
    [(l >> 8) as u8 | SPARSE_XZERO_BIT, (l & 0xff) as u8]
}

/// Appends the opcode(s) for a run of `len` zero registers to `seq`.
fn push_zeros(seq: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        seq.extend_from_slice(&xzero_op(len));
    } else {
        seq.push(zero_op(len));
    }
}

/// Walks the sparse opcodes of `s`, calling `run(first_register, op)` for
/// each run, and stops early (returning false) when a run would go past the
/// last register. True when the runs cover exactly all registers.
fn sparse_runs(s: &[u8], mut run: impl FnMut(usize, Op)) -> bool {
    let mut idx = 0usize;
    let mut p = HDR_SIZE;
    while p < s.len() {
        let op = op_at(s, p);
        if idx + op.len > REGISTERS {
            return false;
        }
        run(idx, op);
        idx += op.len;
        p += op.size;
    }
    idx == REGISTERS
}

/// Converts a sparse HyperLogLog to dense in place (header, cached
/// cardinality included, kept). Ok(false) if it already was dense.
pub fn to_dense(s: &mut Vec<u8>) -> Result<bool, Corrupted> {
    if s.get(4) == Some(&DENSE) {
        return Ok(false);
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    let header = s.get(..HDR_SIZE).ok_or(Corrupted)?;
    dense[..HDR_SIZE].copy_from_slice(header);
    dense[4] = DENSE;
    let regs = &mut dense[HDR_SIZE..];
    let valid = sparse_runs(s, |first, op| {
        if op.value != 0 {
            for i in first..first + op.len {
                dense_set(regs, i, op.value);
            }
        }
    });
    if !valid {
        return Err(Corrupted);
    }
    *s = dense;
    Ok(true)
}

/// Raises register `index` of a sparse HyperLogLog to `count` if lower,
/// rewriting the opcode that covers it (Redis's hllSparseSet, including its
/// choice of opcodes and the merge of neighbouring VALs, so the bytes match).
/// Promotes to dense when `count` does not fit a VAL opcode or the string
/// would grow past `max_bytes`. True if the register changed.
fn sparse_set(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Corrupted> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let mut p = HDR_SIZE;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut found: Option<Op> = None;
    while p < s.len() {
        let op = op_at(s, p);
        if index < first + op.len {
            found = Some(op);
            break;
        }
        prev = Some(p);
        p += op.size;
        first += op.len;
    }
    let Some(op) = found else {
        return Err(Corrupted);
    };
    // Step 2: cases that need no split.
    let opcode = s[p];
    if is_val(opcode) {
        if op.value >= count {
            return Ok(false);
        }
        if op.len == 1 {
            s[p] = val_op(count, 1);
            return Ok(sparse_updated(s, prev));
        }
    } else if op.size == 1 && op.len == 1 {
        s[p] = val_op(count, 1);
        return Ok(sparse_updated(s, prev));
    }
    // General case: split the run into [before] VAL(count) [after].
    let last = first + op.len - 1;
    let mut seq: Vec<u8> = Vec::with_capacity(5);
    if is_val(opcode) {
        if index != first {
            seq.push(val_op(op.value, index - first));
        }
        seq.push(val_op(count, 1));
        if index != last {
            seq.push(val_op(op.value, last - index));
        }
    } else {
        if index != first {
            push_zeros(&mut seq, index - first);
        }
        seq.push(val_op(count, 1));
        if index != last {
            push_zeros(&mut seq, last - index);
        }
    }
    // Step 3: replace the old opcode with the sequence.
    let old_len = s.len();
    let new_len = old_len + seq.len() - op.size;
    if seq.len() > op.size && new_len > max_bytes {
        return promote(s, index, count);
    }
    let next = p + op.size;
    if next < old_len {
        s.splice(p..next, seq);
    } else {
        // The last opcode. An XZERO cut short by the end of the string (only
        // in corrupted values) loses its last byte, as it does in Redis.
        s.truncate(p);
        s.extend_from_slice(&seq);
        s.truncate(new_len);
    }
    Ok(sparse_updated(s, prev))
}

/// Step 4 of a sparse update: merges adjacent VAL opcodes with the same
/// value around the change (up to 5 opcodes from the one before it), then
/// invalidates the cached cardinality. Always true (the register changed).
fn sparse_updated(s: &mut Vec<u8>, prev: Option<usize>) -> bool {
    let mut p = prev.unwrap_or(HDR_SIZE);
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        let b = s[p];
        if is_xzero(b) {
            p += 2;
            continue;
        }
        if !is_val(b) {
            p += 1;
            continue;
        }
        if let Some(&b2) = s.get(p + 1) {
            if is_val(b2) {
                let (a, c) = (op_at(s, p), op_at(s, p + 1));
                let len = a.len + c.len;
                if a.value == c.value && len <= SPARSE_VAL_MAX_LEN {
                    s[p + 1] = val_op(a.value, len);
                    s.remove(p);
                    // Try to merge the result with its right neighbour too.
                    continue;
                }
            }
        }
        p += 1;
    }
    invalidate_cache(s);
    true
}

/// Promotes a sparse HyperLogLog to dense and sets the register there.
fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupted> {
    to_dense(s)?;
    dense_raise(&mut s[HDR_SIZE..], index, count);
    Ok(true)
}

/// Raises register `index` to `count` if lower, in whichever encoding `s`
/// has (a valid header is assumed: see [`check`]). True if it changed.
/// Dense updates are O(1) in place.
pub fn set_register(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max_bytes: usize,
) -> Result<bool, Corrupted> {
    match s.get(4) {
        Some(&DENSE) if s.len() == DENSE_SIZE => Ok(dense_raise(&mut s[HDR_SIZE..], index, count)),
        Some(&SPARSE) => sparse_set(s, index, count, sparse_max_bytes),
        _ => Err(Corrupted),
    }
}

/// Adds an element (PFADD's hllAdd). True if a register changed. The cached
/// cardinality is left for the caller to invalidate (PFADD does it once for
/// all its elements).
pub fn add(s: &mut Vec<u8>, element: &[u8], sparse_max_bytes: usize) -> Result<bool, Corrupted> {
    let (index, count) = pattern_len(element);
    set_register(s, index, count, sparse_max_bytes)
}

// ---------------------------------------------------------------------------
// Counting and merging
// ---------------------------------------------------------------------------

/// Ertl's sigma helper (arXiv:1702.01284), as Redis computes it.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_prev = z;
        z += x * y;
        y += y;
        if z_prev == z {
            return z;
        }
    }
}

/// Ertl's tau helper (arXiv:1702.01284), as Redis computes it.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_prev = z;
        y *= 0.5;
        z -= (1.0 - x).powf(2.0) * y;
        if z_prev == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate from a histogram of register values.
fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    // llroundl: nearest, halves away from zero.
    (ALPHA_INF * m * m / z).round() as u64
}

/// The estimated cardinality of a HyperLogLog string (valid header assumed,
/// see [`check`]); Err for sparse registers that do not decode.
pub fn count(s: &[u8]) -> Result<u64, Corrupted> {
    let mut histo = [0u32; 64];
    match s.get(4) {
        Some(&DENSE) => dense_histogram(s.get(HDR_SIZE..).ok_or(Corrupted)?, &mut histo),
        Some(&SPARSE) => {
            let valid = sparse_runs(s, |_, op| histo[op.value as usize] += op.len as u32);
            if !valid {
                return Err(Corrupted);
            }
        }
        _ => return Err(Corrupted),
    }
    Ok(estimate(&histo))
}

/// The estimated cardinality of a raw register array (one byte per
/// register), as used for the union in a multi-key PFCOUNT.
pub fn count_raw(regs: &[u8; REGISTERS]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in regs {
        histo[(r & 63) as usize] += 1;
    }
    estimate(&histo)
}

/// Merges a HyperLogLog string into a raw register array
/// (`max[i] = max(max[i], reg[i])`); Err for sparse registers that do not
/// decode.
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), Corrupted> {
    match s.get(4) {
        Some(&DENSE) => {
            let regs = s.get(HDR_SIZE..).ok_or(Corrupted)?;
            for (i, m) in max.iter_mut().enumerate() {
                let v = dense_get(regs, i);
                if v > *m {
                    *m = v;
                }
            }
            Ok(())
        }
        Some(&SPARSE) => {
            let valid = sparse_runs(s, |first, op| {
                if op.value != 0 {
                    for m in &mut max[first..first + op.len] {
                        if op.value > *m {
                            *m = op.value;
                        }
                    }
                }
            });
            valid.then_some(()).ok_or(Corrupted)
        }
        _ => Err(Corrupted),
    }
}

/// All registers of a dense HyperLogLog, one byte each.
pub fn dense_registers(s: &[u8]) -> Vec<u8> {
    let regs = s.get(HDR_SIZE..).unwrap_or(&[]);
    (0..REGISTERS).map(|i| dense_get(regs, i)).collect()
}

/// PFDEBUG DECODE's text for a sparse HyperLogLog: `z:N` (ZERO), `Z:N`
/// (XZERO) and `v:VALUE,N` (VAL) separated by spaces. Decodes every byte,
/// valid or not, as Redis does.
pub fn decode_sparse(s: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut p = HDR_SIZE;
    while p < s.len() {
        let op = op_at(s, p);
        let b = s[p];
        let _ = if is_val(b) {
            write!(out, "v:{},{} ", op.value, op.len)
        } else if is_xzero(b) {
            write!(out, "Z:{} ", op.len)
        } else {
            write!(out, "z:{} ", op.len)
        };
        p += op.size;
    }
    out.truncate(out.trim_end_matches(' ').len());
    out
}

/// PFSELFTEST: register packing round trips, and dense and sparse
/// estimates agree and stay within bounds up to 10 million elements.
/// `seed` drives the random values; Err holds the TESTFAILED message.
pub fn selftest(seed: u64, sparse_max_bytes: usize) -> Result<(), String> {
    let mut rng = seed | 1;
    let mut next = move || {
        // xorshift64: a small, dependency-free generator.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // Test 1: registers keep their values and do not disturb neighbours.
    let mut dense = new_dense();
    let mut bytes = vec![0u8; REGISTERS];
    for _ in 0..1000 {
        for (i, b) in bytes.iter_mut().enumerate() {
            let r = (next() & REGISTER_MAX as u64) as u8;
            *b = r;
            dense_set(&mut dense[HDR_SIZE..], i, r);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let v = dense_get(&dense[HDR_SIZE..], i);
            if v != b {
                return Err(format!("TESTFAILED Register {i} should be {b} but is {v}"));
            }
        }
    }
    // Test 2: approximation error, dense and sparse side by side.
    let mut dense = new_dense();
    let mut sparse = new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint: u64 = 1;
    let seed = next();
    for j in 1..=10_000_000u64 {
        let ele = (j ^ seed).to_le_bytes();
        let (index, run) = pattern_len(&ele);
        dense_raise(&mut dense[HDR_SIZE..], index, run);
        set_register(&mut sparse, index, run, sparse_max_bytes)
            .map_err(|_| "TESTFAILED sparse representation corrupted".to_string())?;
        if j != checkpoint {
            continue;
        }
        if (j as usize) < sparse_max_bytes / 2 && sparse[4] != SPARSE {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let dense_card = count(&dense).unwrap_or(0);
        if count(&sparse).ok() != Some(dense_card) {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = (checkpoint as i64 - dense_card as i64).unsigned_abs();
        let mut maxerr = (relerr * 6.0 * checkpoint as f64).ceil() as u64;
        // Collisions make small cardinalities noisy.
        if j == 10 {
            maxerr = 1;
        }
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn registers_of(s: &[u8]) -> Vec<u8> {
        let mut max = [0u8; REGISTERS];
        merge_into(&mut max, s).expect("valid");
        max.to_vec()
    }

    #[test]
    fn murmur_vectors() {
        // Full hashes from an independent MurmurHash64A; the register and
        // run length of each were checked against redis-server (PFADD of the
        // single element, then PFDEBUG DECODE), e.g. "" -> "Z:5938 v:2,1".
        let vectors: [(&[u8], u64, usize, u8); 5] = [
            (b"", 0xd8df_ea65_85bc_9732, 5938, 2),
            (b"abcdefgh", 0xf3a6_5df5_5991_4567, 1383, 1),
            (
                b"hello world, this is a longer element",
                0x93b0_7196_3f84_c358,
                856,
                1,
            ),
            (b"1234567", 0x8556_3db1_6363_2857, 10327, 3),
            (b"foobarbaz9", 0xeef4_d20e_bd04_cb33, 2867, 1),
        ];
        for (element, hash, index, run) in vectors {
            assert_eq!(murmurhash64a(element, HASH_SEED), hash);
            assert_eq!(pattern_len(element), (index, run));
        }
        // Registers of PFADD h a b c in redis-server:
        // "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603".
        let mut got: Vec<(usize, u8)> =
            [b"a", b"b", b"c"].iter().map(|e| pattern_len(*e)).collect();
        got.sort();
        assert_eq!(got, vec![(8436, 1), (12711, 2), (15780, 1)]);
    }

    #[test]
    fn empty_hll_bytes() {
        let s = new_sparse();
        assert_eq!(&s[..5], b"HYLL\x01");
        assert_eq!(&s[16..], &[0x7f, 0xff]);
        assert_eq!(check(&s), Some(SPARSE));
        assert_eq!(count(&s), Ok(0));
        assert_eq!(decode_sparse(&s), "Z:16384");
    }

    #[test]
    fn redis_bytes_for_abc() {
        let mut s = new_sparse();
        for e in [&b"a"[..], b"b", b"c"] {
            assert_eq!(add(&mut s, e, 3000), Ok(true));
        }
        invalidate_cache(&mut s);
        assert_eq!(
            &s[16..],
            &[0x60, 0xf3, 0x80, 0x50, 0xb1, 0x84, 0x4b, 0xfb, 0x80, 0x42, 0x5a]
        );
        assert_eq!(count(&s), Ok(3));
    }

    #[test]
    fn dense_register_packing() {
        let mut d = new_dense();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let vals: Vec<u8> = (0..REGISTERS).map(|_| rng.gen_range(0..64)).collect();
        for (i, &v) in vals.iter().enumerate() {
            dense_set(&mut d[HDR_SIZE..], i, v);
        }
        assert_eq!(d.len(), DENSE_SIZE);
        assert_eq!(dense_registers(&d), vals);
    }

    #[test]
    fn sparse_then_promoted_equals_direct_dense() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        for round in 0..20 {
            let n = rng.gen_range(0..6000);
            let max_bytes = [3000, 200, 0, 12000][round % 4];
            let mut sparse = new_sparse();
            let mut dense = new_dense();
            let mut model = vec![0u8; REGISTERS];
            for _ in 0..n {
                let e: u64 = rng.gen();
                let e = e.to_string();
                let (i, c) = pattern_len(e.as_bytes());
                let changed = add(&mut sparse, e.as_bytes(), max_bytes).unwrap();
                let dchanged = add(&mut dense, e.as_bytes(), max_bytes).unwrap();
                assert_eq!(changed, c > model[i]);
                assert_eq!(changed, dchanged);
                model[i] = model[i].max(c);
                if sparse[4] == SPARSE {
                    assert!(sparse.len() <= max_bytes.max(18) || n == 0);
                }
            }
            assert_eq!(registers_of(&sparse), model);
            assert_eq!(registers_of(&dense), model);
            assert_eq!(count(&sparse), count(&dense));
            let mut raw = [0u8; REGISTERS];
            raw.copy_from_slice(&model);
            assert_eq!(count(&dense).unwrap(), count_raw(&raw));
            // Converting at the end gives the same registers as promotion.
            let mut converted = sparse.clone();
            to_dense(&mut converted).unwrap();
            assert_eq!(&converted[HDR_SIZE..], &dense[HDR_SIZE..]);
        }
    }

    #[test]
    fn sparse_opcodes_stay_canonical() {
        // No two adjacent VALs with the same value that could merge,
        // and every run representable: compare against a re-encoding.
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut s = new_sparse();
        for _ in 0..800 {
            let e: u32 = rng.gen();
            add(&mut s, &e.to_le_bytes(), 100_000).unwrap();
            assert_eq!(s[4], SPARSE);
            assert!(sparse_runs(&s, |_, _| {}));
        }
    }

    #[test]
    fn estimates_are_close() {
        let mut d = new_dense();
        for i in 0..100_000u32 {
            add(&mut d, format!("e{i}").as_bytes(), 3000).unwrap();
        }
        let c = count(&d).unwrap() as f64;
        assert!((c - 100_000.0).abs() / 100_000.0 < 0.03, "{c}");
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1234);
        let mut base = new_sparse();
        for i in 0..300u32 {
            add(&mut base, &i.to_le_bytes(), 3000).unwrap();
        }
        for _ in 0..3000 {
            let mut s = if rng.gen_bool(0.2) {
                let n = rng.gen_range(0..64);
                let mut s = b"HYLL\x01".to_vec();
                s.extend((0..11 + n).map(|_| rng.gen::<u8>()));
                s
            } else {
                base.clone()
            };
            for _ in 0..rng.gen_range(1..6) {
                let pos = rng.gen_range(HDR_SIZE..s.len().max(HDR_SIZE + 1));
                if pos < s.len() {
                    s[pos] = rng.gen();
                } else {
                    s.push(rng.gen());
                }
            }
            if check(&s).is_none() {
                continue;
            }
            let _ = count(&s);
            let _ = decode_sparse(&s);
            let mut max = [0u8; REGISTERS];
            let _ = merge_into(&mut max, &s);
            let mut t = s.clone();
            let _ = to_dense(&mut t);
            for _ in 0..20 {
                let e: u64 = rng.gen();
                if add(&mut s, &e.to_le_bytes(), 3000).is_err() {
                    break;
                }
            }
        }
        // A truncated XZERO at the end.
        let mut s = new_sparse();
        s.pop();
        assert_eq!(count(&s), Err(Corrupted));
        let _ = add(&mut s, b"x", 3000);
        // Runs that add up past 2^32 registers.
        let mut s = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        for _ in 0..140_000 {
            s.extend_from_slice(&[0x7f, 0xff]);
        }
        s.push(0xff);
        assert_eq!(count(&s), Err(Corrupted));
        let mut max = [0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &s), Err(Corrupted));
        assert_eq!(to_dense(&mut s.clone()), Err(Corrupted));
    }

    #[test]
    fn check_rules() {
        assert_eq!(check(b"HYLL"), None);
        assert_eq!(check(&new_dense()), Some(DENSE));
        let mut d = new_dense();
        d.push(0);
        assert_eq!(check(&d), None);
        let mut s = new_sparse();
        s[4] = 2;
        assert_eq!(check(&s), None);
        s[4] = 1;
        s[0] = b'h';
        assert_eq!(check(&s), None);
    }

    #[test]
    fn selftest_passes() {
        assert_eq!(selftest(12345, 3000), Ok(()));
    }

    #[test]
    fn cache_field() {
        let mut s = new_sparse();
        assert_eq!(cached_card(&s), Some(0));
        invalidate_cache(&mut s);
        assert_eq!(cached_card(&s), None);
        set_cached_card(&mut s, 12345);
        assert_eq!(cached_card(&s), Some(12345));
    }
}
