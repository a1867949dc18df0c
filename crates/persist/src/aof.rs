//! The append-only file's formats, as Redis 7 lays them out: the manifest
//! that lists a multi-part AOF's files (one base, incremental files, and
//! history files waiting for deletion), and a reader of the commands in an
//! AOF file that tells a file cut short (the tail of the last write before
//! a crash) from a damaged one.

use std::io::BufRead;

/// The role of a file in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The dataset at a rewrite (an RDB file, or commands).
    Base,
    /// Commands since the base.
    Incr,
    /// Replaced by a rewrite; to be deleted.
    History,
}

impl FileKind {
    fn letter(self) -> char {
        match self {
            FileKind::Base => 'b',
            FileKind::Incr => 'i',
            FileKind::History => 'h',
        }
    }
}

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: u64,
    pub kind: FileKind,
}

/// A multi-part AOF's manifest: its base (if any), the incremental files in
/// the order they apply, and history files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub incrs: Vec<AofFile>,
    pub history: Vec<AofFile>,
}

/// Redis's limit on a manifest line.
const MAX_LINE: usize = 1024;

impl Manifest {
    /// Parses a manifest (`file <name> seq <n> type <b|i|h>` lines, `#`
    /// comments), with Redis's checks: one base at most, incremental files
    /// in increasing sequence.
    pub fn parse(text: &[u8]) -> Result<Manifest, String> {
        let text = std::str::from_utf8(text).map_err(|_| "the manifest is not text".to_string())?;
        let mut manifest = Manifest::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.len() > MAX_LINE {
                return Err(format!("line {} is too long", n + 1));
            }
            let fields =
                split_args(line).ok_or_else(|| format!("line {}: unbalanced quotes", n + 1))?;
            if fields.len() % 2 != 0 {
                return Err(format!("line {}: invalid format", n + 1));
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in fields.chunks(2) {
                match pair[0].as_str() {
                    "file" => name = Some(pair[1].clone()),
                    "seq" => seq = pair[1].parse::<u64>().ok(),
                    "type" => {
                        kind = match pair[1].as_str() {
                            "b" => Some(FileKind::Base),
                            "i" => Some(FileKind::Incr),
                            "h" => Some(FileKind::History),
                            _ => None,
                        }
                    }
                    // Keys of later versions are ignored, as Redis does.
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(format!("line {}: invalid format", n + 1));
            };
            if name.contains('/') {
                return Err(format!("line {}: file names may not contain '/'", n + 1));
            }
            let file = AofFile { name, seq, kind };
            if file_line(&file).len() > MAX_LINE {
                // Redis could not read it back either.
                return Err(format!("line {}: the file name is too long", n + 1));
            }
            match kind {
                FileKind::Base if manifest.base.is_some() => {
                    return Err("found duplicate base file information".into())
                }
                FileKind::Base => manifest.base = Some(file),
                FileKind::Incr => {
                    if manifest.incrs.last().is_some_and(|last| last.seq >= seq) {
                        return Err("found a non-monotonic sequence number".into());
                    }
                    manifest.incrs.push(file);
                }
                FileKind::History => manifest.history.push(file),
            }
        }
        if manifest.base.is_none() && manifest.incrs.is_empty() {
            return Err("found an empty manifest".into());
        }
        Ok(manifest)
    }

    /// The manifest's text: base, history, then incremental files.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in self.base.iter().chain(&self.history).chain(&self.incrs) {
            out.push_str(&file_line(f));
        }
        out
    }

    /// The sequence number the next incremental file takes.
    pub fn next_incr_seq(&self) -> u64 {
        self.incrs.last().map_or(1, |f| f.seq + 1)
    }

    /// The sequence number the next base file takes.
    pub fn next_base_seq(&self) -> u64 {
        self.base.as_ref().map_or(1, |f| f.seq + 1)
    }
}

/// One file's manifest line.
fn file_line(f: &AofFile) -> String {
    format!(
        "file {} seq {} type {}\n",
        quote_if_needed(&f.name),
        f.seq,
        f.kind.letter()
    )
}

