//! Stored values and the per-key entry (value, TTL, access clock).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::bytes::{CompactBytes, VALUE_INLINE_CAP};

/// The LRU clock in ticks of [`LRU_TICK_MS`] (updated by the server's
/// cron), stamped on keys when accessed; OBJECT IDLETIME and LRU eviction
/// read it. Redis ticks once a second; ten ticks a second let eviction
/// tell a key read just now from one written earlier in the same second
/// (32 bits of ticks last 13 years).
static LRU_TICKS: AtomicU32 = AtomicU32::new(0);

/// Milliseconds per LRU clock tick.
pub const LRU_TICK_MS: u64 = 100;

/// Advances the LRU clock (`ms` since some fixed origin).
pub fn set_lru_clock_ms(ms: u64) {
    LRU_TICKS.store((ms / LRU_TICK_MS) as u32, Ordering::Relaxed);
}

fn lru_ticks() -> u32 {
    LRU_TICKS.load(Ordering::Relaxed)
}

/// The LRU clock in seconds (INFO lru_clock, DEBUG OBJECT).
pub fn lru_clock() -> u32 {
    lru_ticks() / (1000 / LRU_TICK_MS as u32)
}

/// True when an LFU maxmemory policy is active: entries then keep Redis's
/// LFU data (16-bit minutes of last decrement, 8-bit log counter) instead of
/// the LRU clock.
static LFU_MODE: AtomicBool = AtomicBool::new(false);
static LFU_LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static LFU_DECAY_TIME: AtomicU32 = AtomicU32::new(1);
const LFU_INIT_VAL: u32 = 5;

/// Applies the LFU settings (maxmemory-policy, lfu-log-factor, lfu-decay-time).
pub fn set_lfu(enabled: bool, log_factor: u32, decay_time: u32) {
    LFU_MODE.store(enabled, Ordering::Relaxed);
    LFU_LOG_FACTOR.store(log_factor, Ordering::Relaxed);
    LFU_DECAY_TIME.store(decay_time, Ordering::Relaxed);
}

fn lfu_minutes() -> u32 {
    (lru_clock() / 60) & 0xffff
}

fn lfu_initial() -> u32 {
    (lfu_minutes() << 8) | LFU_INIT_VAL
}

/// Redis's LFUDecrAndReturn: the counter decayed by the minutes elapsed.
fn lfu_decayed(data: u32) -> u32 {
    let last = data >> 8;
    let counter = data & 0xff;
    let now = lfu_minutes();
    let elapsed = if now >= last {
        now - last
    } else {
        65535 - last + now
    };
    let decay = LFU_DECAY_TIME.load(Ordering::Relaxed);
    let periods = elapsed.checked_div(decay).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// Redis's LFULogIncr: harder to increment the higher the counter.
fn lfu_incr(counter: u32) -> u32 {
    if counter == 255 {
        return 255;
    }
    let r: f64 = rand::random();
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * LFU_LOG_FACTOR.load(Ordering::Relaxed) as f64 + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// Strings longer than this are "raw" rather than "embstr" (Redis's threshold).
pub const EMBSTR_MAX: usize = 44;

/// A string value with Redis's three encodings (visible in OBJECT ENCODING).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrValue {
    /// A decimal integer that round-trips exactly ("int").
    Int(i64),
    /// A short string written whole ("embstr"); inside the entry up to
    /// [`VALUE_INLINE_CAP`] bytes.
    Emb(CompactBytes<VALUE_INLINE_CAP>),
    /// A long string written whole ("raw"): one allocation of exactly its
    /// bytes. Modifying it first turns it into [`StrValue::Raw`].
    Long(Box<[u8]>),
    /// A string modified in place ("raw"); grows geometrically on APPEND.
    Raw(Box<Vec<u8>>),
    /// A large value adopted from the buffer it arrived in (no copy); also
    /// "raw". Modifying it first turns it into [`StrValue::Raw`].
    Shared(Box<bytes::Bytes>),
}

/// Parses `s` as an i64 only if its canonical decimal form is exactly `s`
/// (Redis's `string2ll` rules: no '+', no leading zeros, no spaces).
pub fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(v)
}

impl StrValue {
    /// Stores bytes with the encoding Redis would pick for a fresh SET.
    pub fn from_bytes(b: &[u8]) -> Self {
        if let Some(i) = parse_canonical_i64(b) {
            return StrValue::Int(i);
        }
        if b.len() <= EMBSTR_MAX {
            StrValue::Emb(CompactBytes::new(b))
        } else {
            StrValue::Long(b.into())
        }
    }

    /// Stores a value that arrived in a shared buffer: large ones keep
    /// pointing into it instead of being copied.
    pub fn adopt(b: bytes::Bytes) -> Self {
        if b.len() <= EMBSTR_MAX || parse_canonical_i64(&b).is_some() {
            Self::from_bytes(&b)
        } else {
            StrValue::Shared(Box::new(b))
        }
    }

