//! The policy-evaluation suite: one table row per fact about the RAM policy language as bpops
//! evaluates it (wildcards, case rules, NotAction, NotResource, every condition operator,
//! deny overriding allow, resource-group scoping), and one per way a document is malformed.
//!
//! Every evaluation row runs against the same baseline request (below) changed by its
//! `request` function, so a row states only what it is about.

use std::net::IpAddr;
use std::sync::Arc;

use bpops_iam::{
    DecidedBy, DenyKind, Evaluation, Grant, Policy, PolicyType, Principal, RequestContext, Scope,
    authorize, evaluate,
};
use bpops_time::Timestamp;

const ACCOUNT: &str = "1001";
const GET: &str = "bpstudio:GetExecuteOperationResult";
const ASYNC: &str = "bpstudio:ExecuteOperationASync";
const VIRTUAL: &str = "acs:bpstudio::1001:bpstudiovirtual/*";
const APP_WEB: &str = "acs:bpstudio::1001:application/APP-WEB";
const APP_STAR: &str = "acs:bpstudio::1001:application/*";
const APP_SECRET: &str = "acs:bpstudio::1001:application/APP-SECRET";
/// The baseline request's `acs:CurrentTime`: 2024-05-06T07:08:09Z.
const NOW: Timestamp = Timestamp::from_millis(1_714_979_289_000);

/// An owned request context, changed per row.
#[derive(Clone)]
struct Req {
    action: &'static str,
    resource: &'static str,
    source_ip: Option<IpAddr>,
    now: Timestamp,
    secure: bool,
    service: Option<&'static str>,
    operation: Option<&'static str>,
    requested_group: Option<&'static str>,
    target_group: Option<&'static str>,
}

impl Req {
    /// GetExecuteOperationResult from 10.0.0.5 over plain HTTP at [`NOW`], naming no group.
    fn baseline() -> Req {
        Req {
            action: GET,
            resource: VIRTUAL,
            source_ip: Some(ip("10.0.0.5")),
            now: NOW,
            secure: false,
            service: None,
            operation: None,
            requested_group: None,
            target_group: None,
        }
    }