/// Splits a line into words, with `"..."` (escapes `\n \r \t \xNN`,
/// `\` before any other character takes it as is) and `'...'` quoting:
/// the subset of Redis's `sdssplitargs` a manifest uses. None on
/// unbalanced quotes or a word that is not UTF-8.
fn split_args(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut bytes = line.bytes().peekable();
    loop {
        while bytes.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            bytes.next();
        }
        let Some(&first) = bytes.peek() else {
            return Some(out);
        };
        let mut word = Vec::new();
        if first == b'"' || first == b'\'' {
            bytes.next();
            loop {
                match bytes.next()? {
                    c if c == first => break,
                    b'\\' if first == b'"' => match bytes.next()? {
                        b'n' => word.push(b'\n'),
                        b'r' => word.push(b'\r'),
                        b't' => word.push(b'\t'),
                        b'x' => {
                            let hex = [bytes.next()?, bytes.next()?];
                            let hex = std::str::from_utf8(&hex).ok()?;
                            word.push(u8::from_str_radix(hex, 16).ok()?);
                        }
                        c => word.push(c),
                    },
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = bytes.peek() {
                if c.is_ascii_whitespace() {
                    break;
                }
                word.push(c);
                bytes.next();
            }
        }
        out.push(String::from_utf8(word).ok()?);
    }
}

/// A file name as the manifest writes it: quoted only when it must be.
fn quote_if_needed(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\'' && c != '\\');
    if plain {
        return name.to_string();
    }
    let mut out = String::from("\"");
    for c in name.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            c => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// Why reading an AOF file stopped early.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The file ends inside a command that begins at `valid_len`: what
    /// comes before is whole.
    Truncated {
        valid_len: u64,
    },
    /// The bytes at `offset` are not an AOF command.
    Corrupt {
        offset: u64,
        problem: String,
    },
    Io(String),
}

/// Longest argument count and argument accepted (Redis's own loader takes
/// what `proto-max-bulk-len` allows; a damaged length must not allocate
/// gigabytes).
pub struct ReadLimits {
    pub max_args: usize,
    pub max_bulk: usize,
}

/// A command's arguments, its name first.
pub type Command = Vec<Vec<u8>>;

/// Reads the commands of an AOF file one by one, with the offset each
/// begins at. Annotation lines (`#...`) are skipped.
pub struct CommandReader<R> {
    input: R,
    offset: u64,
    limits: ReadLimits,
    line: Vec<u8>,
}

impl<R: BufRead> CommandReader<R> {
    pub fn new(input: R, limits: ReadLimits) -> Self {
        CommandReader {
            input,
            offset: 0,
            limits,
            line: Vec::new(),
        }
    }

    /// Bytes consumed so far: the end of the last whole command.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next command and its offset; `None` at the end of the file.
    pub fn next_command(&mut self) -> Result<Option<(Command, u64)>, ReadError> {
        loop {
            let start = self.offset;
            let mut pos = start;
            match self.read_line(&mut pos)? {
                None => return Ok(None),
                Some(false) => return Err(ReadError::Truncated { valid_len: start }),
                Some(true) => {}
            }
            if self.line.first() == Some(&b'#') {
                self.offset = pos;
                continue;
            }
            let corrupt = |problem: &str| ReadError::Corrupt {
                offset: start,
                problem: problem.to_string(),
            };
            if self.line.first() != Some(&b'*') {
                return Err(corrupt("expected '*' (a command)"));
            }
            let argc = parse_len(&self.line[1..])
                .filter(|&n| n >= 1 && n <= self.limits.max_args)
                .ok_or_else(|| corrupt("invalid argument count"))?;
            let mut args = Vec::with_capacity(argc.min(1024));
            for _ in 0..argc {
                let arg_at = pos;
                match self.read_line(&mut pos)? {
                    None | Some(false) => return Err(ReadError::Truncated { valid_len: start }),
                    Some(true) => {}
                }
                let bad = |problem: &str| ReadError::Corrupt {
                    offset: arg_at,
                    problem: problem.to_string(),
                };
                if self.line.first() != Some(&b'$') {
                    return Err(bad("expected '$' (an argument)"));
                }
                let len = parse_len(&self.line[1..])
                    .filter(|&n| n <= self.limits.max_bulk)
                    .ok_or_else(|| bad("invalid argument length"))?;
                let mut arg = vec![0u8; len + 2];
                match read_full(&mut self.input, &mut arg) {
                    Ok(true) => {}
                    Ok(false) => return Err(ReadError::Truncated { valid_len: start }),
                    Err(e) => return Err(ReadError::Io(e.to_string())),
                }
                if &arg[len..] != b"\r\n" {
                    return Err(bad("argument not followed by CRLF"));
                }
                arg.truncate(len);
                pos += len as u64 + 2;
                args.push(arg);
            }
            self.offset = pos;
            return Ok(Some((args, start)));
        }
    }

