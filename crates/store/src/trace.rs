//! W3C trace context (<https://www.w3.org/TR/trace-context/>): the `traceparent` an
//! operation keeps from the request that submitted it, and passes on to what runs it.
//!
//! Only a [`TraceParent`] is ever stored, never the text a client sent: a header is parsed
//! strictly (version `00`, a 32-hex trace id and a 16-hex parent id, neither all zeros, 2-hex
//! flags, lower case) and written back from its parts, so what is kept is always 55 characters
//! of a known shape.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};
use sha2::{Digest, Sha256};

/// One span's place in a trace, as a `traceparent` header carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

impl TraceParent {
    /// The span of a request that starts a trace of its own (it carried no valid
    /// `traceparent`): random ids, and the sampled flag when this server records its traces
    /// (`sampled`), so that what it passes on says so.
    pub fn new_trace(sampled: bool) -> TraceParent {
        TraceParent {
            trace_id: random_nonzero(),
            parent_id: random_nonzero(),
            flags: u8::from(sampled),
        }
    }

    /// A new span in the same trace, whose parent is this one (a request in its caller's
    /// trace, an operation's wait in its queue).
    pub fn child(&self) -> TraceParent {
        TraceParent {
            parent_id: random_nonzero(),
            ..*self
        }
    }

    /// The span of attempt `attempt` of operation `operation_id`, a child of this span (the
    /// request that submitted the operation). Its id is derived from the three, not drawn,
    /// so that whichever node runs a retry knows the id of the first attempt, to link to it.
    pub fn attempt(&self, operation_id: &str, attempt: u32) -> TraceParent {
        let digest = Sha256::new()
            .chain_update(self.trace_id)
            .chain_update(self.parent_id)
            .chain_update(operation_id.as_bytes())
            .chain_update(attempt.to_be_bytes())
            .finalize();
        let mut parent_id: [u8; 8] = digest[..8].try_into().expect("a digest has 32 bytes");
        // W3C reserves all zeros for "invalid"; one chance in 2^64.
        if parent_id == [0; 8] {
            parent_id[7] = 1;
        }
        TraceParent { parent_id, ..*self }
    }

    /// The trace id, 32 lower-case hex digits.
    pub fn trace_id(&self) -> String {
        hex(&self.trace_id)
    }

    /// The trace id's 16 bytes.
    pub fn trace_id_bytes(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The id of the span this is (the `parent-id` of the header it is written as).
    pub fn span_id_bytes(&self) -> [u8; 8] {
        self.parent_id
    }

    /// The trace flags (`01`: sampled, the trace is being recorded).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the trace is recorded: its sampled flag is set.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // N.B. written on the stack: it is formatted twice for every operation submitted
        // (its row and its first event), where `write!` of each byte cost about 14,000
        // instructions a header.
        let mut text = *b"00-00000000000000000000000000000000-0000000000000000-00";
        put_hex(&mut text[3..35], &self.trace_id);
        put_hex(&mut text[36..52], &self.parent_id);
        put_hex(&mut text[53..55], &[self.flags]);
        f.write_str(std::str::from_utf8(&text).expect("hex digits are ASCII"))
    }
}

/// Why a `traceparent` was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedTraceParent;

impl fmt::Display for MalformedTraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a version 00 W3C traceparent")
    }
}

impl FromStr for TraceParent {
    type Err = MalformedTraceParent;

    fn from_str(text: &str) -> Result<TraceParent, MalformedTraceParent> {
        let mut parts = text.split('-');
        let (Some("00"), Some(trace), Some(parent), Some(flags), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(MalformedTraceParent);
        };
        let trace_id: [u8; 16] = unhex(trace)?;
        let parent_id: [u8; 8] = unhex(parent)?;
        let [flags] = unhex::<1>(flags)?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return Err(MalformedTraceParent);
        }
        Ok(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }
}

impl Serialize for TraceParent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TraceParent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TraceParent, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(D::Error::custom)
    }
}

/// Lower-case hex, in one allocation: it runs on every request (the log span's trace id).
fn hex(bytes: &[u8]) -> String {
    let mut text = vec![0; 2 * bytes.len()];
    put_hex(&mut text, bytes);
    String::from_utf8(text).expect("hex digits are ASCII")
}

/// Writes `bytes` as lower-case hex digits into `out`, twice as long.
fn put_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

/// Exactly `2 * N` lower-case hex digits (W3C forbids upper case).
fn unhex<const N: usize>(text: &str) -> Result<[u8; N], MalformedTraceParent> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return Err(MalformedTraceParent);
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(MalformedTraceParent),
    };
    let mut bytes = [0; N];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Ok(bytes)
}

/// Random bytes, never all zeros (which W3C reserves for "invalid").
fn random_nonzero<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    while bytes == [0; N] {
        getrandom::fill(&mut bytes).expect("the system's random source is available");
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_header_round_trips() {
        let parsed: TraceParent = VALID.parse().unwrap();
        assert_eq!(parsed.to_string(), VALID);
        assert_eq!(parsed.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b+-01",
        ] {
            assert_eq!(
                bad.parse::<TraceParent>(),
                Err(MalformedTraceParent),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_child_is_a_new_span_in_the_same_trace() {
        let caller: TraceParent = VALID.parse().unwrap();
        let span = caller.child();
        assert_eq!(span.trace_id, caller.trace_id);
        assert_eq!(span.flags, caller.flags);
        assert_ne!(span.parent_id, caller.parent_id);
    }

    #[test]
    fn a_new_trace_is_random_and_sampled_when_asked() {
        let caller: TraceParent = VALID.parse().unwrap();
        for sampled in [false, true] {
            let span = TraceParent::new_trace(sampled);
            assert_ne!(span.trace_id, caller.trace_id);
            assert_eq!(span.sampled(), sampled);
            assert_eq!(span.to_string().parse(), Ok(span));
        }
        assert_ne!(
            TraceParent::new_trace(false).trace_id,
            TraceParent::new_trace(false).trace_id
        );
    }

    #[test]
    fn an_attempt_s_span_is_derived_from_the_request_the_operation_and_the_attempt() {
        let request: TraceParent = VALID.parse().unwrap();
        let first = request.attempt("op_a", 1);
        assert_eq!(
            first,
            request.attempt("op_a", 1),
            "any node derives the same"
        );
        assert_eq!(
            (first.trace_id, first.flags),
            (request.trace_id, request.flags)
        );
        let others = [
            request,
            request.attempt("op_a", 2),
            request.attempt("op_b", 1),
            request.child().attempt("op_a", 1),
        ];
        for other in others {
            assert_ne!(first.parent_id, other.parent_id);
        }
    }
}