    fn ctx(&self) -> RequestContext<'_> {
        RequestContext {
            action: self.action,
            resource: self.resource,
            source_ip: self.source_ip,
            current_time: self.now,
            secure_transport: self.secure,
            service_type: self.service,
            operation: self.operation,
            requested_group: self.requested_group,
            target_group: self.target_group,
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

// Request changes the rows share.
fn unchanged(_: &mut Req) {}
fn execute_ecs_add_tags(r: &mut Req) {
    r.action = ASYNC;
    r.resource = APP_WEB;
    r.service = Some("ecs");
    r.operation = Some("addTags");
}
fn execute_ecs_rename(r: &mut Req) {
    execute_ecs_add_tags(r);
    r.operation = Some("rename");
}
fn execute_slb(r: &mut Req) {
    execute_ecs_add_tags(r);
    r.service = Some("slb");
    r.operation = Some("modifyListenerAttribute");
}
fn list_services(r: &mut Req) {
    r.action = "bpstudio:ListServices";
}
fn in_rg_prod(r: &mut Req) {
    r.requested_group = Some("rg-prod");
    r.target_group = Some("rg-prod");
}

/// What a row expects: allowed by policy N, implicitly denied, or explicitly denied by
/// policy N (policies are named `P0`, `P1`, … in the order of the row's grants).
#[derive(Debug)]
enum Expect {
    Allow(usize),
    Implicit,
    Explicit(usize),
}

/// A policy attached account-wide (`None`) or to a resource group, with its statements.
type GrantSpec = (Option<&'static str>, &'static str);

struct Case {
    name: &'static str,
    grants: &'static [GrantSpec],
    request: fn(&mut Req),
    expect: Expect,
}

const fn case(
    name: &'static str,
    grants: &'static [GrantSpec],
    request: fn(&mut Req),
    expect: Expect,
) -> Case {
    Case {
        name,
        grants,
        request,
        expect,
    }
}

const ALLOW_ALL: &str = r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#;

use Expect::{Allow, Explicit, Implicit};

#[rustfmt::skip]
const CASES: &[Case] = &[
    // --- actions: wildcards and case ---
    case("exact_action_allows", &[(None, r#"{"Effect":"Allow","Action":"bpstudio:GetExecuteOperationResult","Resource":"*"}"#)], unchanged, Allow(0)),
    case("star_action_allows_every_action", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#)], list_services, Allow(0)),
    case("service_wildcard_allows_every_bpstudio_action", &[(None, r#"{"Effect":"Allow","Action":"bpstudio:*","Resource":"*"}"#)], execute_ecs_add_tags, Allow(0)),
    case("prefix_wildcard_allows_matching_action", &[(None, r#"{"Effect":"Allow","Action":"bpstudio:Get*","Resource":"*"}"#)], unchanged, Allow(0)),
    case("prefix_wildcard_does_not_allow_other_actions", &[(None, r#"{"Effect":"Allow","Action":"bpstudio:Get*","Resource":"*"}"#)], execute_ecs_add_tags, Implicit),
    case("question_mark_matches_exactly_one_character", &[(None, r#"{"Effect":"Allow","Action":"bpstudio:ListService?","Resource":"*"}"#)], list_services, Allow(0)),
    case("question_mark_does_not_match_nothing", &[(None, r#"{"Effect":"Allow","Action":"bpstudio:ListServices?","Resource":"*"}"#)], list_services, Implicit),
    case("action_names_match_case_insensitively", &[(None, r#"{"Effect":"Allow","Action":"BPSTUDIO:getexecuteoperationresult","Resource":"*"}"#)], unchanged, Allow(0)),
    case("action_wildcards_match_case_insensitively", &[(None, r#"{"Effect":"Allow","Action":"BpStudio:get*","Resource":"*"}"#)], unchanged, Allow(0)),
    case("another_service_action_does_not_match", &[(None, r#"{"Effect":"Allow","Action":"ecs:*","Resource":"*"}"#)], unchanged, Implicit),
    case("action_without_wildcard_is_not_a_prefix", &[(None, r#"{"Effect":"Allow","Action":"bpstudio:Get","Resource":"*"}"#)], unchanged, Implicit),
    case("any_action_of_a_list_matches", &[(None, r#"{"Effect":"Allow","Action":["bpstudio:ListServices","bpstudio:GetExecuteOperationResult"],"Resource":"*"}"#)], unchanged, Allow(0)),
    case("an_action_list_without_the_action_does_not_match", &[(None, r#"{"Effect":"Allow","Action":["bpstudio:ListServices","bpstudio:ListOperations"],"Resource":"*"}"#)], unchanged, Implicit),
    // --- resources: wildcards and case ---
    case("exact_virtual_arn_allows", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"acs:bpstudio::1001:bpstudiovirtual/*"}"#)], unchanged, Allow(0)),
    case("exact_application_arn_allows", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"acs:bpstudio::1001:application/APP-WEB"}"#)], execute_ecs_add_tags, Allow(0)),
    case("region_and_account_wildcards_match", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"acs:bpstudio:*:*:application/APP-*"}"#)], execute_ecs_add_tags, Allow(0)),
    case("resources_match_case_sensitively", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"acs:bpstudio:*:*:application/app-web"}"#)], execute_ecs_add_tags, Implicit),
    case("resource_question_mark_matches_one_character", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"acs:bpstudio:*:*:application/APP-WE?"}"#)], execute_ecs_add_tags, Allow(0)),
    case("a_resource_of_another_account_does_not_match", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"acs:bpstudio:*:2002:*"}"#)], unchanged, Implicit),
    case("one_application_does_not_cover_the_any_application_arn", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"acs:bpstudio:*:*:application/APP-WEB"}"#)], |r| { execute_ecs_add_tags(r); r.resource = APP_STAR; }, Implicit),
    case("any_resource_of_a_list_matches", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":["acs:bpstudio:*:*:application/X","acs:bpstudio:*:*:bpstudiovirtual/*"]}"#)], unchanged, Allow(0)),
    case("the_virtual_arn_does_not_cover_applications", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"acs:bpstudio:*:*:bpstudiovirtual/*"}"#)], execute_ecs_add_tags, Implicit),
    // --- NotAction ---
    case("not_action_allows_actions_it_does_not_list", &[(None, r#"{"Effect":"Allow","NotAction":"bpstudio:Execute*","Resource":"*"}"#)], unchanged, Allow(0)),
    case("not_action_does_not_allow_the_actions_it_lists", &[(None, r#"{"Effect":"Allow","NotAction":"bpstudio:Get*","Resource":"*"}"#)], unchanged, Implicit),
    case("not_action_matches_case_insensitively", &[(None, r#"{"Effect":"Allow","NotAction":"BPSTUDIO:GET*","Resource":"*"}"#)], unchanged, Implicit),
    case("deny_with_not_action_denies_everything_else", &[(None, ALLOW_ALL), (None, r#"{"Effect":"Deny","NotAction":"bpstudio:Get*","Resource":"*"}"#)], list_services, Explicit(1)),
    case("deny_with_not_action_spares_the_listed_actions", &[(None, ALLOW_ALL), (None, r#"{"Effect":"Deny","NotAction":"bpstudio:Get*","Resource":"*"}"#)], unchanged, Allow(0)),
    // --- NotResource ---
    case("not_resource_allows_resources_it_does_not_list", &[(None, r#"{"Effect":"Allow","Action":"*","NotResource":"acs:bpstudio:*:*:application/APP-SECRET"}"#)], execute_ecs_add_tags, Allow(0)),
    case("not_resource_does_not_allow_the_resources_it_lists", &[(None, r#"{"Effect":"Allow","Action":"*","NotResource":"acs:bpstudio:*:*:application/APP-SECRET"}"#)], |r| { execute_ecs_add_tags(r); r.resource = APP_SECRET; }, Implicit),
    case("deny_with_not_resource_denies_every_other_resource", &[(None, ALLOW_ALL), (None, r#"{"Effect":"Deny","Action":"*","NotResource":"acs:bpstudio:*:*:bpstudiovirtual/*"}"#)], execute_ecs_add_tags, Explicit(1)),
    case("not_resource_matches_case_sensitively", &[(None, r#"{"Effect":"Allow","Action":"*","NotResource":"acs:bpstudio:*:*:application/app-secret"}"#)], |r| { execute_ecs_add_tags(r); r.resource = APP_SECRET; }, Allow(0)),
    // --- deny beats allow; no allow means deny ---
    case("no_grant_is_an_implicit_deny", &[], unchanged, Implicit),
    case("a_policy_without_statements_grants_nothing", &[(None, "")], unchanged, Implicit),
    case("deny_beats_allow_in_the_same_policy", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"bpstudio:Get*","Resource":"*"}"#)], unchanged, Explicit(0)),
    case("deny_in_a_later_policy_beats_an_earlier_allow", &[(None, ALLOW_ALL), (None, r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#)], unchanged, Explicit(1)),
    case("deny_in_an_earlier_policy_beats_a_later_allow", &[(None, r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#), (None, ALLOW_ALL)], unchanged, Explicit(0)),
    case("a_deny_of_another_action_leaves_the_allow", &[(None, ALLOW_ALL), (None, r#"{"Effect":"Deny","Action":"bpstudio:Execute*","Resource":"*"}"#)], unchanged, Allow(0)),
    case("a_deny_alone_is_an_explicit_deny", &[(None, r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#)], unchanged, Explicit(0)),
    case("the_first_allowing_policy_is_named", &[(None, r#"{"Effect":"Allow","Action":"ecs:*","Resource":"*"}"#), (None, ALLOW_ALL), (None, ALLOW_ALL)], unchanged, Allow(1)),
    case("a_deny_whose_condition_fails_does_not_apply", &[(None, ALLOW_ALL), (None, r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"192.168.0.0/16"}}}"#)], unchanged, Allow(0)),
    case("an_allow_for_another_resource_does_not_help", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"acs:bpstudio:*:*:application/APP-SECRET"}"#)], execute_ecs_add_tags, Implicit),
    // --- StringEquals / StringNotEquals and their IgnoreCase forms ---
    case("string_equals_on_service_type_allows_that_service", &[(None, r#"{"Effect":"Allow","Action":"bpstudio:Execute*","Resource":"*","Condition":{"StringEquals":{"bpstudio:ServiceType":"ecs"}}}"#)], execute_ecs_add_tags, Allow(0)),
    case("string_equals_on_service_type_refuses_another_service", &[(None, r#"{"Effect":"Allow","Action":"bpstudio:Execute*","Resource":"*","Condition":{"StringEquals":{"bpstudio:ServiceType":"ecs"}}}"#)], execute_slb, Implicit),
    case("string_equals_is_case_sensitive", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"bpstudio:ServiceType":"ECS"}}}"#)], execute_ecs_add_tags, Implicit),
    case("string_equals_matches_any_listed_value", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"bpstudio:ServiceType":["slb","ecs"]}}}"#)], execute_ecs_add_tags, Allow(0)),
    case("service_and_operation_conditions_allow_only_ecs_add_tags", &[(None, r#"{"Effect":"Allow","Action":"bpstudio:Execute*","Resource":"*","Condition":{"StringEquals":{"bpstudio:ServiceType":"ecs","bpstudio:Operation":"addTags"}}}"#)], execute_ecs_add_tags, Allow(0)),
    case("service_and_operation_conditions_refuse_another_operation", &[(None, r#"{"Effect":"Allow","Action":"bpstudio:Execute*","Resource":"*","Condition":{"StringEquals":{"bpstudio:ServiceType":"ecs","bpstudio:Operation":"addTags"}}}"#)], execute_ecs_rename, Implicit),
    case("string_equals_on_an_absent_key_does_not_match", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"bpstudio:ServiceType":"ecs"}}}"#)], unchanged, Implicit),
    case("string_not_equals_allows_other_values", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"bpstudio:Operation":"ecsDelete"}}}"#)], execute_ecs_add_tags, Allow(0)),
    case("string_not_equals_refuses_the_listed_value", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"bpstudio:Operation":["ecsDelete","addTags"]}}}"#)], execute_ecs_add_tags, Implicit),
    case("string_not_equals_holds_when_the_key_is_absent", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"bpstudio:Operation":"ecsDelete"}}}"#)], unchanged, Allow(0)),
    case("string_equals_ignore_case_folds_case", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqualsIgnoreCase":{"bpstudio:Operation":"ADDTAGS"}}}"#)], execute_ecs_add_tags, Allow(0)),
    case("string_not_equals_ignore_case_folds_case", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringNotEqualsIgnoreCase":{"bpstudio:Operation":"ADDTAGS"}}}"#)], execute_ecs_add_tags, Implicit),
    case("condition_key_names_are_case_insensitive", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"BPSTUDIO:servicetype":"ecs"}}}"#)], execute_ecs_add_tags, Allow(0)),
    // --- StringLike / StringNotLike ---
    case("string_like_matches_a_star_pattern", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLike":{"bpstudio:Operation":"add*"}}}"#)], execute_ecs_add_tags, Allow(0)),
    case("string_like_is_case_sensitive", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLike":{"bpstudio:Operation":"Add*"}}}"#)], execute_ecs_add_tags, Implicit),
    case("string_like_question_mark_matches_one_character", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLike":{"bpstudio:ServiceType":"e?s"}}}"#)], execute_ecs_add_tags, Allow(0)),
    case("string_not_like_allows_non_matching_values", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringNotLike":{"bpstudio:Operation":"ecs*"}}}"#)], execute_ecs_add_tags, Allow(0)),
    case("string_not_like_refuses_matching_values", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringNotLike":{"bpstudio:Operation":"add*"}}}"#)], execute_ecs_add_tags, Implicit),
    case("deny_string_not_like_denies_other_operations", &[(None, ALLOW_ALL), (None, r#"{"Effect":"Deny","Action":"bpstudio:Execute*","Resource":"*","Condition":{"StringNotLike":{"bpstudio:Operation":"add*"}}}"#)], execute_ecs_rename, Explicit(1)),
    // --- IpAddress / NotIpAddress ---
    case("ip_address_allows_a_peer_inside_the_range", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}}}"#)], unchanged, Allow(0)),
    case("ip_address_refuses_a_peer_outside_the_range", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}}}"#)], |r| r.source_ip = Some(ip("192.168.1.1")), Implicit),
    case("ip_address_matches_a_single_address", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.5"}}}"#)], unchanged, Allow(0)),
    case("ip_address_refuses_a_neighbouring_address", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.6"}}}"#)], unchanged, Implicit),
    case("ip_address_matches_any_listed_range", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":["192.168.0.0/16","10.0.0.0/24"]}}}"#)], unchanged, Allow(0)),
    case("ip_address_matches_ipv6_ranges", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"2001:db8::/32"}}}"#)], |r| r.source_ip = Some(ip("2001:db8::7")), Allow(0)),
    case("an_ipv4_peer_on_an_ipv6_socket_matches_its_ipv4_range", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}}}"#)], |r| r.source_ip = Some(ip("::ffff:10.0.0.5")), Allow(0)),
    case("ip_address_does_not_match_an_unknown_peer", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"0.0.0.0/0"}}}"#)], |r| r.source_ip = None, Implicit),
    case("not_ip_address_allows_a_peer_outside_the_range", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"acs:SourceIp":"192.168.0.0/16"}}}"#)], unchanged, Allow(0)),
    case("not_ip_address_refuses_a_peer_inside_the_range", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"acs:SourceIp":"10.0.0.0/8"}}}"#)], unchanged, Implicit),
    case("deny_not_ip_address_denies_peers_outside_the_office", &[(None, ALLOW_ALL), (None, r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"acs:SourceIp":"10.0.0.0/8"}}}"#)], |r| r.source_ip = Some(ip("203.0.113.9")), Explicit(1)),
    // --- Bool ---
    case("bool_false_matches_plain_http", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"acs:SecureTransport":"false"}}}"#)], unchanged, Allow(0)),
    case("bool_true_refuses_plain_http", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"acs:SecureTransport":"true"}}}"#)], unchanged, Implicit),
    case("bool_accepts_a_json_boolean", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"acs:SecureTransport":true}}}"#)], |r| r.secure = true, Allow(0)),
    case("bool_values_ignore_case", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"acs:SecureTransport":"TRUE"}}}"#)], |r| r.secure = true, Allow(0)),
    case("deny_without_secure_transport_denies_plain_http", &[(None, ALLOW_ALL), (None, r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"acs:SecureTransport":"false"}}}"#)], unchanged, Explicit(1)),
    // --- DateLessThan / DateGreaterThan and relatives ---
    case("date_less_than_allows_before_the_date", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"acs:CurrentTime":"2024-05-07T00:00:00Z"}}}"#)], unchanged, Allow(0)),
    case("date_less_than_refuses_after_the_date", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"acs:CurrentTime":"2024-05-06T00:00:00Z"}}}"#)], unchanged, Implicit),
    case("date_less_than_refuses_the_exact_instant", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"acs:CurrentTime":"2024-05-06T07:08:09Z"}}}"#)], unchanged, Implicit),
    case("date_less_than_equals_allows_the_exact_instant", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThanEquals":{"acs:CurrentTime":"2024-05-06T07:08:09Z"}}}"#)], unchanged, Allow(0)),
    case("date_greater_than_allows_after_the_date", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateGreaterThan":{"acs:CurrentTime":"2024-01-01T00:00:00Z"}}}"#)], unchanged, Allow(0)),
    case("date_greater_than_refuses_before_the_date", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateGreaterThan":{"acs:CurrentTime":"2025-01-01T00:00:00Z"}}}"#)], unchanged, Implicit),
    case("dates_with_an_offset_compare_as_utc", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"acs:CurrentTime":"2024-05-06T15:08:10+08:00"}}}"#)], unchanged, Allow(0)),
    case("a_time_window_needs_both_bounds", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateGreaterThan":{"acs:CurrentTime":"2024-05-06T07:00:00Z"},"DateLessThan":{"acs:CurrentTime":"2024-05-06T07:05:00Z"}}}"#)], unchanged, Implicit),
    case("date_equals_matches_the_exact_instant", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateEquals":{"acs:CurrentTime":"2024-05-06T07:08:09Z"}}}"#)], unchanged, Allow(0)),
    // --- NumericLessThan / NumericGreaterThan and relatives (acs:CurrentTime as Unix seconds) ---
    case("numeric_less_than_compares_unix_seconds", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"acs:CurrentTime":1714979290}}}"#)], unchanged, Allow(0)),
    case("numeric_less_than_refuses_an_equal_value", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"acs:CurrentTime":"1714979289"}}}"#)], unchanged, Implicit),
    case("numeric_greater_than_allows_a_larger_value", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericGreaterThan":{"acs:CurrentTime":"1700000000"}}}"#)], unchanged, Allow(0)),
    case("numeric_greater_than_refuses_a_smaller_value", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericGreaterThan":{"acs:CurrentTime":"1800000000"}}}"#)], unchanged, Implicit),
    case("numeric_greater_than_equals_allows_an_equal_value", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericGreaterThanEquals":{"acs:CurrentTime":1714979289}}}"#)], unchanged, Allow(0)),
    case("numeric_operators_never_match_a_text_key", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"bpstudio:ServiceType":"100"}}}"#)], execute_ecs_add_tags, Implicit),
    // --- several conditions ---
    case("every_operator_of_a_condition_block_must_hold", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"},"Bool":{"acs:SecureTransport":"true"}}}"#)], unchanged, Implicit),
    case("every_key_under_one_operator_must_hold", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"bpstudio:ServiceType":"ecs","bpstudio:Operation":"rename"}}}"#)], execute_ecs_add_tags, Implicit),
    case("all_conditions_holding_allow", &[(None, r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"},"Bool":{"acs:SecureTransport":"false"},"DateLessThan":{"acs:CurrentTime":"2030-01-01T00:00:00Z"}}}"#)], unchanged, Allow(0)),
    // --- resource-group scoping ---
    case("a_group_grant_applies_when_request_and_target_are_in_the_group", &[(Some("rg-prod"), ALLOW_ALL)], in_rg_prod, Allow(0)),
    case("a_group_grant_does_not_apply_without_resource_group_id", &[(Some("rg-prod"), ALLOW_ALL)], |r| r.target_group = Some("rg-prod"), Implicit),
    case("a_group_grant_does_not_apply_when_another_group_is_named", &[(Some("rg-prod"), ALLOW_ALL)], |r| { r.requested_group = Some("rg-dev"); r.target_group = Some("rg-dev"); }, Implicit),
    case("a_group_grant_does_not_apply_when_the_target_is_elsewhere", &[(Some("rg-prod"), ALLOW_ALL)], |r| { r.requested_group = Some("rg-prod"); r.target_group = Some("rg-dev"); }, Implicit),
    case("a_group_grant_does_not_apply_to_a_target_in_no_group", &[(Some("rg-prod"), ALLOW_ALL)], |r| r.requested_group = Some("rg-prod"), Implicit),
    case("an_account_grant_applies_whatever_the_group", &[(None, ALLOW_ALL)], |r| { r.requested_group = Some("rg-dev"); r.target_group = Some("rg-prod"); }, Allow(0)),
    case("a_group_deny_applies_inside_its_group", &[(None, ALLOW_ALL), (Some("rg-prod"), r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#)], in_rg_prod, Explicit(1)),
    case("a_group_deny_applies_to_a_target_in_its_group_when_the_group_is_not_named", &[(None, ALLOW_ALL), (Some("rg-prod"), r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#)], |r| r.target_group = Some("rg-prod"), Explicit(1)),
    case("a_group_deny_applies_to_a_target_in_its_group_when_another_group_is_named", &[(None, ALLOW_ALL), (Some("rg-prod"), r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#)], |r| { r.requested_group = Some("rg-dev"); r.target_group = Some("rg-prod"); }, Explicit(1)),
    case("a_group_deny_does_not_apply_to_a_target_elsewhere_when_its_group_is_named", &[(None, ALLOW_ALL), (Some("rg-prod"), r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#)], |r| { r.requested_group = Some("rg-prod"); r.target_group = Some("rg-dev"); }, Allow(0)),
    case("a_group_deny_does_not_apply_outside_its_group", &[(None, ALLOW_ALL), (Some("rg-prod"), r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#)], unchanged, Allow(0)),
    case("an_account_deny_beats_a_group_allow", &[(Some("rg-prod"), ALLOW_ALL), (None, r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#)], in_rg_prod, Explicit(1)),
    case("a_group_grant_for_execute_checks_the_application_group", &[(Some("rg-prod"), r#"{"Effect":"Allow","Action":"bpstudio:Execute*","Resource":"acs:bpstudio:*:*:application/*"}"#)], |r| { execute_ecs_add_tags(r); in_rg_prod(r); }, Allow(0)),
];

fn grants_of(case: &Case) -> Vec<Grant> {
    case.grants
        .iter()
        .enumerate()
        .map(|(n, (scope, statements))| {
            let document = format!(r#"{{"Version":"1","Statement":[{statements}]}}"#);
            let policy = Policy::parse(&format!("P{n}"), &document)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            Grant {
                policy: Arc::new(policy),
                scope: match scope {
                    None => Scope::Account,
                    Some(group) => Scope::ResourceGroup((*group).to_owned()),
                },
            }
        })
        .collect()
}

fn decided_by(case: &Case, n: usize) -> Option<DecidedBy> {
    let policy_type = match case.grants[n].0 {
        None => PolicyType::AccountLevel,
        Some(_) => PolicyType::ResourceGroupLevel,
    };
    Some(DecidedBy {
        policy: format!("P{n}"),
        policy_type,
    })
}

#[test]
fn the_table_has_at_least_eighty_facts_with_unique_names() {
    let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    names.extend(MALFORMED.iter().map(|m| m.0));
    let count = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), count, "a case name is used twice");
    assert!(count >= 80, "{count} cases");
}

#[test]
fn evaluation_table() {
    let mut failures = Vec::new();
    for case in CASES {
        let mut request = Req::baseline();
        (case.request)(&mut request);
        let grants = grants_of(case);
        let got = evaluate(&request.ctx(), &grants);
        let expected = match case.expect {
            Allow(n) => Evaluation::Allow {
                by: decided_by(case, n),
            },
            Implicit => Evaluation::Deny {
                kind: DenyKind::Implicit,
                by: None,
            },
            Explicit(n) => Evaluation::Deny {
                kind: DenyKind::Explicit,
                by: decided_by(case, n),
            },
        };
        if got != expected {
            failures.push(format!("{}: expected {expected:?}, got {got:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// (name, document, what the error must say besides the policy's name).
#[rustfmt::skip]
const MALFORMED: &[(&str, &str, &[&str])] = &[
    ("malformed_not_json", "{not json", &["not a JSON object"]),
    ("malformed_a_json_array", "[]", &["not a JSON object"]),
    ("malformed_version_missing", r#"{"Statement":[]}"#, &["Version"]),
    ("malformed_version_2", r#"{"Version":"2","Statement":[]}"#, &["Version", "\"2\""]),
    ("malformed_version_as_a_number", r#"{"Version":1,"Statement":[]}"#, &["Version"]),
    ("malformed_unknown_top_level_key", r#"{"Version":"1","Statement":[],"Id":"x"}"#, &["unknown key", "Id"]),
    ("malformed_statement_missing", r#"{"Version":"1"}"#, &["Statement"]),
    ("malformed_statement_a_string", r#"{"Version":"1","Statement":"Allow"}"#, &["Statement"]),
    ("malformed_statement_item_not_an_object", r#"{"Version":"1","Statement":["x"]}"#, &["Statement"]),
    ("malformed_unknown_statement_key", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}]}"#, &["Statement 1", "Principal"]),
    ("malformed_effect_missing", r#"{"Version":"1","Statement":[{"Action":"*","Resource":"*"}]}"#, &["Statement 1", "Effect"]),
    ("malformed_effect_lower_case", r#"{"Version":"1","Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}"#, &["Effect", "allow"]),
    ("malformed_action_missing", r#"{"Version":"1","Statement":[{"Effect":"Allow","Resource":"*"}]}"#, &["Action", "NotAction", "required"]),
    ("malformed_action_and_not_action", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","NotAction":"x:y","Resource":"*"}]}"#, &["Action", "NotAction", "both"]),
    ("malformed_resource_missing", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*"}]}"#, &["Resource", "NotResource", "required"]),
    ("malformed_resource_and_not_resource", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}]}"#, &["Resource", "NotResource", "both"]),
    ("malformed_action_empty_list", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#, &["Action", "non-empty"]),
    ("malformed_action_a_number", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":7,"Resource":"*"}]}"#, &["Action"]),
    ("malformed_resource_empty_string", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":""}]}"#, &["Resource"]),
    ("malformed_condition_not_an_object", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":[]}]}"#, &["Condition"]),
    ("malformed_unsupported_operator", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringStartsWith":{"acs:SourceIp":"1"}}}]}"#, &["unsupported condition operator", "StringStartsWith"]),
    ("malformed_operator_in_the_wrong_case", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"stringequals":{"acs:SourceIp":"1"}}}]}"#, &["unsupported condition operator"]),
    ("malformed_unsupported_key", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"acs:MFAPresent":"true"}}}]}"#, &["unsupported condition key", "acs:MFAPresent"]),
    ("malformed_empty_value_list", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"bpstudio:Operation":[]}}}]}"#, &["empty"]),
    ("malformed_ip_range", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/33"}}}]}"#, &["10.0.0.0/33", "IP"]),
    ("malformed_date", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"acs:CurrentTime":"tomorrow"}}}]}"#, &["tomorrow", "date"]),
    ("malformed_number", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"acs:CurrentTime":"soon"}}}]}"#, &["soon", "number"]),
    ("malformed_bool", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"acs:SecureTransport":"yes"}}}]}"#, &["yes", "true or false"]),
    ("malformed_condition_value_an_object", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"bpstudio:Operation":{"a":1}}}}]}"#, &["bpstudio:Operation"]),
    ("malformed_error_names_the_statement_by_number_and_sid", r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"NoTypos","Effect":"Deny","Action":"*"}]}"#, &["Statement 2 (NoTypos)", "Resource"]),
];

#[test]
fn malformed_documents_are_refused_naming_policy_and_problem() {
    let mut failures = Vec::new();
    for (name, document, needles) in MALFORMED {
        match Policy::parse("TheBadPolicy", document) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(e) => {
                let message = e.to_string();
                let missing: Vec<_> = std::iter::once(&"\"TheBadPolicy\"")
                    .chain(needles.iter())
                    .filter(|needle| !message.contains(**needle))
                    .collect();
                if !missing.is_empty() {
                    failures.push(format!("{name}: {message:?} lacks {missing:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn root_may_do_anything_in_its_own_account_whatever_the_policies() {
    let root = Principal::Root {
        account: ACCOUNT.into(),
    };
    let deny = Grant {
        policy: Arc::new(
            Policy::parse(
                "DenyAll",
                r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#,
            )
            .unwrap(),
        ),
        scope: Scope::Account,
    };
    let request = Req::baseline();
    assert_eq!(
        authorize(&root, &[deny], &request.ctx()),
        Evaluation::Allow { by: None }
    );
}

#[test]
fn nobody_acts_in_another_account() {
    let allow_all = Grant {
        policy: Arc::new(
            Policy::parse(
                "AllowAll",
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            )
            .unwrap(),
        ),
        scope: Scope::Account,
    };
    let mut request = Req::baseline();
    request.resource = "acs:bpstudio::2002:bpstudiovirtual/*";
    let root = Principal::Root {
        account: ACCOUNT.into(),
    };
    let user = Principal::User {
        account: ACCOUNT.into(),
        name: "u".into(),
    };
    for principal in [root, user] {
        let got = authorize(&principal, std::slice::from_ref(&allow_all), &request.ctx());
        assert!(!got.is_allowed(), "{principal:?}: {got:?}");
    }
}

#[test]
fn a_ram_user_gets_what_its_grants_say() {
    let user = Principal::User {
        account: ACCOUNT.into(),
        name: "u".into(),
    };
    let case = &CASES[0];
    let grants = grants_of(case);
    let request = Req::baseline();
    assert!(authorize(&user, &grants, &request.ctx()).is_allowed());
    assert!(!authorize(&user, &[], &request.ctx()).is_allowed());
}
