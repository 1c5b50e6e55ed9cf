"""The deliveries the benchmark sends: Stripe-shaped events with random ids and emails, as a
real account produces them (no sequential keys, which would keep every index append-only).

- `creates`: `customer.created` for new customers.
- `mixed`: about 70 % `customer.updated` of existing customers, 20 % `customer.created`, 10 %
  subscription and invoice events of existing customers (subscriptions carry only the
  customer id, so the worker resolves them through the customer map). A tenth of the updates
  go to a small hot set of customers, so some contacts get several events in one batch and
  the row locks and the ordering guard are exercised.
"""

import json
import random
import string

ALPHABET = string.ascii_letters + string.digits
FIRST = ["ada", "grace", "alan", "edsger", "barbara", "donald", "frances", "ken", "radia",
         "linus", "margaret", "dennis", "john", "katherine", "tim", "hedy", "claude", "joan"]
LAST = ["lovelace", "hopper", "turing", "dijkstra", "liskov", "knuth", "allen", "thompson",
        "perlman", "torvalds", "hamilton", "ritchie", "backus", "johnson", "berners", "lamarr"]
DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "acme.io",
           "example.org", "fastmail.com"]


def stripe_id(prefix, length=24, rng=random):
    """`prefix_` and base62 characters, as Stripe's object ids look."""
    return prefix + "_" + "".join(rng.choice(ALPHABET) for _ in range(length))


class Customer:
    def __init__(self, rng):
        self.first = rng.choice(FIRST)
        self.last = rng.choice(LAST)
        self.id = stripe_id("cus", 14, rng)
        # A random suffix keeps emails unique however many customers are drawn.
        self.email = f"{self.first}.{self.last}.{rng.randrange(16**8):08x}@{rng.choice(DOMAINS)}"

    def name(self):
        return f"{self.first.title()} {self.last.title()}"


def _event(event_type, now, obj, rng):
    return json.dumps({
        "id": stripe_id("evt", 24, rng), "object": "event", "api_version": "2024-06-20",
        "created": now, "livemode": False, "pending_webhooks": 1,
        "request": {"id": stripe_id("req", 14, rng), "idempotency_key": None},
        "type": event_type, "data": {"object": obj},
    }, separators=(",", ":"))


def customer_event(event_type, c, now, rng):
    return _event(event_type, now, {
        "id": c.id, "object": "customer", "address": None, "balance": 0, "created": now,
        "currency": "usd", "email": c.email, "name": c.name(), "phone": None,
        "metadata": {"plan": rng.choice(["free", "pro", "team"])}, "livemode": False,
    }, rng)


def subscription_created(c, now, rng):
    return _event("customer.subscription.created", now, {
        "id": stripe_id("sub", 24, rng), "object": "subscription", "customer": c.id,
        "status": "active", "cancel_at_period_end": False, "created": now,
        "current_period_end": now + 30 * 86_400,
        "items": {"object": "list", "data": [{
            "id": stripe_id("si", 14, rng), "object": "subscription_item", "quantity": 1,
            "price": {"id": "price_pro_monthly", "object": "price", "product": "prod_Pro",
                      "unit_amount": 4900, "currency": "usd",
                      "recurring": {"interval": "month", "interval_count": 1}}}],
            "has_more": False, "total_count": 1},
    }, rng)


def invoice_paid(c, now, rng):
    return _event("invoice.paid", now, {
        "id": stripe_id("in", 24, rng), "object": "invoice", "customer": c.id,
        "customer_email": c.email, "customer_name": c.name(), "amount_due": 4900,
        "amount_paid": 4900, "amount_remaining": 0, "currency": "usd", "status": "paid",
        "billing_reason": "subscription_cycle", "subscription": stripe_id("sub", 24, rng),
        "created": now,
    }, rng)


class Population:
    """The customers a run has created so far (so the mixed workload can update them)."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.customers = []

    def creates(self, count, now):
        """`count` `customer.created` bodies for new customers."""
        out = []
        for _ in range(count):
            c = Customer(self.rng)
            self.customers.append(c)
            out.append(customer_event("customer.created", c, now, self.rng))
        return out

    def mixed(self, count, now):
        """`count` bodies of the mixed workload; returns (bodies, customers created)."""
        if not self.customers:
            raise ValueError("the mixed workload updates existing customers: create some first")
        rng = self.rng
        hot = self.customers[:max(1, min(200, len(self.customers) // 50))]
        existing = list(self.customers)
        out, created = [], 0
        for _ in range(count):
            roll = rng.random()
            if roll < 0.70:
                c = rng.choice(hot) if rng.random() < 0.10 else rng.choice(existing)
                c.first = rng.choice(FIRST)
                out.append(customer_event("customer.updated", c, now, rng))
            elif roll < 0.90:
                c = Customer(rng)
                self.customers.append(c)
                created += 1
                out.append(customer_event("customer.created", c, now, rng))
            elif roll < 0.95:
                out.append(subscription_created(rng.choice(existing), now, rng))
            else:
                out.append(invoice_paid(rng.choice(existing), now, rng))
        return out, created
