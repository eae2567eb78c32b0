//! policy-service: a multi-tenant insurance API. Requests flow one way:
//! gateway (Kong auth, tenant) → api (handlers) → services (use cases) → store (SQL) → db.

pub mod api;
pub mod business_metrics;
pub mod channels;
pub mod cli;
pub mod config;
pub mod domain;
pub mod job_handlers;
pub mod jobs;
pub mod observer;
pub mod partners;
pub mod platform;
pub mod schedule;
pub mod services;
pub mod startup;
pub mod state;
pub mod store;
