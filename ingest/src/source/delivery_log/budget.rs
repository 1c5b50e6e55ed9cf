//! The cap on what rejected deliveries write (see [`super`]): rows per (integration, reason)
//! and bytes for all of them, per minute.

use std::collections::HashMap;

/// Rows per (integration, rejection reason) per minute.
pub const REJECTED_PER_MINUTE: u32 = 60;
/// Bytes of rejected deliveries written per minute by one process, all integrations and
/// reasons together: 180 MiB a day at most.
pub const REJECTED_BYTES_PER_MINUTE: u64 = 128 * 1024;

/// What rejected deliveries wrote in the current minute.
#[derive(Default)]
pub(super) struct RejectionBudget {
    minute: i64,
    /// Bytes ([`super::Entry::cost`]) of all of them.
    bytes: u64,
    /// Rows per (integration, reason).
    rows: HashMap<(String, &'static str), u32>,
}

impl RejectionBudget {
    /// Whether an entry of `cost` bytes fits this minute; counts it if it does.
    pub(super) fn admit(
        &mut self,
        minute: i64,
        integration_id: &str,
        reason: &'static str,
        cost: u64,
    ) -> bool {
        // An entry stamped a little earlier than the last one (another thread's clock read)
        // counts in the current minute.
        if minute > self.minute {
            self.minute = minute;
            self.bytes = 0;
            self.rows.clear();
        }
        if self.bytes.saturating_add(cost) > REJECTED_BYTES_PER_MINUTE {
            return false;
        }
        let key = (integration_id.to_owned(), reason);
        let rows = self.rows.entry(key).or_insert(0);
        if *rows >= REJECTED_PER_MINUTE {
            return false;
        }
        *rows += 1;
        self.bytes += cost;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_share_one_byte_budget_per_minute() {
        let mut budget = RejectionBudget::default();
        let reasons = [
            "missing_header",
            "malformed_header",
            "no_match",
            "bad_envelope",
        ];
        let cost = 4 * 1024;
        let mut admitted = 0;
        for i in 0..1000 {
            let integration = format!("int_{}", i % 7);
            if budget.admit(1, &integration, reasons[i % reasons.len()], cost) {
                admitted += 1;
            }
        }
        assert_eq!(
            admitted,
            REJECTED_BYTES_PER_MINUTE / cost,
            "varied keys raised it"
        );
        assert!(!budget.admit(1, "int_new", "timestamp_too_old", 1));
        // An entry stamped a moment earlier counts in the current minute.
        assert!(!budget.admit(0, "int_0", "no_match", 1));
        // The next minute starts afresh.
        assert!(budget.admit(2, "int_0", "no_match", cost));
        // One (integration, reason) still gets at most its rows, however small.
        let mut budget = RejectionBudget::default();
        let rows = (0..1000)
            .filter(|_| budget.admit(1, "int_0", "no_match", 1))
            .count();
        assert_eq!(rows, REJECTED_PER_MINUTE as usize);
    }
}
