//! The webhook path in-process: signed Stripe events become contacts exactly once, bad input
//! gets the SPEC §4 answers and writes nothing, the webhook log pages and keeps what it is
//! told to, a lost broker means 503, and the embedded queue keeps accepted events across a
//! restart.

mod accepted;
mod log;
mod queue;
mod refused;

use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
