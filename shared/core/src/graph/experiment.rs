//! An experiment's choice of variant: by the variants' sampling rates, deterministic in
//! the run's id (the same run always takes the same path, whichever process runs it).

/// The index of the variant (of `rates`, each a weight) that the run `key` takes; `None`
/// when there are none. Variants whose rates are all zero share runs evenly.
pub fn pick(rates: &[u8], key: &str) -> Option<usize> {
    if rates.is_empty() {
        return None;
    }
    let h = fnv1a(key);
    let total: u64 = rates.iter().map(|r| u64::from(*r)).sum();
    if total == 0 {
        let n = u64::try_from(rates.len()).ok()?;
        return usize::try_from(h % n).ok();
    }
    let mut point = h % total;
    for (i, rate) in rates.iter().enumerate() {
        let rate = u64::from(*rate);
        if point < rate {
            return Some(i);
        }
        point -= rate;
    }
    None
}

/// FNV-1a, 64 bits: stable across processes and releases (unlike std's hasher).
fn fnv1a(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::pick;

    #[test]
    fn runs_split_by_the_rates() {
        let mut counts = [0u32; 2];
        for i in 0..10_000 {
            if let Some(v) = pick(&[20, 80], &format!("run_{i}")) {
                counts[v] += 1;
            }
        }
        assert!((1_600..2_400).contains(&counts[0]), "{counts:?}");
        assert_eq!(pick(&[0, 100], "run_x"), Some(1));
        assert_eq!(pick(&[], "run_x"), None);
    }

    proptest! {
        #[test]
        fn a_pick_is_a_variant_with_a_rate_and_always_the_same(
            rates in prop::collection::vec(any::<u8>(), 1..6), key in ".{0,20}",
        ) {
            let chosen = pick(&rates, &key);
            prop_assert_eq!(chosen, pick(&rates, &key));
            let i = chosen.unwrap();
            prop_assert!(i < rates.len());
            prop_assert!(rates[i] > 0 || rates.iter().all(|r| *r == 0));
        }
    }
}
