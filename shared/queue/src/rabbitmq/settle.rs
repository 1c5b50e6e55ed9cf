//! Settling work-queue deliveries: batched `multiple` acks in tag order, and the single
//! ack, requeue and reject every consumer uses.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicNackOptions};

use super::{RabbitQueue, unavailable};
use crate::QueueError;

/// How a work-queue delivery is settled: through its channel's [`Settlements`].
pub(crate) struct RabbitAcker {
    pub(crate) acker: lapin::Acker,
    pub(crate) tag: u64,
    pub(crate) settlements: Arc<Settlements>,
    pub(crate) queue: Arc<RabbitQueue>,
}

/// The delivery tags a consumer's channel has handed out and not yet settled, in order.
///
/// Acks go to the broker as one `multiple` ack up to the highest tag below which every
/// delivery handed out is settled: a batch's commit costs one ack frame, not one per
/// delivery. A delivery still being worked on (by another batch, or alone) holds back the
/// acks of the tags after it; they stay unacked, never acked early. A delivery settled any
/// other way (retried, dead-lettered, requeued, rejected) is settled alone first, and only
/// then leaves the set, so a `multiple` ack never covers it. Tags the consumer has not
/// handed out yet are all above every tag handed out, so no ack covers them either.
///
/// Acks held back count against the prefetch: behind one slow delivery (a retry, a lock)
/// they would stop the broker pushing once the prefetch is full. So held-back acks go at
/// once, one ack each (an ack of one tag is always safe), when the delivery holding them
/// has been in hand for [`PATIENCE`], or when three quarters of the prefetch wait. A
/// count alone was not enough: at a quarter or half of the prefetch, eight batches of 64
/// finishing out of order in a drain crossed it often (RabbitMQ used 1.0–1.1 CPU-s for
/// 30,000 events instead of 0.6), and behind a slow delivery at 1,000 req/s even a
/// quarter of 512 is an eighth of a second.
pub(crate) struct Settlements {
    channel: Channel,
    /// Held-back acks that are sent one by one rather than wait longer.
    spill: usize,
    /// Tag → when it was handed out, and whether the worker acked it (it then waits for
    /// the tags before it).
    pending: std::sync::Mutex<BTreeMap<u64, Pending>>,
    /// Held while deciding and sending, so `multiple` acks leave in increasing order.
    sending: tokio::sync::Mutex<()>,
}

