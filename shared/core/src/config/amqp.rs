//! `INLET_AMQP_URL` as a list of nodes.

/// The node URLs of `INLET_AMQP_URL`: one broker, or the nodes of a cluster separated by
/// commas (blanks around them ignored).
pub fn amqp_nodes(urls: &str) -> Vec<&str> {
    urls.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}
