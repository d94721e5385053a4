//! The harness every test module uses.
//!
//! [`TestDir`] is a temporary directory holding a test's configuration and SQLite file;
//! [`Server`] is a running `bpops serve` child process on `127.0.0.1:0` (killed when dropped).
//! Requests are signed by `bpops_client` ([`Server::call`]), built with [`Acs3`] (the tea SDK's
//! default scheme, through the protocol crate's request builder) for requests a test then
//! varies, or with [`Rpc`] (HMAC-SHA1, as tea v2 and the classic SDK sign), and sent with
//! hyper's client, or as raw bytes for input no HTTP client would produce.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bpops_client::nonce;
use bpops_protocol::request::{Acs3Request, SignedRequest, form_encode};
use bpops_protocol::signature::{
    RawRequest, acs3_canonical_request, acs3_string_to_sign, format_timestamp, rpc_signature,
    rpc_string_to_sign,
};
use bpops_protocol::{API_VERSION, Params, percent_encode};
use bpops_time::{Clock, SystemClock, Timestamp};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// How long a server may take to print its `listening on` line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// How long one request may take before the test gives up on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// How often [`Server::wait_final`] asks again.
const POLL_EVERY: Duration = Duration::from_millis(50);

const FORM: &str = "application/x-www-form-urlencoded";

/// The account most tests act in, with application [`APP`] and the instances of the base
/// configuration.
pub const ACCOUNT: &str = "1000000000000001";
/// The application of [`ACCOUNT`] that every seeded instance belongs to.
pub const APP: &str = "APP-WEB";
/// A `Running` ECS instance in [`APP`].
pub const RUNNING_INSTANCE: &str = "i-running";

/// An AccessKey pair.
#[derive(Clone, Copy, Debug)]
pub struct Key<'a> {
    /// AccessKeyId.
    pub id: &'a str,
    /// AccessKeySecret.
    pub secret: &'a str,
}

/// The root key of [`ACCOUNT`].
pub const ROOT: Key<'static> = Key {
    id: "LTAI5tTestRoot0000000001",
    secret: "test-root-secret",
};
/// The root key of a second tenant, account `1000000000000002` with application
/// `APP-OTHER`.
pub const OTHER_ROOT: Key<'static> = Key {
    id: "LTAI5tTestOther000000001",
    secret: "test-other-secret",
};
/// The key of RAM user `reader` of [`ACCOUNT`], who has no policy attached.
pub const READER: Key<'static> = Key {
    id: "LTAI5tTestReader00000001",
    secret: "test-reader-secret",
};
/// A root key of [`ACCOUNT`] declared with `active = false`.
pub const DISABLED: Key<'static> = Key {
    id: "LTAI5tTestDisabled000001",
    secret: "test-disabled-secret",
};

/// The configuration every test starts from: two accounts, one application with one
/// running instance, a RAM user without grants, and the keys above.
const BASE_CONFIG: &str = include_str!("base.toml");

