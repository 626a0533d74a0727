//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin, checks, escalations, health, intake, kb, metrics, ratings, reports, sla, ticket_actions, tickets, visits,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Opsline API", description = "SLA-driven incident and operations support. Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`."),
    paths(
        health::live, health::ready, metrics::metrics, sla::classify, sla::calendars, sla::preview, sla::what_if, sla::report,
        tickets::create, tickets::list, tickets::get_one, tickets::events, tickets::sla,
        ticket_actions::respond, ticket_actions::plan, ticket_actions::wait_customer, ticket_actions::resume,
        ticket_actions::resolve, ticket_actions::confirm, ticket_actions::close, ticket_actions::reopen,
        ticket_actions::cancel, ticket_actions::level, ticket_actions::assign, ticket_actions::link,
        ticket_actions::add_comment, ticket_actions::list_comments, ticket_actions::upload,
        ticket_actions::list_attachments, ticket_actions::download,
        admin::list_customers, admin::create_customer, admin::get_customer, admin::patch_customer,
        admin::list_contacts, admin::create_contact,
        admin::list_users, admin::create_user, admin::get_user, admin::patch_user, admin::delete_user,
        admin::list_tokens, admin::create_token, admin::patch_token, admin::delete_token,
        escalations::ack, escalations::list, escalations::retry,
        checks::list, checks::create, checks::get_one, checks::update, checks::remove, checks::run, checks::results,
        checks::heartbeat, checks::start_inspection, checks::list_inspections, checks::get_inspection, checks::list_hosts,
        intake::create_integration, intake::list_integrations, intake::alertmanager_intake, intake::events_intake,
        intake::email_intake,
        intake::audit_log,
        visits::propose, visits::for_ticket, visits::get_one, visits::book, visits::rebook, visits::depart,
        visits::arrive, visits::no_access, visits::complete, visits::sign, visits::sign_link, visits::cancel, visits::work_order,
        visits::engineers, visits::set_field, visits::add_block, visits::availability, visits::calendar,
        reports::create, reports::list, reports::get_one, reports::answer,
        ratings::list, ratings::get_one, ratings::rate, ratings::callback,
        kb::list, kb::create, kb::from_ticket, kb::get_one, kb::update, kb::move_to, kb::versions, kb::feedback,
        kb::event, kb::suggest_now,
    ),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
