//! `GET /v1/openapi.json`: the HTTP API as an OpenAPI 3.1 document, written out by hand with
//! `serde_json::json!` (no utoipa: its swagger-ui build downloads from the internet, and a
//! derive would spread the contract over every handler instead of keeping it readable here).
//!
//! The document is public: it holds no data and no secret, only the contract the README
//! already publishes, and API clients and code generators need it before anyone hands them a
//! token; every `/v1` operation it describes still requires the token. It is served by
//! `ingest` processes only, like the `/v1` API it describes.
//!
//! `tests/it/openapi.rs` checks it against the running router both ways: every documented
//! operation is served (and guarded as documented), and every route the app serves is
//! documented. A new route fails that test until it is described here.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::back_office::{
    ALERT_KINDS, ALERT_STATUSES, DEFAULT_LIMIT, DESCRIPTION_MAX_CHARS, MAX_LIMIT, ORDER_STATUSES,
    PAYOUT_STATUSES,
};
use super::stripe_webhook::BODY_LIMIT_BYTES;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/openapi.json", get(|| async { Json(document()) }))
}

/// The whole document. Public so tests can compare it with what the server answers.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "accredito",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Stripe webhooks in; verified, stored, published to RabbitMQ; orders and payouts reconciled.",
            "description": "Stripe delivers each profile's events to `POST /webhooks/stripe/{profile_id}`. \
                The POS platform and the back-office use the `/v1` API with \
                `Authorization: Bearer $ACCREDITO_ADMIN_TOKEN`. Every error answers \
                `{\"error\": code, \"message\": text}` (schema `Error`): `error` is a stable \
                machine-readable code, `message` says what to send instead; internal details are \
                logged, never returned. Money is an integer amount in the currency's minor unit \
                with a lowercase ISO 4217 currency code, exactly as Stripe sends it. \
                `/healthz`, `/readyz` and `/metrics` are served by every process; the webhook \
                endpoint and `/v1` only by processes running the `ingest` role.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
        },
        "tags": [
            { "name": "stripe", "description": "Stripe's webhook endpoint." },
            { "name": "merchants", "description": "Merchants, enabling Stripe for them, and their setup progress." },
            { "name": "profiles", "description": "Stripe profiles: keys, webhook endpoint and signing secrets." },
            { "name": "orders", "description": "Mobile Commerce orders and their reconciliation." },
            { "name": "back-office", "description": "The `back_office` views, paginated, as JSON or CSV." },
            { "name": "operations", "description": "Probes, metrics and this document." }
        ],
        // Every operation needs the token unless it says `security: []`.
        "security": [{ "bearer": [] }],
        "paths": paths(),
        "components": components(),
    })
}

fn paths() -> Value {
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
                    "summary": "List profiles",
                    "parameters": [{
                        "name": "merchant_id",
                        "in": "query",
                        "description": "Only this merchant's profiles.",
                        "schema": schema_ref("MerchantId")
                    }],
                    "responses": {
                        "200": json_response("The profiles.", json!({
                            "type": "object",
                            "required": ["data"],
                            "properties": { "data": { "type": "array", "items": schema_ref("Profile") } }
                        })),
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
                    "summary": "List merchants",
                    "responses": {
                        "200": json_response("Every merchant.", json!({
                            "type": "object",
                            "required": ["data"],
                            "properties": { "data": { "type": "array", "items": schema_ref("Merchant") } }
                        })),
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
                        { "$ref": "#/components/parameters/Cursor" }
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
                        { "$ref": "#/components/parameters/Limit" },
                        { "$ref": "#/components/parameters/Cursor" }
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
                        { "$ref": "#/components/parameters/Cursor" }
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
                        { "$ref": "#/components/parameters/Cursor" }
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
                        { "$ref": "#/components/parameters/Limit" },
                        { "$ref": "#/components/parameters/Cursor" }
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

fn components() -> Value {
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
                "required": ["status", "postgresql", "rabbitmq"],
                "properties": {
                    "status": { "enum": ["ready", "not_ready"] },
                    "postgresql": { "enum": ["up", "down"] },
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
                    "duplicate": { "type": "boolean", "description": "The event was already stored." }
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

/// An object from entries: one `json!` per entry keeps each macro expansion within the
/// compiler's recursion limit.
fn object(entries: Vec<(&str, Value)>) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    )
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema } }
    })
}

fn json_body(schema: Value) -> Value {
    json!({
        "required": true,
        "content": { "application/json": { "schema": schema } }
    })
}

