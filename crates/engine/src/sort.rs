//! SORT and SORT_RO, following Redis 7.0's `sort.c` step by step: the same
//! option parsing (and so the same errors), the same LIMIT clamping, the
//! same "load only the range" shortcut for lists and sorted sets that need
//! no sorting, the same comparison (numbers by `strtod`, ties broken by the
//! bytes; ALPHA by `strcoll` in the C locale, i.e. bytes up to the first NUL,
//! or by the whole bytes when storing), and Redis's partial quicksort
//! (`pqsort`) when BY and LIMIT are combined, so that even elements that
//! compare equal come out in Redis's order.
//!
//! # Locking
//!
//! The keys read by BY and GET patterns are only known once the source has
//! been read, and may live in any lock shard. A SORT that has such a pattern
//! (one containing `*`, other than `GET #`) therefore locks every shard with
//! [`keyspace::Keyspace::lock_all`] for its whole run, which keeps it atomic
//! like Redis's single-threaded SORT; a SORT without patterns locks just its
//! source and STORE destination.

use std::cmp::Ordering;

use keyspace::{Locked, Value};

use crate::args::{eq, int};
use crate::error::{CmdError, CmdResult, SYNTAX, WRONGTYPE};
use crate::strtod::strtod;
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[("sort", sort), ("sort_ro", sort_ro)];

fn sort(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, a, false)
}

fn sort_ro(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, a, true)
}

