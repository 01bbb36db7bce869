//! The document's `paths`: every operation the server answers.

use serde_json::{Value, json};

use super::{
    WEBHOOK_REFUSALS, bad_request, error_response, json_body, json_response, merchant_filter,
    not_found, object, page_response, schema_ref, storage_unavailable, stripe_refused,
    stripe_signature_header, unavailable,
};
use crate::http::stripe_webhook::BODY_LIMIT_BYTES;

pub(super) fn paths() -> Value {
    object(vec![
        (
            "/healthz",
            json!({
                "get": {
                    "operationId": "healthz",
                    "tags": ["operations"],
                    "summary": "Liveness: the process answers",
                    "description": "Checks nothing else; use it as the liveness probe.",
                    "security": [],
                    "responses": {
                        "200": json_response("The process is up.", json!({
                            "type": "object",
                            "required": ["status"],
                            "properties": { "status": { "const": "ok" } }
                        }))
                    }
                }
            }),
        ),
        (
            "/readyz",
            json!({
                "get": {
                    "operationId": "readyz",
                    "tags": ["operations"],
                    "summary": "Readiness: PostgreSQL answers and RabbitMQ is connected",
                    "description": "RabbitMQ counts only in a process whose roles hold a connection \
                        (relay, workers); otherwise it is reported as `not_used`.",
                    "security": [],
                    "responses": {
                        "200": json_response("Ready.", schema_ref("ProbeReadiness")),
                        "503": json_response("Not ready; the body says which dependency is down.", schema_ref("ProbeReadiness"))
                    }
                }
            }),
        ),
        (
            "/metrics",
            json!({
                "get": {
                    "operationId": "metrics",
                    "tags": ["operations"],
                    "summary": "Prometheus metrics (OpenMetrics text)",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Every metric of this process.",
                            "content": {
                                "application/openmetrics-text; version=1.0.0; charset=utf-8": {
                                    "schema": { "type": "string" }
                                }
                            }
                        },
                        "500": { "description": "The metrics could not be encoded (logged); empty body." }
                    }
                }
            }),
        ),
        (
            "/v1/openapi.json",
            json!({
                "get": {
                    "operationId": "openapi",
                    "tags": ["operations"],
                    "summary": "This document",
                    "description": "Public: it describes the API and holds no data; the operations \
                        it lists still require the bearer token.",
                    "security": [],
                    "responses": {
                        "200": json_response("The OpenAPI 3.1 document.", json!({ "type": "object" }))
                    }
                }
            }),
        ),
        (
            "/webhooks/stripe/{profile_id}",
            json!({
                "post": {
                    "operationId": "receiveStripeWebhook",
                    "tags": ["stripe"],
                    "summary": "Receive one Stripe event for a profile",
                    "description": "Verifies `Stripe-Signature` over the raw body against every active \
                        signing secret of the profile, then stores the event before answering: a 2xx \
                        means the event is committed. A redelivery answers 200 with \
                        `duplicate: true` and changes nothing. A 4xx tells Stripe not to retry the \
                        delivery as is; a 5xx asks it to retry. Nothing that fails verification is \
                        stored. A `signature_mismatch` most often means a proxy re-encoded the JSON: \
                        accredito must receive the raw body unchanged.",
                    "security": [],
                    "parameters": [
                        { "$ref": "#/components/parameters/ProfileId" },
                        stripe_signature_header()
                    ],
                    "requestBody": {
                        "required": true,
                        "description": format!("A Stripe v1 event, byte for byte as Stripe sent it (at most {} KiB).", BODY_LIMIT_BYTES / 1024),
                        "content": { "application/json": { "schema": schema_ref("StripeEvent") } }
                    },
                    "responses": {
                        "200": json_response("Stored now, or already stored (`duplicate: true`).", schema_ref("Receipt")),
                        "400": error_response(
                            "Signature verification failed, or the verified body is not a Stripe v1 event; nothing is kept.",
                            WEBHOOK_REFUSALS,
                        ),
                        "404": error_response("No such profile.", &["unknown_profile"]),
                        "413": error_response(&format!("The body is over {} KiB.", BODY_LIMIT_BYTES / 1024), &["payload_too_large"]),
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": error_response("Not stored; Stripe should retry.", &["storage_unavailable", "unavailable"])
                    }
                }
            }),
        ),
        (
            "/webhooks/stripe/connect",
            json!({
                "post": {
                    "operationId": "receiveConnectWebhook",
                    "tags": ["stripe"],
                    "summary": "Receive one Stripe Connect event for the platform",
                    "description": "Enabled by `ACCREDITO_CONNECT_WEBHOOK_SECRET` (404 otherwise). \
                        Verified with the platform's own signing secret, then routed by the event's \
                        `account` to the profile of that Stripe account and stored like a profile's \
                        event. An event for an account no profile has is kept in `unrouted_events` \
                        (answered 200, so it is not lost) and counted.",
                    "security": [],
                    "parameters": [
                        stripe_signature_header()
                    ],
                    "requestBody": {
                        "required": true,
                        "description": "A Stripe v1 Connect event (with `account`), byte for byte as Stripe sent it.",
                        "content": { "application/json": { "schema": schema_ref("StripeEvent") } }
                    },
                    "responses": {
                        "200": json_response("Stored (or kept as unrouted), or already stored.", schema_ref("Receipt")),
                        "400": error_response(
                            "Signature verification failed, the body is not a Stripe v1 event, or it names no `account`.",
                            WEBHOOK_REFUSALS,
                        ),
                        "404": error_response("Connect routing is not enabled.", &["not_found"]),
                        "413": error_response(&format!("The body is over {} KiB.", BODY_LIMIT_BYTES / 1024), &["payload_too_large"]),
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": error_response("Not stored; Stripe should retry.", &["storage_unavailable", "unavailable"])
                    }
                }
            }),
        ),
        (
            "/v1/profiles",
            json!({
                "post": {
                    "operationId": "createProfile",
                    "tags": ["profiles"],
                    "summary": "Create a Stripe profile",
                    "description": "Answers the profile's id and the webhook URL to paste into the \
                        Stripe dashboard. The signing secret is encrypted at rest and never returned.",
                    "requestBody": json_body(schema_ref("CreateProfileRequest")),
                    "responses": {
                        "201": json_response("Created.", schema_ref("Profile")),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "503": storage_unavailable()
                    }
                },
                "get": {
                    "operationId": "listProfiles",
                    "tags": ["profiles"],
                    "summary": "Live profiles in the order they were created",
                    "description": "Keyset-paged; unknown query parameters are refused with 400. \
                        As CSV, a profile's webhook secrets are a count.",
                    "parameters": [
                        {
                            "name": "merchant_id",
                            "in": "query",
                            "description": "Only this merchant's profiles.",
                            "schema": schema_ref("MerchantId")
                        },
                        { "$ref": "#/components/parameters/Limit" },
                        { "$ref": "#/components/parameters/Cursor" },
                        { "$ref": "#/components/parameters/Format" },
                        { "$ref": "#/components/parameters/Separator" }
                    ],
                    "responses": {
                        "200": page_response("Profile"),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "503": storage_unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/profiles/{profile_id}",
            json!({
                "parameters": [{ "$ref": "#/components/parameters/ProfileId" }],
                "get": {
                    "operationId": "showProfile",
                    "tags": ["profiles"],
                    "summary": "Show a profile (secrets by id and expiry only)",
                    "responses": {
                        "200": json_response("The profile.", schema_ref("Profile")),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such profile."),
                        "503": storage_unavailable()
                    }
                },
                "delete": {
                    "operationId": "deleteProfile",
                    "tags": ["profiles"],
                    "summary": "Delete a profile and its webhook endpoint on Stripe",
                    "description": "Marks the profile deleted, forgets its signing secrets (its \
                        webhook URL answers 404 from then on) and drops it as its merchant's \
                        selection; then deletes the webhook endpoint accredito registered for it \
                        from Stripe, with its key, and forgets the key. The events it received \
                        are kept. Refused while the merchant has Stripe enabled with it. An \
                        endpoint Stripe would not delete (the key rejected) is named in \
                        `warnings`, to be deleted by hand. No request body.",
                    "responses": {
                        "200": json_response("Deleted, endpoint included.", schema_ref("ProfileDeleted")),
                        "202": json_response(
                            "Deleted, but Stripe could not be reached to delete the endpoint \
                             (`webhook_endpoint_pending`): deleting again, or the next account \
                             sweep, retries.",
                            schema_ref("ProfileDeleted"),
                        ),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such profile (or already deleted)."),
                        "409": error_response(
                            "The merchant has Stripe enabled with this profile: disable Stripe, or enable it with another profile, first.",
                            &["conflict"],
                        ),
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": storage_unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/profiles/{profile_id}/webhook-secrets",
            json!({
                "parameters": [{ "$ref": "#/components/parameters/ProfileId" }],
                "post": {
                    "operationId": "addWebhookSecret",
                    "tags": ["profiles"],
                    "summary": "Add a webhook signing secret (rotation)",
                    "description": "Old and new secrets both verify until the old one is expired: add \
                        the new one, switch the Stripe endpoint, then expire the old one.",
                    "requestBody": json_body(schema_ref("AddWebhookSecretRequest")),
                    "responses": {
                        "201": json_response("Added.", schema_ref("WebhookSecret")),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such profile."),
                        "503": storage_unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/profiles/{profile_id}/webhook-secrets/{secret_id}/expire",
            json!({
                "parameters": [
                    { "$ref": "#/components/parameters/ProfileId" },
                    {
                        "name": "secret_id",
                        "in": "path",
                        "required": true,
                        "description": "The secret's `id`, as the profile lists it.",
                        "schema": { "type": "integer", "format": "int64" }
                    }
                ],
                "post": {
                    "operationId": "expireWebhookSecret",
                    "tags": ["profiles"],
                    "summary": "Expire a webhook signing secret, now or at a given time",
                    "requestBody": {
                        "required": false,
                        "description": "Without a body (or without `at`) the secret expires now.",
                        "content": { "application/json": { "schema": schema_ref("ExpireWebhookSecretRequest") } }
                    },
                    "responses": {
                        "200": json_response("The secret as it now stands.", schema_ref("WebhookSecret")),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such profile, or the profile has no such secret."),
                        "503": storage_unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/profiles/{profile_id}/secret-key",
            json!({
                "parameters": [{ "$ref": "#/components/parameters/ProfileId" }],
                "put": {
                    "operationId": "setStripeSecretKey",
                    "tags": ["profiles"],
                    "summary": "Rotate only the Stripe secret key, keeping the publishable key",
                    "description": "Checked as `PUT .../keys` checks a pair (against the stored \
                        publishable key, when there is one), and with Stripe: nothing is stored \
                        unless Stripe accepts the key for the profile's own Stripe account. The key \
                        is encrypted at rest and never returned. A `live` deployment refuses test \
                        keys, with an error that says so.",
                    "requestBody": json_body(schema_ref("SetSecretKeyRequest")),
                    "responses": {
                        "200": json_response("Saved; the profile and any warnings.", schema_ref("KeysSaved")),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such profile."),
                        "422": stripe_refused(&["stripe_account_mismatch"]),
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": error_response(
                            "Stripe or PostgreSQL is unreachable; nothing was stored, retry later.",
                            &["unavailable", "storage_unavailable"],
                        )
                    }
                }
            }),
        ),
        (
            "/v1/profiles/{profile_id}/keys",
            json!({
                "parameters": [{ "$ref": "#/components/parameters/ProfileId" }],
                "put": {
                    "operationId": "setStripeKeys",
                    "tags": ["profiles"],
                    "summary": "Save or rotate the profile's publishable and secret keys",
                    "description": "The keys are checked with Stripe first (the account is read \
                        with the secret key); nothing is stored unless Stripe accepts them. The \
                        secret key is encrypted at rest and never returned. A `live` deployment \
                        refuses test keys, with an error that says so.",
                    "requestBody": json_body(schema_ref("SetKeysRequest")),
                    "responses": {
                        "200": json_response("Saved; the profile and any warnings.", schema_ref("KeysSaved")),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such profile."),
                        "422": stripe_refused(&["stripe_account_mismatch"]),
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": error_response(
                            "Stripe or PostgreSQL is unreachable; nothing was stored, retry later.",
                            &["unavailable", "storage_unavailable"],
                        )
                    }
                }
            }),
        ),
        (
            "/v1/profiles/{profile_id}/webhook-endpoint",
            json!({
                "parameters": [{ "$ref": "#/components/parameters/ProfileId" }],
                "post": {
                    "operationId": "registerWebhookEndpoint",
                    "tags": ["profiles"],
                    "summary": "Create (or replace) the profile's webhook endpoint on Stripe",
                    "description": "Registers the profile's webhook URL on the Stripe account \
                        with the profile's secret key, for the events accredito handles, and \
                        stores the new signing secret. Secrets of an endpoint registered before \
                        keep verifying for a short overlap (deliveries under way), and that \
                        endpoint is deleted from Stripe. No request body.",
                    "responses": {
                        "201": json_response("Registered.", schema_ref("EndpointRegistered")),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such profile."),
                        "422": stripe_refused(&["no_secret_key"]),
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": error_response(
                            "Stripe or PostgreSQL is unreachable; retry later.",
                            &["unavailable", "storage_unavailable"],
                        )
                    }
                }
            }),
        ),
        (
            "/v1/merchants",
            json!({
                "post": {
                    "operationId": "createMerchant",
                    "tags": ["merchants"],
                    "summary": "Create a merchant (Stripe disabled until enabled)",
                    "requestBody": json_body(schema_ref("CreateMerchantRequest")),
                    "responses": {
                        "201": json_response("Created.", schema_ref("Merchant")),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "409": error_response("The merchant already exists.", &["conflict"]),
                        "503": unavailable()
                    }
                },
                "get": {
                    "operationId": "listMerchants",
                    "tags": ["merchants"],
                    "summary": "Merchants in id order",
                    "description": "Keyset-paged; unknown query parameters are refused with 400.",
                    "parameters": [
                        { "$ref": "#/components/parameters/Limit" },
                        { "$ref": "#/components/parameters/Cursor" },
                        { "$ref": "#/components/parameters/Format" },
                        { "$ref": "#/components/parameters/Separator" }
                    ],
                    "responses": {
                        "200": page_response("Merchant"),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "503": unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/merchants/{merchant_id}",
            json!({
                "parameters": [{ "$ref": "#/components/parameters/MerchantIdPath" }],
                "get": {
                    "operationId": "showMerchant",
                    "tags": ["merchants"],
                    "summary": "Show a merchant",
                    "responses": {
                        "200": json_response("The merchant.", schema_ref("Merchant")),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such merchant."),
                        "503": unavailable()
                    }
                },
                "patch": {
                    "operationId": "renameMerchant",
                    "tags": ["merchants"],
                    "summary": "Rename a merchant",
                    "requestBody": json_body(schema_ref("RenameMerchantRequest")),
                    "responses": {
                        "200": json_response("The merchant.", schema_ref("Merchant")),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such merchant."),
                        "503": unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/merchants/{merchant_id}/enable-stripe",
            json!({
                "parameters": [{ "$ref": "#/components/parameters/MerchantIdPath" }],
                "post": {
                    "operationId": "enableStripe",
                    "tags": ["merchants"],
                    "summary": "Enable Stripe for a merchant with one of its profiles",
                    "description": "Enabling requires a selected, valid profile of the merchant: \
                        its keys are checked with Stripe before Stripe is enabled.",
                    "requestBody": json_body(schema_ref("EnableStripeRequest")),
                    "responses": {
                        "200": json_response("The merchant, Stripe enabled.", schema_ref("Merchant")),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such merchant."),
                        "422": error_response(
                            "The profile cannot be used: unknown, another merchant's, or not ready (the message says what is missing).",
                            &["unknown_profile", "profile_of_another_merchant", "profile_not_ready"],
                        ),
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": error_response("Stripe or PostgreSQL is unreachable; retry later.", &["unavailable"])
                    }
                }
            }),
        ),
        (
            "/v1/merchants/{merchant_id}/disable-stripe",
            json!({
                "parameters": [{ "$ref": "#/components/parameters/MerchantIdPath" }],
                "post": {
                    "operationId": "disableStripe",
                    "tags": ["merchants"],
                    "summary": "Disable Stripe for a merchant (the selected profile is kept)",
                    "description": "No request body.",
                    "responses": {
                        "200": json_response("The merchant, Stripe disabled.", schema_ref("Merchant")),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such merchant."),
                        "503": unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/merchants/{merchant_id}/readiness",
            json!({
                "parameters": [{ "$ref": "#/components/parameters/MerchantIdPath" }],
                "get": {
                    "operationId": "showMerchantReadiness",
                    "tags": ["merchants"],
                    "summary": "The merchant's progress through the setup guide, step by step",
                    "description": "From `back_office.merchant_readiness`: each step done, \
                        missing or unknown, and what to do when not done.",
                    "parameters": [{
                        "name": "Accept-Language",
                        "in": "header",
                        "description": "`it` (any region) for Italian messages; English otherwise.",
                        "schema": { "type": "string" },
                        "example": "it-IT, it;q=0.9, en;q=0.5"
                    }],
                    "responses": {
                        "200": json_response("The steps.", schema_ref("MerchantReadiness")),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such merchant."),
                        "503": unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/orders/{order_id}",
            json!({
                "parameters": [{
                    "name": "order_id",
                    "in": "path",
                    "required": true,
                    "description": "The platform's order id.",
                    "schema": schema_ref("OrderId")
                }],
                "put": {
                    "operationId": "registerOrder",
                    "tags": ["orders"],
                    "summary": "Register or update an order (idempotent)",
                    "description": "In the same transaction the order is reconciled with any payment \
                        already received (resolving its `unknown_order` discrepancy). Nothing is \
                        stored on a 4xx.",
                    "requestBody": json_body(schema_ref("OrderRequest")),
                    "responses": {
                        "200": json_response("The order as `GET` shows it.", schema_ref("OrderDetail")),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "409": error_response("The order id belongs to another merchant.", &["conflict"]),
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": unavailable()
                    }
                },
                "get": {
                    "operationId": "showOrder",
                    "tags": ["orders"],
                    "summary": "An order's reconciliation and every discrepancy naming it",
                    "responses": {
                        "200": json_response("The order.", schema_ref("OrderDetail")),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such order."),
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/reconciliation/orders",
            json!({
                "get": {
                    "operationId": "listOrderReconciliation",
                    "tags": ["back-office"],
                    "summary": "Orders by (placed_at, order_id), from `back_office.order_reconciliation`",
                    "description": "Unknown query parameters are refused with 400.",
                    "parameters": [
                        merchant_filter(),
                        {
                            "name": "status",
                            "in": "query",
                            "schema": schema_ref("OrderStatus")
                        },
                        {
                            "name": "from",
                            "in": "query",
                            "description": "Placed at or after (RFC 3339 with an offset; write `+` as `%2B`).",
                            "schema": { "type": "string", "format": "date-time" }
                        },
                        {
                            "name": "to",
                            "in": "query",
                            "description": "Placed before (RFC 3339 with an offset; write `+` as `%2B`).",
                            "schema": { "type": "string", "format": "date-time" }
                        },
                        { "$ref": "#/components/parameters/Limit" },
                        { "$ref": "#/components/parameters/Cursor" },
                        { "$ref": "#/components/parameters/Format" },
                        { "$ref": "#/components/parameters/Separator" }
                    ],
                    "responses": {
                        "200": page_response("OrderReconciliation"),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/reconciliation/discrepancies",
            json!({
                "get": {
                    "operationId": "listDiscrepancies",
                    "tags": ["back-office"],
                    "summary": "Discrepancies by id, from `back_office.discrepancies`",
                    "description": "Unknown query parameters are refused with 400.",
                    "parameters": [
                        merchant_filter(),
                        {
                            "name": "kind",
                            "in": "query",
                            "schema": schema_ref("DiscrepancyKind")
                        },
                        {
                            "name": "open",
                            "in": "query",
                            "description": "Only open (`true`) or only resolved (`false`) discrepancies.",
                            "schema": { "type": "boolean" }
                        },
                        { "$ref": "#/components/parameters/OpenedFrom" },
                        { "$ref": "#/components/parameters/OpenedTo" },
                        { "$ref": "#/components/parameters/Limit" },
                        { "$ref": "#/components/parameters/Cursor" },
                        { "$ref": "#/components/parameters/Format" },
                        { "$ref": "#/components/parameters/Separator" }
                    ],
                    "responses": {
                        "200": page_response("Discrepancy"),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/payouts",
            json!({
                "get": {
                    "operationId": "listPayouts",
                    "tags": ["back-office"],
                    "summary": "Payouts by (arrival_date, payout_id), from `back_office.payouts`",
                    "description": "Unknown query parameters are refused with 400. A payout \
                        without an arrival date sorts after all others.",
                    "parameters": [
                        merchant_filter(),
                        {
                            "name": "status",
                            "in": "query",
                            "schema": schema_ref("PayoutStatus")
                        },
                        {
                            "name": "from",
                            "in": "query",
                            "description": "Arriving at or after (RFC 3339 with an offset; write `+` as `%2B`).",
                            "schema": { "type": "string", "format": "date-time" }
                        },
                        {
                            "name": "to",
                            "in": "query",
                            "description": "Arriving before (RFC 3339 with an offset; write `+` as `%2B`).",
                            "schema": { "type": "string", "format": "date-time" }
                        },
                        { "$ref": "#/components/parameters/Limit" },
                        { "$ref": "#/components/parameters/Cursor" },
                        { "$ref": "#/components/parameters/Format" },
                        { "$ref": "#/components/parameters/Separator" }
                    ],
                    "responses": {
                        "200": page_response("Payout"),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/payouts/{payout_id}",
            json!({
                "parameters": [{ "$ref": "#/components/parameters/PayoutId" }],
                "get": {
                    "operationId": "showPayout",
                    "tags": ["back-office"],
                    "summary": "A payout and every line it carried",
                    "responses": {
                        "200": json_response("The payout.", schema_ref("PayoutDetail")),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such payout."),
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/payouts/{payout_id}/lines",
            json!({
                "parameters": [{ "$ref": "#/components/parameters/PayoutId" }],
                "get": {
                    "operationId": "listPayoutLines",
                    "tags": ["back-office"],
                    "summary": "A payout's lines (balance transactions), from `back_office.payout_lines`",
                    "description": "Unknown query parameters are refused with 400.",
                    "parameters": [
                        { "$ref": "#/components/parameters/Limit" },
                        { "$ref": "#/components/parameters/Cursor" },
                        { "$ref": "#/components/parameters/Format" },
                        { "$ref": "#/components/parameters/Separator" }
                    ],
                    "responses": {
                        "200": page_response("PayoutLine"),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "404": not_found("No such payout."),
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": unavailable()
                    }
                }
            }),
        ),
        (
            "/v1/alerts",
            json!({
                "get": {
                    "operationId": "listAlerts",
                    "tags": ["back-office"],
                    "summary": "Merchant alerts by (opened_at, id), from `back_office.merchant_alerts`",
                    "description": "Unknown query parameters are refused with 400.",
                    "parameters": [
                        merchant_filter(),
                        {
                            "name": "kind",
                            "in": "query",
                            "schema": schema_ref("AlertKind")
                        },
                        {
                            "name": "status",
                            "in": "query",
                            "schema": schema_ref("AlertStatus")
                        },
                        { "$ref": "#/components/parameters/OpenedFrom" },
                        { "$ref": "#/components/parameters/OpenedTo" },
                        { "$ref": "#/components/parameters/Limit" },
                        { "$ref": "#/components/parameters/Cursor" },
                        { "$ref": "#/components/parameters/Format" },
                        { "$ref": "#/components/parameters/Separator" }
                    ],
                    "responses": {
                        "200": page_response("MerchantAlert"),
                        "400": bad_request(),
                        "401": { "$ref": "#/components/responses/Unauthorized" },
                        "500": { "$ref": "#/components/responses/Internal" },
                        "503": unavailable()
                    }
                }
            }),
        ),
    ])
}
