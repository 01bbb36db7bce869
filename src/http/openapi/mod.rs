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

mod paths;
mod schemas;

use super::AppState;
use paths::paths;
use schemas::components;

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
