//! The document's `components`: security schemes and the schemas of every body.

use serde_json::{Value, json};

use super::{error_codes, object, schema_ref};
use crate::domain::{ALERT_KINDS, ALERT_STATUSES, ORDER_STATUSES, PAYOUT_STATUSES};
use crate::http::back_office::{DEFAULT_LIMIT, DESCRIPTION_MAX_CHARS, MAX_LIMIT};

pub(super) fn components() -> Value {
    json!({
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "`Authorization: Bearer <token>`: `ACCREDITO_ADMIN_TOKEN`, or one \
                    of the named `ACCREDITO_ADMIN_TOKENS`, whose name the audit trail records. \
                    With no token configured, every protected operation answers 401."
            }
        },
        "parameters": {
            "ProfileId": {
                "name": "profile_id",
                "in": "path",
                "required": true,
                "schema": schema_ref("ProfileId")
            },
            "MerchantIdPath": {
                "name": "merchant_id",
                "in": "path",
                "required": true,
                "schema": schema_ref("MerchantId")
            },
            "PayoutId": {
                "name": "payout_id",
                "in": "path",
                "required": true,
                "description": "A Stripe payout id.",
                "schema": { "type": "string", "pattern": "^po_[A-Za-z0-9]+$", "maxLength": 255 }
            },
            "Limit": {
                "name": "limit",
                "in": "query",
                "description": "Rows per page.",
                "schema": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT }
            },
            "Cursor": {
                "name": "cursor",
                "in": "query",
                "description": "The previous page's `next_cursor`, unchanged, with the same \
                    filters. Opaque; a malformed cursor is refused with 400.",
                "schema": { "type": "string" }
            },
            "Format": {
                "name": "format",
                "in": "query",
                "description": "`csv` answers CSV as `Accept: text/csv` does (for a link or a \
                    spreadsheet that cannot send headers); `json` answers JSON.",
                "schema": { "type": "string", "enum": ["json", "csv"] }
            },
            "Separator": {
                "name": "separator",
                "in": "query",
                "description": "CSV only: `comma` (RFC 4180, the default) or `semicolon`, which \
                    also starts the document with a UTF-8 BOM: what Excel opens as columns in \
                    an Italian locale.",
                "schema": { "type": "string", "enum": ["comma", "semicolon"] }
            },
            "OpenedFrom": {
                "name": "from",
                "in": "query",
                "description": "Opened at or after (RFC 3339 with an offset; write `+` as `%2B`).",
                "schema": { "type": "string", "format": "date-time" }
            },
            "OpenedTo": {
                "name": "to",
                "in": "query",
                "description": "Opened before (RFC 3339 with an offset; write `+` as `%2B`).",
                "schema": { "type": "string", "format": "date-time" }
            }
        },
        "responses": {
            "Unauthorized": {
                "description": "Missing or wrong bearer token.",
                "headers": {
                    "WWW-Authenticate": { "schema": { "type": "string", "const": "Bearer" } }
                },
                "content": { "application/json": { "schema": error_codes(&["unauthorized"]) } }
            },
            "Internal": {
                "description": "Something went wrong; the cause is logged, never returned.",
                "content": { "application/json": { "schema": error_codes(&["internal"]) } }
            }
        },
        "schemas": schemas(),
    })
}

