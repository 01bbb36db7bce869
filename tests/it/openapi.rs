//! `GET /v1/openapi.json` against the router that actually serves the app, both ways:
//!
//! - every documented operation is served (it does not get axum's fallback 404 with an empty
//!   body, nor a 405), and is guarded by the bearer token exactly when the document says so;
//! - every route the app serves is documented, with the same methods.
//!
//! axum cannot list its routes, so the second direction is derived from the running app:
//! every `.route("...")` path literal and `.nest("...")` prefix found in `src/` is combined into
//! candidate URLs, each candidate is probed with `TRACE` (no route uses it, so a served path
//! answers axum's 405 with an `Allow` header listing its methods, while an unserved one
//! answers the fallback 404 with an empty body), and the route templates the app matched are
//! read back from its own `/metrics` (`accredito_http_requests_total{route=...}` carries
//! axum's `MatchedPath`). Nothing here is a list of routes to maintain. (A route whose path is
//! not a string literal in its `.route(...)` call escapes the scan: keep route paths literal.)

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::*;

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "options", "trace"];

#[sqlx::test]
async fn the_document_is_served_without_a_token_and_is_openapi_3_1(pool: PgPool) {
    let app = spawn_app(pool).await;

    let response = app
        .client
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .expect("request");

    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let served: Value = response.json().await.expect("json");
    assert_eq!(served, accredito::http::openapi::document());
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(
        served["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let error = &served["components"]["schemas"]["Error"];
    assert_eq!(error["required"], serde_json::json!(["error", "message"]));
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/webhooks/stripe/{profile_id}",
    ] {
        assert!(served["paths"].get(path).is_some(), "{path} is documented");
    }
    app.stop().await;
}

#[sqlx::test]
async fn every_documented_operation_is_served_and_guarded_as_documented(pool: PgPool) {
    let app = spawn_app(pool).await;
    let doc = accredito::http::openapi::document();
    let mut problems = Vec::new();

    for (template, method, operation) in operations(&doc) {
        let url = app.url(&concrete_path(&doc, template, Some(operation)));
        let method_name = method.to_uppercase();
        // No token and no body: protected operations answer 401 from the auth layer, public
        // ones fail validation (or succeed); neither reaches axum's fallback.
        let response = app
            .client
            .request(
                Method::from_bytes(method_name.as_bytes()).expect("method"),
                &url,
            )
            .send()
            .await
            .expect("request");
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.bytes().await.expect("body");
        let what = format!("{method_name} {template}");

        if no_route(status, &body) || status == StatusCode::METHOD_NOT_ALLOWED {
            problems.push(format!(
                "{what} is documented but not served ({status} from axum's router)"
            ));
            continue;
        }
        let protected = operation
            .get("security")
            .or_else(|| doc.get("security"))
            .and_then(Value::as_array)
            .is_some_and(|requirements| !requirements.is_empty());
        if protected && status != StatusCode::UNAUTHORIZED {
            problems.push(format!(
                "{what} is documented as needing the bearer token but answered {status} without one"
            ));
        }
        if !protected && status == StatusCode::UNAUTHORIZED {
            problems.push(format!(
                "{what} is documented as public (security: []) but answered 401"
            ));
        }
        if content_type.starts_with("application/json") {
            problems.extend(check_json_body(&doc, operation, status, &body, &what));
        } else if operation["responses"].get(status.as_str()).is_none() {
            problems.push(format!(
                "{what}: answered {status}, which is not documented"
            ));
        }
    }

    assert!(
        problems.is_empty(),
        "the OpenAPI document (src/http/openapi.rs) disagrees with the router:\n  {}",
        problems.join("\n  ")
    );
    app.stop().await;
}

#[sqlx::test]
async fn every_route_the_app_serves_is_documented_with_its_methods(pool: PgPool) {
    let app = spawn_app(pool).await;
    let doc = accredito::http::openapi::document();

    // Candidate URLs: every documented path, and every route literal under every nest prefix.
    let (literals, prefixes) = route_literals_in_source();
    assert!(
        literals.contains("/healthz") && prefixes.contains("/v1"),
        "the source scan finds the router's literals (found {literals:?} under {prefixes:?})"
    );
    let mut candidates = BTreeSet::new();
    for template in documented_paths(&doc) {
        candidates.insert(concrete_path(&doc, &template, None));
    }
    for literal in &literals {
        for prefix in &prefixes {
            let joined = match literal.as_str() {
                "/" if !prefix.is_empty() => prefix.clone(),
                _ => format!("{prefix}{literal}"),
            };
            candidates.insert(concrete_path(&doc, &joined, None));
        }
    }

    // Which candidates the app serves, and with which methods (axum's `Allow` on a 405).
    let mut served: Vec<(String, Option<BTreeSet<String>>)> = Vec::new();
    for path in &candidates {
        let response = app
            .client
            .request(Method::TRACE, app.url(path))
            // `Router::route_layer` also wraps axum's 405 answer, so without the token a
            // protected path would hide its `Allow` header behind a 401.
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("probe");
        let status = response.status();
        let allow = response
            .headers()
            .get(reqwest::header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .map(|allow| {
                allow
                    .split(',')
                    .map(|m| m.trim().to_lowercase())
                    // axum answers HEAD wherever it answers GET; the document describes GET.
                    .filter(|m| !m.is_empty() && m != "head")
                    .collect::<BTreeSet<_>>()
            });
        let body = response.bytes().await.expect("body");
        if no_route(status, &body) {
            continue;
        }
        let methods = (status == StatusCode::METHOD_NOT_ALLOWED)
            .then_some(allow)
            .flatten();
        served.push((path.clone(), methods));
    }

    // The route templates the app itself matched while being probed.
    let metrics = app.metrics().await;
    let matched: BTreeSet<String> = metrics
        .lines()
        .filter(|line| line.starts_with("accredito_http_requests_total"))
        .filter_map(|line| label(line, "route"))
        .filter(|route| route != "unmatched")
        .collect();

    let documented = documented_paths(&doc);
    let mut problems = Vec::new();
    for (path, _) in &served {
        if !matched.iter().any(|template| matches(template, path)) {
            problems.push(format!(
                "{path} is served but /metrics shows no matched route for it"
            ));
        }
    }
    // The console is HTML for people, not part of the API contract: tests/it/console covers
    // its routes.
    let is_console = |template: &str| template == "/" || template.starts_with("/console");
    for template in matched.iter().filter(|t| !is_console(t)) {
        // The union of the `Allow` headers of every probe this template matched; `None` when
        // none of them answered 405 with one.
        let served_methods: Option<BTreeSet<String>> = served
            .iter()
            .filter(|(path, _)| matches(template, path))
            .filter_map(|(_, methods)| methods.clone())
            .reduce(|a, b| a.union(&b).cloned().collect());
        let Some(doc_template) = documented.iter().find(|d| same_template(d, template)) else {
            let methods = served_methods.as_ref().map(upper).unwrap_or_default();
            problems.push(format!(
                "undocumented route: {template} ({methods}) is served by the app but missing \
                 from the OpenAPI document"
            ));
            continue;
        };
        if doc_template != template {
            problems.push(format!(
                "{doc_template} is documented but the router names it {template}"
            ));
        }
        let documented_methods: BTreeSet<String> = METHODS
            .iter()
            .filter(|m| doc["paths"][doc_template.as_str()].get(**m).is_some())
            .map(|m| (*m).to_owned())
            .collect();
        match served_methods {
            Some(methods) if !methods.is_empty() && methods != documented_methods => {
                problems.push(format!(
                    "{template}: the app serves {} but the document describes {}",
                    upper(&methods),
                    upper(&documented_methods)
                ));
            }
            Some(methods) if !methods.is_empty() => {}
            _ => problems.push(format!(
                "{template}: answered TRACE without a 405 and an Allow header, so its methods \
                 cannot be compared with the document"
            )),
        }
    }
    for template in &documented {
        if !matched.iter().any(|m| same_template(m, template)) {
            problems.push(format!(
                "{template} is documented but the app never matched it"
            ));
        }
    }

    assert!(
        problems.is_empty(),
        "the OpenAPI document (src/http/openapi.rs) disagrees with the router:\n  {}",
        problems.join("\n  ")
    );
    app.stop().await;
}

/// The router's "no route here": 404 with the message `no route <METHOD> <path>` (a 404 of a
/// route, such as an unknown order, says what was not found instead).
fn no_route(status: StatusCode, body: &[u8]) -> bool {
    status == StatusCode::NOT_FOUND
        && serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|b| b["message"].as_str().map(|m| m.starts_with("no route ")))
            .unwrap_or(false)
}

fn operations(doc: &Value) -> Vec<(&str, &'static str, &Value)> {
    let mut ops = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                ops.push((template.as_str(), method, operation));
            }
        }
    }
    assert!(!ops.is_empty(), "the document has operations");
    ops
}

