//! The webhook source, the hot path: `/webhooks/{integration_id}` verifies a delivery's
//! signature, publishes it to the queue and logs what it decided, and nothing else. It
//! imports nothing of the admin surface (API, console), and a delivery queries no database:
//! the integration comes from the in-memory cache and the log is written in batches off the
//! path. The body's time limit ([`body_deadline`]) was made for this path; `startup` puts it
//! in front of every route.

pub mod body_deadline;
pub mod delivery_log;
pub mod webhooks;
