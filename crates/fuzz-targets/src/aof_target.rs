//! `aof_load`: the append-only file's pure formats (`persist::aof`): the
//! manifest (`Manifest::parse`) and the command reader (`CommandReader`)
//! the server's AOF loading (`engine/src/aof.rs`, `load_files`/`replay`)
//! runs over each file, with the limits it uses.

/// `aof_load`: the input is read as a manifest and as an AOF file. A
/// manifest that parses renders to text that parses to the same manifest.
/// The command reader yields every command and ends, or stops with a
/// truncation or corruption report within the input; a file truncated
/// where it says reads back the same commands. A base file starting with
/// `REDIS` is an RDB preamble, which the server loads as an RDB file: such
/// inputs go through `rdb_load` too.
pub fn aof_load(data: &[u8]) {
    manifest(data);
    commands(data);
    if data.starts_with(b"REDIS") {
        crate::rdb_load(data);
    }
}

/// The command reader over an append-only file, with `replay`'s limits
/// (`proto-max-bulk-len` at its default, any argument count). The reader
/// either yields every command and ends, or stops with a truncation or
/// corruption report whose offset lies within the input; a truncated file
/// read again up to the reported length yields the same commands and ends
/// cleanly (what `aof-load-truncated` relies on).
fn commands(data: &[u8]) {
    use persist::aof::{CommandReader, ReadError, ReadLimits};
    let limits = || ReadLimits {
        max_args: i32::MAX as usize,
        max_bulk: resp::Limits::default().max_bulk_len as usize,
    };
    let mut reader = CommandReader::new(data, limits());
    let mut commands = Vec::new();
    let mut last = 0u64;
    let outcome = loop {
        match reader.next_command() {
            Ok(Some((args, at))) => {
                assert!(!args.is_empty(), "a command without arguments");
                assert!(at >= last && reader.offset() > at, "no progress at {at}");
                assert!(reader.offset() <= data.len() as u64, "read past the end");
                last = reader.offset();
                commands.push(args);
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    match outcome {
        None => assert_eq!(reader.offset(), data.len() as u64, "stopped before the end"),
        Some(ReadError::Truncated { valid_len }) => {
            assert!(valid_len <= data.len() as u64, "truncation past the end");
            let mut again = CommandReader::new(&data[..valid_len as usize], limits());
            let mut n = 0;
            while let Some((args, _)) = again.next_command().expect("the whole part reads back") {
                assert_eq!(args, commands[n], "command {n} differs on the second read");
                n += 1;
            }
            assert_eq!(n, commands.len(), "the whole part holds every command read");
        }
        Some(ReadError::Corrupt { offset, .. }) => {
            assert!(
                offset <= data.len() as u64,
                "corruption reported past the end"
            );
        }
        Some(ReadError::Io(e)) => panic!("I/O error reading memory: {e}"),
    }
}

/// A manifest. A manifest that parses renders to text that
/// parses to the same manifest.
fn manifest(data: &[u8]) {
    use persist::aof::Manifest;
    if let Ok(m) = Manifest::parse(data) {
        let text = m.render();
        let again = Manifest::parse(text.as_bytes()).expect("a rendered manifest parses");
        assert_eq!(again, m, "the manifest changed through render and parse");
    }
}
