//! The Lua libraries scripts get besides the standard ones - `cjson`,
//! `cmsgpack`, `bit`, `struct` - end to end and differentially: the same
//! EVAL calls go to a real redis-server (7.0) and to Ferrocache, over RESP2
//! and RESP3 (the shared harness of tests/common/diff.rs), and the replies
//! (results, and full error lines with the script's SHA and line) must be
//! the same bytes.
//!
//! Scripts that change a library setting restore it before returning: the
//! setting lives in the interpreter, which outlives the script (in Redis
//! as here).

mod common;

use common::diff::Diff;

/// A helper prepended to scripts that return binary data: its hex.
const HEX: &str = "local function hex(s) local h = '' for i = 1, #s do \
                   h = h .. string.format('%02x', s:byte(i)) end return h end ";

/// Runs each script with `EVAL <script> 0` on both servers and compares.
fn check_scripts(name: &'static str, scripts: &[&str]) {
    let owned: Vec<String> = scripts
        .iter()
        .map(|s| {
            if s.contains("hex(") {
                format!("{HEX}{s}")
            } else {
                s.to_string()
            }
        })
        .collect();
    let lines: Vec<[&str; 3]> = owned.iter().map(|s| ["EVAL", s.as_str(), "0"]).collect();
    let lines: Vec<&[&str]> = lines.iter().map(|l| &l[..]).collect();
    let mut d = Diff::new(name);
    d.run_both(&lines);
    d.finish();
}

// ---------------------------------------------------------------------------
// cjson
// ---------------------------------------------------------------------------

#[test]
fn cjson_encode() {
    check_scripts(
        "cjson_encode",
        &[
            "return cjson.encode({1, 2, 3, {a = 1}})",
            "return cjson.encode({})",
            "return cjson.encode({{}, {{}}})",
            "return cjson.encode('a/b\"c\\\\d\\n\\r\\t\\b\\f\\1\\31\\127\\128\\255')",
            "return cjson.encode(0.1)",
            "return cjson.encode(1/3)",
            "return cjson.encode(-0.0)",
            "return cjson.encode(1e-20)",
            "return cjson.encode(1e100)",
            "return cjson.encode(123456789012345678)",
            "return cjson.encode(2^53)",
            "return cjson.encode({[1] = 1, [3] = 3})",
            "return cjson.encode({[2] = 'x'})",
            "return cjson.encode({[10] = 'x'})",
            "return cjson.encode({[1.5] = 1})",
            "return cjson.encode({[0] = 1})",
            "return cjson.encode({[-1] = 1})",
            "return cjson.encode({[1] = 'one', one = 'one'})",
            "return cjson.encode({a = {b = {c = {d = 'e'}}}})",
            "return cjson.encode(cjson.null)",
            "return cjson.encode({cjson.null, true, false})",
            "return cjson.encode(nil)",
            "return cjson.encode('')",
            "return cjson.encode(string.rep('x', 1000))",
            "local t = {} for i = 1, 100 do t[i] = i * 1.5 end return cjson.encode(t)",
            "return cjson.encode('\\0\\0')",
            "return cjson.encode(12)",
            "return cjson.encode('12')",
        ],
    );
}

#[test]
fn cjson_decode() {
    check_scripts(
        "cjson_decode",
        &[
            "return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')",
            "local d = cjson.decode('{\"keya\": \"a\", \"keyb\": \"b\"}') return {d.keya, d.keyb}",
            "return cjson.decode('{\"a\": {\"b\": [1, \"x\", true, false]}}').a.b",
            "return tostring(cjson.decode('null') == cjson.null)",
            "return type(cjson.decode('null'))",
            "return cjson.decode('[1, null, 3]')[3]",
            "return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\\\\u0041\\\\n\\\\/\"')",
            "return cjson.decode('0x10')",
            "return cjson.decode('-0x10')",
            "return tostring(cjson.decode('1e400'))",
            "return tostring(cjson.decode('-Infinity'))",
            "return tostring(cjson.decode('NaN') ~= cjson.decode('NaN'))",
            "return cjson.decode('+5')",
            "return cjson.decode('007')",
            "return cjson.decode(' [1] \\0 junk')[1]",
            "return cjson.decode(123)",
            "return cjson.decode('\"\\\\u0000x\"')",
            "return cjson.decode('\"\\1\\255\"')",
            "return cjson.decode('{\"a\":1,\"a\":2}').a",
            "return cjson.decode(cjson.encode({x = {1, 2, {y = 'z'}}})).x[3].y",
            "return cjson.decode('  \\t\\r\\n\"x\"  ')",
            "return cjson.decode('[]')",
            "return cjson.decode('{}')",
            "local t = {} for i = 1, 200 do t[i] = {k = i} end \
             return #cjson.decode(cjson.encode(t))",
        ],
    );
}

