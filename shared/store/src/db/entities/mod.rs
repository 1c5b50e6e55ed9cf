//! sea-orm entities, one per table (the schema itself lives in the migrations crate).

pub mod api_idempotency_key;
pub mod api_key;
pub mod app_secret;
pub mod console_session;
pub mod contact;
pub mod contact_event;
pub mod contact_list;
pub mod contact_property;
pub mod contact_tombstone;
pub mod dead_letter;
pub mod email_send;
pub mod email_template;
pub mod event_pattern;
pub mod integration;
pub mod integration_secret;
pub mod mailing_list;
pub mod processed_delivery;
pub mod queue_message;
pub mod stripe_customer;
pub mod suppression;
pub mod suppression_removal;
pub mod transactional_email;
pub mod webhook_log;
pub mod webhook_log_request;
pub mod workflow;
pub mod workflow_run;
