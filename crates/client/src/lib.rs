//! The bpops client: one async HTTP client over hyper that signs every call with
//! ACS3-HMAC-SHA256 through `bpops_protocol` (the code the server verifies with) and returns
//! each action's typed `Data` ([`OperationResult`], [`OperationPage`], …) or a typed
//! [`Error`] carrying the error body's `Code`, `Message` and HTTP status.
//!
//! The main type is [`Client`]. The CLI, `bpops bench` and the integration tests all use it
//! (the tests through [`sign`], to send requests they then take apart), so there is one way to
//! build a signed request outside the server.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod applications;
mod audit;
mod deliveries;
mod error;
mod history;

use bpops_protocol::API_VERSION;
use bpops_protocol::extensions::OperationPage;
use bpops_protocol::request::{Acs3Request, SignedRequest};
use bpops_protocol::wire::{Envelope, OperationParams, OperationResult, OperationSummary};
use bpops_time::{Clock, SystemClock};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use crate::applications::Page;
pub use crate::audit::LookupEvents;
pub use crate::deliveries::ListDeliveries;
pub use crate::error::{Error, Result};

/// Where the server is and whom to sign as.
#[derive(Clone)]
pub struct Credentials {
    /// `http://host:port`, or just `host:port`.
    pub endpoint: String,
    /// AccessKeyId.
    pub access_key_id: String,
    /// AccessKeySecret.
    pub access_key_secret: String,
}

/// The parameters of ExecuteOperationASync and ExecuteOperationSync.
#[derive(Clone, Copy, Debug)]
pub struct Execute<'a> {
    /// `ServiceType`, e.g. `ecs`.
    pub service_type: &'a str,
    /// `Operation`, e.g. `rename`.
    pub operation: &'a str,
    /// `Attributes`, a JSON object as text.
    pub attributes: &'a str,
    /// `ApplicationId`.
    pub application_id: Option<&'a str>,
    /// `ClientToken`, for idempotency.
    pub client_token: Option<&'a str>,
}

/// The parameters of ListExecuteOperations; `None` leaves a filter out.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListExecutions<'a> {
    /// `Status`.
    pub status: Option<&'a str>,
    /// `ServiceType`.
    pub service_type: Option<&'a str>,
    /// `Operation`.
    pub operation: Option<&'a str>,
    /// `ApplicationId`.
    pub application_id: Option<&'a str>,
    /// `MaxResults`, the page size.
    pub max_results: Option<u32>,
    /// `NextToken` of the previous page.
    pub next_token: Option<&'a str>,
}

/// A signed-request client for one endpoint; cheap to share behind an `Arc`.
pub struct Client {
    credentials: Credentials,
    host: String,
    http: HttpClient<HttpConnector, Full<Bytes>>,
}

impl Client {
    /// A client for `credentials.endpoint`.
    ///
    /// # Errors
    ///
    /// [`Error::Endpoint`] when the endpoint is not `http://HOST:PORT`.
    pub fn new(credentials: Credentials) -> Result<Client> {
        let host = credentials
            .endpoint
            .strip_prefix("http://")
            .unwrap_or(&credentials.endpoint)
            .trim_end_matches('/')
            .to_owned();
        if host.is_empty() || host.contains('/') || credentials.endpoint.starts_with("https://") {
            return Err(Error::Endpoint(credentials.endpoint));
        }
        let http = HttpClient::builder(TokioExecutor::new()).build_http();
        Ok(Client {
            credentials,
            host,
            http,
        })
    }

    /// ExecuteOperationASync: submits and returns the new OperationId.
    pub async fn execute_async(&self, request: &Execute<'_>) -> Result<String> {
        let params = execute_params(request);
        required(self.call("ExecuteOperationASync", &params).await?)
    }

    /// ExecuteOperationSync: submits and returns the result once final (or when the server
    /// stops holding the answer).
    pub async fn execute_sync(&self, request: &Execute<'_>) -> Result<OperationResult> {
        let params = execute_params(request);
        required(self.call("ExecuteOperationSync", &params).await?)
    }

    /// GetExecuteOperationResult of `id`, held by the server up to `wait_seconds` when
    /// given; `None` when the id is unknown or expired.
    pub async fn get_result(
        &self,
        id: &str,
        wait_seconds: Option<u64>,
    ) -> Result<Option<OperationResult>> {
        let wait_seconds = wait_seconds.map(|s| s.to_string());
        let mut params = vec![("OperationId", id)];
        if let Some(wait) = &wait_seconds {
            params.push(("WaitSeconds", wait));
        }
        Ok(self.call("GetExecuteOperationResult", &params).await?.data)
    }

