//! The contact service, one for webhooks and the API: the rules of a write ([`edit`]: how
//! fields merge, the stale-event guard, when a tombstone lets a contact back), the writes
//! themselves ([`write`]) and how contacts are shown ([`read`]); declared custom properties
//! and their types ([`properties`]) and the custom events' patterns ([`patterns`]).

mod edit;
pub mod patterns;
pub mod properties;
mod read;
mod write;

pub use edit::{Edit, Field, is_stale, revives};
pub use read::{contact_json, lists_of};
pub use write::{
    apply_lists, clear_tombstones, delete, deleted_at, event_row, insert, record_event,
    remove_list, save, save_all, unsubscribe,
};
