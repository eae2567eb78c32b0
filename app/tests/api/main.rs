//! End-to-end tests: the real HTTP app on port 0, on SQLite and on the machine's MariaDB.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod bad_input;
mod bad_requests;
mod broadcasting;
mod cache;
mod cli;
mod connection_secrets;
mod connections;
mod credentials;
mod database_tls;
mod documents;
mod documents_lifecycle;
mod documents_s3;
mod drain;
mod events;
mod faults;
mod flow;
mod gateway;
mod health;
mod isolation;
mod kafka;
mod kafka_tls;
mod lifecycle;
mod partners;
mod queue;
mod redis_tls;
mod replay;
mod replicas;
mod search;
mod secrets;
mod signals;
mod sockets;
mod spec;
mod streams;
mod transitions;
mod underwriting;
mod uploads;
mod vault_tls;