    /// ListExecuteOperations: one page of the account's operations, newest first.
    pub async fn list_executions(&self, request: &ListExecutions<'_>) -> Result<OperationPage> {
        let max_results = request.max_results.map(|n| n.to_string());
        let params: Vec<(&str, &str)> = [
            ("Status", request.status),
            ("ServiceType", request.service_type),
            ("Operation", request.operation),
            ("ApplicationId", request.application_id),
            ("MaxResults", max_results.as_deref()),
            ("NextToken", request.next_token),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect();
        required(self.call("ListExecuteOperations", &params).await?)
    }

    /// CancelExecuteOperation of `id`: the operation's result after the cancel.
    pub async fn cancel(&self, id: &str) -> Result<OperationResult> {
        required(
            self.call("CancelExecuteOperation", &[("OperationId", id)])
                .await?,
        )
    }

    /// ListServices: the service types.
    pub async fn list_services(&self) -> Result<Vec<String>> {
        required(self.call("ListServices", &[]).await?)
    }

    /// ListOperations: the operations of `service_type`.
    pub async fn list_operations(&self, service_type: &str) -> Result<Vec<OperationSummary>> {
        required(
            self.call("ListOperations", &[("ServiceType", service_type)])
                .await?,
        )
    }

    /// GetOperationParams: the parameter schema of one operation.
    pub async fn operation_params(
        &self,
        service_type: &str,
        operation: &str,
    ) -> Result<OperationParams> {
        let params = [("ServiceType", service_type), ("Operation", operation)];
        required(self.call("GetOperationParams", &params).await?)
    }

    /// Calls `action` with `params` and returns the success envelope, its `Data` read as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Envelope<T>> {
        let signed = sign(
            &self.host,
            action,
            params,
            &self.credentials.access_key_id,
            &self.credentials.access_key_secret,
        );
        let mut request = hyper::Request::builder()
            .method(signed.method.as_str())
            .uri(format!("http://{}{}", self.host, signed.target));
        for (name, value) in &signed.headers {
            request = request.header(name, value);
        }
        let (status, body) = self
            .exchange(
                request
                    .body(Full::new(Bytes::from(signed.body)))
                    .map_err(Error::Build)?,
            )
            .await?;
        let status = status.as_u16();
        if status < 400 {
            return serde_json::from_slice(&body).map_err(|e| {
                if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok() {
                    Error::Unexpected(format!("{} answered {action} with {e}", self.host))
                } else {
                    self.not_json(status)
                }
            });
        }
        let refusal: Refusal = serde_json::from_slice(&body).map_err(|_| self.not_json(status))?;
        Err(Error::Refused {
            status,
            code: refusal.code,
            message: refusal.message,
            request_id: refusal.request_id,
        })
    }

    /// GETs an unsigned path such as `/metrics` and returns the body of a 2xx answer.
    pub async fn get_text(&self, path: &str) -> Result<String> {
        let request = hyper::Request::get(format!("http://{}{path}", self.host))
            .body(Full::new(Bytes::new()))
            .map_err(Error::Build)?;
        let (status, body) = self.exchange(request).await?;
        if !status.is_success() {
            return Err(Error::Unexpected(format!(
                "{} answered {path} with HTTP {status}",
                self.host
            )));
        }
        String::from_utf8(body.to_vec())
            .map_err(|_| Error::Unexpected(format!("{path} answered text that is not UTF-8")))
    }

    /// Sends a request and reads the whole answer.
    async fn exchange(
        &self,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<(hyper::StatusCode, Bytes)> {
        let response = self
            .http
            .request(request)
            .await
            .map_err(|cause| Error::Connect {
                host: self.host.clone(),
                cause,
            })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(Error::Read)?
            .to_bytes();
        Ok((status, body))
    }

    fn not_json(&self, status: u16) -> Error {
        Error::Unexpected(format!(
            "{} answered HTTP {status} with a body that is not JSON",
            self.host
        ))
    }
}

/// The fields of an error body the client reports; lenient, so that any JSON error answer
/// still reads as a refusal (a missing field reads as empty).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Refusal {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    request_id: String,
}

/// `action` with `params`, dated now with a fresh nonce and signed for `host` (the `host`
/// header exactly as sent, `127.0.0.1:8080`) with an AccessKey pair: what [`Client`] sends.
pub fn sign(
    host: &str,
    action: &str,
    params: &[(&str, &str)],
    access_key_id: &str,
    access_key_secret: &str,
) -> SignedRequest {
    Acs3Request {
        host,
        action,
        version: API_VERSION,
        date: SystemClock.now(),
        nonce: &nonce(),
        params,
        query: "",
    }
    .sign(access_key_id, access_key_secret)
}