/// A temporary directory holding one test's configuration and database; removed on drop.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir {
            dir: tempfile::tempdir().expect("creating a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` in the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, text).expect("writing a test file");
        path
    }

    /// Writes the base configuration followed by `extra` (more tables) as `bpops.toml`,
    /// with the database at `<dir>/bpops.db`.
    pub fn config(&self, extra: &str) -> PathBuf {
        let db = self.path().join("bpops.db");
        let storage = format!("sqlite://{}", db.display());
        let text = format!("{}\n{extra}", BASE_CONFIG.replace("{STORAGE}", &storage));
        self.write("bpops.toml", &text)
    }

    /// Starts `bpops serve --config <config> --listen 127.0.0.1:0`.
    pub async fn serve(&self, config: &Path) -> Server {
        self.serve_args(&[OsString::from("--config"), config.into()])
            .await
    }

    /// Starts `bpops serve --data <dir>/data --listen 127.0.0.1:0`, with no configuration.
    pub async fn serve_without_config(&self) -> Server {
        let data = self.path().join("data");
        self.serve_args(&[OsString::from("--data"), data.into()])
            .await
    }

    /// Starts `bpops serve <args> --listen 127.0.0.1:0` in this directory.
    pub async fn serve_args(&self, args: &[OsString]) -> Server {
        Server::start(self.path(), args).await
    }

    /// Runs `bpops serve <args> --listen 127.0.0.1:0` and waits for it to exit on its own.
    pub async fn serve_until_exit(&self, args: &[OsString]) -> Exited {
        self.serve_on_until_exit("127.0.0.1:0", args).await
    }

    /// Runs `bpops serve <args> --listen <listen>` and waits for it to exit on its own.
    pub async fn serve_on_until_exit(&self, listen: &str, args: &[OsString]) -> Exited {
        let mut command = bpops_command(self.path(), args, listen);
        let output = tokio::time::timeout(STARTUP_TIMEOUT, command.output())
            .await
            .expect("bpops serve should have exited by now")
            .expect("running bpops");
        Exited {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// `bpops serve <args> --listen <listen>` in `cwd`, with both output streams piped.
fn bpops_command(cwd: &Path, args: &[OsString], listen: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bpops"));
    command
        .arg("serve")
        .args(args)
        .args(["--listen", listen])
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// A `bpops serve` that ended on its own.
pub struct Exited {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// What a server wrote, collected after it was killed.
pub struct Output {
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr (the logs).
    pub stderr: String,
}

/// A running `bpops serve`, killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    sender: Sender,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Server {
    /// Spawns the binary and waits for its `listening on ADDR` line.
    async fn start(cwd: &Path, args: &[OsString]) -> Server {
        let mut child = bpops_command(cwd, args, "127.0.0.1:0")
            .spawn()
            .expect("spawning bpops");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let mut readers = vec![tokio::spawn(collect(
            child.stderr.take().expect("stderr is piped"),
            Arc::clone(&stderr),
        ))];

        let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let addr = loop {
            let line = tokio::time::timeout_at(deadline.into(), lines.next_line()).await;
            match line {
                Ok(Ok(Some(line))) => {
                    push_line(&stdout, &line);
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        break addr.parse().expect("the listening line names an address");
                    }
                }
                Ok(Ok(None)) | Ok(Err(_)) => {
                    let status = child.wait().await.expect("waiting for bpops");
                    readers.pop().expect("the stderr reader").await.ok();
                    panic!(
                        "bpops serve exited ({status}) before listening\nstdout:\n{}\nstderr:\n{}",
                        text(&stdout),
                        text(&stderr)
                    );
                }
                Err(_) => panic!(
                    "bpops serve printed no listening line within {STARTUP_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
                    text(&stdout),
                    text(&stderr)
                ),
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        let rest = Arc::clone(&stdout);
        readers.push(tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                push_line(&rest, &line);
            }
        }));

        Server {
            child,
            sender: Sender {
                addr,
                client: Client::builder(TokioExecutor::new()).build_http(),
            },
            stdout,
            stderr,
            readers,
        }
    }

    /// The `host` header value, which is signed.
    pub fn host(&self) -> String {
        self.sender.addr.to_string()
    }

    /// A handle that sends requests to this server, for concurrent tasks.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// What the server has printed on stdout so far (at least up to its listening line).
    pub fn stdout_so_far(&self) -> String {
        text(&self.stdout)
    }

    /// What the server has logged on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        text(&self.stderr)
    }

    /// Waits until the server's log holds `line` (its log is read apart from its stdout, so
    /// a line written before "listening" may arrive after it).
    pub async fn logged(&self, line: &str) {
        let bound = Duration::from_secs(10);
        let deadline = Instant::now() + bound;
        while !self.stderr_so_far().contains(line) {
            assert!(
                Instant::now() < deadline,
                "{line:?} not logged within {bound:?}:\n{}",
                self.stderr_so_far()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the server with SIGKILL (`kill -9`: no shutdown code runs), waits for it to
    /// die and returns everything it wrote.
    pub async fn kill(mut self) -> Output {
        self.child.kill().await.expect("killing bpops");
        for reader in self.readers.drain(..) {
            // Both pipes reach end of file once the process is gone.
            tokio::time::timeout(STARTUP_TIMEOUT, reader)
                .await
                .expect("the output pipes close after the kill")
                .ok();
        }
        Output {
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
        }
    }

    /// Sends `signal` (`"TERM"`, or `"INT"` as Ctrl-C does) and waits for the server to
    /// exit by itself; returns how it exited, how long after the signal, and what it wrote.
    pub async fn stop(mut self, signal: &str) -> (ExitStatus, Duration, Output) {
        let pid = self.child.id().expect("the server is running");
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("running kill");
        assert!(sent.success(), "kill -{signal} {pid}");
        let signalled = Instant::now();
        let status = tokio::time::timeout(STARTUP_TIMEOUT, self.child.wait())
            .await
            .expect("the server exits after the signal")
            .expect("waiting for bpops");
        let took = signalled.elapsed();
        for reader in self.readers.drain(..) {
            reader.await.ok();
        }
        let output = Output {
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
        };
        (status, took, output)
    }

    /// Signs `action` with `params` in ACS3 mode, as `bpops_client` does, and sends it;
    /// panics if no answer comes.
    pub async fn call(&self, key: Key<'_>, action: &str, params: &[(&str, &str)]) -> Reply {
        let signed = bpops_client::sign(&self.host(), action, params, key.id, key.secret);
        self.send(&HttpRequest::from(signed)).await
    }

    /// Submits `ecs` `operation` in [`APP`] with `attributes` (ExecuteOperationASync or
    /// ExecuteOperationSync, as `action` says), signed with [`ROOT`].
    pub async fn execute(&self, action: &str, operation: &str, attributes: &Value) -> Reply {
        let attributes = attributes.to_string();
        let params = execute_params(operation, &attributes);
        self.call(ROOT, action, &params).await
    }

    /// Submits with ExecuteOperationASync and returns the new OperationId.
    pub async fn submit(&self, operation: &str, attributes: &Value) -> String {
        let reply = self
            .execute("ExecuteOperationASync", operation, attributes)
            .await;
        operation_id(&reply)
    }

    /// GetExecuteOperationResult of `id`, signed with `key`.
    pub async fn result(&self, key: Key<'_>, id: &str) -> Reply {
        self.call(key, "GetExecuteOperationResult", &[("OperationId", id)])
            .await
    }

    /// Polls GetExecuteOperationResult until `id` is `SUCCESS` or `FAILURE`, returning its
    /// `Data`; panics after `timeout`.
    pub async fn wait_final(&self, key: Key<'_>, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let reply = self.result(key, id).await;
            let data = reply.data().clone();
            if is_final(&data) {
                return data;
            }
            assert!(
                Instant::now() < deadline,
                "operation {id} is not final after {timeout:?}: {data}"
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Sends `request`; panics when no HTTP answer comes.
    pub async fn send(&self, request: &HttpRequest) -> Reply {
        match self.sender.try_send(request).await {
            Ok(reply) => reply,
            Err(e) => panic!("{} got no answer: {e}", request.target),
        }
    }

    /// Writes `bytes` on a fresh connection and reads one HTTP/1.1 answer.
    pub async fn send_raw(&self, bytes: &[u8]) -> Reply {
        self.sender.send_raw(bytes).await
    }

    /// Writes `bytes` on a fresh connection and returns the answer's status and body as text,
    /// for the endpoints that do not answer JSON (`/metrics`).
    pub async fn send_raw_text(&self, bytes: &[u8]) -> (u16, String) {
        let (status, _, body) = self.sender.exchange(bytes).await;
        (status, String::from_utf8(body).expect("a UTF-8 body"))
    }
}

/// Sends requests to one server; cheap to clone.
#[derive(Clone)]
pub struct Sender {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Sender {
    /// Sends `request` as `POST`; an error when the connection fails or no answer comes in
    /// time.
    pub async fn try_send(&self, request: &HttpRequest) -> Result<Reply, String> {
        let mut builder = hyper::Request::builder()
            .method("POST")
            .uri(format!("http://{}{}", self.addr, request.target));
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let http_request = builder
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(http_request))
            .await
            .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Reply::new(status, content_type, &body))
    }

    /// Writes `bytes` on a fresh connection, stops writing, and reads one HTTP/1.1 answer
    /// (status line, headers, and a body of `Content-Length` bytes).
    pub async fn send_raw(&self, bytes: &[u8]) -> Reply {
        let (status, content_type, body) = self.exchange(bytes).await;
        Reply::new(status, content_type, &body)
    }

    /// Writes `bytes` on a fresh connection and reads one HTTP/1.1 answer.
    async fn exchange(&self, bytes: &[u8]) -> (u16, Option<String>, Vec<u8>) {
        let mut stream = TcpStream::connect(self.addr).await.expect("connecting");
        stream.write_all(bytes).await.expect("writing the request");
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, read_response(&mut stream))
            .await
            .expect("the server answers in time");
        answer.expect("reading the answer")
    }
}

/// Appends everything `pipe` yields to `sink` until end of file.
async fn collect(pipe: impl AsyncRead + Unpin, sink: Arc<Mutex<String>>) {
    let mut pipe = pipe;
    let mut buffer = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        sink.lock()
            .expect("output lock")
            .push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
}

fn push_line(sink: &Mutex<String>, line: &str) {
    let mut sink = sink.lock().expect("output lock");
    sink.push_str(line);
    sink.push('\n');
}

fn text(sink: &Mutex<String>) -> String {
    sink.lock().expect("output lock").clone()
}

/// Reads one HTTP/1.1 response whose body has a `Content-Length`.
async fn read_response(stream: &mut TcpStream) -> std::io::Result<(u16, Option<String>, Vec<u8>)> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        received.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let mut content_type = None;
    let mut length = 0;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => content_type = Some(value.trim().to_owned()),
                "content-length" => length = value.trim().parse().expect("a length"),
                _ => {}
            }
        }
    }
    let mut body = received.split_off(head_end);
    while body.len() < length {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&buffer[..n]);
    }
    body.truncate(length);
    Ok((status, content_type, body))
}