fn documented_paths(doc: &Value) -> BTreeSet<String> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect()
}

/// The template with each `{param}` replaced by a value of its documented type (`1` for an
/// integer, `probe` otherwise): enough to match the route, never a real object.
fn concrete_path(doc: &Value, template: &str, operation: Option<&Value>) -> String {
    let mut parameters: Vec<&Value> = Vec::new();
    if let Some(item) = doc["paths"].get(template) {
        parameters.extend(item["parameters"].as_array().into_iter().flatten());
    }
    if let Some(operation) = operation {
        parameters.extend(operation["parameters"].as_array().into_iter().flatten());
    }
    let integer_params: BTreeSet<String> = parameters
        .into_iter()
        .map(|p| resolve(doc, p))
        .filter(|p| p["in"] == "path" && resolve(doc, &p["schema"])["type"] == "integer")
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if integer_params.contains(name) => "1".to_owned(),
                Some(_) => "probe".to_owned(),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Follows a local `$ref` (one level is all the document uses).
fn resolve<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node["$ref"].as_str() {
        Some(target) => doc
            .pointer(target.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{target} resolves")),
        None => node,
    }
}

/// The answer's status is documented for the operation, and its body has the documented
/// shape: for an error, `{error, message}` with a code the document lists for that status;
/// otherwise the documented schema's required fields.
fn check_json_body(
    doc: &Value,
    operation: &Value,
    status: StatusCode,
    body: &[u8],
    what: &str,
) -> Vec<String> {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return vec![format!(
            "{what}: {status} with a JSON content type but no JSON body"
        )];
    };
    let Some(response) = operation["responses"].get(status.as_str()) else {
        return vec![format!(
            "{what}: answered {status} ({body}), which is not documented"
        )];
    };
    let schema = resolve(
        doc,
        &resolve(doc, response)["content"]["application/json"]["schema"],
    );
    let is_error = schema["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .chain([schema])
        .any(|s| {
            s["$ref"] == "#/components/schemas/Error" || s == &doc["components"]["schemas"]["Error"]
        });
    if !is_error {
        let missing: Vec<&Value> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|field| field.as_str().is_none_or(|f| body.get(f).is_none()))
            .collect();
        return if missing.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "{what}: {status} body {body} lacks the documented fields {missing:?}"
            )]
        };
    }
    let (Some(code), Some(_)) = (body["error"].as_str(), body["message"].as_str()) else {
        return vec![format!(
            "{what}: {status} body {body} is not the documented {{error, message}}"
        )];
    };
    match schema["properties"]["error"]["enum"].as_array() {
        Some(codes) if !codes.iter().any(|c| c == code) => vec![format!(
            "{what}: answered {status} with error {code:?}, not among the documented {codes:?}"
        )],
        _ => Vec::new(),
    }
}

