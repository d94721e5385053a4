//! Request parameters: the decoded query string merged with the decoded form body, plus the
//! RFC 3986 encoder both signature schemes share.
//!
//! Decoding follows `application/x-www-form-urlencoded` (wire-protocol.md §1.1): split on `&`,
//! then on the first `=`; `+` is a space and `%XX` is a byte; the bytes must be UTF-8. Unlike
//! `form_urlencoded::parse`, which replaces invalid UTF-8 silently, [`Params::parse`] refuses it:
//! a value the client signed reaches business logic byte for byte or not at all.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;

/// The media type whose body holds parameters (all 38 BPStudio actions use it, §1.1).
const FORM_MEDIA_TYPE: &str = "application/x-www-form-urlencoded";

/// The longest piece of client input an error message repeats.
const EXCERPT_CHARS: usize = 64;

/// The most parameters a request may carry, query and body together. The SDKs send at most
/// about twenty (RPC's common parameters plus an action's own).
pub const MAX_PARAMS: usize = 100;

/// The longest parameter name, in bytes once decoded.
pub const MAX_KEY_BYTES: usize = 256;

/// The longest parameter value, in bytes once decoded: twice `Attributes`' own limit
/// ([`crate::wire::MAX_ATTRIBUTES_BYTES`]), so that an over-long `Attributes` still gets its
/// own, more precise message.
pub const MAX_VALUE_BYTES: usize = 128 * 1024;

/// Parameters of one request: the decoded query merged with the decoded
/// `application/x-www-form-urlencoded` body (body wins on a clash, as in both SDKs).
///
/// Keys iterate in byte order of their UTF-8 form, which is the order both signature schemes
/// sort by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Decodes `query` (the raw part after `?`, may be empty) and, when the media type of
    /// `content_type` is `application/x-www-form-urlencoded` (parameters such as `;charset=…`
    /// ignored, case-insensitive), the `body`.
    ///
    /// Empty values are kept (`SignatureType=` is signed, §3 step 1); a piece without `=` has an
    /// empty value; empty pieces (`a=1&&b=2`) are skipped. A `%` not followed by two hex digits
    /// stays a literal `%`, as in the WHATWG form decoder.
    ///
    /// # Errors
    ///
    /// [`ParamsError::InvalidUtf8`] when a decoded key or value is not UTF-8,
    /// [`ParamsError::DuplicateKey`] when a key appears twice within the query or twice within
    /// the body (no SDK sends that, and which copy was signed would be ambiguous),
    /// [`ParamsError::TooMany`] past [`MAX_PARAMS`] pieces, and [`ParamsError::TooLong`] for a
    /// key over [`MAX_KEY_BYTES`] or a value over [`MAX_VALUE_BYTES`]. Decoding stops at the
    /// first problem, so a hostile request costs no more than reading it.
    pub fn parse(
        query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Params, ParamsError> {
        let mut map = decode_unique(query.as_bytes(), ParamSource::Query, MAX_PARAMS)?;
        if content_type.is_some_and(is_form_media_type) {
            // The body overrides the query (§3 step 1); no studied SDK version sends a clash.
            let room = MAX_PARAMS - map.len();
            map.extend(decode_unique(body, ParamSource::Body, room)?);
        }
        Ok(Params { map })
    }

    /// The value of `key`, if the request carries it (possibly empty).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// How many distinct keys the request carries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the request carries no parameter at all.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every `(key, value)` pair, keys in UTF-8 byte order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Where a parameter came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamSource {
    /// The query string of the request-target.
    Query,
    /// The `application/x-www-form-urlencoded` body.
    Body,
}

impl fmt::Display for ParamSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamSource::Query => "query string",
            ParamSource::Body => "form body",
        })
    }
}

/// Why the parameters of a request could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// A key or value is not UTF-8 once percent-decoded.
    #[error("a parameter in the {location} is not valid UTF-8 after percent-decoding")]
    InvalidUtf8 {
        /// Where the offending parameter was.
        location: ParamSource,
    },
    /// More than [`MAX_PARAMS`] parameters.
    #[error("the request carries more than {MAX_PARAMS} parameters")]
    TooMany,
    /// A key or a value is longer than its limit.
    #[error("a parameter {what} in the {location} is longer than {limit} bytes")]
    TooLong {
        /// Where the offending parameter was.
        location: ParamSource,
        /// `name` or `value`.
        what: &'static str,
        /// The limit it broke.
        limit: usize,
    },
    /// The same key appears twice in the query, or twice in the body.
    #[error("parameter {key:?} appears more than once in the {location}")]
    DuplicateKey {
        /// Where the repeated key was.
        location: ParamSource,
        /// The key, cut to its first 64 characters so a hostile request cannot make the message
        /// huge.
        key: String,
    },
}