#[test]
fn cjson_errors() {
    check_scripts(
        "cjson_errors",
        &[
            "return cjson.encode(function() end)",
            "return cjson.encode({f = print_not_here})",
            "return cjson.encode({[20] = 1})",
            "return cjson.encode({[1] = 1, [30] = 1})",
            "return cjson.encode(0/0)",
            "return cjson.encode({1/0})",
            "return cjson.encode({[true] = 1})",
            "return cjson.encode({[{}] = 1})",
            "local t = {} t[1] = t return cjson.encode(t)",
            "local t = {} t.a = t return cjson.encode(t)",
            "return cjson.encode()",
            "return cjson.encode(1, 2)",
            "return cjson.encode(coroutine.create(function() end))",
            "return cjson.decode('x')",
            "return cjson.decode('')",
            "return cjson.decode('[')",
            "return cjson.decode('[1 2]')",
            "return cjson.decode('[1,]')",
            "return cjson.decode('{1:2}')",
            "return cjson.decode('{\"a\" 2}')",
            "return cjson.decode('{\"a\":2]')",
            "return cjson.decode('[1] x')",
            "return cjson.decode('\"abc')",
            "return cjson.decode('\"\\\\q\"')",
            "return cjson.decode('\"\\\\u12\"')",
            "return cjson.decode('\"\\\\udc00\"')",
            "return cjson.decode('\"\\\\ud800\\\\u0041\"')",
            "return cjson.decode('tru')",
            "return cjson.decode('-')",
            "return cjson.decode('1.5.3')",
            "return cjson.decode(string.rep('[', 1001))",
            "return cjson.decode(string.rep('{\"a\":', 1001))",
            "return cjson.decode('a\\0')",
            "return cjson.decode()",
            "return cjson.decode({})",
            "return cjson.decode('1', '2')",
            "local ok, e = pcall(cjson.decode, 'x') return {tostring(ok), type(e), e}",
            "local ok, e = pcall(cjson.encode) return e",
            "\n\nlocal x = cjson.decode('[')",
        ],
    );
}

#[test]
fn cjson_settings() {
    check_scripts(
        "cjson_settings",
        &[
            "local r = {cjson.encode_max_depth(), cjson.decode_max_depth(), \
             cjson.encode_number_precision()} return r",
            "return {tostring(cjson.encode_keep_buffer()), tostring(cjson.encode_invalid_numbers()), \
             tostring(cjson.decode_invalid_numbers())}",
            "local a, b, c = cjson.encode_sparse_array() return {tostring(a), b, c}",
            "cjson.encode_number_precision(3) local r = cjson.encode(1/3) \
             cjson.encode_number_precision(14) return r",
            "cjson.encode_invalid_numbers('null') local r = cjson.encode({1/0, 0/0}) \
             cjson.encode_invalid_numbers(false) return r",
            "local v = cjson.encode_invalid_numbers(true) local r = cjson.encode({1/0, -1/0}) \
             cjson.encode_invalid_numbers('off') return {tostring(v), r}",
            "cjson.encode_sparse_array(true) local r = cjson.encode({[20] = 1}) \
             cjson.encode_sparse_array(false) return r",
            "cjson.encode_sparse_array(nil, 0) local r = cjson.encode({[20] = 1}) \
             cjson.encode_sparse_array(nil, 2) return r",
            "cjson.encode_max_depth(2) local ok, e = pcall(cjson.encode, {{{}}}) \
             cjson.encode_max_depth(1000) return e",
            "cjson.decode_max_depth(2) local ok, e = pcall(cjson.decode, '[[[]]]') \
             cjson.decode_max_depth(1000) return e",
            "cjson.decode_invalid_numbers(false) local ok, e = pcall(cjson.decode, '0x10') \
             cjson.decode_invalid_numbers(true) return e",
            "cjson.decode_max_depth(100000) local ok, e = pcall(cjson.decode, string.rep('[', 9000)) \
             cjson.decode_max_depth(1000) return e",
            "cjson.encode_max_depth(100000) local t = {} t[1] = t local ok, e = pcall(cjson.encode, t) \
             cjson.encode_max_depth(1000) return e",
            "return cjson.encode_max_depth(0)",
            "return cjson.encode_max_depth('x')",
            "return cjson.encode_number_precision(15)",
            "return cjson.encode_keep_buffer('maybe')",
            "return cjson.encode_keep_buffer(1, 2)",
            "local ok, e = pcall(cjson.encode_sparse_array, true, -1) \
             local a = cjson.encode_sparse_array() cjson.encode_sparse_array(false) \
             return {e, tostring(a)}",
            "local c = cjson.new() c.encode_sparse_array(true) return {c.encode({[20] = 1}), \
             tostring(cjson.encode_sparse_array())}",
            "return {cjson._NAME, cjson._VERSION}",
            "cjson.encode = function() return 1 end",
        ],
    );
}

