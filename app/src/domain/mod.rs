//! The insurance domain of one tenant: the records, the values that are parsed and checked once
//! (`values`, `scalars`, `text`), and the state machines with their legal moves. Nothing here does I/O.

pub mod claim;
pub mod document;
pub mod event;
pub mod filename;
pub mod insured;
pub mod payment;
pub mod policy;
pub mod quote;
pub mod scalars;
pub mod text;
pub mod underwriting;
pub mod values;