/// RFC 3986 encoder used by both signature schemes: keep `A-Z a-z 0-9 - _ . ~`, every other
/// UTF-8 byte becomes `%XX` in upper-case hex (so a space is `%20`, never `+`).
pub fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &byte in s.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0F)]));
        }
    }
    out
}

/// Splits form-encoded `data` into decoded `(key, value)` byte strings, in arrival order,
/// duplicates included. The ACS3 canonical query shares this with [`Params::parse`], so the two
/// can never disagree on what a query says.
pub(crate) fn decode_pairs(data: &[u8]) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    data.split(|&b| b == b'&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| match piece.iter().position(|&b| b == b'=') {
            Some(eq) => (form_decode(&piece[..eq]), form_decode(&piece[eq + 1..])),
            None => (form_decode(piece), Vec::new()),
        })
}

/// Cuts client input to [`EXCERPT_CHARS`] characters for an error message.
pub(crate) fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

fn decode_unique(
    data: &[u8],
    location: ParamSource,
    max_params: usize,
) -> Result<BTreeMap<String, String>, ParamsError> {
    let mut map = BTreeMap::new();
    for (n, (key, value)) in decode_pairs(data).enumerate() {
        if n >= max_params {
            return Err(ParamsError::TooMany);
        }
        let too_long = |what, limit| ParamsError::TooLong {
            location,
            what,
            limit,
        };
        if key.len() > MAX_KEY_BYTES {
            return Err(too_long("name", MAX_KEY_BYTES));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(too_long("value", MAX_VALUE_BYTES));
        }
        let (Ok(key), Ok(value)) = (String::from_utf8(key), String::from_utf8(value)) else {
            return Err(ParamsError::InvalidUtf8 { location });
        };
        match map.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(value);
            }
            Entry::Occupied(slot) => {
                return Err(ParamsError::DuplicateKey {
                    location,
                    key: excerpt(slot.key()),
                });
            }
        }
    }
    Ok(map)
}