// ---------------------------------------------------------------------------
// cmsgpack
// ---------------------------------------------------------------------------

#[test]
fn cmsgpack_pack() {
    check_scripts(
        "cmsgpack_pack",
        &[
            "return hex(cmsgpack.pack(0.1))",
            "return hex(cmsgpack.pack(-1099511627776))",
            "return hex(cmsgpack.pack(0, 1, 127, 128, 255, 256, 65535, 65536, 2^32 - 1, 2^32))",
            "return hex(cmsgpack.pack(-1, -32, -33, -128, -129, -32768, -32769, -2^31, -2^31 - 1))",
            "return hex(cmsgpack.pack(2^63, -2^63, 2^64 + 2^40, 2^53 + 1))",
            "return hex(cmsgpack.pack(0.5, 1/0, -1/0, 1e300, 1e-20, -0.0))",
            "return hex(cmsgpack.pack('abc', true, false, nil))",
            "return hex(cmsgpack.pack(string.rep('x', 31), string.rep('y', 32)))",
            "return #cmsgpack.pack(string.rep('x', 255), string.rep('y', 256), string.rep('z', 65536))",
            "return hex(cmsgpack.pack({1, 2}, {}, {a = 1}))",
            "return hex(cmsgpack.pack({[1] = 1, [3] = 3}))",
            "return hex(cmsgpack.pack({[1.5] = 1}))",
            "local t = {} for i = 1, 16 do t[i] = i end return hex(cmsgpack.pack(t))",
            "local t = {} for i = 1, 16 do t['k' .. i] = i end return #cmsgpack.pack(t)",
            "return hex(cmsgpack.pack(function() end, cjson.null))",
            "local a = {x = nil, y = 5} local b = {x = a} a.x = b return hex(cmsgpack.pack(a))",
            "local t = {} t[1] = t return hex(cmsgpack.pack(t))",
            "return hex(cmsgpack.pack(setmetatable({}, {__index = function() return 1 end})))",
        ],
    );
}

#[test]
fn cmsgpack_unpack() {
    check_scripts(
        "cmsgpack_unpack",
        &[
            "return {cmsgpack.unpack(cmsgpack.pack(1, 'x', {1, 2}))}",
            "return {cmsgpack.unpack_one(cmsgpack.pack(7, 8))}",
            "return {cmsgpack.unpack_one(cmsgpack.pack(7, 8), 1)}",
            "return {cmsgpack.unpack_one(cmsgpack.pack(7, 8), 2)}",
            "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}",
            "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 2)}",
            "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)}",
            "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 1)}",
            "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 10)}",
            "return select('#', cmsgpack.unpack(''))",
            "return {cmsgpack.unpack_one('')}",
            "return cmsgpack.unpack(cmsgpack.pack({a = {b = 'c'}})).a.b",
            "return tostring(cmsgpack.unpack(string.char(0xcf, 255, 255, 255, 255, 255, 255, 255, 255)))",
            "return tostring(cmsgpack.unpack(string.char(0xd3, 128, 0, 0, 0, 0, 0, 0, 1)))",
            "return tostring(cmsgpack.unpack(string.char(0xca, 0x3f, 0xc0, 0, 0)))",
            "return {cmsgpack.unpack(string.char(0xd0, 0x80, 0xd1, 0x80, 0, 0xd2, 0x80, 0, 0, 0, 0xe0))}",
            "return cmsgpack.unpack(string.char(0xdb, 0, 0, 0, 2, 65, 66))",
            "return cmsgpack.unpack(string.char(0xdc, 0, 2, 1, 2))",
            "return cmsgpack.unpack(string.char(0x92, 0xc0, 2))",
            "return cmsgpack.unpack(string.char(0x82, 1, 0xc0, 2, 3))[2]",
            "return tostring(cmsgpack.unpack(string.char(0x81, 0xcb, 0, 0, 0, 0, 0, 0, 0, 1, 5))[5e-324])",
            "local t = {} for i = 1, 70000 do t[i] = i end return #cmsgpack.unpack(cmsgpack.pack(t))",
            "return select('#', cmsgpack.unpack(string.rep(string.char(1), 7990)))",
        ],
    );
}

