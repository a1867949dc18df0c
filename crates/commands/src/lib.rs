//! The Ferrocache command table: every implemented command as `'static` data,
//! with the arity, flags, ACL categories, key specs and documentation that
//! `COMMAND INFO` / `COMMAND DOCS` report, taken from redis-server 7.0.15
//! (see `gen/gen_table.py`), plus key extraction from key specs ([`keys`]).

pub mod keys;
pub mod spec;
mod table;

pub use spec::*;
pub use table::COMMANDS;

/// The top-level command called `name` (ASCII case-insensitive).
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Every command and subcommand: each top-level command in table order,
/// a container followed by its subcommands.
pub fn all() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS
        .iter()
        .flat_map(|c| std::iter::once(c).chain(c.subcommands.iter()))
}

#[cfg(test)]
mod tests;
