//! ACS3-HMAC-SHA256 (wire-protocol.md §2): the `Authorization` header, the canonical request
//! over the raw request, and the client-side signer the CLI and tests use.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{
    Claim, RawRequest, Scheme, SignatureError, ensure_claim_matches, header_values, required,
    single_header,
};
use crate::params::{decode_pairs, excerpt, percent_encode};

/// The one ACS3 algorithm bpops accepts (see the module docs of `signature` for why).
const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// The header carrying the client's hash of the body; signed, and checked against the body.
const CONTENT_SHA256: &str = "x-acs-content-sha256";

/// Headers that must be in `SignedHeaders` whenever they are received (§2.11): unsigned, they
/// could be swapped in transit to change the action, replay window or body hash. `host` is
/// checked apart because it must always be signed, so a request cannot be re-targeted (§6
/// item 3).
const SIGNED_WHEN_PRESENT: [&str; 7] = [
    "content-type",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    CONTENT_SHA256,
    "x-acs-security-token",
];

type HmacSha256 = Hmac<Sha256>;

/// The fields of an `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…` header.
pub(super) struct Authorization<'a> {
    credential: &'a str,
    /// Lower-cased, sorted, without duplicates: the order of the canonical headers.
    signed_headers: Vec<String>,
    signature: &'a str,
}

/// The `Authorization` header when it announces an ACS3 signature, `None` when there is none or
/// it belongs to another scheme.
pub(super) fn authorization_header<'r>(
    req: &RawRequest<'r>,
) -> Result<Option<&'r str>, SignatureError> {
    let value = single_header(req.headers, "authorization")?;
    Ok(value.filter(|value| value.starts_with("ACS3-")))
}

/// Parses the `Authorization` header and checks the headers it relies on (§2 steps 1 and 11).
pub(super) fn read<'r>(
    req: &RawRequest<'r>,
    authorization: &'r str,
) -> Result<(Claim, Authorization<'r>), SignatureError> {
    let auth = parse_authorization(authorization)?;
    let headers = req.headers;
    let is_signed = |name: &str| auth.signed_headers.iter().any(|signed| signed == name);

    // `single_header` also refuses a repeated header: the SDK never sends one (§2 step 6), and
    // the claim must not pick one copy while the signature covers both.
    single_header(headers, "host")?;
    if !is_signed("host") {
        return Err(SignatureError::incomplete("host is not in SignedHeaders"));
    }
    for name in SIGNED_WHEN_PRESENT {
        if single_header(headers, name)?.is_some() && !is_signed(name) {
            return Err(SignatureError::incomplete(format!(
                "header {name} is present but not in SignedHeaders"
            )));
        }
    }
    for name in &auth.signed_headers {
        if header_values(headers, name).next().is_none() {
            return Err(SignatureError::Incomplete(missing_signed_header(name)));
        }
    }

    let claim = Claim {
        scheme: Scheme::Acs3,
        access_key_id: auth.credential.to_owned(),
        timestamp: required(single_header(headers, "x-acs-date")?, "header x-acs-date")?,
        nonce: required(
            single_header(headers, "x-acs-signature-nonce")?,
            "header x-acs-signature-nonce",
        )?,
        action: single_header(headers, "x-acs-action")?.map(str::to_owned),
        version: single_header(headers, "x-acs-version")?.map(str::to_owned),
    };
    Ok((claim, auth))
}

pub(super) fn verify(req: &RawRequest, claim: &Claim, secret: &str) -> Result<(), SignatureError> {
    let authorization = authorization_header(req)?.ok_or(SignatureError::Missing)?;
    let (derived, auth) = read(req, authorization)?;
    ensure_claim_matches(&derived, claim)?;

    // N.B. the canonical request uses the hash of the body as received, never the header's
    // value: otherwise a body swapped after signing would pass (§2 step 3).
    let hashed_payload = sha256_hex(req.body);
    let string_to_sign = acs3_string_to_sign(&checked(build_canonical_request(
        req,
        &auth.signed_headers,
        &hashed_payload,
    ))?);
    let body_matches = single_header(req.headers, CONTENT_SHA256)?
        .is_none_or(|sent| sent.eq_ignore_ascii_case(&hashed_payload));
    let signature_matches = hex::decode(auth.signature).is_ok_and(|sent| {
        keyed(secret)
            .chain_update(string_to_sign.as_bytes())
            .verify_slice(&sent)
            .is_ok()
    });
    if body_matches && signature_matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch { string_to_sign })
    }
}

