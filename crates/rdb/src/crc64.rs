//! Redis's CRC-64: the Jones polynomial (0xad93d23594c935a9), reflected
//! input and output, initial value 0, no final xor. Redis checks it on RDB
//! files and DUMP payloads.

/// The Jones polynomial, bit-reversed (the reflected algorithm uses it so).
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

/// `TABLES[0]` is the byte-at-a-time table; `TABLES[k]` advances a byte
/// through k more zero bytes, so eight bytes fold in one step
/// ("slicing-by-8", as Redis's crcspeed does).
const TABLES: [[u64; 256]; 8] = tables();

const fn table() -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
}

const fn tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    t[0] = table();
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

/// Continues the CRC `crc` (0 to start) over `data`, as Redis's
/// `crc64(crc, data, len)`.
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = crc ^ u64::from_le_bytes(w);
        crc = t[7][(x & 0xff) as usize]
            ^ t[6][((x >> 8) & 0xff) as usize]
            ^ t[5][((x >> 16) & 0xff) as usize]
            ^ t[4][((x >> 24) & 0xff) as usize]
            ^ t[3][((x >> 32) & 0xff) as usize]
            ^ t[2][((x >> 40) & 0xff) as usize]
            ^ t[1][((x >> 48) & 0xff) as usize]
            ^ t[0][(x >> 56) as usize];
    }
    chunks.remainder().iter().fold(crc, |crc, &b| {
        t[0][((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::crc64;

    #[test]
    fn redis_test_vectors() {
        // From Redis's crc64.c self test.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        // Redis hashes the C array, terminating NUL included.
        let lorem = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed \
do eiusmod tempor incididunt ut labore et dolore magna \
aliqua. Ut enim ad minim veniam, quis nostrud exercitation \
ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis \
aute irure dolor in reprehenderit in voluptate velit esse \
cillum dolore eu fugiat nulla pariatur. Excepteur sint \
occaecat cupidatat non proident, sunt in culpa qui officia \
deserunt mollit anim id est laborum.\0";
        assert_eq!(crc64(0, lorem), 0xc779_4709_e696_83b3);
        assert_eq!(crc64(0, b""), 0);
    }

    #[test]
    fn sliced_equals_bytewise() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let bytewise = data.iter().fold(0u64, |crc, &b| {
            super::TABLES[0][((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8)
        });
        assert_eq!(crc64(0, &data), bytewise);
        for cut in 0..20 {
            assert_eq!(crc64(crc64(0, &data[..cut]), &data[cut..]), bytewise);
        }
    }

    #[test]
    fn incremental_equals_whole() {
        let data = b"hello world, this is some data";
        let (a, b) = data.split_at(7);
        assert_eq!(crc64(crc64(0, a), b), crc64(0, data));
    }
}