#[test]
fn cmsgpack_errors() {
    check_scripts(
        "cmsgpack_errors",
        &[
            "return cmsgpack.unpack(string.char(0xc1))",
            "return cmsgpack.unpack(string.char(0xc4, 1, 65))",
            "return cmsgpack.unpack(string.char(0xd4, 1, 65))",
            "return cmsgpack.unpack(string.char(0x92, 1))",
            "return cmsgpack.unpack(string.char(0xcd, 1))",
            "return cmsgpack.unpack(string.char(0xa5) .. 'abc')",
            "return cmsgpack.unpack_one('abc', 5)",
            "return cmsgpack.unpack_one('abc', -1)",
            "return cmsgpack.unpack_limit('abc', -1)",
            "return cmsgpack.unpack_limit('abc')",
            "return cmsgpack.unpack_limit('abc', 'x')",
            "return cmsgpack.unpack()",
            "return cmsgpack.unpack({})",
            "return cmsgpack.pack()",
            "local ok, e = pcall(cmsgpack.unpack, string.rep(string.char(0x91), 5000) .. string.char(1)) return e",
            "local ok, e = pcall(cmsgpack.unpack, string.rep(string.char(0x81, 1), 5000) .. string.char(1)) return e",
            "local ok, e = pcall(cmsgpack.unpack, string.rep(string.char(1), 8100)) return e",
            "local ok, e = pcall(cmsgpack.unpack, string.char(0x81, 0xc0, 1)) return e",
            "cmsgpack.pack = function() return 1 end",
        ],
    );
}

/// A nil map key raises Lua's own "table index is nil", which has no
/// position in its text; Redis's error handler still finds the script line
/// from the stack, while Ferrocache's error reply can only read it from the
/// text, so the line shows as "?".
#[test]
#[ignore = "a position-less error from a library shows line ? (scripting.rs reads the line from the message)"]
fn cmsgpack_nil_key_error_line() {
    check_scripts(
        "cmsgpack_nil_key_error_line",
        &["return cmsgpack.unpack(string.char(0x81, 0xc0, 1))"],
    );
}

// ---------------------------------------------------------------------------
// bit
// ---------------------------------------------------------------------------

#[test]
fn bit_operations() {
    check_scripts(
        "bit_operations",
        &[
            "return {bit.tobit(1), bit.tobit(0xffffffff), bit.tobit(2^32 + 5), bit.tobit(-1)}",
            "return {bit.tobit(1.5), bit.tobit(2.5), bit.tobit(-1.5), bit.tobit(-2.5), bit.tobit(0.4999)}",
            "return {bit.tobit('0x10'), bit.tobit(' 12 '), bit.tobit(2^52), bit.tobit(2^53 + 2)}",
            "return {bit.bnot(0), bit.bnot(-1), bit.bnot(0x12345678)}",
            "return {bit.bor(1, 2, 4, 8, 16, 32, 64, 128), bit.band(1), bit.bxor(1, 2)}",
            "return {bit.band(0xff, 0x0f, 0x3), bit.bxor(0xff, 0x0f, 0xf0), bit.bor(-1, 0)}",
            "return {bit.lshift(1, 31), bit.lshift(1, 32), bit.lshift(1, 33), bit.lshift(1, -1)}",
            "return {bit.rshift(-1, 28), bit.rshift(-1, 0), bit.arshift(-256, 4), bit.arshift(256, 4)}",
            "return {bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.rol(1, 0), bit.ror(1, 32)}",
            "return {bit.bswap(0x12345678), bit.bswap(-1), bit.bswap(1)}",
            "return {bit.tohex(255), bit.tohex(255, -4), bit.tohex(-1, 2), bit.tohex(1, 0)}",
            "return {bit.tohex(65535, -2147483648), bit.tohex(1, 100), bit.tohex(0x12345678, -8)}",
            "return bit.tohex(1.5)",
            "return bit.tobit(1e300)",
            "return bit.tobit(0/0)",
        ],
    );
}

#[test]
fn bit_errors() {
    check_scripts(
        "bit_errors",
        &[
            "return bit.band()",
            "return bit.tohex(1, 'x')",
            "return bit.tohex(1, nil)",
            "return bit.bor(1, {})",
            "return bit.tobit('abc')",
            "return bit.tobit(nil)",
            "return bit.lshift(1)",
            "local f = bit.bnot return f(true)",
            "local ok, e = pcall(bit.band, 'x') return e",
            "bit.lshift = function() return 1 end",
        ],
    );
}

