//! Jenkins: the client that triggers builds and reads the queue and builds ([`client`]), and
//! the Notification plugin's callback as a closed type ([`notification`]).

mod client;
pub mod notification;

pub use client::*;