/// The canonical request of §2 step 7 for `req`, covering the headers named in `signed_headers`
/// (any case, any order; duplicates ignored).
///
/// # Errors
///
/// [`SignatureError::Incomplete`] when a signed header is absent, the query repeats a key, or
/// the query does not decode to UTF-8.
pub fn acs3_canonical_request(
    req: &RawRequest,
    signed_headers: &[String],
) -> Result<String, SignatureError> {
    let names = normalize_names(signed_headers.iter().map(String::as_str));
    checked(build_canonical_request(req, &names, &sha256_hex(req.body)))
}

/// `ACS3-HMAC-SHA256\n` followed by the lower-case hex SHA-256 of the canonical request (§2
/// step 8).
pub fn acs3_string_to_sign(canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// Lower-case hex HMAC-SHA256 of `string_to_sign`, keyed with the plain secret (§2 step 9: no
/// `&` suffix, no derived key).
pub fn acs3_signature(secret: &str, string_to_sign: &str) -> String {
    let mac = keyed(secret).chain_update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Signs a request as the tea SDK does, for the CLI and tests.
///
/// `headers` holds what the caller already set (`host`, `x-acs-action`, `x-acs-version`,
/// `x-acs-date`, `x-acs-signature-nonce`, `content-type` when there is a body, …). This adds
/// `x-acs-content-sha256` and the `Authorization` header, replacing any earlier ones, with
/// `SignedHeaders` naming every header the caller set plus `x-acs-content-sha256`.
///
/// A request [`super::verify`] would refuse whatever the secret (no `host`, a repeated query key,
/// a query that is not UTF-8 once decoded) is still signed, so the server's error reaches the
/// caller instead of a local one.
pub fn sign_acs3(
    method: &str,
    target: &str,
    headers: &mut Vec<(String, String)>,
    body: &[u8],
    access_key_id: &str,
    secret: &str,
) {
    headers.retain(|(name, _)| {
        !name.eq_ignore_ascii_case("authorization") && !name.eq_ignore_ascii_case(CONTENT_SHA256)
    });
    let hashed_payload = sha256_hex(body);
    headers.push((CONTENT_SHA256.to_owned(), hashed_payload.clone()));

    let names = normalize_names(headers.iter().map(|(name, _)| name.as_str()));
    let req = RawRequest {
        method,
        target,
        headers: headers.as_slice(),
        body,
    };
    let (canonical_request, _refusal) = build_canonical_request(&req, &names, &hashed_payload);
    let signature = acs3_signature(secret, &acs3_string_to_sign(&canonical_request));
    headers.push((
        "Authorization".to_owned(),
        format!(
            "{ALGORITHM} Credential={access_key_id},SignedHeaders={},Signature={signature}",
            names.join(";")
        ),
    ));
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, SignatureError> {
    let Some((algorithm, fields)) = value.split_once(' ') else {
        return Err(SignatureError::incomplete(
            "Authorization has no fields after the algorithm",
        ));
    };
    if algorithm != ALGORITHM {
        return Err(SignatureError::incomplete(format!(
            "unsupported signature algorithm {}: only {ALGORITHM} is accepted",
            excerpt(algorithm)
        )));
    }

    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in fields.split(',') {
        let Some((key, value)) = field.split_once('=') else {
            return Err(SignatureError::incomplete(
                "Authorization has a field without '='",
            ));
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            // Unknown fields are tolerated, as in the reference verifier.
            _ => continue,
        };
        if slot.replace(value.trim()).is_some() {
            return Err(SignatureError::incomplete(format!(
                "Authorization repeats {}",
                key.trim()
            )));
        }
    }

    let credential = credential.filter(|value| !value.is_empty());
    let signature = signature.filter(|value| !value.is_empty());
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) => Ok(Authorization {
            credential,
            signed_headers: normalize_names(signed_headers.split(';')),
            signature,
        }),
        (None, _, _) => Err(SignatureError::incomplete(
            "Credential is missing from Authorization",
        )),
        (_, None, _) => Err(SignatureError::incomplete(
            "SignedHeaders is missing from Authorization",
        )),
        (_, _, None) => Err(SignatureError::incomplete(
            "Signature is missing from Authorization",
        )),
    }
}

/// Lower-cases, sorts and de-duplicates header names (§2 step 6).
fn normalize_names<'n>(names: impl Iterator<Item = &'n str>) -> Vec<String> {
    let mut names: Vec<String> = names
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Builds the canonical request, noting the first thing the server refuses instead of stopping
/// there, so the signer can still sign what its caller asked for. `signed_headers` must already
/// be normalized.
fn build_canonical_request(
    req: &RawRequest,
    signed_headers: &[String],
    hashed_payload: &str,
) -> (String, Option<String>) {
    let mut refusal = None;
    let (path, query) = req.target.split_once('?').unwrap_or((req.target, ""));
    // The path is used as sent, without decoding (§2 step 4).
    let uri = if path.is_empty() { "/" } else { path };
    let query = canonical_query(query, &mut refusal);

    let mut header_block = String::new();
    for name in signed_headers {
        let mut values: Vec<&str> = header_values(req.headers, name).collect();
        if values.is_empty() {
            refusal.get_or_insert_with(|| missing_signed_header(name));
        }
        values.sort_unstable();
        header_block.push_str(name);
        header_block.push(':');
        header_block.push_str(&values.join(","));
        header_block.push('\n');
    }

    // N.B. every header line ends with '\n', so joining with '\n' leaves the blank line the
    // canonical form requires before the signed-header names.
    let canonical = [
        req.method.to_ascii_uppercase().as_str(),
        uri,
        &query,
        &header_block,
        &signed_headers.join(";"),
        hashed_payload,
    ]
    .join("\n");
    (canonical, refusal)
}

/// `key=PE(value)` pairs sorted by key (§2 step 5). The key stays as decoded, unencoded: that is
/// what the SDK signs.
///
/// N.B. because keys are not encoded, a key holding a character that `PE` would change (`=`,
/// `&`, a space, …) is refused: otherwise `a=1&b=2` and the single key `a=1&b` (sent as
/// `a%3D1%26b=2`) would share one canonical query, and a man in the middle could merge signed
/// parameters away. No SDK sends such a key.
fn canonical_query(query: &str, refusal: &mut Option<String>) -> String {
    let mut pairs: Vec<(String, String)> = decode_pairs(query.as_bytes())
        .map(|(key, value)| (utf8_or_note(key, refusal), utf8_or_note(value, refusal)))
        .collect();
    if let Some((key, _)) = pairs.iter().find(|(key, _)| percent_encode(key) != *key) {
        refusal.get_or_insert_with(|| {
            format!(
                "query parameter name {:?} holds a character that must be percent-encoded",
                excerpt(key)
            )
        });
    }
    // Sorting whole pairs keeps the signer's output deterministic even with repeated keys;
    // verification refuses those below.
    pairs.sort_unstable();
    if let Some(pair) = pairs.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        refusal.get_or_insert_with(|| {
            format!(
                "query parameter {:?} appears more than once",
                excerpt(&pair[0].0)
            )
        });
    }
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn utf8_or_note(bytes: Vec<u8>, refusal: &mut Option<String>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|error| {
        refusal.get_or_insert_with(|| "the query is not valid UTF-8 once decoded".to_owned());
        String::from_utf8_lossy(error.as_bytes()).into_owned()
    })
}

