//! HTTP/1.1: the codec (pure functions over bytes), the request/response
//! types handed to handlers, and the connection driver.

pub mod chunked;
pub mod conn;
pub mod date;
pub(crate) mod dormant;
pub mod handler;
pub mod head_writer;
pub mod parse;
pub mod request;
pub mod response;
pub mod target;

pub use handler::Handler;
pub use request::{Body, BodyError, Headers, Request};
pub use response::{BodySender, Response, ResponseBody};
