//! `/api/v1/admin/…`: what an org admin does across the organisation, over JSON. Every handler
//! takes the [`OrgAdmin`](crate::http::auth::OrgAdmin) extractor, so a caller who is not an org
//! admin gets 401 (no credentials) or 403 before the handler runs; the work is
//! `service::org`'s, the same functions the admin pages and the CLI call.

pub mod blocklist;
pub mod microsoft;
pub mod org;
