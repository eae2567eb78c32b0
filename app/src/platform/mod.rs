//! The platform: what any multi-tenant service behind Kong needs, knowing nothing of the domain
//! that runs on it. The domain (here, insurance) registers what it has with it.

pub mod aws;
pub mod backlog;
pub mod breaker;
pub mod cache;
pub mod db;
pub mod redis;
pub mod secrets;
pub mod server;
pub mod tenancy;