fn schemas() -> Value {
    let rfc3339 = json!({ "type": "string", "format": "date-time" });
    let optional_rfc3339 = json!({ "type": ["string", "null"], "format": "date-time" });
    let minor_units = json!({
        "type": "integer",
        "format": "int64",
        "description": "In the currency's minor unit (cents for eur)."
    });
    object(vec![
        (
            "Error",
            json!({
                "type": "object",
                "description": "Every error response.",
                "required": ["error", "message"],
                "properties": {
                    "error": { "type": "string", "description": "A stable machine-readable code." },
                    "message": { "type": "string", "description": "For people: what was wrong and what to send instead." }
                },
                "additionalProperties": false,
                "example": { "error": "bad_request", "message": "currency must be a three-letter lowercase ISO 4217 code, as Stripe writes it (e.g. \"eur\")" }
            }),
        ),
        (
            "ProfileId",
            json!({
                "type": "string",
                "pattern": "^prof_[A-Za-z0-9]{24}$",
                "example": "prof_4fQ2mZbX8cN1rT7wK0pL3sVd"
            }),
        ),
        (
            "MerchantId",
            json!({
                "type": "string",
                "pattern": "^[A-Za-z0-9_.:-]{1,128}$",
                "example": "m_42"
            }),
        ),
        (
            "OrderId",
            json!({
                "type": "string",
                "pattern": "^[A-Za-z0-9_.:-]{1,128}$",
                "example": "ord_2026-11-27:0001"
            }),
        ),
        (
            "Currency",
            json!({
                "type": "string",
                "pattern": "^[a-z]{3}$",
                "description": "Lowercase ISO 4217, as Stripe writes it.",
                "example": "eur"
            }),
        ),
        (
            "OrderStatus",
            json!({
                "type": "string",
                "enum": ORDER_STATUSES
            }),
        ),
        (
            "DiscrepancyKind",
            json!({
                "type": "string",
                "enum": [
                    "amount_mismatch", "currency_mismatch", "unknown_order",
                    "duplicate_payment", "refund_exceeds_payment", "livemode_mismatch",
                    "payout_sum_mismatch"
                ]
            }),
        ),
        (
            "ProbeReadiness",
            json!({
                "type": "object",
                "required": ["status", "postgresql", "schema", "rabbitmq"],
                "properties": {
                    "status": { "enum": ["ready", "not_ready"] },
                    "postgresql": { "enum": ["up", "down"] },
                    "schema": {
                        "type": "string",
                        "description": "`current`, `unknown` (PostgreSQL down), or `migrations pending: ...` when the database is behind this binary's migrations."
                    },
                    "rabbitmq": { "enum": ["up", "down", "not_used"] }
                }
            }),
        ),
        (
            "StripeEvent",
            json!({
                "type": "object",
                "description": "A Stripe v1 (snapshot) event. Only these fields are read at \
                    intake; the whole body is stored and published unchanged.",
                "required": ["id", "object", "type", "created", "livemode", "data"],
                "properties": {
                    "id": { "type": "string", "example": "evt_1QbW3kLkdIwHu7ix" },
                    "object": { "const": "event" },
                    "type": { "type": "string", "example": "payment_intent.succeeded" },
                    "created": { "type": "integer", "format": "int64", "description": "Unix seconds." },
                    "livemode": { "type": "boolean" },
                    "account": { "type": "string" },
                    "data": {
                        "type": "object",
                        "required": ["object"],
                        "properties": { "object": { "type": "object" } }
                    }
                },
                "additionalProperties": true
            }),
        ),
        (
            "Receipt",
            json!({
                "type": "object",
                "required": ["received", "duplicate"],
                "properties": {
                    "received": { "const": true },
                    "duplicate": { "type": "boolean", "description": "The event was already stored." },
                    "flagged": {
                        "enum": ["livemode_mismatch"],
                        "description": "Stored and flagged, never processed: the event's mode is not its profile's."
                    }
                }
            }),
        ),
        (
            "CreateProfileRequest",
            json!({
                "type": "object",
                "required": ["merchant_id", "name", "webhook_secret"],
                "properties": {
                    "merchant_id": schema_ref("MerchantId"),
                    "name": {
                        "type": "string",
                        "minLength": 1,
                        "description": "Not blank: the account name shown top-left in the Stripe dashboard."
                    },
                    "webhook_secret": schema_ref("WebhookSigningSecret")
                },
                "additionalProperties": false
            }),
        ),
        (
            "WebhookSigningSecret",
            json!({
                "type": "string",
                "pattern": "^whsec_",
                "writeOnly": true,
                "description": "The endpoint's signing secret from the Stripe dashboard or `stripe listen`."
            }),
        ),
        (
            "AddWebhookSecretRequest",
            json!({
                "type": "object",
                "required": ["webhook_secret"],
                "properties": {
                    "webhook_secret": schema_ref("WebhookSigningSecret"),
                    "expires_at": {
                        "type": ["string", "null"],
                        "format": "date-time",
                        "description": "When the new secret stops verifying; never by default."
                    }
                },
                "additionalProperties": false
            }),
        ),
        (
            "ExpireWebhookSecretRequest",
            json!({
                "type": "object",
                "properties": {
                    "at": {
                        "type": ["string", "null"],
                        "format": "date-time",
                        "description": "RFC 3339; now by default."
                    }
                },
                "additionalProperties": false
            }),
        ),
        (
            "SetSecretKeyRequest",
            json!({
                "type": "object",
                "required": ["secret_key"],
                "properties": {
                    "secret_key": {
                        "type": "string",
                        "pattern": "^(sk|rk)_",
                        "writeOnly": true,
                        "description": "An `sk_` or `rk_` key (Developers > API keys); `_live_` keys in a live deployment."
                    }
                },
                "additionalProperties": false
            }),
        ),
        (
            "Profile",
            json!({
                "type": "object",
                "required": [
                    "id", "merchant_id", "name", "mode", "webhook_url", "created_at",
                    "publishable_key", "secret_key_set", "stripe_account_id", "stripe_display_name",
                    "keys_checked_at", "webhook_endpoint_id", "webhook_endpoint_status",
                    "webhook_secrets"
                ],
                "properties": {
                    "id": schema_ref("ProfileId"),
                    "merchant_id": schema_ref("MerchantId"),
                    "name": { "type": "string" },
                    "mode": { "enum": ["live", "test"] },
                    "webhook_url": {
                        "type": "string",
                        "format": "uri",
                        "description": "Paste this into the Stripe dashboard's webhook endpoint."
                    },
                    "created_at": rfc3339,
                    "publishable_key": { "type": ["string", "null"], "description": "Public by design." },
                    "secret_key_set": {
                        "type": "boolean",
                        "description": "Whether a secret key is stored; the key itself is never returned."
                    },
                    "stripe_account_id": { "type": ["string", "null"] },
                    "stripe_display_name": {
                        "type": ["string", "null"],
                        "description": "The account's name as Stripe shows it."
                    },
                    "keys_checked_at": {
                        "type": ["string", "null"],
                        "format": "date-time",
                        "description": "When Stripe last accepted the keys; null: never checked."
                    },
                    "webhook_endpoint_id": {
                        "type": ["string", "null"],
                        "description": "The Stripe webhook endpoint accredito registered, if it did."
                    },
                    "webhook_endpoint_status": { "type": ["string", "null"] },
                    "webhook_secrets": { "type": "array", "items": schema_ref("WebhookSecret") }
                }
            }),
        ),
        (
            "WebhookSecret",
            json!({
                "type": "object",
                "description": "A signing secret, by id and expiry: its value is never returned.",
                "required": ["id", "created_at", "expires_at", "active"],
                "properties": {
                    "id": { "type": "integer", "format": "int64" },
                    "created_at": rfc3339,
                    "expires_at": optional_rfc3339,
                    "active": { "type": "boolean", "description": "Verifies deliveries now." }
                }
            }),
        ),
        (
            "OrderRequest",
            json!({
                "type": "object",
                "required": ["merchant_id", "amount", "currency", "placed_at"],
                "properties": {
                    "merchant_id": schema_ref("MerchantId"),
                    "amount": {
                        "type": "integer",
                        "format": "int64",
                        "minimum": 0,
                        "maximum": 1_000_000_000_000_i64,
                        "description": "In the currency's minor unit (cents for eur)."
                    },
                    "currency": schema_ref("Currency"),
                    "placed_at": {
                        "type": "string",
                        "format": "date-time",
                        "description": "RFC 3339 with an offset."
                    },
                    "description": { "type": ["string", "null"], "maxLength": DESCRIPTION_MAX_CHARS },
                    "payment_intent_id": {
                        "type": ["string", "null"],
                        "pattern": "^pi_[A-Za-z0-9]+$",
                        "description": "The order's PaymentIntent, when the platform knows it \
                            (otherwise it is found through the PaymentIntent's `metadata.order_id`)."
                    }
                },
                "additionalProperties": false,
                "example": {
                    "merchant_id": "m_42",
                    "amount": 2450,
                    "currency": "eur",
                    "placed_at": "2026-11-27T10:15:00+01:00",
                    "description": "2 pizzas"
                }
            }),
        ),
        (
            "OrderReconciliation",
            json!({
                "type": "object",
                "description": "A row of `back_office.order_reconciliation`.",
                "required": [
                    "merchant_id", "order_id", "amount", "currency", "status", "amount_paid",
                    "amount_refunded", "amount_disputed", "payment_intent_id", "charge_id",
                    "last_event_at", "placed_at", "open_discrepancies", "payout_id", "settled_at",
                    "description"
                ],
                "properties": {
                    "merchant_id": schema_ref("MerchantId"),
                    "order_id": schema_ref("OrderId"),
                    "amount": minor_units,
                    "currency": schema_ref("Currency"),
                    "status": schema_ref("OrderStatus"),
                    "amount_paid": minor_units,
                    "amount_refunded": minor_units,
                    "amount_disputed": minor_units,
                    "payment_intent_id": { "type": ["string", "null"] },
                    "charge_id": { "type": ["string", "null"] },
                    "last_event_at": optional_rfc3339,
                    "placed_at": rfc3339,
                    "open_discrepancies": { "type": "integer", "format": "int64" },
                    "payout_id": {
                        "type": ["string", "null"],
                        "description": "The payout that carried the order's payment to the merchant's bank, once one has."
                    },
                    "settled_at": optional_rfc3339,
                    "description": { "type": ["string", "null"] }
                }
            }),
        ),
        (
            "OrderDetail",
            json!({
                "description": "The order's reconciliation row and every discrepancy that names it, open or resolved.",
                "allOf": [
                    schema_ref("OrderReconciliation"),
                    {
                        "type": "object",
                        "required": ["discrepancies"],
                        "properties": {
                            "discrepancies": { "type": "array", "items": schema_ref("Discrepancy") }
                        }
                    }
                ]
            }),
        ),
        (
            "Discrepancy",
            json!({
                "type": "object",
                "description": "A row of `back_office.discrepancies`. It resolves itself when a \
                    later state clears it.",
                "required": [
                    "id", "kind", "merchant_id", "order_id", "subject_id", "event_id", "detail",
                    "opened_at", "resolved_at", "open"
                ],
                "properties": {
                    "id": { "type": "integer", "format": "int64" },
                    "kind": schema_ref("DiscrepancyKind"),
                    "merchant_id": { "type": ["string", "null"] },
                    "order_id": { "type": ["string", "null"] },
                    "subject_id": { "type": "string", "description": "The Stripe object concerned." },
                    "event_id": { "type": ["string", "null"] },
                    "detail": { "type": "string" },
                    "opened_at": rfc3339,
                    "resolved_at": optional_rfc3339,
                    "open": { "type": "boolean" }
                }
            }),
        ),
        (
            "Merchant",
            json!({
                "type": "object",
                "required": ["id", "name", "stripe_enabled", "selected_profile_id", "created_at", "updated_at"],
                "properties": {
                    "id": schema_ref("MerchantId"),
                    "name": { "type": ["string", "null"] },
                    "stripe_enabled": { "type": "boolean" },
                    "selected_profile_id": {
                        "anyOf": [schema_ref("ProfileId"), { "type": "null" }],
                        "description": "Kept when Stripe is disabled, so enabling again can reuse it."
                    },
                    "created_at": rfc3339,
                    "updated_at": rfc3339
                }
            }),
        ),
        (
            "CreateMerchantRequest",
            json!({
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": schema_ref("MerchantId"),
                    "name": schema_ref("MerchantName")
                },
                "additionalProperties": false
            }),
        ),
        (
            "RenameMerchantRequest",
            json!({
                "type": "object",
                "required": ["name"],
                "properties": { "name": schema_ref("MerchantName") },
                "additionalProperties": false
            }),
        ),
        (
            "MerchantName",
            json!({ "type": "string", "minLength": 1, "maxLength": 200, "description": "Not blank." }),
        ),
        (
            "EnableStripeRequest",
            json!({
                "type": "object",
                "required": ["profile_id"],
                "properties": { "profile_id": schema_ref("ProfileId") },
                "additionalProperties": false
            }),
        ),
        (
            "MerchantReadiness",
            json!({
                "type": "object",
                "required": ["merchant_id", "language", "ready", "steps"],
                "properties": {
                    "merchant_id": schema_ref("MerchantId"),
                    "language": { "enum": ["en", "it"], "description": "The language of `todo`." },
                    "ready": { "type": "boolean", "description": "Every step done." },
                    "steps": { "type": "array", "items": schema_ref("ReadinessStep") }
                }
            }),
        ),
        (
            "ReadinessStep",
            json!({
                "type": "object",
                "required": ["position", "step", "state", "at", "todo"],
                "properties": {
                    "position": { "type": "integer", "format": "int32" },
                    "step": {
                        "type": "string",
                        "description": "`stripe_enabled`, `profile_selected`, `live_keys_accepted`, \
                            `webhook_endpoint`, `event_received`, `bank_account_linked`, `payouts_enabled`."
                    },
                    "state": { "enum": ["done", "missing", "unknown"] },
                    "at": {
                        "type": ["string", "null"],
                        "format": "date-time",
                        "description": "When the step was last seen done, if known."
                    },
                    "todo": { "type": ["string", "null"], "description": "What to do, when not done." }
                }
            }),
        ),
        (
            "SetKeysRequest",
            json!({
                "type": "object",
                "required": ["publishable_key", "secret_key"],
                "properties": {
                    "publishable_key": {
                        "type": "string",
                        "pattern": "^pk_",
                        "description": "`pk_live_...` (`pk_test_...` in a test deployment), from Developers > API keys."
                    },
                    "secret_key": {
                        "type": "string",
                        "pattern": "^(sk|rk)_",
                        "writeOnly": true,
                        "description": "`sk_live_...` or a restricted `rk_live_...` (test keys in a test deployment)."
                    }
                },
                "additionalProperties": false
            }),
        ),
        (
            "KeysSaved",
            json!({
                "type": "object",
                "required": ["profile", "warnings"],
                "properties": {
                    "profile": schema_ref("Profile"),
                    "warnings": {
                        "type": "array",
                        "items": { "type": "string" },
                        "description": "Not errors: e.g. a Stripe display name that differs from the profile name."
                    }
                }
            }),
        ),
        (
            "ProfileDeleted",
            json!({
                "type": "object",
                "required": ["id", "merchant_id", "deleted_at", "webhook_endpoint_deleted", "webhook_endpoint_pending", "unselected", "warnings"],
                "properties": {
                    "id": { "type": "string" },
                    "merchant_id": { "type": "string" },
                    "deleted_at": { "type": "string", "format": "date-time" },
                    "webhook_endpoint_deleted": {
                        "type": ["string", "null"],
                        "description": "The Stripe webhook endpoint deleted with the profile, if it had one."
                    },
                    "webhook_endpoint_pending": {
                        "type": ["string", "null"],
                        "description": "An endpoint still to be deleted from Stripe (it could not be reached)."
                    },
                    "unselected": {
                        "type": "boolean",
                        "description": "Whether the merchant had the profile selected (with Stripe off) and no longer does."
                    },
                    "warnings": {
                        "type": "array",
                        "items": { "type": "string" },
                        "description": "E.g. an endpoint left on Stripe, to delete in the Stripe dashboard."
                    }
                }
            }),
        ),
        (
            "EndpointRegistered",
            json!({
                "type": "object",
                "description": "The registered endpoint; never the signing secret itself.",
                "required": [
                    "profile", "endpoint_id", "url", "enabled_events", "webhook_secret_id",
                    "expiring_secret_ids", "previous_secrets_expire_at", "previous_endpoint_deleted",
                    "warnings"
                ],
                "properties": {
                    "profile": schema_ref("Profile"),
                    "endpoint_id": { "type": "string", "example": "we_1QbW3kLkdIwHu7ix" },
                    "url": { "type": "string", "format": "uri" },
                    "enabled_events": { "type": "array", "items": { "type": "string" } },
                    "webhook_secret_id": {
                        "type": "integer",
                        "format": "int64",
                        "description": "The id of the signing secret stored for the new endpoint."
                    },
                    "expiring_secret_ids": {
                        "type": "array",
                        "items": { "type": "integer", "format": "int64" },
                        "description": "Secrets that still verify until the overlap ends."
                    },
                    "previous_secrets_expire_at": rfc3339,
                    "previous_endpoint_deleted": {
                        "type": ["string", "null"],
                        "description": "The endpoint registered before, deleted from Stripe."
                    },
                    "warnings": { "type": "array", "items": { "type": "string" } }
                }
            }),
        ),
        (
            "PayoutStatus",
            json!({ "type": "string", "enum": PAYOUT_STATUSES }),
        ),
        (
            "AlertKind",
            json!({ "type": "string", "enum": ALERT_KINDS }),
        ),
        (
            "AlertStatus",
            json!({ "type": "string", "enum": ALERT_STATUSES }),
        ),
        (
            "Payout",
            json!({
                "type": "object",
                "description": "A row of `back_office.payouts`.",
                "required": [
                    "merchant_id", "payout_id", "amount", "currency", "status", "arrival_date",
                    "automatic", "failure_code", "failure_message", "reconciliation_status",
                    "itemization_note", "line_count", "orders_settled", "reconciled"
                ],
                "properties": {
                    "merchant_id": schema_ref("MerchantId"),
                    "payout_id": { "type": "string" },
                    "amount": minor_units,
                    "currency": schema_ref("Currency"),
                    "status": schema_ref("PayoutStatus"),
                    "arrival_date": {
                        "type": ["string", "null"],
                        "format": "date-time",
                        "description": "Stripe's expected arrival at the bank."
                    },
                    "automatic": { "type": "boolean" },
                    "failure_code": { "type": ["string", "null"] },
                    "failure_message": { "type": ["string", "null"] },
                    "reconciliation_status": { "type": ["string", "null"] },
                    "itemization_note": { "type": ["string", "null"] },
                    "line_count": { "type": "integer", "format": "int64" },
                    "orders_settled": { "type": "integer", "format": "int64" },
                    "reconciled": { "type": "boolean" }
                }
            }),
        ),
        (
            "PayoutDetail",
            json!({
                "description": "The payout's row and every line it carried.",
                "allOf": [
                    schema_ref("Payout"),
                    {
                        "type": "object",
                        "required": ["lines"],
                        "properties": {
                            "lines": { "type": "array", "items": schema_ref("PayoutLine") }
                        }
                    }
                ]
            }),
        ),
        (
            "PayoutLine",
            json!({
                "type": "object",
                "description": "A row of `back_office.payout_lines`: a balance transaction the payout carried.",
                "required": [
                    "merchant_id", "payout_id", "balance_transaction_id", "type",
                    "reporting_category", "amount", "fee", "net", "currency", "source_id",
                    "charge_id", "refund_id", "dispute_id", "payment_intent_id", "order_id"
                ],
                "properties": {
                    "merchant_id": schema_ref("MerchantId"),
                    "payout_id": { "type": "string" },
                    "balance_transaction_id": { "type": "string" },
                    "type": { "type": "string", "description": "Stripe's balance transaction type (charge, refund, ...)." },
                    "reporting_category": { "type": ["string", "null"] },
                    "amount": minor_units,
                    "fee": minor_units,
                    "net": minor_units,
                    "currency": schema_ref("Currency"),
                    "source_id": { "type": ["string", "null"] },
                    "charge_id": { "type": ["string", "null"] },
                    "refund_id": { "type": ["string", "null"] },
                    "dispute_id": { "type": ["string", "null"] },
                    "payment_intent_id": { "type": ["string", "null"] },
                    "order_id": { "type": ["string", "null"] }
                }
            }),
        ),
        (
            "MerchantAlert",
            json!({
                "type": "object",
                "description": "A row of `back_office.merchant_alerts`; resolved automatically when fixed.",
                "required": [
                    "id", "merchant_id", "kind", "status", "opened_at", "resolved_at", "detail",
                    "last_notified_at"
                ],
                "properties": {
                    "id": { "type": "integer", "format": "int64" },
                    "merchant_id": schema_ref("MerchantId"),
                    "kind": schema_ref("AlertKind"),
                    "status": schema_ref("AlertStatus"),
                    "opened_at": rfc3339,
                    "resolved_at": optional_rfc3339,
                    "detail": { "type": "string" },
                    "last_notified_at": optional_rfc3339
                }
            }),
        ),
    ])
}