// ---------------------------------------------------------------------------
// struct
// ---------------------------------------------------------------------------

#[test]
fn struct_pack_unpack_size() {
    check_scripts(
        "struct_pack_unpack_size",
        &[
            "return hex(struct.pack('>I2', 258)) .. hex(struct.pack('<I2', 258))",
            "return hex(struct.pack('bBhHlLT', -1, 255, -2, 65535, -3, 7, 9))",
            "return hex(struct.pack('>i3', -2)) .. hex(struct.pack('<i16', -1))",
            "return hex(struct.pack('>I16', 2^40)) .. hex(struct.pack('i0', 5))",
            "return hex(struct.pack('!4 b i', 1, 2)) .. hex(struct.pack('! b d', 1, 2))",
            "return hex(struct.pack('!2 b i3 b h', 1, 2, 3, 4))",
            "return hex(struct.pack('>d', 1.5)) .. hex(struct.pack('<f', 0.5)) .. hex(struct.pack('>f', 0.1))",
            "return hex(struct.pack('c3', 'abcdef')) .. hex(struct.pack('c0', 'ab')) .. hex(struct.pack('c', 'z'))",
            "return hex(struct.pack('s x', 'hi')) .. hex(struct.pack('s', ''))",
            "return hex(struct.pack('>L', 2^64)) .. hex(struct.pack('>l', -2^63)) .. hex(struct.pack('>L', 2^63))",
            "return hex(struct.pack('B', 256)) .. hex(struct.pack('b', 1.9)) .. hex(struct.pack('b', -1.9))",
            "return hex(struct.pack('i', '12'))",
            "return hex(struct.pack(''))",
            "return {struct.unpack('>I2 b', '\\1\\2\\255')}",
            "return {struct.unpack('b c0', '\\2xyz')}",
            "return {struct.unpack('c1 c0', '2xyz')}",
            "return {struct.unpack('s s', 'ab\\0cd\\0')}",
            "return {struct.unpack('<d', struct.pack('<d', 0.1))}",
            "return tostring(struct.unpack('<d', struct.pack('<d', 0.1)))",
            "return tostring(struct.unpack('>f', struct.pack('>f', 0.1)))",
            "return {struct.unpack('b', 'ab', 2)}",
            "return {struct.unpack('x b', 'ab')}",
            "return {struct.unpack('!4 b i', struct.pack('!4 b i', 1, -7))}",
            "return tostring(struct.unpack('<I8', string.rep('\\255', 8)))",
            "return tostring(struct.unpack('<i16', string.rep('\\255', 16)))",
            "return tostring(struct.unpack('>I16', string.rep('\\1', 16)))",
            "return {struct.unpack('i0', '')}",
            "return {struct.size('!4 b i d'), struct.size('i3 c5'), struct.size('bhlT'), struct.size('')}",
            "return {struct.size('q'), struct.size('5'), struct.size('! b d'), struct.size('x')}",
        ],
    );
}

#[test]
fn struct_errors() {
    check_scripts(
        "struct_errors",
        &[
            "return struct.pack('q', 1)",
            "return struct.pack('5', 1)",
            "return struct.pack('i', 'x')",
            "return struct.pack('i')",
            "return struct.pack('c5', 'ab')",
            "return struct.pack('c', {})",
            "return struct.pack('i33', 1)",
            "return struct.pack('!3')",
            "return struct.pack('i99999999999', 1)",
            "return struct.pack()",
            "return struct.pack({})",
            "return struct.unpack('i', 'ab')",
            "return struct.unpack('b', 'ab', 0)",
            "return struct.unpack('b', 'ab', -1)",
            "return struct.unpack('b', 'ab', 3)",
            "return struct.unpack('c0', '')",
            "return struct.unpack('s c0', 'ab\\0')",
            "return struct.unpack('s', 'ab')",
            "return struct.unpack('b')",
            "return struct.unpack('b', 'a', 'x')",
            "return struct.unpack('c9', 'abc')",
            "return struct.size('s')",
            "return struct.size('c0')",
            "return struct.size('i40')",
            "return struct.size('!5')",
            "return struct.size()",
            "local ok, e = pcall(struct.pack, 'q') return e",
            "local p = struct.pack return p('q')",
            "struct.pack = function() return 1 end",
        ],
    );
}