/// 32 random lower-case hex characters, like the SDKs' signature nonces.
pub fn nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system has no random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Data` of a success that must carry one.
fn required<T>(envelope: Envelope<T>) -> Result<T> {
    envelope.data.ok_or_else(|| {
        Error::Unexpected(format!(
            "the answer has no Data (RequestId {})",
            envelope.request_id
        ))
    })
}

fn execute_params<'a>(request: &Execute<'a>) -> Vec<(&'static str, &'a str)> {
    let mut params = vec![
        ("ServiceType", request.service_type),
        ("Operation", request.operation),
        ("Attributes", request.attributes),
    ];
    if let Some(application) = request.application_id {
        params.push(("ApplicationId", application));
    }
    if let Some(token) = request.client_token {
        params.push(("ClientToken", token));
    }
    params
}

#[cfg(test)]
mod tests {
    use bpops_protocol::Params;
    use bpops_protocol::signature::{RawRequest, inspect, verify};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server that answers one request with `status` and `body`, and hands back what it
    /// received (head and body).
    async fn answer_once(
        status: u16,
        body: &'static str,
    ) -> (Client, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let served = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut received = Vec::new();
            let mut buffer = [0u8; 4096];
            // The client sends a content-length; read until the whole body is in.
            loop {
                let n = stream.read(&mut buffer).await.unwrap();
                received.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&received).to_lowercase();
                if let Some(at) = text.find("\r\n\r\n") {
                    let length: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if received.len() >= at + 4 + length {
                        break;
                    }
                }
            }
            let answer = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).await.unwrap();
            received
        });
        let client = Client::new(Credentials {
            endpoint: format!("http://{address}"),
            access_key_id: "LTAIkey".to_owned(),
            access_key_secret: "secret".to_owned(),
        })
        .unwrap();
        (client, served)
    }

    #[test]
    fn an_endpoint_other_than_http_host_port_is_refused() {
        for endpoint in [
            "https://127.0.0.1:1",
            "http://127.0.0.1:1/api",
            "",
            "http://",
        ] {
            let credentials = Credentials {
                endpoint: endpoint.to_owned(),
                access_key_id: String::new(),
                access_key_secret: String::new(),
            };
            assert!(
                matches!(Client::new(credentials), Err(Error::Endpoint(_))),
                "{endpoint:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_result_is_typed_and_its_request_verifies_with_the_servers_code() {
        let (client, served) = answer_once(
            200,
            r#"{"RequestId":"R","Code":"200","Message":"","Data":{"OperationId":"op_1",
               "Status":"SUCCESS","Message":"{}","Arguments":"{}"}}"#,
        )
        .await;
        let result = client.get_result("op_1", Some(3)).await.unwrap().unwrap();
        assert_eq!(
            (result.operation_id.as_str(), result.status.as_str()),
            ("op_1", "SUCCESS")
        );

        let received = served.await.unwrap();
        let at = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&received[..at]).into_owned();
        let body = &received[at + 4..];
        let headers: Vec<(String, String)> = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let content_type = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str());
        let params = Params::parse("", content_type, body).unwrap();
        assert_eq!(params.get("WaitSeconds"), Some("3"));
        let raw = RawRequest {
            method: "POST",
            target: "/",
            headers: &headers,
            body,
        };
        let claim = inspect(&raw, &params).unwrap();
        verify(&raw, &params, &claim, "secret").unwrap();
    }

    #[tokio::test]
    async fn an_unknown_operation_reads_as_none() {
        let (client, _) = answer_once(200, r#"{"RequestId":"R","Code":"200","Message":""}"#).await;
        assert_eq!(client.get_result("op_gone", None).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_error_body_is_a_refusal_with_its_code_message_and_status() {
        let (client, _) = answer_once(
            404,
            r#"{"RequestId":"R1","HostId":"h","Code":"InvalidOperationId.NotFound",
               "Message":"no such operation","Recommend":""}"#,
        )
        .await;
        let error = client.cancel("op_gone").await.unwrap_err();
        assert!(error.is_code("InvalidOperationId.NotFound"), "{error:?}");
        assert_eq!(
            error.to_string(),
            "InvalidOperationId.NotFound: no such operation (HTTP 404, RequestId R1)"
        );
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_unexpected() {
        let (client, _) = answer_once(502, "Bad Gateway").await;
        let error = client.list_services().await.unwrap_err();
        assert!(matches!(error, Error::Unexpected(_)), "{error:?}");
        assert!(
            error
                .to_string()
                .ends_with("HTTP 502 with a body that is not JSON")
        );
    }
}
