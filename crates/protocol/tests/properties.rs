//! Property tests of what a hostile client controls: the parameter parser and both signature
//! canonicalizers never panic, whatever the bytes, and no request whose signature does not
//! match its content is ever accepted. Case counts are kept small for CI (a few seconds).

use bpops_protocol::params::{MAX_PARAMS, Params, percent_encode};
use bpops_protocol::signature::{
    RawRequest, acs3_canonical_request, inspect, rpc_signature, rpc_string_to_sign, sign_acs3,
    verify,
};
use proptest::prelude::*;

const SECRET: &str = "the-secret";
const FORM: &str = "application/x-www-form-urlencoded";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Parameters as a client means them: short keys, values with any Unicode.
fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map("[A-Za-z][A-Za-z0-9._~ -]{0,12}", "\\PC{0,24}", 0..8)
        .prop_map(|map| map.into_iter().collect())
}

fn form(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Checks a request the way the API does: parse, inspect, verify with `secret`.
fn accepted(target: &str, headers: &[(String, String)], body: &[u8], secret: &str) -> bool {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let content_type = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str());
    let Ok(params) = Params::parse(query, content_type, body) else {
        return false;
    };
    let raw = RawRequest {
        method: "POST",
        target,
        headers,
        body,
    };
    match inspect(&raw, &params) {
        Ok(claim) => verify(&raw, &params, &claim, secret).is_ok(),
        Err(_) => false,
    }
}

fn acs3_headers(body: &[u8], nonce: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = [
        ("host", "127.0.0.1:8080"),
        ("x-acs-action", "ListServices"),
        ("x-acs-version", "2021-09-31"),
        ("x-acs-date", "2024-05-06T07:08:09Z"),
        ("x-acs-signature-nonce", nonce),
        ("content-type", FORM),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect();
    sign_acs3("POST", "/", &mut headers, body, "LTAIkey", SECRET);
    headers
}

fn rpc_target(pairs: &[(String, String)], secret: &str) -> String {
    let mut all: Vec<(String, String)> = [
        ("Action", "ListServices"),
        ("Version", "2021-09-31"),
        ("Timestamp", "2024-05-06T07:08:09Z"),
        ("SignatureNonce", "n1"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", "LTAIkey"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    all.extend(
        pairs
            .iter()
            .filter(|(k, _)| k.as_str() != "Signature")
            .cloned(),
    );
    let query = form(&all);
    let params = Params::parse(&query, None, b"").expect("a clean query parses");
    let signature = rpc_signature(secret, &rpc_string_to_sign("POST", &params));
    format!("/?{query}&Signature={}", percent_encode(&signature))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_parameter_parser_never_panics(query in "\\PC{0,200}", body in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(params) = Params::parse(&query, Some(FORM), &body) {
            prop_assert!(params.len() <= MAX_PARAMS);
        }
    }

    #[test]
    fn the_parser_reads_back_what_a_client_encodes(pairs in params()) {
        let body = form(&pairs);
        let parsed = Params::parse("", Some(FORM), body.as_bytes()).unwrap();
        let back: Vec<(String, String)> =
            parsed.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(back, pairs);
    }

    #[test]
    fn the_canonicalizers_never_panic_on_arbitrary_requests(
        target in "/\\PC{0,80}",
        headers in proptest::collection::vec(("[a-zA-Z-]{1,20}", "\\PC{0,40}"), 0..8),
        authorization in "\\PC{0,120}",
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut headers = headers;
        headers.push(("authorization".to_owned(), format!("ACS3-HMAC-SHA256 {authorization}")));
        let names: Vec<String> = headers.iter().map(|(n, _)| n.clone()).collect();
        let raw = RawRequest { method: "POST", target: &target, headers: &headers, body: &body };
        let _ = acs3_canonical_request(&raw, &names);
        let query = target.split_once('?').map_or("", |(_, q)| q);
        if let Ok(params) = Params::parse(query, Some(FORM), &body) {
            let _ = rpc_string_to_sign("POST", &params);
        }
        // Whatever it says, an unsigned-by-us request is never accepted.
        prop_assert!(!accepted(&target, &headers, &body, SECRET));
    }

    #[test]
    fn an_acs3_request_verifies_only_unchanged_and_with_its_secret(
        pairs in params(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let body = form(&pairs).into_bytes();
        let headers = acs3_headers(&body, "n1");
        prop_assert!(accepted("/", &headers, &body, SECRET));
        prop_assert!(!accepted("/", &headers, &body, "another-secret"));
        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[flip.index(body.len())] ^= 1 << bit;
            prop_assert!(!accepted("/", &headers, &tampered, SECRET));
        }
        let mut moved = headers.clone();
        for (name, value) in &mut moved {
            if name == "x-acs-action" {
                *value = "ExecuteOperationASync".to_owned();
            }
        }
        prop_assert!(!accepted("/", &moved, &body, SECRET));
    }

    #[test]
    fn an_rpc_request_verifies_only_unchanged_and_with_its_secret(
        pairs in params(),
        extra in "\\PC{1,16}",
    ) {
        let target = rpc_target(&pairs, SECRET);
        prop_assert!(accepted(&target, &[], b"", SECRET));
        prop_assert!(!accepted(&target, &[], b"", "another-secret"));
        // A parameter added or changed after signing.
        let added = format!("{target}&Zz={}", percent_encode(&extra));
        prop_assert!(!accepted(&added, &[], b"", SECRET));
        let changed = target.replacen("Action=ListServices", "Action=ExecuteOperationASync", 1);
        prop_assert!(!accepted(&changed, &[], b"", SECRET));
        // The same parameters moved into a form body are still what was signed.
        let body = format!("Zz={}", percent_encode(&extra));
        let headers = vec![("content-type".to_owned(), FORM.to_owned())];
        prop_assert!(!accepted(&target, &headers, body.as_bytes(), SECRET));
    }
}
