//! The error answers the OpenAPI document lists, in the sets the endpoints share: who may call
//! (`401` and the role's `403`) and what a JSON body can get wrong (`400`, `413`, `415`, `422`).
//! An endpoint names the sets in `responses(...)` beside its own answers, so one wording serves
//! every endpoint and a new endpoint cannot forget one of them.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// Error answers, each with the [`super::error::ErrorBody`] schema.
fn errors(list: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| {
            let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            let response = ResponseBuilder::new().description(*description).content("application/json", body).build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

macro_rules! error_set {
    ($(#[$doc:meta])* $name:ident: $(($status:literal, $description:literal)),+ $(,)?) => {
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                errors(&[$(($status, $description)),+])
            }
        }
    };
}

error_set! {
    /// A request body of JSON: malformed, too large, of another type, or a field out of bounds.
    JsonBody: (400, "Malformed JSON"), (413, "Body too large"), (415, "Not JSON"), (422, "Invalid field")
}
error_set! {
    /// Admins only.
    Admin: (401, "No valid token"), (403, "Not admin")
}
error_set! {
    /// Leads and admins.
    Lead: (401, "No valid token"), (403, "Not lead or admin")
}
error_set! {
    /// Engineers and above.
    Engineer: (401, "No valid token"), (403, "Not engineer or above")
}
error_set! {
    /// Staff: agents and above.
    Staff: (401, "No valid token"), (403, "Not staff")
}
error_set! {
    /// Staff, or a contact for their own customer's tickets (the role and the ticket decide).
    Caller: (401, "No valid token"), (403, "Not allowed")
}
