//! What every HTTP API of a service shares: RFC 9457 problems (`problem`) and the documented
//! error responses of each operation (`errors`), bodies read within the limit and parsed with
//! the field at fault named (`body`, `form`), checked headers (`headers`), and the multipart
//! framing check in front of uploads (`framing`).

pub mod body;
pub mod errors;
pub mod form;
pub mod framing;
pub mod headers;
pub mod problem;
