//! A MISP 2.5.1 stand-in for tests and benchmarks, listening on loopback.
//!
//! It answers the parts of MISP's REST API that an alert integration
//! uses (attribute and event search, event, attribute and object
//! creation, event and attribute edits, sightings, tags, warninglists,
//! the version check) with MISP's own status codes, error bodies and
//! JSON shapes, and it can be told to misbehave at the byte level: hang,
//! stall, reset, cut replies short or swell them.
//!
//! ```no_run
//! use misp_test_server::{MispServer, ServerOptions};
//!
//! let server = MispServer::start(ServerOptions::default());
//! server.add_event(serde_json::json!({"Event": {"info": "seed",
//!     "Attribute": [{"type": "ip-dst", "value": "203.0.113.9"}]}}));
//! println!("MISP at {}", server.url());
//! ```

mod api;
mod clock;
mod faults;
mod fields;
mod http;
mod ids;
mod intake;
mod options;
mod render;
mod revise;
mod search;
mod seed;
mod server;
mod shutdown;
mod store;
mod templates;
mod tls;
mod types;
mod values;
mod warninglist;

pub use api::AUTH_FAILED;
pub use faults::{Fault, FaultRule};
pub use options::{Numbers, ServerOptions, TlsMode, TEST_API_KEY};
pub use server::{MispServer, RecordedRequest};

#[cfg(test)]
mod tests;