/// An HTTP answer whose body is JSON.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub json: Value,
}

impl Reply {
    fn new(status: u16, content_type: Option<String>, body: &[u8]) -> Reply {
        let json = serde_json::from_slice(body).unwrap_or_else(|e| {
            panic!(
                "HTTP {status}: the body is not JSON ({e}): {}",
                String::from_utf8_lossy(body)
            )
        });
        Reply {
            status,
            content_type,
            json,
        }
    }

    pub fn code(&self) -> &str {
        self.json["Code"].as_str().unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.json["Message"].as_str().unwrap_or_default()
    }

    pub fn request_id(&self) -> &str {
        self.json["RequestId"].as_str().unwrap_or_default()
    }

    /// `Data`, asserting the answer is a success that has one.
    pub fn data(&self) -> &Value {
        self.assert_ok();
        self.json
            .get("Data")
            .unwrap_or_else(|| panic!("the answer has no Data: {}", self.json))
    }

    /// Asserts HTTP 200 and `Code` `"200"`.
    pub fn assert_ok(&self) {
        assert_eq!(
            (self.status, self.code()),
            (200, "200"),
            "expected a success: {}",
            self.json
        );
    }

    /// Asserts an error answer with this HTTP status and `Code`, in the error body shape.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {}",
            self.json
        );
        for field in ["RequestId", "HostId", "Message", "Recommend"] {
            assert!(
                self.json[field].is_string(),
                "{field} missing from {}",
                self.json
            );
        }
    }
}