impl Settlements {
    pub(super) fn new(channel: Channel, prefetch: u16) -> Self {
        Self {
            channel,
            spill: (usize::from(prefetch) * 3 / 4).max(1),
            pending: std::sync::Mutex::new(BTreeMap::new()),
            sending: tokio::sync::Mutex::new(()),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A delivery handed out.
    pub(super) fn received(&self, tag: u64) {
        self.pending().insert(
            tag,
            Pending {
                since: Instant::now(),
                acked: false,
            },
        );
    }

    /// Acks these deliveries (their effects committed): sends the `multiple` ack they
    /// complete, if any.
    pub(crate) async fn ack(&self, tags: impl IntoIterator<Item = u64>) -> Result<(), QueueError> {
        let _order = self.sending.lock().await;
        let upto = {
            let mut pending = self.pending();
            for tag in tags {
                if let Some(entry) = pending.get_mut(&tag) {
                    entry.acked = true;
                }
            }
            (
                settled_prefix(&mut pending),
                held_back(&mut pending, self.spill, Instant::now()),
            )
        };
        self.send(upto).await
    }

    /// Settles one delivery by itself (`settle` sends its ack, nack or reject), then lets
    /// the acks it held back go.
    pub(crate) async fn alone(
        &self,
        tag: u64,
        settle: impl std::future::Future<Output = Result<(), QueueError>>,
    ) -> Result<(), QueueError> {
        let _order = self.sending.lock().await;
        // On failure the tag stays: the channel is broken, and everything unacked on it
        // comes again on the next one.
        settle.await?;
        let upto = {
            let mut pending = self.pending();
            pending.remove(&tag);
            (
                settled_prefix(&mut pending),
                held_back(&mut pending, self.spill, Instant::now()),
            )
        };
        self.send(upto).await
    }

    /// Sends the `multiple` ack up to a tag, and single acks for spilled held-back tags.
    async fn send(&self, (upto, single): (Option<u64>, Vec<u64>)) -> Result<(), QueueError> {
        if let Some(tag) = upto {
            self.channel
                .basic_ack(tag, BasicAckOptions { multiple: true })
                .await
                .map_err(unavailable)?;
        }
        for tag in single {
            self.channel
                .basic_ack(tag, BasicAckOptions { multiple: false })
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }
}

/// How long a delivery in hand may hold back the acks of those after it.
const PATIENCE: Duration = Duration::from_millis(100);

/// A tag handed out and not yet settled.
#[derive(Debug, Clone, Copy)]
struct Pending {
    since: Instant,
    acked: bool,
}

/// Acked tags waiting behind an unsettled one, removed and returned (to be acked one by
/// one) when `spill` or more wait or the oldest unsettled one has been in hand for
/// [`PATIENCE`]; otherwise nothing.
fn held_back(pending: &mut BTreeMap<u64, Pending>, spill: usize, now: Instant) -> Vec<u64> {
    let waiting = pending.values().filter(|p| p.acked).count();
    let oldest = pending.values().find(|p| !p.acked).map(|p| p.since);
    let patient = oldest.is_none_or(|since| now.saturating_duration_since(since) < PATIENCE);
    if waiting == 0 || (waiting < spill && patient) {
        return Vec::new();
    }
    let tags: Vec<u64> = pending
        .iter()
        .filter(|(_, p)| p.acked)
        .map(|(tag, _)| *tag)
        .collect();
    for tag in &tags {
        pending.remove(tag);
    }
    tags
}

/// Removes the acked tags at the front; the highest of them, if any (what one `multiple`
/// ack settles).
fn settled_prefix(pending: &mut BTreeMap<u64, Pending>) -> Option<u64> {
    let mut upto = None;
    while let Some(entry) = pending.first_entry() {
        if !entry.get().acked {
            break;
        }
        upto = Some(*entry.key());
        entry.remove();
    }
    upto
}

pub(crate) async fn ack(acker: &lapin::Acker) -> Result<(), QueueError> {
    acker
        .ack(BasicAckOptions::default())
        .await
        .map(|_| ())
        .map_err(unavailable)
}

pub(crate) async fn requeue(acker: &lapin::Acker) -> Result<(), QueueError> {
    acker
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(unavailable)
}

pub(super) async fn reject(acker: &lapin::Acker) -> Result<(), QueueError> {
    acker
        .nack(BasicNackOptions {
            requeue: false,
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(unavailable)
}

#[cfg(test)]
mod tests {
    use super::{PATIENCE, Pending, held_back, settled_prefix};
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    fn pending(entries: &[(u64, bool)], since: Instant) -> BTreeMap<u64, Pending> {
        entries
            .iter()
            .map(|&(tag, acked)| (tag, Pending { since, acked }))
            .collect()
    }

    fn acked(pending: &mut BTreeMap<u64, Pending>, tag: u64) {
        pending.get_mut(&tag).unwrap().acked = true;
    }

    #[test]
    fn a_multiple_ack_covers_only_the_acked_prefix() {
        let now = Instant::now();
        let mut pending = pending(
            &[
                (1, false),
                (2, true),
                (3, true),
                (4, false),
                (5, true),
                (6, false),
            ],
            now,
        );
        // Tag 1 is still being worked on: nothing may be acked.
        assert_eq!(settled_prefix(&mut pending), None);
        assert_eq!(pending.len(), 6);
        acked(&mut pending, 1);
        // 1–3 now; 4 holds back 5.
        assert_eq!(settled_prefix(&mut pending), Some(3));
        assert_eq!(pending.keys().copied().collect::<Vec<_>>(), [4, 5, 6]);
        // 4 settled alone (a retry): it leaves the set, and 5 may go.
        pending.remove(&4);
        assert_eq!(settled_prefix(&mut pending), Some(5));
        assert_eq!(pending.keys().copied().collect::<Vec<_>>(), [6]);
        assert_eq!(settled_prefix(&mut pending), None);
    }

    #[test]
    fn acks_held_back_spill_one_by_one_when_many_wait_or_the_holder_is_slow() {
        let now = Instant::now();
        // Tag 1 is in hand; 2 and 4 are acked behind it, 3 is not.
        let entries = [(1, false), (2, true), (3, false), (4, true)];
        let mut fresh = pending(&entries, now);
        assert_eq!(settled_prefix(&mut fresh), None);
        assert_eq!(
            held_back(&mut fresh, 3, now),
            Vec::<u64>::new(),
            "few, and tag 1 is fresh: they wait"
        );
        assert_eq!(
            held_back(&mut fresh, 2, now),
            [2, 4],
            "as many as the spill"
        );
        assert_eq!(fresh.keys().copied().collect::<Vec<_>>(), [1, 3]);

        let mut slow = pending(&entries, now);
        let later = now + PATIENCE + Duration::from_millis(1);
        assert_eq!(
            held_back(&mut slow, 3, later),
            [2, 4],
            "tag 1 has been in hand too long"
        );
        assert_eq!(
            held_back(&mut slow, 3, later),
            Vec::<u64>::new(),
            "nothing left to spill"
        );
    }
}
