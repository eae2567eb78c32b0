//! End-to-end tests: the real HTTP app on port 0, on SQLite and on the machine's MariaDB.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod bad_input;
mod bad_requests;
mod broadcasting;
mod cache;
mod cli;
mod connections;
mod credentials;
mod documents;
mod documents_s3;
mod drain;
mod events;
mod fault_proxy;
mod faults;
mod flow;
mod gateway;
mod health;
mod isolation;
mod kafka;
mod kafka_broker;
mod lifecycle;
mod measure;
mod partner;
mod partners;
mod queue;
mod redis_server;
mod replay;
mod replica;
mod replicas;
mod s3_server;
mod search;
mod secrets;
mod sockets;
mod spec;
mod streams;
mod transitions;
mod underwriting;
mod uploads;
mod worker;