/// The OperationId of a successful ExecuteOperationASync answer.
pub fn operation_id(reply: &Reply) -> String {
    reply
        .data()
        .as_str()
        .unwrap_or_else(|| panic!("Data is not an OperationId: {}", reply.json))
        .to_owned()
}

/// Whether a GetExecuteOperationResult `Data` has a final status.
pub fn is_final(data: &Value) -> bool {
    matches!(data["Status"].as_str(), Some("SUCCESS" | "FAILURE"))
}

/// The parameters of an `ecs` operation in [`APP`].
pub fn execute_params<'a>(operation: &'a str, attributes: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("ServiceType", "ecs"),
        ("Operation", operation),
        ("ApplicationId", APP),
        ("Attributes", attributes),
    ]
}

/// `Message` of a successful resource operation: the resource's state, as JSON.
pub fn state(data: &Value) -> Value {
    let message = data["Message"].as_str().expect("Message is a string");
    serde_json::from_str(message).unwrap_or_else(|e| panic!("Message is not JSON ({e}): {data}"))
}

/// `Arguments` of a result, parsed.
pub fn arguments(data: &Value) -> Value {
    let arguments = data["Arguments"].as_str().expect("Arguments is a string");
    serde_json::from_str(arguments).expect("Arguments is JSON")
}

/// Attributes of an `addTags` on `instance`.
pub fn add_tags(instance: &str, tags: Value) -> Value {
    json!({"instanceId": instance, "tags": tags})
}

/// A request as it goes on the wire: the request-target, the header lines and the body.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl From<SignedRequest> for HttpRequest {
    fn from(signed: SignedRequest) -> HttpRequest {
        HttpRequest {
            target: signed.target,
            headers: signed.headers,
            body: signed.body,
        }
    }
}