    /// Reads one CRLF-terminated line into `self.line` (without the CRLF),
    /// advancing `pos`. None at a clean end of file; Some(false) when the
    /// file ends inside the line.
    fn read_line(&mut self, pos: &mut u64) -> Result<Option<bool>, ReadError> {
        self.line.clear();
        // A line of an AOF is short: a count, a length or an annotation.
        let input: &mut R = &mut self.input;
        let n = std::io::Read::take(input, MAX_LINE as u64 * 64)
            .read_until(b'\n', &mut self.line)
            .map_err(|e| ReadError::Io(e.to_string()))?;
        if n == 0 {
            return Ok(None);
        }
        *pos += n as u64;
        if !self.line.ends_with(b"\n") {
            return if n as u64 >= MAX_LINE as u64 * 64 {
                Err(ReadError::Corrupt {
                    offset: *pos - n as u64,
                    problem: "line too long".into(),
                })
            } else {
                Ok(Some(false))
            };
        }
        self.line.pop();
        if self.line.pop() != Some(b'\r') {
            return Err(ReadError::Corrupt {
                offset: *pos - n as u64,
                problem: "line not terminated by CRLF".into(),
            });
        }
        Ok(Some(true))
    }
}

fn parse_len(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Fills `buf`; false if the input ends first.
fn read_full(input: &mut impl BufRead, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = input.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(false);
        }
        filled += n;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> CommandReader<&[u8]> {
        CommandReader::new(
            bytes,
            ReadLimits {
                max_args: 1 << 20,
                max_bulk: 1 << 20,
            },
        )
    }

    #[test]
    fn manifest_round_trips_and_checks_order() {
        let text = b"file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incrs.len(), 2);
        assert_eq!(m.render().as_bytes(), text);
        assert_eq!(m.next_incr_seq(), 3);
        assert_eq!(m.next_base_seq(), 2);
        assert!(Manifest::parse(b"file a seq 2 type i\nfile b seq 1 type i\n").is_err());
        assert!(Manifest::parse(b"file a seq 1 type b\nfile b seq 2 type b\n").is_err());
        assert!(Manifest::parse(b"# nothing\n").is_err());
        assert!(Manifest::parse(b"file a seq x type i\n").is_err());
        assert!(Manifest::parse(b"file ../a seq 1 type i\n").is_err());
        let quoted = Manifest::parse(b"file \"my file\" seq 1 type i\n").unwrap();
        assert_eq!(quoted.incrs[0].name, "my file");
        assert_eq!(quoted.render(), "file \"my file\" seq 1 type i\n");
        // Found by the fuzzer: a name with non-ASCII and control characters.
        let odd = Manifest::parse("file \"l\\xc3\\xa0\\x00y\" seq 1 type i\n".as_bytes()).unwrap();
        assert_eq!(odd.incrs[0].name, "l\u{e0}\0y");
        assert_eq!(Manifest::parse(odd.render().as_bytes()).unwrap(), odd);
    }

    #[test]
    fn reads_commands_and_annotations() {
        let bytes = b"#TS:1\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv\n\r\n";
        let mut r = reader(bytes);
        let (c, at) = r.next_command().unwrap().unwrap();
        assert_eq!((c, at), (vec![b"SELECT".to_vec(), b"0".to_vec()], 7));
        let (c, _) = r.next_command().unwrap().unwrap();
        assert_eq!(c[2], b"v\n");
        assert_eq!(r.next_command().unwrap(), None);
        assert_eq!(r.offset(), bytes.len() as u64);
    }

    #[test]
    fn a_cut_command_is_truncation_and_garbage_is_corruption() {
        let whole = b"*1\r\n$4\r\nPING\r\n";
        for cut in 1..whole.len() {
            let mut bytes = whole.to_vec();
            bytes.extend_from_slice(&whole[..cut]);
            let mut r = reader(&bytes);
            assert!(r.next_command().unwrap().is_some());
            assert_eq!(
                r.next_command(),
                Err(ReadError::Truncated { valid_len: 14 }),
                "cut at {cut}"
            );
        }
        let mut r = reader(b"*1\r\n$4\r\nPING\r\nxyz\r\n");
        r.next_command().unwrap();
        assert!(matches!(
            r.next_command(),
            Err(ReadError::Corrupt { offset: 14, .. })
        ));
        let mut r = reader(b"*1\r\n$4\r\nPINGXX*1\r\n");
        assert!(matches!(
            r.next_command(),
            Err(ReadError::Corrupt { offset: 4, .. })
        ));
        let mut r = reader(b"*1\r\n$99999999999\r\n");
        assert!(matches!(r.next_command(), Err(ReadError::Corrupt { .. })));
    }
}
