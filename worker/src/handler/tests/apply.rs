//! Applying deliveries to contacts: creation and update under the integration's settings,
//! the ordering guard (an older event keeps the newer fields; an equal time applies), the
//! two deletion policies and the tombstone a deletion leaves, Stripe events found through
//! the customer map, and a batch holding several events of one contact in any order.

use inlet_shared::db::entities::{contact_event, contact_tombstone, stripe_customer};
use inlet_shared::integrations::{EventSettings, OnDelete};
use inlet_shared::providers::Provider;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{contact_of, customer, customer_id};
use crate::test_support::{Bench, person};

const ADA: &str = "ada@example.com";

#[tokio::test]
async fn a_delivery_creates_the_contact_and_a_later_one_updates_it_under_the_settings() {
    let bench = Bench::sqlite().await;
    let created_settings = EventSettings {
        user_group: Some("buyers".into()),
        custom_event: Some("signup".into()),
        ..EventSettings::default()
    };
    let renamed_settings = EventSettings {
        update_names: false,
        ..EventSettings::default()
    };
    let stripe = bench
        .integration(
            Provider::Stripe,
            &[
                ("customer.created", created_settings),
                ("customer.updated", renamed_settings),
            ],
        )
        .await;
    let created = customer(&stripe, "customer.created", ADA, ("Ada", "Lovelace"), 1_000);
    bench.apply(&[&created]).await;

    let ada = contact_of(&bench, ADA).await;
    assert_eq!(ada.first_name.as_deref(), Some("Ada"));
    assert_eq!(ada.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(ada.user_group.as_deref(), Some("buyers"));
    assert_eq!(ada.source.as_deref(), Some("Stripe webhook"));
    assert!(ada.subscribed);
    assert_eq!(ada.last_event_at, 1_000_000);
    assert_eq!(
        bench.events(&ada.id).await,
        ["stripe:customer.created", "signup"]
    );
    let log = bench.log(&created.delivery_id).await;
    assert_eq!(
        (log.status.as_str(), log.message.as_str()),
        ("processed", format!("Created contact {}.", ada.id).as_str())
    );
    let link = stripe_customer::Entity::find()
        .filter(stripe_customer::Column::CustomerId.eq(customer_id(ADA)))
        .one(&bench.db)
        .await
        .unwrap()
        .expect("the customer is linked");
    assert_eq!(link.contact_id, ada.id);

    // `customer.updated` does not copy names here; the change is applied all the same.
    let updated = customer(&stripe, "customer.updated", ADA, ("Ada", "King"), 2_000);
    bench.apply(&[&updated]).await;
    let after = contact_of(&bench, ADA).await;
    assert_eq!(after.id, ada.id);
    assert_eq!(after.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(after.last_event_at, 2_000_000);
    assert_eq!(bench.log(&updated.delivery_id).await.status, "processed");
    assert_eq!(
        bench.events(&ada.id).await,
        [
            "stripe:customer.created",
            "signup",
            "stripe:customer.updated"
        ]
    );
}

#[tokio::test]
async fn an_older_event_keeps_the_newer_fields_and_an_equal_time_applies() {
    let bench = Bench::sqlite().await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let created = customer(&stripe, "customer.created", ADA, ("Ada", "Lovelace"), 1_000);
    let newer = customer(&stripe, "customer.updated", ADA, ("Ada", "Newer"), 3_000);
    let older = customer(&stripe, "customer.updated", ADA, ("Ada", "Older"), 2_000);
    bench.apply_each(&[&created, &newer, &older]).await;

    let ada = contact_of(&bench, ADA).await;
    assert_eq!(ada.last_name.as_deref(), Some("Newer"));
    assert_eq!(ada.last_event_at, 3_000_000);
    let kept = bench.log(&older.delivery_id).await;
    assert!(kept.message.starts_with("Kept contact"), "{}", kept.message);
    // The older event is still recorded on the contact.
    assert_eq!(bench.events(&ada.id).await.len(), 3);

    // Stripe's one-second resolution gives distinct events the same time: they apply.
    let same_second = customer(&stripe, "customer.updated", ADA, ("Ada", "Equal"), 3_000);
    bench.apply(&[&same_second]).await;
    let ada = contact_of(&bench, ADA).await;
    assert_eq!(ada.last_name.as_deref(), Some("Equal"));
    assert_eq!(ada.last_event_at, 3_000_000);
}

#[tokio::test]
async fn a_deletion_under_unsubscribe_keeps_the_contact_unsubscribed_unless_it_is_older() {
    let bench = Bench::sqlite().await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let created = customer(&stripe, "customer.created", ADA, ("Ada", "Lovelace"), 1_000);
    let deleted = customer(&stripe, "customer.deleted", ADA, ("Ada", "Lovelace"), 2_000);
    bench.apply_each(&[&created, &deleted]).await;
    let ada = contact_of(&bench, ADA).await;
    assert!(!ada.subscribed);
    assert_eq!(ada.last_event_at, 2_000_000);
    assert_eq!(
        bench.log(&deleted.delivery_id).await.message,
        format!("Unsubscribed contact {}.", ada.id)
    );
    assert_eq!(bench.count(contact_tombstone::Entity).await, 0);

    // A deletion older than the contact's last change leaves it subscribed.
    const GRACE: &str = "grace@example.com";
    let created = customer(
        &stripe,
        "customer.created",
        GRACE,
        ("Grace", "Hopper"),
        3_000,
    );
    let older = customer(
        &stripe,
        "customer.deleted",
        GRACE,
        ("Grace", "Hopper"),
        2_000,
    );
    bench.apply_each(&[&created, &older]).await;
    let grace = contact_of(&bench, GRACE).await;
    assert!(grace.subscribed);
    assert_eq!(grace.last_event_at, 3_000_000);
}

/// The integration's `customer.deleted` removes contacts.
fn deleting() -> [(&'static str, EventSettings); 1] {
    [(
        "customer.deleted",
        EventSettings {
            on_delete: OnDelete::Delete,
            ..EventSettings::default()
        },
    )]
}

#[tokio::test]
async fn a_deletion_under_delete_removes_the_contact_and_leaves_a_tombstone() {
    let bench = Bench::sqlite().await;
    let stripe = bench.integration(Provider::Stripe, &deleting()).await;
    let created = customer(&stripe, "customer.created", ADA, ("Ada", "Lovelace"), 1_000);
    let deleted = customer(&stripe, "customer.deleted", ADA, ("Ada", "Lovelace"), 2_000);
    bench.apply_each(&[&created, &deleted]).await;

    assert!(bench.contact(ADA).await.is_none());
    let log = bench.log(&deleted.delivery_id).await;
    assert_eq!(log.status, "processed");
    assert!(
        log.message.starts_with("Deleted contact"),
        "{}",
        log.message
    );
    let tombstone = contact_tombstone::Entity::find()
        .filter(contact_tombstone::Column::Email.eq(ADA))
        .one(&bench.db)
        .await
        .unwrap()
        .expect("a tombstone");
    assert_eq!(tombstone.deleted_at, 2_000_000);
    assert_eq!(bench.count(contact_event::Entity).await, 0);
    assert_eq!(bench.count(stripe_customer::Entity).await, 0);
}

/// Created and deleted in one batch: what the unit of work queued for the contact (the row,
/// its events, its customer link) is dropped with it, never written.
#[tokio::test]
async fn a_contact_created_and_deleted_in_one_batch_leaves_nothing_but_its_tombstone() {
    let bench = Bench::sqlite().await;
    let stripe = bench.integration(Provider::Stripe, &deleting()).await;
    let created = customer(&stripe, "customer.created", ADA, ("Ada", "Lovelace"), 1_000);
    let deleted = customer(&stripe, "customer.deleted", ADA, ("Ada", "Lovelace"), 2_000);
    bench.apply(&[&created, &deleted]).await;

    assert!(bench.contact(ADA).await.is_none());
    assert!(
        bench
            .log(&deleted.delivery_id)
            .await
            .message
            .starts_with("Deleted contact")
    );
    assert_eq!(bench.count(contact_event::Entity).await, 0, "events left");
    assert_eq!(bench.count(stripe_customer::Entity).await, 0, "links left");
    assert_eq!(bench.count(contact_tombstone::Entity).await, 1);
}

#[tokio::test]
async fn a_tombstone_blocks_an_older_create_and_a_newer_one_passes() {
    let bench = Bench::sqlite().await;
    let stripe = bench.integration(Provider::Stripe, &deleting()).await;
    let created = customer(&stripe, "customer.created", ADA, ("Ada", "Lovelace"), 1_000);
    let deleted = customer(&stripe, "customer.deleted", ADA, ("Ada", "Lovelace"), 2_000);
    bench.apply_each(&[&created, &deleted]).await;

    // Events from before the deletion, or from its second, arriving late.
    for at in [1_500, 2_000] {
        let late = customer(&stripe, "customer.updated", ADA, ("Ada", "Late"), at);
        bench.apply(&[&late]).await;
        assert!(bench.contact(ADA).await.is_none(), "at {at}");
        assert_eq!(bench.log(&late.delivery_id).await.status, "ignored");
    }
    assert_eq!(bench.count(contact_tombstone::Entity).await, 1);

    let back = customer(&stripe, "customer.created", ADA, ("Ada", "Again"), 2_500);
    bench.apply(&[&back]).await;
    let ada = contact_of(&bench, ADA).await;
    assert_eq!(ada.last_name.as_deref(), Some("Again"));
    assert_eq!(ada.last_event_at, 2_500_000);
    assert_eq!(bench.count(contact_tombstone::Entity).await, 0);
}

#[tokio::test]
async fn a_stripe_subscription_event_finds_its_contact_through_the_customer_map() {
    let bench = Bench::sqlite().await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let created = customer(&stripe, "customer.created", ADA, ("Ada", "Lovelace"), 1_000);
    let ada_customer = customer_id(ADA);
    let subscribed = stripe.delivery(
        "customer.subscription.created",
        &person(ADA, ("Ada", "Lovelace"), &ada_customer),
        2_000,
    );
    bench.apply_each(&[&created, &subscribed]).await;
    let ada = contact_of(&bench, ADA).await;
    assert_eq!(bench.log(&subscribed.delivery_id).await.status, "processed");
    assert_eq!(
        bench.events(&ada.id).await,
        [
            "stripe:customer.created",
            "stripe:customer.subscription.created"
        ]
    );

    // A customer no earlier event named is ignored, and says so.
    let unknown = stripe.delivery(
        "customer.subscription.created",
        &person("nobody@example.com", ("No", "Body"), "cus_nobody"),
        2_000,
    );
    bench.apply(&[&unknown]).await;
    let log = bench.log(&unknown.delivery_id).await;
    assert_eq!(log.status, "ignored");
    assert!(log.message.contains("cus_nobody"), "{}", log.message);
    assert!(bench.contact("nobody@example.com").await.is_none());
    assert_eq!(bench.count(contact_event::Entity).await, 2);
}

#[tokio::test]
async fn several_events_of_one_contact_in_one_batch_end_in_the_newest_state_in_any_order() {
    let bench = Bench::sqlite().await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for (n, order) in orders.iter().enumerate() {
        let email = format!("ada{n}@example.com");
        let events = [
            customer(&stripe, "customer.created", &email, ("Ada", "One"), 1_000),
            customer(&stripe, "customer.updated", &email, ("Ada", "Two"), 2_000),
            customer(&stripe, "customer.updated", &email, ("Ada", "Three"), 3_000),
        ];
        let batch: Vec<_> = order.iter().filter_map(|&i| events.get(i)).collect();
        bench.apply(&batch).await;

        let ada = contact_of(&bench, &email).await;
        assert_eq!(ada.last_name.as_deref(), Some("Three"), "order {order:?}");
        assert_eq!(ada.last_event_at, 3_000_000, "order {order:?}");
        assert_eq!(bench.events(&ada.id).await.len(), 3, "order {order:?}");
        for event in &events {
            assert_eq!(bench.log(&event.delivery_id).await.status, "processed");
        }
    }
    let set_path = bench
        .metrics
        .batches
        .get_or_create(&inlet_shared::metrics::label("path", "set"))
        .get();
    assert_eq!(set_path, 6, "each batch applied in one transaction");
}