impl HttpRequest {
    /// The ACS3 string to sign of this request, as a client computes it.
    pub fn acs3_string_to_sign(&self) -> String {
        let unsigned: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("authorization"))
            .cloned()
            .collect();
        let names: Vec<String> = unsigned.iter().map(|(name, _)| name.clone()).collect();
        let raw = RawRequest {
            method: "POST",
            target: &self.target,
            headers: &unsigned,
            body: &self.body,
        };
        acs3_string_to_sign(&acs3_canonical_request(&raw, &names).expect("a canonical request"))
    }

    /// The RPC string to sign of this request, as a client computes it.
    pub fn rpc_string_to_sign(&self) -> String {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        let params = Params::parse(query, Some(FORM), &self.body).expect("parameters");
        rpc_string_to_sign("POST", &params)
    }
}

/// An ACS3-HMAC-SHA256 request, as the tea SDK sends it (wire-protocol.md §1.2): action and
/// version in signed headers, parameters in a form body.
pub struct Acs3 {
    action: String,
    version: String,
    params: Vec<(String, String)>,
    query: String,
    /// When the request is dated; now when it is signed, unless told.
    date: Option<Timestamp>,
}

impl Acs3 {
    pub fn new(action: &str) -> Acs3 {
        Acs3 {
            action: action.to_owned(),
            version: API_VERSION.to_owned(),
            params: Vec::new(),
            query: String::new(),
            date: None,
        }
    }

    /// Sends `query` (already encoded) in the request-target, as the SDK does for the few
    /// actions whose parameters go in the query.
    pub fn query(mut self, query: &str) -> Acs3 {
        query.clone_into(&mut self.query);
        self
    }

    pub fn params(mut self, params: &[(&str, &str)]) -> Acs3 {
        self.params.extend(
            params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self
    }

    pub fn version(mut self, version: &str) -> Acs3 {
        version.clone_into(&mut self.version);
        self
    }

    /// Dates the request `date` rather than when it is signed.
    pub fn dated(mut self, date: Timestamp) -> Acs3 {
        self.date = Some(date);
        self
    }

    /// The request, signed for `host` with `key`.
    pub fn sign(&self, host: &str, key: Key<'_>) -> HttpRequest {
        let params: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let signed = Acs3Request {
            host,
            action: &self.action,
            version: &self.version,
            date: self.date.unwrap_or_else(|| SystemClock.now()),
            nonce: &nonce(),
            params: &params,
            query: &self.query,
        }
        .sign(key.id, key.secret);
        HttpRequest::from(signed)
    }
}

/// An RPC HMAC-SHA1 request, as tea v2 sends it (wire-protocol.md §1.3): common parameters
/// and `Signature` in the query, business parameters in a form body.
pub struct Rpc {
    action: String,
    params: Vec<(String, String)>,
}

impl Rpc {
    pub fn new(action: &str) -> Rpc {
        Rpc {
            action: action.to_owned(),
            params: Vec::new(),
        }
    }

    pub fn params(mut self, params: &[(&str, &str)]) -> Rpc {
        self.params.extend(
            params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self
    }

    /// The request, signed with `key`; `host` is sent but, as in RPC, not signed.
    pub fn sign(&self, host: &str, key: Key<'_>) -> HttpRequest {
        let common = [
            ("Action", self.action.clone()),
            ("Format", "json".to_owned()),
            ("Version", API_VERSION.to_owned()),
            ("Timestamp", format_timestamp(SystemClock.now())),
            ("SignatureNonce", nonce()),
            ("SignatureMethod", "HMAC-SHA1".to_owned()),
            ("SignatureVersion", "1.0".to_owned()),
            ("AccessKeyId", key.id.to_owned()),
        ];
        let query: Vec<String> = common
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect();
        let query = query.join("&");
        // Keys sorted, as tea sends them.
        let mut params: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        params.sort_unstable();
        let body = form_encode(&params).into_bytes();
        let params = Params::parse(&query, Some(FORM), &body).expect("parameters");
        let signature = rpc_signature(key.secret, &rpc_string_to_sign("POST", &params));
        HttpRequest {
            target: format!("/?{query}&Signature={}", percent_encode(&signature)),
            headers: vec![
                ("host".to_owned(), host.to_owned()),
                ("x-acs-action".to_owned(), self.action.clone()),
                ("x-acs-version".to_owned(), API_VERSION.to_owned()),
                ("content-type".to_owned(), FORM.to_owned()),
            ],
            body,
        }
    }
}

/// Whether `s` is an upper-case hyphenated UUID: 8-4-4-4-12 of `0-9A-F`.
pub fn is_upper_case_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F')))
}
