//! The OpenAPI document, generated from the handlers' `#[utoipa::path]`
//! annotations as the router is built (so no route can go undocumented),
//! and `/docs`, Swagger UI served from assets compiled into the binary.

use super::error::Problem;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr, Response, ResponseBuilder};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// Where the document is served, and where the docs page finds it.
pub const DOCUMENT_PATH: &str = "/openapi.json";
pub const DOCS_PATH: &str = "/docs";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MACP control plane",
        description = "Runs MACP coordination sessions, records every envelope and canonical \
                       event in an append-only log, and serves read models, live streams and \
                       replay folded from it.",
    ),
    components(schemas(Problem, aggregates::ExecutionRequest))
)]
pub struct ApiDoc;

/// The finished document: the routes' operations plus what the guards add
/// (bearer keys and rate limits on every route but the open probes, the
/// body limit everywhere) and unique operation ids.
pub fn finish(mut document: Document) -> Document {
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "apiKey",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "One of AUTH_API_KEYS, when configured. /healthz, /readyz and /metrics \
                     stay open.",
                ))
                .build(),
        ),
    );
    for (path, item) in document.paths.paths.iter_mut() {
        let open = super::access::OPEN_ROUTES.contains(&path.as_str());
        for (method, operation) in operations(item) {
            // Handler names repeat across modules (`list`, `get`):
            // operation ids come from the method and path instead, unique.
            operation.operation_id = Some(operation_id(method, path));
            if !open {
                operation.security =
                    Some(vec![utoipa::openapi::security::SecurityRequirement::new(
                        "apiKey",
                        Vec::<String>::new(),
                    )]);
                add_response(operation, "401", "A missing or unknown API key");
                add_response(operation, "429", "Rate limited: see Retry-After");
            }
            add_response(operation, "413", "The body is over BODY_LIMIT_BYTES");
        }
    }
    document
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|o| (method, o)))
}

/// `get /runs/{id}/events` → `getRunsIdEvents`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_string();
    for word in path.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            id.push(first.to_ascii_uppercase());
            id.extend(chars);
        }
    }
    id
}

fn add_response(operation: &mut Operation, status: &str, description: &str) {
    let problem: RefOr<Response> = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into();
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert(problem);
}

/// `/docs` (Swagger UI) and `/openapi.json`.
pub fn docs(document: Document) -> SwaggerUi {
    SwaggerUi::new(DOCS_PATH).url(DOCUMENT_PATH, document)
}