/// The `Error` schema narrowed to the codes one response can carry.
fn error_codes(codes: &[&str]) -> Value {
    json!({
        "allOf": [schema_ref("Error")],
        "properties": { "error": { "enum": codes } }
    })
}

fn error_response(description: &str, codes: &[&str]) -> Value {
    json_response(description, error_codes(codes))
}

fn bad_request() -> Value {
    error_response(
        "The request is malformed or a field is invalid; the message names it. Nothing is stored.",
        &["bad_request"],
    )
}

fn not_found(description: &str) -> Value {
    error_response(description, &["not_found"])
}

/// The profile operations report a database outage as `storage_unavailable`.
fn storage_unavailable() -> Value {
    error_response(
        "PostgreSQL is unreachable; retry later.",
        &["storage_unavailable"],
    )
}

fn unavailable() -> Value {
    error_response(
        "PostgreSQL is unreachable or busy; retry later.",
        &["unavailable"],
    )
}

/// 422: Stripe refused the profile's key or the request made with it; nothing was stored.
fn stripe_refused(extra: &[&str]) -> Value {
    let mut codes = vec![
        "stripe_key_rejected",
        "stripe_key_lacks_permission",
        "stripe_refused",
    ];
    codes.extend_from_slice(extra);
    error_response(
        "Well-formed, but Stripe refused the key (rejected, or lacking a permission) or the \
         request made with it, the key is of another Stripe account than the profile's, or the \
         profile has no secret key yet; the message says which. Nothing was stored.",
        &codes,
    )
}

/// The `Stripe-Signature` header both webhook endpoints verify.
fn stripe_signature_header() -> Value {
    json!({
        "name": "Stripe-Signature",
        "in": "header",
        "required": true,
        "description": "`t=<unix time>,v1=<hex HMAC-SHA256>[,v1=...]`, as Stripe sends it.",
        "schema": { "type": "string" },
        "example": "t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"
    })
}

/// The 400 codes of both webhook endpoints: verification failed, or not a Stripe event.
const WEBHOOK_REFUSALS: &[&str] = &[
    "missing_header",
    "malformed_header",
    "no_v1_signature",
    "signature_mismatch",
    "timestamp_outside_tolerance",
    "empty_payload",
    "blank_secret",
    "invalid_json",
    "not_a_stripe_event",
    "thin_event_payload",
    "bad_request",
];

fn merchant_filter() -> Value {
    json!({
        "name": "merchant_id",
        "in": "query",
        "description": "Only this merchant's rows.",
        "schema": schema_ref("MerchantId")
    })
}

/// A page of a back-office list, as JSON or (with `Accept: text/csv`) as RFC 4180 CSV.
fn page_response(item: &str) -> Value {
    json!({
        "description": "One page. JSON unless `Accept` names `text/csv` and prefers it over \
            `application/json`; as CSV the same rows with a header line, the next cursor in \
            `X-Next-Cursor` and the next page's URL in `Link`.",
        "headers": {
            "X-Next-Cursor": {
                "description": "CSV only: the cursor of the next page, absent on the last page.",
                "schema": { "type": "string" }
            },
            "Link": {
                "description": "CSV only: `<next page URL>; rel=\"next\"`, absent on the last page.",
                "schema": { "type": "string" }
            },
            "Vary": { "schema": { "type": "string", "const": "accept" } }
        },
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["data", "next_cursor"],
                    "properties": {
                        "data": { "type": "array", "items": schema_ref(item) },
                        "next_cursor": {
                            "type": ["string", "null"],
                            "description": "Pass it back as `cursor` for the next page; null on the last page."
                        }
                    }
                }
            },
            "text/csv": { "schema": { "type": "string" } }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_in_the_document_resolves() {
        fn walk(doc: &Value, node: &Value, missing: &mut Vec<String>) {
            match node {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        let pointer = target.strip_prefix('#').unwrap_or(target);
                        if doc.pointer(pointer).is_none() {
                            missing.push(target.clone());
                        }
                    }
                    map.values().for_each(|v| walk(doc, v, missing));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(doc, v, missing)),
                _ => {}
            }
        }
        let doc = document();
        let mut missing = Vec::new();
        walk(&doc, &doc, &mut missing);
        assert!(missing.is_empty(), "unresolved $ref: {missing:?}");
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document();
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .into_iter()
            .flat_map(|paths| paths.values())
            .filter_map(Value::as_object)
            .flat_map(|item| item.values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "duplicate operationId");
    }
}