fn missing_signed_header(name: &str) -> String {
    format!("signed header {} is missing", excerpt(name))
}

fn checked((canonical, refusal): (String, Option<String>)) -> Result<String, SignatureError> {
    match refusal {
        None => Ok(canonical),
        Some(reason) => Err(SignatureError::Incomplete(reason)),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn keyed(secret: &str) -> HmacSha256 {
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts a key of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_query_refuses_keys_that_percent_encoding_would_change() {
        // Issue 11 item 3: both spellings canonicalize alike, so the merged one must be refused.
        let mut refusal = None;
        let split = canonical_query("ApplicationId=APP-ALPHA&ClientToken=tok", &mut refusal);
        assert_eq!(refusal, None);
        let merged = canonical_query("ApplicationId%3DAPP-ALPHA%26ClientToken=tok", &mut refusal);
        assert_eq!(split, merged, "the two spellings share a canonical query");
        assert!(refusal.is_some_and(|r| r.contains("percent-encoded")));
        for key in ["a+b", "a%20b", "a%2Fb", "a%2Ab", "%C3%A9"] {
            let mut refusal = None;
            canonical_query(&format!("{key}=1"), &mut refusal);
            assert!(refusal.is_some(), "{key} must be refused");
        }
        let mut refusal = None;
        canonical_query("Tag.1.Key=x&a-b_c~d=1", &mut refusal);
        assert_eq!(refusal, None);
    }

    #[test]
    fn canonical_query_decodes_sorts_and_reencodes_values_only() {
        let mut refusal = None;
        assert_eq!(
            canonical_query("b=2&ServiceType=ecs+a%2Ab~c%2Fd%2Be%3Df&a=", &mut refusal),
            "ServiceType=ecs%20a%2Ab~c%2Fd%2Be%3Df&a=&b=2"
        );
        assert_eq!(canonical_query("", &mut refusal), "");
        assert_eq!(refusal, None);
        // A key is emitted as decoded, not percent-encoded (and refused, see above).
        assert_eq!(canonical_query("a+b=c", &mut refusal), "a b=c");
    }

    #[test]
    fn canonical_query_notes_repeats_and_invalid_utf8_but_still_builds() {
        let mut refusal = None;
        assert_eq!(canonical_query("a=2&a=1", &mut refusal), "a=1&a=2");
        assert!(refusal.unwrap().contains("more than once"));

        let mut refusal = None;
        assert_eq!(canonical_query("a=%FF", &mut refusal), "a=%EF%BF%BD");
        assert!(refusal.unwrap().contains("UTF-8"));
    }

    #[test]
    fn canonical_headers_trim_sort_and_join_repeated_values() {
        let headers = vec![
            ("Host".to_owned(), " h ".to_owned()),
            ("X-Multi".to_owned(), "b".to_owned()),
            ("x-multi".to_owned(), " a  c ".to_owned()),
        ];
        let req = RawRequest {
            method: "post",
            target: "",
            headers: &headers,
            body: b"",
        };
        let names = normalize_names(["X-Multi", "host", "x-multi"].into_iter());
        let (canonical, refusal) = build_canonical_request(&req, &names, "HASH");
        assert_eq!(refusal, None);
        assert_eq!(
            canonical,
            "POST\n/\n\nhost:h\nx-multi:a  c,b\n\nhost;x-multi\nHASH"
        );
    }

    #[test]
    fn parse_authorization_tolerates_spaces_and_unknown_fields() {
        let auth = parse_authorization(
            "ACS3-HMAC-SHA256 Credential=K, SignedHeaders=Host;x-acs-date;host ,Extra=1,Signature=ab",
        )
        .unwrap();
        assert_eq!(auth.credential, "K");
        assert_eq!(auth.signed_headers, ["host", "x-acs-date"]);
        assert_eq!(auth.signature, "ab");
    }

    #[test]
    fn string_to_sign_and_signature_match_the_spec_example() {
        // wire-protocol.md §2 steps 8 and 9, vector `acs3-get-execute-operation-result`.
        let string_to_sign = "ACS3-HMAC-SHA256\n\
            68ac5565403674126ad599353da44f5676e32fe2a818f6d5588eda050791f220";
        assert_eq!(
            acs3_signature("FakeSecretDoNotUse+/=0123456789", string_to_sign),
            "088552c50105b296e9411ab7e004e2e14b02a0a32d45cc5a4e589d5e7891f187"
        );
        assert_eq!(
            acs3_string_to_sign(""),
            "ACS3-HMAC-SHA256\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
