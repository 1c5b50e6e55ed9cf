//! Who a sample delivery is about, and the time format the samples share: the data each
//! platform's `sample` module builds from, apart from the dispatcher in `samples`.

/// Who a sample is about.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    /// Email address.
    pub email: &'a str,
    /// First name.
    pub first_name: &'a str,
    /// Last name.
    pub last_name: &'a str,
    /// A platform id for the person (Stripe customer, Clerk/Supabase user, Polar customer).
    pub id: &'a str,
}

/// An RFC 3339 time of `secs` (Polar and Supabase samples).
pub(in crate::providers) fn iso(secs: i64) -> String {
    crate::domain::format_ms(secs.saturating_mul(1000))
}
