//! The limits of rendering: each part's output capped in bytes (the writer the engine writes
//! through stops at the cap), evaluation capped in fuel, renders at once and their time, and
//! the errors that say which limit a template reached.

use std::io;
use std::time::Duration;

use minijinja::ErrorKind;
use tokio::sync::Semaphore;

/// Template evaluation budget: a template cannot loop forever.
pub(super) const RENDER_FUEL: u64 = 100_000;
/// Renders running at once in one process. Besides its capped output, one render can hold
/// a value as large as the engine allows (a repeated string of up to 100 MB, copied once
/// more into a template value), so this bounds what rendering adds to the process.
pub const RENDER_SLOTS: usize = 2;
/// How long a caller waits for a rendering slot, and then for the render.
pub const RENDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap of each rendered part (`INLET_TEMPLATE_MAX_BYTES`), defined with the setting.
pub use crate::config::DEFAULT_TEMPLATE_MAX_BYTES as DEFAULT_MAX_BYTES;

/// The rendering slots of this process.
pub(super) static SLOTS: Semaphore = Semaphore::const_new(RENDER_SLOTS);

/// The bounds of one render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    /// Most bytes each part (subject, HTML, text) may render to.
    pub max_bytes: usize,
    /// How long the render may take, counted once it has a slot; a render that ends later
    /// is over the limit even if it did end.
    pub timeout: Duration,
    /// How long to wait for a slot.
    pub slot_wait: Duration,
}

impl RenderLimits {
    /// Parts capped at `max_bytes`, waiting [`RENDER_TIMEOUT`] for a slot and as long for
    /// the render.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            timeout: RENDER_TIMEOUT,
            slot_wait: RENDER_TIMEOUT,
        }
    }
}

impl Default for RenderLimits {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BYTES)
    }
}

/// A part of a template, named as the API names its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The subject line.
    Subject,
    /// The HTML body.
    Html,
    /// The plain-text body.
    Text,
}

impl Part {
    /// The API field of this part.
    pub fn field(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::Html => "html",
            Self::Text => "text",
        }
    }

    /// The engine's name for it: the `.html` suffix is what turns autoescaping on.
    pub(super) fn template_name(self) -> &'static str {
        match self {
            Self::Subject => "subject.txt",
            Self::Html => "body.html",
            Self::Text => "body.txt",
        }
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.field())
    }
}

/// Why a template did not render.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A part's output reached the cap; rendering stopped there.
    #[error("template {template}: {part} renders to more than {limit} bytes")]
    TooLarge {
        /// The template's id.
        template: String,
        /// The part that reached the cap.
        part: Part,
        /// The cap.
        limit: usize,
    },
    /// The engine failed the template: bad syntax, an impossible operation, out of fuel…
    #[error("template {template}: {part}: {source}")]
    Engine {
        /// The template's id.
        template: String,
        /// The part that failed.
        part: Part,
        /// What the engine said.
        #[source]
        source: minijinja::Error,
    },
    /// The render did not end within the time limit (it was abandoned).
    #[error("template {template}: rendering took longer than {} s", .limit.as_secs_f32())]
    TimedOut {
        /// The template's id.
        template: String,
        /// The time limit.
        limit: Duration,
    },
    /// Every rendering slot stayed taken for the whole time limit.
    #[error("no rendering slot came free within {} s", .0.as_secs_f32())]
    Busy(Duration),
    /// The render panicked (its message is not kept: it may quote contact data).
    #[error("template {template}: rendering panicked")]
    Panicked {
        /// The template's id.
        template: String,
    },
}

impl RenderError {
    /// True when trying again later may succeed (the renderer was busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Busy(_))
    }

    /// True when the template reached a resource limit (size, fuel or time), which no data
    /// makes smaller. Other failures often depend on the data rendered (arithmetic on a
    /// property the contact lacks, say).
    pub fn is_limit(&self) -> bool {
        match self {
            Self::TooLarge { .. } | Self::TimedOut { .. } => true,
            Self::Engine { source, .. } => source.kind() == ErrorKind::OutOfFuel,
            Self::Busy(_) | Self::Panicked { .. } => false,
        }
    }

    /// The part that failed, when one did.
    pub fn part(&self) -> Option<Part> {
        match self {
            Self::TooLarge { part, .. } | Self::Engine { part, .. } => Some(*part),
            Self::TimedOut { .. } | Self::Busy(_) | Self::Panicked { .. } => None,
        }
    }
}

/// The engine's output, refused once it would pass `limit` bytes: the failed write ends the
/// render (minijinja stops at the first write error), so the buffer never outgrows the cap.
pub(super) struct Capped {
    out: Vec<u8>,
    limit: usize,
    /// Set once a write was refused: the engine's error then means "over the cap".
    pub(super) over: bool,
}

impl Capped {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            out: Vec::new(),
            limit,
            over: false,
        }
    }

    pub(super) fn into_string(self) -> String {
        // The engine writes whole `str`s and a refused write adds nothing, so this is
        // UTF-8; were it ever not, a replacement character beats a panic.
        String::from_utf8(self.out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.limit.saturating_sub(self.out.len());
        if buf.len() > room {
            self.over = true;
            return Err(io::Error::other("rendered output reached its cap"));
        }
        let needed = self.out.len() + buf.len();
        if needed > self.out.capacity() {
            // Doubling as a Vec does, but never reserving past the cap.
            let want = self
                .out
                .capacity()
                .saturating_mul(2)
                .clamp(needed, self.limit.max(needed));
            self.out.reserve_exact(want - self.out.len());
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_cap_keeps_the_buffer_small() {
        let mut out = Capped::new(1000);
        for _ in 0..10 {
            io::Write::write_all(&mut out, &[b'a'; 99]).unwrap();
        }
        assert!(io::Write::write_all(&mut out, &[b'a'; 11]).is_err());
        assert!(out.over);
        assert_eq!(out.out.len(), 990);
        assert!(out.out.capacity() <= 1000, "{}", out.out.capacity());
    }
}