    pub fn from_vec(v: Vec<u8>) -> Self {
        if v.len() <= EMBSTR_MAX || parse_canonical_i64(&v).is_some() {
            Self::from_bytes(&v)
        } else {
            StrValue::Raw(Box::new(v))
        }
    }

    /// The value's bytes; integers are formatted into `buf`.
    pub fn bytes<'a>(&'a self, buf: &'a mut itoa_buf::Buf) -> &'a [u8] {
        match self {
            StrValue::Int(i) => buf.format(*i),
            StrValue::Emb(b) => b,
            StrValue::Long(b) => b,
            StrValue::Raw(v) => v,
            StrValue::Shared(b) => b,
        }
    }

    /// The value as an owned byte vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut buf = itoa_buf::Buf::default();
        self.bytes(&mut buf).to_vec()
    }

    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(i) => {
                let mut buf = itoa_buf::Buf::default();
                buf.format(*i).len()
            }
            StrValue::Emb(b) => b.len(),
            StrValue::Long(b) => b.len(),
            StrValue::Raw(v) => v.len(),
            StrValue::Shared(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes for in-place modification (converts to "raw", like Redis).
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, StrValue::Raw(_)) {
            *self = StrValue::Raw(Box::new(self.to_vec()));
        }
        match self {
            StrValue::Raw(v) => v,
            _ => unreachable!("converted to raw above"),
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            StrValue::Int(_) => "int",
            StrValue::Emb(_) => "embstr",
            StrValue::Long(_) | StrValue::Raw(_) | StrValue::Shared(_) => "raw",
        }
    }
}

/// Formatting scratch space for integer-encoded strings.
pub mod itoa_buf {
    /// Holds the decimal text of an integer value.
    #[derive(Default)]
    pub struct Buf {
        bytes: [u8; 20],
    }

    impl Buf {
        pub fn format(&mut self, mut v: i64) -> &[u8] {
            let neg = v < 0;
            let mut i = self.bytes.len();
            loop {
                i -= 1;
                let d = (v % 10).unsigned_abs() as u8;
                self.bytes[i] = b'0' + d;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            if neg {
                i -= 1;
                self.bytes[i] = b'-';
            }
            &self.bytes[i..]
        }
    }
}

/// A stored value.
#[derive(Debug, Clone)]
pub enum Value {
    Str(StrValue),
    List(Box<types::List>),
    /// Unboxed: a hash is 16 bytes and fits beside a string's inline bytes.
    Hash(types::Hash),
    Set(Box<types::Set>),
    /// Unboxed: a sorted set is 32 bytes and fits beside a string's inline
    /// bytes. Lists, sets and streams are bigger and stay boxed.
    ZSet(types::ZSet),
    Stream(Box<types::stream::Stream>),
}

impl Value {
    /// The name TYPE prints.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name OBJECT ENCODING prints.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::List(v) => v.encoding(),
            Value::Hash(v) => v.encoding(),
            Value::Set(v) => v.encoding(),
            Value::ZSet(v) => v.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// Heap bytes the value uses beyond its entry (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        self.heap_bytes_sampled(0)
    }

    /// Like [`Value::heap_bytes`], with the elements of big hashes and sets
    /// measured on `samples` of them (0: all; MEMORY USAGE SAMPLES).
    pub fn heap_bytes_sampled(&self, samples: usize) -> usize {
        use std::mem::size_of;
        match self {
            Value::Str(StrValue::Int(_)) => 0,
            Value::Str(StrValue::Emb(CompactBytes::Inline { .. })) => 0,
            Value::Str(StrValue::Emb(CompactBytes::Heap(b))) => b.len(),
            Value::Str(StrValue::Long(b)) => b.len(),
            Value::Str(StrValue::Raw(v)) => size_of::<Vec<u8>>() + v.capacity(),
            Value::Str(StrValue::Shared(b)) => size_of::<bytes::Bytes>() + b.len(),
            Value::List(v) => size_of::<types::List>() + v.mem_bytes(),
            Value::Hash(v) => v.mem_bytes(samples),
            Value::Set(v) => size_of::<types::Set>() + v.mem_bytes(samples),
            Value::ZSet(v) => v.mem_bytes(),
            Value::Stream(v) => size_of::<types::stream::Stream>() + v.mem_bytes(),
        }
    }

