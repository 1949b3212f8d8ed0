//! Integration tests. One test binary, so that every test of it shares the one
//! PostgreSQL server of this process (see `Harness::shared`).

mod accounts;
mod action;
mod actors;
mod architecture;
mod backend;
mod blame;
mod catalog;
mod fidelity;
mod lints;
mod matrix;
mod migrations;
mod plan;
mod profile;
mod property;
mod scenario_runner;
mod sequences;
mod subjects;
mod support;
