//! The command line's larger subcommands, apart from `main`: each parses its own
//! arguments and prints its own output.

pub mod args;
pub mod fuzz;
pub mod matrix;
pub mod reports;
pub mod snapshots;
