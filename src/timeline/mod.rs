//! The attack timeline of an incident event: fetched from MISP, ordered by
//! first_seen, printed as text, JSON or a self-contained HTML page.

pub mod fetch;
pub mod model;
pub mod render;

mod html;