    /// A collection with no elements (the key must then disappear, as in Redis).
    /// Roughly how many allocations freeing this value takes (Redis's
    /// lazyfreeGetFreeEffort): one for strings and compact encodings, one
    /// per element for hash tables and skip lists, one per node for lists
    /// and streams.
    pub fn free_effort(&self) -> usize {
        match (self, self.encoding()) {
            (Value::List(l), "quicklist") => l.len() / 128 + 1,
            (Value::Hash(h), "hashtable") => h.len(),
            (Value::Set(s), "hashtable") => s.len(),
            (Value::ZSet(z), "skiplist") => z.len(),
            (Value::Stream(s), _) => s.node_count() + 1,
            _ => 1,
        }
    }

    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(v) => v.is_empty(),
            Value::Hash(v) => v.is_empty(),
            Value::Set(v) => v.is_empty(),
            Value::ZSet(v) => v.is_empty(),
            // An empty stream stays (it keeps its last id and groups).
            Value::Stream(_) => false,
        }
    }
}

/// One key's entry.
#[derive(Debug, Clone)]
pub struct Entry {
    key: CompactBytes,
    pub value: Value,
    /// Absolute expiry in ms since the epoch; 0 = persistent. Changed only
    /// through [`crate::Locked::set_expire`], which keeps TTL counts right.
    pub(crate) expire_at: u64,
    /// LRU clock of the last access (seconds), or LFU data in LFU mode.
    lru: u32,
}

impl Entry {
    pub fn new(key: &[u8], value: Value, expire_at: u64) -> Self {
        Entry {
            key: CompactBytes::new(key),
            value,
            expire_at,
            lru: if LFU_MODE.load(Ordering::Relaxed) {
                lfu_initial()
            } else {
                lru_ticks()
            },
        }
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The value, giving up the entry.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// The key and the value, giving up the entry.
    pub fn into_parts(self) -> (CompactBytes, Value) {
        (self.key, self.value)
    }

    /// Bytes this key costs: its entry, a table slot, a long key's heap copy
    /// and the value, big hashes and sets measured on `samples` elements
    /// (MEMORY USAGE [SAMPLES]; 0: all).
    pub fn mem_usage(&self, samples: usize) -> usize {
        let key_heap = match &self.key {
            CompactBytes::Heap(b) => b.len(),
            CompactBytes::Inline { .. } => 0,
        };
        std::mem::size_of::<Entry>() + 8 + key_heap + self.value.heap_bytes_sampled(samples)
    }

    /// Absolute expiry (ms since the epoch), if any.
    pub fn expire_at(&self) -> Option<u64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }

    pub fn touch(&mut self) {
        self.lru = if LFU_MODE.load(Ordering::Relaxed) {
            (lfu_minutes() << 8) | lfu_incr(lfu_decayed(self.lru))
        } else {
            lru_ticks()
        };
    }

    /// The LFU access counter (meaningful in LFU mode).
    pub fn lfu_counter(&self) -> u32 {
        lfu_decayed(self.lru)
    }

    /// Seconds since the last access.
    pub fn idle_seconds(&self) -> u64 {
        self.idle_ms() / 1000
    }

    /// Milliseconds since the last access, in LRU clock ticks.
    pub fn idle_ms(&self) -> u64 {
        lru_ticks().wrapping_sub(self.lru) as u64 * LRU_TICK_MS
    }

    /// Makes the key look last used `secs` ago (RESTORE IDLETIME, an RDB
    /// file's idle time); ignored in LFU mode, as Redis's
    /// `objectSetLRUOrLFU` does.
    pub fn set_idle_seconds(&mut self, secs: u64) {
        if !LFU_MODE.load(Ordering::Relaxed) {
            let ticks = secs
                .saturating_mul(1000 / LRU_TICK_MS)
                .min(u32::MAX as u64 / 2);
            self.lru = lru_ticks().wrapping_sub(ticks as u32);
        }
    }

    /// Sets the LFU counter (RESTORE FREQ, an RDB file's frequency);
    /// ignored outside LFU mode.
    pub fn set_lfu_counter(&mut self, counter: u8) {
        if LFU_MODE.load(Ordering::Relaxed) {
            self.lru = (lfu_minutes() << 8) | counter as u32;
        }
    }
}

/// Whether entries keep LFU data (an LFU maxmemory policy is active).
pub fn lfu_mode() -> bool {
    LFU_MODE.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(StrValue::from_bytes(b"123").encoding(), "int");
        assert_eq!(StrValue::from_bytes(b"0123").encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(b"-0").encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(&[b'a'; 45]).encoding(), "raw");
        assert_eq!(
            StrValue::from_bytes(b"-9223372036854775808").to_vec(),
            b"-9223372036854775808"
        );
        assert_eq!(
            StrValue::from_bytes(b"9223372036854775808").encoding(),
            "embstr"
        );
        assert_eq!(std::mem::size_of::<StrValue>(), 40);
        assert_eq!(std::mem::size_of::<Value>(), 40);
        assert_eq!(std::mem::size_of::<Entry>(), 80);
    }
}