/// The bytes of `s` as C string functions see them (up to the first NUL).
fn c_str(s: &[u8]) -> &[u8] {
    match s.iter().position(|&c| c == 0) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// Does a BY/GET pattern make SORT read other keys?
fn pattern_reads_keys(p: &[u8]) -> bool {
    !is_hash_sign(p) && c_str(p).contains(&b'*')
}

/// `#` (Redis compares the first two C characters, so `#\0...` counts too).
fn is_hash_sign(p: &[u8]) -> bool {
    p.first() == Some(&b'#') && p.get(1).is_none_or(|&c| c == 0)
}

/// Redis's `lookupKeyByPattern`: the value a BY/GET pattern names for
/// element `subst`. `#` is the element itself; `prefix*postfix` reads a
/// string key; `prefix*postfix->field` reads a hash field. None when the
/// pattern has no `*`, the key is missing or of another type.
fn lookup_by_pattern(l: &mut Locked, db: usize, pattern: &[u8], subst: &[u8]) -> Option<Vec<u8>> {
    if is_hash_sign(pattern) {
        return Some(subst.to_vec());
    }
    let cpat = c_str(pattern);
    let star = cpat.iter().position(|&c| c == b'*')?;
    // "->" after the '*', followed by a (C) non-empty field name.
    let arrow = cpat[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&f| f + 2 < cpat.len());
    let (field, postfix_end) = match arrow {
        Some(f) => (Some(&pattern[f + 2..]), f),
        None => (None, pattern.len()),
    };
    let mut key = Vec::with_capacity(postfix_end + subst.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(subst);
    key.extend_from_slice(&pattern[star + 1..postfix_end]);
    let e = l.get(db, &key)?;
    match (&e.value, field) {
        (Value::Hash(h), Some(f)) => h.get(f).map(|v| v.to_vec()),
        (Value::Str(s), None) => Some(s.to_vec()),
        _ => None,
    }
}

/// The value being sorted.
enum Source<'v> {
    List(&'v types::List),
    Set(&'v types::Set),
    ZSet(&'v types::ZSet),
}

/// One element being sorted (Redis's `redisSortObject`).
struct Item {
    obj: Vec<u8>,
    /// The numeric weight (0 when the BY key is missing).
    score: f64,
    /// The ALPHA weight read through BY (None when missing).
    cmp: Option<Vec<u8>>,
}

/// What `sortCompare` reads from the server struct.
#[derive(Clone, Copy)]
struct SortMode {
    desc: bool,
    alpha: bool,
    by_pattern: bool,
    store: bool,
}

/// Redis's `sortCompare`.
fn compare(m: SortMode, a: &Item, b: &Item) -> Ordering {
    let ord = if !m.alpha {
        // Equal (or NaN) scores fall back to the elements' bytes, so the
        // result is deterministic.
        if a.score > b.score {
            Ordering::Greater
        } else if a.score < b.score {
            Ordering::Less
        } else {
            a.obj.cmp(&b.obj)
        }
    } else {
        // STORE compares binary-safe; otherwise strcoll, which in the C
        // locale is strcmp: bytes up to the first NUL.
        let strings = |x: &[u8], y: &[u8]| {
            if m.store {
                x.cmp(y)
            } else {
                c_str(x).cmp(c_str(y))
            }
        };
        if m.by_pattern {
            // A missing BY value sorts first.
            match (&a.cmp, &b.cmp) {
                (Some(x), Some(y)) => strings(x, y),
                (x, y) => x.is_some().cmp(&y.is_some()),
            }
        } else {
            strings(&a.obj, &b.obj)
        }
    };
    if m.desc {
        ord.reverse()
    } else {
        ord
    }
}

/// `strtod(s, &end)` followed by Redis's checks (`*end == '\0'`, no
/// ERANGE, not NaN): the weight of a numeric SORT, or None if it "can't be
/// converted into double". Like C, parsing stops at a NUL byte.
fn sort_score(s: &[u8]) -> Option<f64> {
    let s = c_str(s);
    let (v, used, erange) = strtod(s);
    if used != s.len() || erange || v.is_nan() {
        return None;
    }
    Some(v)
}

/// Redis's `pqsort`: Bentley-McIlroy quicksort that only recurses into
/// partitions overlapping `[lrange, rrange]`. Ported index for index, so
/// elements comparing equal end up where Redis puts them. (GEOSEARCH's
/// COUNT without ANY uses it too.)
pub(crate) fn pqsort<T>(
    v: &mut [T],
    cmp: &impl Fn(&T, &T) -> Ordering,
    lrange: usize,
    rrange: usize,
) {
    let n = v.len();
    pqsort_inner(v, 0, n, cmp, lrange, rrange);
}

fn pqsort_inner<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    cmp: &impl Fn(&T, &T) -> Ordering,
    lrange: usize,
    rrange: usize,
) {
    let med3 = |v: &[T], x: usize, y: usize, z: usize| {
        if cmp(&v[x], &v[y]) == Ordering::Less {
            if cmp(&v[y], &v[z]) == Ordering::Less {
                y
            } else if cmp(&v[x], &v[z]) == Ordering::Less {
                z
            } else {
                x
            }
        } else if cmp(&v[y], &v[z]) == Ordering::Greater {
            y
        } else if cmp(&v[x], &v[z]) == Ordering::Less {
            x
        } else {
            z
        }
    };
    let vecswap = |v: &mut [T], x: usize, y: usize, k: usize| {
        for i in 0..k {
            v.swap(x + i, y + i);
        }
    };
    // Does the element range [lo, hi] overlap the wanted range?
    let wanted =
        |lo: usize, hi: usize| !((lrange < lo && rrange < lo) || (lrange > hi && rrange > hi));
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(&v[pl - 1], &v[pl]) == Ordering::Greater {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d);
                pm = med3(v, pm - d, pm, pm + d);
                pn = med3(v, pn - 2 * d, pn - d, pn);
            }
            pm = med3(v, pl, pm, pn);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let c = cmp(&v[pb], &v[a]);
                if c == Ordering::Greater {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&v[pc], &v[a]);
                if c == Ordering::Less {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && wanted(a, a + r - 1) {
            pqsort_inner(v, a, r, cmp, lrange, rrange);
        }
        let r = pd - pc;
        if r > 1 {
            // Iterate rather than recurse, as Redis does.
            a = pn - r;
            n = r;
            if wanted(a, a + r - 1) {
                continue;
            }
        }
        return;
    }
}

fn sort_generic(ctx: &mut Ctx, a: &[&[u8]], readonly: bool) -> CmdResult {
    let (mut desc, mut alpha, mut dontsort) = (false, false, false);
    let (mut limit_start, mut limit_count) = (0i64, -1i64);
    let mut store: Option<&[u8]> = None;
    let mut by: Option<&[u8]> = None;
    let mut gets: Vec<&[u8]> = Vec::new();
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        let opt = a[j];
        if eq(opt, "asc") {
            desc = false;
        } else if eq(opt, "desc") {
            desc = true;
        } else if eq(opt, "alpha") {
            alpha = true;
        } else if eq(opt, "limit") && left >= 2 {
            limit_start = int(a[j + 1])?;
            limit_count = int(a[j + 2])?;
            j += 2;
        } else if !readonly && eq(opt, "store") && left >= 1 {
            store = Some(a[j + 1]);
            j += 1;
        } else if eq(opt, "by") && left >= 1 {
            by = Some(a[j + 1]);
            // A constant BY means "don't sort" (sticky, as in Redis).
            if !c_str(a[j + 1]).contains(&b'*') {
                dontsort = true;
            }
            j += 1;
        } else if eq(opt, "get") && left >= 1 {
            gets.push(a[j + 1]);
            j += 1;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }

    let db = ctx.db();
    let needs_all =
        by.is_some_and(pattern_reads_keys) || gets.iter().any(|g| pattern_reads_keys(g));
    let mut l = if needs_all {
        let mut l = ctx.server.keyspace.lock_all(ctx.expiry_clock());
        l.touch = !ctx.client.no_touch;
        l
    } else {
        ctx.lock(std::iter::once(a[1]).chain(store))
    };

    // The source: a list, set or sorted set (missing = an empty list). One
    // lookup (a read: counted as a hit or miss); the elements are copied
    // out, so the pattern lookups below are free to use the locks.
    let Some(src) = (match l.get(db, a[1]).map(|e| &mut e.value) {
        None => Some(None),
        Some(Value::ZSet(z)) => {
            // Redis converts a listpack sorted set for SORT, for good.
            z.convert_to_skiplist();
            Some(Some(Source::ZSet(z)))
        }
        Some(Value::List(v)) => Some(Some(Source::List(v))),
        Some(Value::Set(v)) => Some(Some(Source::Set(v))),
        Some(_) => None,
    }) else {
        return Err(WRONGTYPE);
    };
    if dontsort && matches!(src, Some(Source::Set(_))) && (store.is_some() || ctx.client.in_script)
    {
        // An unsorted set has no stable order to store or to hand a script
        // (replicas must see the same): sort it ALPHA, as Redis does.
        dontsort = false;
        alpha = true;
        by = None;
    }

    let len = match &src {
        Some(Source::List(v)) => v.len(),
        Some(Source::Set(v)) => v.len(),
        Some(Source::ZSet(v)) => v.len(),
        None => 0,
    } as i64;
    // LIMIT clamping, exactly as Redis.
    let mut start = limit_start.max(0).min(len);
    let limit_count = limit_count.max(-1).min(len);
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start + limit_count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    // Lists and sorted sets that need no sorting load only the range.
    let ranged = dontsort && !matches!(src, Some(Source::Set(_)));
    let take = if ranged && (start != 0 || end != len - 1) {
        (end - start + 1).max(0) as usize
    } else {
        len as usize
    };

    let objs: Vec<Vec<u8>> = match src {
        Some(Source::List(list)) if ranged => {
            let s = start.max(0) as usize;
            let n = take.min(list.len().saturating_sub(s));
            if desc {
                let hi = list.len() - s;
                list.range(hi - n..hi).rev().map(<[u8]>::to_vec).collect()
            } else {
                list.range(s..s + n).map(<[u8]>::to_vec).collect()
            }
        }
        Some(Source::List(list)) => list.iter().map(<[u8]>::to_vec).collect(),
        Some(Source::Set(set)) => set.iter().map(|m| m.to_vec()).collect(),
        Some(Source::ZSet(z)) if ranged => z
            .iter_from(start.max(0) as usize, desc)
            .take(take)
            .map(|(m, _)| m.to_vec())
            .collect(),
        Some(Source::ZSet(z)) => z.iter().map(|(m, _)| m.to_vec()).collect(),
        None => Vec::new(),
    };
    if ranged {
        // The output code is not aware of the shortcut.
        end -= start;
        start = 0;
    }
    let mut items: Vec<Item> = objs
        .into_iter()
        .map(|obj| Item {
            obj,
            score: 0.0,
            cmp: None,
        })
        .collect();

    let mut conversion_error = false;
    if !dontsort {
        for it in items.iter_mut() {
            let byval = match by {
                Some(p) => match lookup_by_pattern(&mut l, db, p, &it.obj) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.obj.clone(),
            };
            if alpha {
                if by.is_some() {
                    it.cmp = Some(byval);
                }
            } else {
                match sort_score(&byval) {
                    Some(v) => it.score = v,
                    None => conversion_error = true,
                }
            }
        }
        let mode = SortMode {
            desc,
            alpha,
            by_pattern: by.is_some(),
            store: store.is_some(),
        };
        let cmp = |x: &Item, y: &Item| compare(mode, x, y);
        let n = items.len() as i64;
        if by.is_some() && (start != 0 || end != n - 1) && n > 0 {
            pqsort(&mut items, &cmp, start.max(0) as usize, end.max(0) as usize);
        } else {
            // glibc's qsort is a (stable) merge sort.
            items.sort_by(cmp);
        }
    }

    let count = (end - start + 1).max(0) as usize;
    let outputlen = if gets.is_empty() {
        count
    } else {
        gets.len() * count
    };
    if conversion_error {
        return Err(CmdError::new(
            "ERR One or more scores can't be converted into double",
        ));
    }
    let selected = if count == 0 {
        &items[..0]
    } else {
        &items[start as usize..=end as usize]
    };
    match store {
        None => {
            ctx.out.array(outputlen);
            for it in selected {
                if gets.is_empty() {
                    ctx.out.bulk(&it.obj);
                }
                for g in &gets {
                    match lookup_by_pattern(&mut l, db, g, &it.obj) {
                        Some(v) => ctx.out.bulk(&v),
                        None => ctx.out.null(),
                    }
                }
            }
        }
        Some(dst) => {
            let mut list = types::List::new();
            for it in selected {
                if gets.is_empty() {
                    list.push(types::list::End::Tail, &it.obj);
                }
                for g in &gets {
                    let v = lookup_by_pattern(&mut l, db, g, &it.obj).unwrap_or_default();
                    list.push(types::list::End::Tail, &v);
                }
            }
            if outputlen > 0 {
                let fill = ctx.server.config.hot.limits().list_max_listpack_size;
                list.convert_auto(fill);
                l.set(db, dst, Value::List(Box::new(list)), 0);
                crate::notify::emit(crate::notify::LIST, "sortstore", db, dst);
            } else if l.remove(db, dst).is_some() {
                crate::notify::emit(crate::notify::GENERIC, "del", db, dst);
            }
            drop(l);
            ctx.out.int(outputlen as i64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{run, server};

    #[test]
    fn strtod_like_glibc() {
        assert_eq!(sort_score(b"1.5"), Some(1.5));
        assert_eq!(sort_score(b"  -2e3"), Some(-2000.0));
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b"0x10"), Some(16.0));
        assert_eq!(sort_score(b"0x1.8p1"), Some(3.0));
        assert_eq!(sort_score(b"inf"), Some(f64::INFINITY));
        assert_eq!(sort_score(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(sort_score(b"12\0abc"), Some(12.0));
        assert_eq!(sort_score(b".5"), Some(0.5));
        assert_eq!(sort_score(b"5."), Some(5.0));
        assert_eq!(sort_score(b"1e"), None);
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b"abc"), None);
        assert_eq!(sort_score(b" "), None);
        assert_eq!(sort_score(b"1 "), None);
        assert_eq!(sort_score(b"1e400"), None);
        assert_eq!(sort_score(b"1e-400"), None);
        assert_eq!(sort_score(b"0e-400"), Some(0.0));
    }

    #[test]
    fn pqsort_sorts_the_range() {
        let mut seed = 7u64;
        for n in [0usize, 1, 5, 7, 8, 41, 200] {
            let v: Vec<u32> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (seed >> 33) as u32 % 50
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort();
            for (l, r) in [(0, n.saturating_sub(1)), (n / 3, n / 2), (n / 2, n / 2)] {
                let mut w = v.clone();
                pqsort(&mut w, &|a: &u32, b: &u32| a.cmp(b), l, r);
                if n > 0 {
                    assert_eq!(w[l..=r], sorted[l..=r], "n={n} l={l} r={r}");
                }
            }
        }
    }

    #[test]
    fn patterns() {
        let s = server();
        run(&s, &["SET", "w_a", "3"]);
        run(&s, &["HSET", "h_a", "f", "x"]);
        let mut l = s.keyspace.lock_all(crate::now_ms());
        assert_eq!(
            lookup_by_pattern(&mut l, 0, b"#", b"a"),
            Some(b"a".to_vec())
        );
        assert_eq!(
            lookup_by_pattern(&mut l, 0, b"w_*", b"a"),
            Some(b"3".to_vec())
        );
        assert_eq!(lookup_by_pattern(&mut l, 0, b"w_a", b"a"), None);
        assert_eq!(
            lookup_by_pattern(&mut l, 0, b"h_*->f", b"a"),
            Some(b"x".to_vec())
        );
        assert_eq!(lookup_by_pattern(&mut l, 0, b"h_*->g", b"a"), None);
        assert_eq!(lookup_by_pattern(&mut l, 0, b"w_*->f", b"a"), None);
        assert_eq!(lookup_by_pattern(&mut l, 0, b"h_*", b"a"), None);
    }

    #[test]
    fn errors() {
        let s = server();
        run(&s, &["SET", "str", "x"]);
        assert_eq!(
            run(&s, &["SORT", "str"]),
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        );
        assert_eq!(
            run(&s, &["SORT", "k", "LIMIT", "1"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(run(&s, &["SORT", "k", "FOO"]), "-ERR syntax error\r\n");
        assert_eq!(
            run(&s, &["SORT", "k", "LIMIT", "a", "1"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            run(&s, &["SORT_RO", "k", "STORE", "d"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(run(&s, &["SORT", "nokey"]), "*0\r\n");
        assert_eq!(run(&s, &["SORT", "nokey", "STORE", "d"]), ":0\r\n");
    }

    #[test]
    fn sorts_lists_sets_and_zsets() {
        let s = server();
        run(&s, &["RPUSH", "l", "3", "1", "2"]);
        assert_eq!(
            run(&s, &["SORT", "l"]),
            "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
        );
        assert_eq!(
            run(
                &s,
                &["SORT", "l", "BY", "nosort", "DESC", "LIMIT", "0", "2"]
            ),
            "*2\r\n$1\r\n2\r\n$1\r\n1\r\n"
        );
        run(&s, &["MSET", "w_1", "30", "w_2", "10", "w_3", "20"]);
        run(&s, &["HSET", "o_1", "n", "one"]);
        assert_eq!(
            run(&s, &["SORT", "l", "BY", "w_*", "GET", "#", "GET", "o_*->n"]),
            "*6\r\n$1\r\n2\r\n$-1\r\n$1\r\n3\r\n$-1\r\n$1\r\n1\r\n$3\r\none\r\n"
        );
        assert_eq!(run(&s, &["SORT", "l", "BY", "w_*", "STORE", "d"]), ":3\r\n");
        assert_eq!(
            run(&s, &["LRANGE", "d", "0", "-1"]),
            "*3\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n1\r\n"
        );
        run(&s, &["SADD", "set", "b", "c", "a"]);
        assert_eq!(
            run(&s, &["SORT", "set", "BY", "nosort", "STORE", "d"]),
            ":3\r\n"
        );
        assert_eq!(
            run(&s, &["LRANGE", "d", "0", "-1"]),
            "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
        );
        assert_eq!(
            run(&s, &["SORT", "set"]),
            "-ERR One or more scores can't be converted into double\r\n"
        );
        run(&s, &["ZADD", "z", "2", "a", "1", "b"]);
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "z"]), "$8\r\nlistpack\r\n");
        assert_eq!(
            run(&s, &["SORT", "z", "BY", "nosort"]),
            "*2\r\n$1\r\nb\r\n$1\r\na\r\n"
        );
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "z"]), "$8\r\nskiplist\r\n");
        assert_eq!(
            run(&s, &["SORT", "z", "ALPHA", "LIMIT", "5", "1", "STORE", "d"]),
            ":0\r\n"
        );
        assert_eq!(run(&s, &["EXISTS", "d"]), ":0\r\n");
    }
}