/// `.route("...")` / `.route_service("...")` path literals and `.nest("...")` prefixes in
/// `src/` (prefixes include "" and every two-level combination).
fn route_literals_in_source() -> (BTreeSet<String>, BTreeSet<String>) {
    let mut sources = Vec::new();
    collect_rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut sources,
    );
    let mut literals = BTreeSet::new();
    let mut nests = BTreeSet::new();
    for source in &sources {
        let text = std::fs::read_to_string(source).expect("read source");
        for call in [".route(", ".route_service("] {
            literals.extend(string_arguments(&text, call));
        }
        for call in [".nest(", ".nest_service("] {
            nests.extend(string_arguments(&text, call));
        }
    }
    let mut prefixes: BTreeSet<String> = nests.iter().cloned().collect();
    prefixes.insert(String::new());
    for outer in &nests {
        for inner in &nests {
            prefixes.insert(format!("{outer}{inner}"));
        }
    }
    // A nest path is also a route of its own when the nested router has "/" (handled by
    // callers) or when it is a nested service.
    literals.extend(nests);
    (literals, prefixes)
}

fn collect_rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect_rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The string literal each `call` starts with, across line breaks (`.route(\n "/x", ...)`).
fn string_arguments(text: &str, call: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(call) {
        rest = &rest[at + call.len()..];
        let Some(literal) = rest.trim_start().strip_prefix('"') else {
            continue;
        };
        if let Some(end) = literal.find('"') {
            let path = &literal[..end];
            if path.starts_with('/') {
                found.push(path.to_owned());
            }
        }
    }
    found
}

/// The value of label `name` in a metrics line (`route="/v1/orders/{order_id}"`).
fn label(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!("{name}=\""))? + name.len() + 2;
    let end = line[start..].find('"')?;
    Some(line[start..start + end].to_owned())
}

/// Whether axum's `template` matches the concrete `path`.
fn matches(template: &str, path: &str) -> bool {
    let template: Vec<&str> = template.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}')) || t == p)
}

/// The same route whatever its parameters are called.
fn same_template(a: &str, b: &str) -> bool {
    let shape = |t: &str| {
        t.split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    shape(a) == shape(b)
}

fn upper(methods: &BTreeSet<String>) -> String {
    methods
        .iter()
        .map(|m| m.to_uppercase())
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn the_source_scan_reads_literals_across_line_breaks() {
    let text = r#"Router::new()
        .route("/a", get(a))
        .route(
            "/b/{id}/c",
            post(c),
        )
        .route(PATH, get(d))
        .nest("/v1", x)"#;
    assert_eq!(string_arguments(text, ".route("), ["/a", "/b/{id}/c"]);
    assert_eq!(string_arguments(text, ".nest("), ["/v1"]);
    assert!(matches("/v1/orders/{order_id}", "/v1/orders/probe"));
    assert!(!matches("/v1/orders/{order_id}", "/v1/orders"));
    assert!(same_template("/p/{id}", "/p/{profile_id}"));
    assert_eq!(
        label(
            r#"accredito_http_requests_total{route="/v1/x/{id}",status="405"} 1"#,
            "route"
        ),
        Some("/v1/x/{id}".to_owned())
    );
}
