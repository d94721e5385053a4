//! `[telemetry]`: whether this server exports its own spans over OTLP, where to, and under
//! which service name.

use anyhow::bail;
use bpops_telemetry::Endpoint;

use super::raw::RawTelemetry;

/// The service name spans are exported under unless the file says.
const DEFAULT_SERVICE_NAME: &str = "bpops";

/// The longest service name accepted, in characters.
const MAX_SERVICE_NAME_CHARS: usize = 128;

/// `[telemetry]` into the export's settings; `None` without an `otlp_endpoint`.
pub(super) fn settings(raw: &RawTelemetry) -> anyhow::Result<Option<bpops_telemetry::Settings>> {
    let service_name = raw.service_name.as_deref().unwrap_or(DEFAULT_SERVICE_NAME);
    if service_name.is_empty() || service_name.chars().count() > MAX_SERVICE_NAME_CHARS {
        bail!("[telemetry] service_name must be 1 to {MAX_SERVICE_NAME_CHARS} characters");
    }
    if service_name.chars().any(char::is_control) {
        bail!("[telemetry] service_name {service_name:?} must not hold control characters");
    }
    let Some(endpoint) = &raw.otlp_endpoint else {
        return Ok(None);
    };
    let endpoint: Endpoint = match endpoint.parse() {
        Ok(endpoint) => endpoint,
        Err(e) => bail!("[telemetry] otlp_endpoint {e}"),
    };
    Ok(Some(bpops_telemetry::Settings {
        endpoint,
        service_name: service_name.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn telemetry(
        endpoint: Option<&str>,
        name: Option<&str>,
    ) -> anyhow::Result<Option<bpops_telemetry::Settings>> {
        settings(&RawTelemetry {
            otlp_endpoint: endpoint.map(str::to_owned),
            service_name: name.map(str::to_owned),
        })
    }

    #[test]
    fn spans_are_exported_only_with_an_endpoint_as_bpops_unless_named() {
        assert!(telemetry(None, None).unwrap().is_none());
        let on = telemetry(Some("http://127.0.0.1:4318"), None)
            .unwrap()
            .unwrap();
        assert_eq!(on.endpoint.to_string(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(on.service_name, "bpops");
        let named = telemetry(Some("http://127.0.0.1:4318"), Some("ops-eu")).unwrap();
        assert_eq!(named.unwrap().service_name, "ops-eu");
    }

    #[test]
    fn a_bad_endpoint_or_service_name_is_refused_by_name() {
        let long = "n".repeat(MAX_SERVICE_NAME_CHARS + 1);
        for (endpoint, name, says) in [
            (
                Some("https://collector:4318"),
                None,
                "[telemetry] otlp_endpoint \"https://collector:4318\" uses https",
            ),
            (
                Some("collector"),
                None,
                "[telemetry] otlp_endpoint \"collector\"",
            ),
            (None, Some(""), "[telemetry] service_name must be"),
            (
                None,
                Some(long.as_str()),
                "[telemetry] service_name must be",
            ),
            (None, Some("a\nb"), "[telemetry] service_name \"a\\nb\""),
        ] {
            let error = telemetry(endpoint, name).unwrap_err().to_string();
            assert!(error.starts_with(says), "{error}");
        }
    }
}