fn form_decode(component: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(component.len());
    let mut i = 0;
    while i < component.len() {
        match component[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match component.get(i + 1..i + 3).and_then(hex_byte) {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(b'%');
                    i += 1;
                }
            },
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

fn hex_byte(digits: &[u8]) -> Option<u8> {
    let digit = |d: u8| char::from(d).to_digit(16);
    let [high, low] = digits else { return None };
    let value = digit(*high)? * 16 + digit(*low)?;
    u8::try_from(value).ok()
}

fn is_form_media_type(content_type: &str) -> bool {
    let media_type = content_type
        .split_once(';')
        .map_or(content_type, |(media_type, _)| media_type);
    media_type.trim().eq_ignore_ascii_case(FORM_MEDIA_TYPE)
}

/// The parameters of a form body holding `pairs`: what the request types' unit tests read
/// their requests from.
#[cfg(test)]
pub(crate) fn form(pairs: &[(&str, &str)]) -> Params {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    Params::parse("", Some(FORM_MEDIA_TYPE), body.as_bytes()).expect("a form body parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn pairs(params: &Params) -> Vec<(&str, &str)> {
        params.iter().collect()
    }

    #[test]
    fn percent_encode_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(
            percent_encode("a b*c~d/e+f=g&h:i"),
            "a%20b%2Ac~d%2Fe%2Bf%3Dg%26h%3Ai"
        );
        assert_eq!(percent_encode("测"), "%E6%B5%8B");
        assert_eq!(percent_encode("%"), "%25");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn decodes_plus_and_percent_escapes_in_either_case() {
        let params = Params::parse("A=a+b%2Ac%7Ed%2f&B=%E6%B5%8B", None, b"").unwrap();
        assert_eq!(params.get("A"), Some("a b*c~d/"));
        assert_eq!(params.get("B"), Some("测"));
    }

    #[test]
    fn agrees_with_a_standard_form_encoder() {
        let value = "tok 1+2 *~/ 测试 \"quoted\" &=?#%";
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("Note", value)
            .finish();
        let params = Params::parse("", FORM, body.as_bytes()).unwrap();
        assert_eq!(params.get("Note"), Some(value));
    }

    #[test]
    fn keeps_empty_values_and_skips_empty_pieces() {
        let params = Params::parse("A=1&&B=&C&=x", None, b"").unwrap();
        assert_eq!(
            pairs(&params),
            [("", "x"), ("A", "1"), ("B", ""), ("C", "")]
        );
    }

    #[test]
    fn a_lone_percent_stays_literal() {
        let params = Params::parse("A=100%&B=%zz&C=%4", None, b"").unwrap();
        assert_eq!(params.get("A"), Some("100%"));
        assert_eq!(params.get("B"), Some("%zz"));
        assert_eq!(params.get("C"), Some("%4"));
    }

    #[test]
    fn refuses_invalid_utf8_in_query_and_body() {
        assert_eq!(
            Params::parse("A=%FF", None, b""),
            Err(ParamsError::InvalidUtf8 {
                location: ParamSource::Query
            })
        );
        assert_eq!(
            Params::parse("", FORM, b"%C3=1"),
            Err(ParamsError::InvalidUtf8 {
                location: ParamSource::Body
            })
        );
        assert_eq!(
            Params::parse("", FORM, b"A=\xff"),
            Err(ParamsError::InvalidUtf8 {
                location: ParamSource::Body
            })
        );
    }

    #[test]
    fn refuses_a_key_repeated_within_the_query_or_the_body() {
        assert_eq!(
            Params::parse("A=1&B=2&A=1", None, b""),
            Err(ParamsError::DuplicateKey {
                location: ParamSource::Query,
                key: "A".to_owned()
            })
        );
        // `A+B` and `A%20B` are the same key once decoded.
        assert_eq!(
            Params::parse("", FORM, b"A+B=1&A%20B=2"),
            Err(ParamsError::DuplicateKey {
                location: ParamSource::Body,
                key: "A B".to_owned()
            })
        );
    }

    #[test]
    fn body_wins_over_query() {
        let params = Params::parse("A=query&Q=1", FORM, b"A=body&B=2").unwrap();
        assert_eq!(pairs(&params), [("A", "body"), ("B", "2"), ("Q", "1")]);
        assert_eq!(params.len(), 3);
    }

    #[test]
    fn decodes_the_body_only_for_the_form_media_type() {
        for content_type in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-URLEncoded; charset=UTF-8",
            " application/x-www-form-urlencoded ;charset=utf-8",
        ] {
            let params = Params::parse("", Some(content_type), b"A=1").unwrap();
            assert_eq!(params.get("A"), Some("1"), "{content_type}");
        }
        for content_type in [None, Some("application/json"), Some("text/plain")] {
            let params = Params::parse("", content_type, b"A=1").unwrap();
            assert!(params.is_empty(), "{content_type:?}");
        }
    }

    #[test]
    fn error_messages_do_not_echo_huge_input() {
        let key = "K".repeat(10_000);
        let query = format!("{key}=1&{key}=2");
        let message = Params::parse(&query, None, b"").unwrap_err().to_string();
        assert!(message.len() < 200, "{} bytes", message.len());
        assert!(message.contains("query string"), "{message}");
    }

    #[test]
    fn the_number_of_parameters_is_limited_across_query_and_body() {
        let pieces = |n: usize| {
            (0..n)
                .map(|i| format!("K{i}=v"))
                .collect::<Vec<_>>()
                .join("&")
        };
        assert_eq!(
            Params::parse(&pieces(MAX_PARAMS), None, b"").unwrap().len(),
            MAX_PARAMS
        );
        assert_eq!(
            Params::parse(&pieces(MAX_PARAMS + 1), None, b""),
            Err(ParamsError::TooMany)
        );
        let body = pieces(MAX_PARAMS / 2);
        let query = (0..=MAX_PARAMS / 2)
            .map(|i| format!("Q{i}=v"))
            .collect::<Vec<_>>()
            .join("&");
        assert_eq!(
            Params::parse(&query, FORM, body.as_bytes()),
            Err(ParamsError::TooMany)
        );
        // Empty pieces are not parameters.
        let sparse = format!("{}{}", "&".repeat(10_000), pieces(3));
        assert_eq!(Params::parse(&sparse, None, b"").unwrap().len(), 3);
    }

    #[test]
    fn over_long_names_and_values_are_refused() {
        let name = "K".repeat(MAX_KEY_BYTES);
        assert!(Params::parse(&format!("{name}=v"), None, b"").is_ok());
        assert_eq!(
            Params::parse(&format!("{name}K=v"), None, b""),
            Err(ParamsError::TooLong {
                location: ParamSource::Query,
                what: "name",
                limit: MAX_KEY_BYTES
            })
        );
        let value = "v".repeat(MAX_VALUE_BYTES);
        assert!(Params::parse("", FORM, format!("A={value}").as_bytes()).is_ok());
        assert_eq!(
            Params::parse("", FORM, format!("A={value}v").as_bytes()),
            Err(ParamsError::TooLong {
                location: ParamSource::Body,
                what: "value",
                limit: MAX_VALUE_BYTES
            })
        );
    }

    #[test]
    fn excerpt_cuts_on_a_character_boundary() {
        assert_eq!(excerpt("short"), "short");
        let long = "测".repeat(100);
        assert_eq!(excerpt(&long), format!("{}…", "测".repeat(64)));
    }
}
