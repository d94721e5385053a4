//! The HTTP client the OTLP exporter sends with: HTTP/1 over the hyper bpops already
//! builds, each exchange bounded in time and in the size of the answer read.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};

/// The most of a collector's answer read: it is a small protobuf message (partial success).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A pooled HTTP/1 client whose every exchange ends within `timeout`.
#[derive(Debug)]
pub(crate) struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl Http {
    pub(crate) fn new(timeout: Duration) -> Http {
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
            timeout,
        }
    }
}

#[async_trait]
impl HttpClient for Http {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let exchange = async {
            let response = self.client.request(request.map(Full::new)).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER_BYTES).collect().await?;
            Ok::<_, HttpError>(Response::from_parts(parts, body.to_bytes()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {:?}", self.timeout))?
    }
}
