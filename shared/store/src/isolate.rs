//! Panic isolation: a panic while applying one delivery or running one workflow step becomes
//! an error of that one delivery or run, never the loss of a batch, a consumer or a process.
//!
//! The panic's message and location go into the error (and from there into the dead
//! letters, which hold the payload anyway). The log gets the location only: a panic message
//! can quote the input that caused it (`byte index 3 is not a char boundary … of "…"`), and
//! payloads never reach logs.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

use futures_util::FutureExt;

/// A panic caught while running isolated code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("panicked at {location}: {message}")]
pub struct Panicked {
    /// What the panic said.
    pub message: String,
    /// `file:line:column` of the panic, when the hook saw it.
    pub location: String,
}

thread_local! {
    /// How many isolated calls are running on this thread (nested calls count).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Where the last isolated panic on this thread happened.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs the panic hook once per process: inside isolated code it records the location
/// and logs it; elsewhere it hands the panic to the hook that was there before (the
/// standard one prints it).
fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if DEPTH.with(Cell::get) == 0 {
                previous(info);
                return;
            }
            let location = info
                .location()
                .map_or_else(|| "an unknown place".to_owned(), ToString::to_string);
            tracing::error!(%location, "Caught a panic; it fails only what was running.");
            LOCATION.with(|l| *l.borrow_mut() = Some(location));
        }));
    });
}

/// Marks this thread as running isolated code for the guard's lifetime.
struct Depth;

impl Depth {
    fn enter() -> Self {
        DEPTH.with(|d| d.set(d.get().saturating_add(1)));
        Self
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

fn panicked(payload: &(dyn Any + Send)) -> Panicked {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    let location = LOCATION
        .with(|l| l.borrow_mut().take())
        .unwrap_or_else(|| "an unknown place".to_owned());
    Panicked { message, location }
}

/// Runs `f`, turning a panic into [`Panicked`].
///
/// Whatever `f` captured by reference may be half-changed after a panic: callers throw it
/// away (a transaction rolled back, a unit of work dropped), which is why asserting unwind
/// safety is sound here.
pub fn isolate_sync<R>(f: impl FnOnce() -> R) -> Result<R, Panicked> {
    install_hook();
    let _depth = Depth::enter();
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panicked(payload.as_ref()))
}

/// Awaits `future`, turning a panic in any of its polls into [`Panicked`] (see
/// [`isolate_sync`] on unwind safety). Each poll is marked as isolated, so the hook sees
/// the panic on whichever thread polls it.
pub async fn isolate<F: Future>(future: F) -> Result<F::Output, Panicked> {
    install_hook();
    let mut future = std::pin::pin!(future);
    let marked = std::future::poll_fn(move |cx| {
        let _depth = Depth::enter();
        future.as_mut().poll(cx)
    });
    AssertUnwindSafe(marked)
        .catch_unwind()
        .await
        .map_err(|payload| panicked(payload.as_ref()))
}

/// Test builds only (feature `fault-injection`): a payload carrying this marker makes
/// [`inject`] panic, so tests can prove that a panic stays with its delivery or run
/// whatever code causes it. Release builds have no such marker.
#[cfg(feature = "fault-injection")]
pub const PANIC_MARKER: &str = "inlet-fault-injection:panic";

/// Panics when `payload` carries [`PANIC_MARKER`] (feature `fault-injection`).
#[cfg(feature = "fault-injection")]
pub fn inject(payload: &[u8]) {
    let marker = PANIC_MARKER.as_bytes();
    if payload.windows(marker.len()).any(|w| w == marker) {
        panic!("fault injected for a test");
    }
}

/// Does nothing: fault injection is compiled into test builds only.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn inject(_payload: &[u8]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message_and_location() {
        let caught = isolate_sync(|| {
            let text = String::from("+1é1");
            // A byte offset inside `é`: the kind of panic input can cause.
            text.get(..3)
                .map(str::len)
                .unwrap_or_else(|| panic!("cut {text:?} at 3"))
        });
        let Err(panic) = caught else {
            panic!("no panic caught: {caught:?}")
        };
        assert_eq!(panic.message, "cut \"+1é1\" at 3");
        assert!(panic.location.starts_with(file!()), "{}", panic.location);
        assert_eq!(isolate_sync(|| 7), Ok(7));
    }

    #[tokio::test]
    async fn a_panic_in_a_later_poll_of_a_future_is_caught() {
        let caught = isolate(async {
            tokio::task::yield_now().await;
            let index = std::hint::black_box(5);
            [1, 2, 3][index]
        })
        .await;
        let Err(panic) = caught else {
            panic!("no panic caught: {caught:?}")
        };
        assert!(panic.message.contains("index out of bounds"), "{panic}");
        assert!(panic.location.starts_with(file!()), "{}", panic.location);
        assert_eq!(isolate(async { 7 }).await, Ok(7));
    }
}
