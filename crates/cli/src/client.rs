//! The HTTP client of the `bpops` subcommands: signs each request with ACS3-HMAC-SHA256
//! through `bpops_protocol`, the code the server verifies with, and sorts answers into data
//! and errors.

use std::time::{SystemTime, UNIX_EPOCH};

use bpops_protocol::API_VERSION;
use bpops_protocol::request::Acs3Request;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

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

/// Why a call did not return data.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The server could not be reached, or answered something that is not the API.
    #[error("{0}")]
    Transport(String),
    /// The server refused the request.
    #[error("{code}: {message} (HTTP {status}, RequestId {request_id})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The error code, e.g. `InvalidParameter`.
        code: String,
        /// The server's message.
        message: String,
        /// The request id, to find the server's log line.
        request_id: String,
    },
}

/// A signed-request client for one endpoint.
pub struct Client {
    credentials: Credentials,
    host: String,
    http: HttpClient<HttpConnector, Full<Bytes>>,
}

impl Client {
    /// A client for `credentials.endpoint`.
    pub fn new(credentials: Credentials) -> Result<Client, CallError> {
        let host = credentials
            .endpoint
            .strip_prefix("http://")
            .unwrap_or(&credentials.endpoint)
            .trim_end_matches('/')
            .to_owned();
        if host.is_empty() || host.contains('/') || credentials.endpoint.starts_with("https://") {
            return Err(CallError::Transport(format!(
                "the endpoint {:?} is not http://HOST:PORT",
                credentials.endpoint
            )));
        }
        let http = HttpClient::builder(TokioExecutor::new()).build_http();
        Ok(Client {
            credentials,
            host,
            http,
        })
    }

    /// Calls `action` and returns the whole JSON answer of a success.
    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<Value, CallError> {
        let signed = Acs3Request {
            host: &self.host,
            action,
            version: API_VERSION,
            unix_secs: now_secs(),
            nonce: &nonce(),
            params,
        }
        .sign(
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
            .exchange(request.body(Full::new(Bytes::from(signed.body))))
            .await?;
        let status = status.as_u16();
        let answer: Value = serde_json::from_slice(&body).map_err(|_| {
            CallError::Transport(format!(
                "{} answered HTTP {status} with a body that is not JSON",
                self.host
            ))
        })?;
        if status < 400 {
            return Ok(answer);
        }
        let field = |name: &str| {
            answer
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Err(CallError::Refused {
            status,
            code: field("Code"),
            message: field("Message"),
            request_id: field("RequestId"),
        })
    }

    /// GETs an unsigned path such as `/metrics` and returns the body of a 2xx answer.
    pub async fn get_text(&self, path: &str) -> Result<String, CallError> {
        let request = hyper::Request::get(format!("http://{}{path}", self.host));
        let (status, body) = self.exchange(request.body(Full::new(Bytes::new()))).await?;
        if !status.is_success() {
            return Err(CallError::Transport(format!(
                "{} answered {path} with HTTP {status}",
                self.host
            )));
        }
        String::from_utf8(body.to_vec())
            .map_err(|_| CallError::Transport(format!("{path} answered text that is not UTF-8")))
    }
}

impl Client {
    /// Sends a request built by the caller and reads the whole answer.
    async fn exchange(
        &self,
        request: Result<hyper::Request<Full<Bytes>>, hyper::http::Error>,
    ) -> Result<(hyper::StatusCode, Bytes), CallError> {
        let request =
            request.map_err(|e| CallError::Transport(format!("building the request: {e}")))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| CallError::Transport(format!("cannot reach {}: {e}", self.host)))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| CallError::Transport(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok((status, body))
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system has no random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
