//! The fault proxy's Toxiproxy-compatible HTTP API.
//!
//! A [`ProxyServer`] holds named [`Proxy`]s and serves Toxiproxy's API over
//! them, so existing Toxiproxy clients in any language can drive firedrill:
//!
//! | method and path | answer |
//! | --- | --- |
//! | `GET /version` | 200 `{"version": "..."}` |
//! | `POST /populate` (array of proxies) | 201 `{"proxies": [...]}` |
//! | `POST /reset` | 204: every proxy enabled, every toxic removed |
//! | `GET /proxies` | 200, an object of proxies by name |
//! | `POST /proxies` | 201 the proxy; 409 if the name exists |
//! | `GET /proxies/{name}` | 200 the proxy |
//! | `POST`/`PATCH /proxies/{name}` | 200 the proxy, updated |
//! | `DELETE /proxies/{name}` | 204 |
//! | `GET /proxies/{name}/toxics` | 200, an array of toxics |
//! | `POST /proxies/{name}/toxics` | 200 the toxic (as Toxiproxy); 409 if the name exists |
//! | `GET /proxies/{name}/toxics/{toxic}` | 200 the toxic |
//! | `POST`/`PATCH /proxies/{name}/toxics/{toxic}` | 200 the toxic, attributes merged |
//! | `DELETE /proxies/{name}/toxics/{toxic}` | 204 |
//!
//! A proxy is `{"name","listen","upstream","enabled","toxics":[...]}`, a
//! toxic is [`Toxic`]'s JSON. Unknown proxies and toxics are 404, duplicates
//! 409, malformed bodies and bad attributes 400, and a listen address that
//! cannot be bound 409; every error body is `{"error": "...", "status": N}`
//! with Toxiproxy's messages. A request that fails changes nothing: running
//! proxies and their connections stay as they were.
//!
//! Beyond Toxiproxy, a proxy may declare its toxics (`"toxics": [...]` in
//! `/populate`, `POST /proxies` and config files, see [`load_config`]).
//! Listen addresses without a host (`":8080"`, or none at all) bind to
//! 127.0.0.1, never to every interface unless asked (`0.0.0.0:8080`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use firedrill::faults::api::{ProxyServer, serve};
//! let server = ProxyServer::new(0);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8474").await?;
//! serve(listener, server, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use super::proxy::{Proxy, ProxyConfig, ProxyError};
use crate::toxic::{Stream, Toxic, ToxicKind};

/// Where `firedrill proxy serve` listens by default (Toxiproxy's port).
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8474";

/// The longest time attribute accepted (one day, in milliseconds): anything
/// longer is a typo, not a drill.
pub const MAX_MILLIS: u64 = 24 * 60 * 60 * 1000;

/// The version `GET /version` reports.
pub const VERSION: &str = concat!("firedrill ", env!("CARGO_PKG_VERSION"));

/// Errors of the API, each with its HTTP status and Toxiproxy's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The body is not the JSON expected, or an attribute is out of range.
    #[error("bad request body: {0}")]
    BadRequestBody(String),
    /// A required field is missing or empty.
    #[error("missing required field: {0}")]
    MissingField(String),
    /// `stream` is neither `upstream` nor `downstream`.
    #[error("stream was invalid, can be either upstream or downstream")]
    InvalidStream,
    /// `type` names no toxic.
    #[error("invalid toxic type: {0:?} (expected one of {TYPES})", TYPES = TOXIC_TYPE_NAMES.join(", "))]
    InvalidToxicType(String),
    /// No proxy has that name.
    #[error("proxy not found")]
    ProxyNotFound,
    /// A proxy with that name exists.
    #[error("proxy already exists")]
    ProxyAlreadyExists,
    /// No toxic has that name on the proxy.
    #[error("toxic not found")]
    ToxicNotFound,
    /// A toxic with that name exists on the proxy.
    #[error("toxic already exists")]
    ToxicAlreadyExists,
    /// The listen address could not be bound (in use, not local, ...).
    #[error("failed to listen on {listen}: {reason}")]
    Listen {
        /// The address asked for.
        listen: String,
        /// The OS's reason.
        reason: String,
    },
    /// No route matches.
    #[error("not found")]
    NoRoute,
}

impl ApiError {
    /// The HTTP status Toxiproxy answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequestBody(_)
            | ApiError::MissingField(_)
            | ApiError::InvalidStream
            | ApiError::InvalidToxicType(_) => StatusCode::BAD_REQUEST,
            ApiError::ProxyNotFound | ApiError::ToxicNotFound | ApiError::NoRoute => {
                StatusCode::NOT_FOUND
            }
            ApiError::ProxyAlreadyExists
            | ApiError::ToxicAlreadyExists
            | ApiError::Listen { .. } => StatusCode::CONFLICT,
        }
    }

    /// The key the error is about, when it names one.
    fn field(&self) -> Option<&str> {
        match self {
            ApiError::InvalidStream => Some("stream"),
            ApiError::InvalidToxicType(_) => Some("type"),
            ApiError::BadRequestBody(message) => {
                let quoted = message.split('`').nth(1)?;
                (!quoted.is_empty()
                    && quoted
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .then_some(quoted)
            }
            _ => None,
        }
    }

    /// How to fix a config file that caused this error.
    fn help(&self) -> String {
        match self {
            ApiError::MissingField(field) => format!("add `{field}` to this proxy"),
            ApiError::InvalidStream => {
                "write stream = \"upstream\" or \"downstream\" (or leave it out: downstream)"
                    .to_owned()
            }
            ApiError::InvalidToxicType(_) => {
                format!("use one of the toxic types: {}", TOXIC_TYPE_NAMES.join(", "))
            }
            ApiError::ToxicAlreadyExists => {
                "give each toxic of a proxy its own `name` (the default is type_stream)".to_owned()
            }
            _ => "correct the value as the message says; `firedrill proxy serve --help` shows the format"
                .to_owned(),
        }
    }

    fn in_proxy(self, index: usize, name: &str) -> ApiError {
        let at = if name.is_empty() {
            format!("proxy {index}")
        } else {
            format!("proxy {index} ({name})")
        };
        match self {
            ApiError::BadRequestBody(m) => ApiError::BadRequestBody(format!("{m} at {at}")),
            ApiError::MissingField(m) => ApiError::MissingField(format!("{m} at {at}")),
            other => other,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({"error": self.to_string(), "status": status.as_u16()});
        (status, json_body(&body)).into_response()
    }
}

/// Errors of loading a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read proxy config {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not valid JSON or TOML.
    #[error("failed to parse proxy config {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// The file parses but declares something invalid.
    #[error(
        "failed to accept proxy config {}:{}:{} ({}): {source}\n  help: {}",
        path.display(), at.line, at.column, at.proxy, at.help
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in it, and how to fix it.
        at: Box<ConfigSpot>,
        /// What is wrong.
        source: ApiError,
    },
}

/// Where a config file is wrong, and the fix.
#[derive(Debug)]
pub struct ConfigSpot {
    /// Line of the offending key (or of the proxy), 1-based.
    pub line: usize,
    /// Column, 1-based, in characters.
    pub column: usize,
    /// Which proxy: `proxy 2 ("b")`.
    pub proxy: String,
    /// How to fix it.
    pub help: String,
}

/// A proxy as declared: in `/populate`, `POST /proxies` or a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxySpec {
    /// Unique name.
    pub name: String,
    /// `host:port` to listen on; port 0 picks a free port.
    pub listen: String,
    /// `host:port` to relay to.
    pub upstream: String,
    /// Whether to listen at once.
    pub enabled: bool,
    /// Toxics to install (firedrill's extension; empty: none declared).
    pub toxics: Vec<Toxic>,
}

/// A proxy as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyView {
    /// Unique name.
    pub name: String,
    /// The bound address.
    pub listen: String,
    /// `host:port` it relays to.
    pub upstream: String,
    /// Whether it listens.
    pub enabled: bool,
    /// Upstream toxics first, then downstream ones, each in chain order (as
    /// Toxiproxy lists them).
    pub toxics: Vec<Toxic>,
}

/// The proxies behind the API; cheap to clone (clones share them).
#[derive(Debug, Clone)]
pub struct ProxyServer {
    registry: Arc<Mutex<BTreeMap<String, Entry>>>,
    seed: u64,
}

#[derive(Debug)]
struct Entry {
    proxy: Proxy,
    /// The listen address as declared (`localhost:0`), to tell whether a
    /// re-populated proxy changed.
    declared_listen: String,
}

impl Entry {
    fn view(&self) -> ProxyView {
        let mut toxics = self.proxy.toxics();
        // Stable: each stream keeps its chain order.
        toxics.sort_by_key(|t| t.stream != Stream::Upstream);
        ProxyView {
            name: self.proxy.name().to_owned(),
            listen: self.proxy.listen_addr().to_string(),
            upstream: self.proxy.upstream(),
            enabled: self.proxy.enabled(),
            toxics,
        }
    }

    fn spec(&self) -> ProxySpec {
        ProxySpec {
            name: self.proxy.name().to_owned(),
            // Its bound address: restarting it must get the same port.
            listen: self.proxy.listen_addr().to_string(),
            upstream: self.proxy.upstream(),
            enabled: self.proxy.enabled(),
            toxics: self.proxy.toxics(),
        }
    }
}

/// How `populate` treats one declared proxy.
enum Plan {
    /// Same listen and upstream: keep it (and its connections); install the
    /// declared toxics if there are any.
    Keep(ProxySpec),
    Create(ProxySpec),
    Replace(ProxySpec),
}

/// What undoes one applied step of a `populate` that failed later.
enum Undo {
    /// A new proxy: stop it.
    Remove(String),
    /// A proxy moved to another address: the old one still runs until the
    /// request succeeds; put it back.
    Reinstate(Entry),
    /// A proxy restarted on its own address: start the old one again
    /// (its spec and declared listen address).
    Restore(ProxySpec, String),
}

impl ProxyServer {
    /// An empty server; `seed` drives every proxy's random choices.
    pub fn new(seed: u64) -> Self {
        ProxyServer {
            registry: Arc::new(Mutex::new(BTreeMap::new())),
            seed,
        }
    }

    /// The API as an axum router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/version", get(version))
            .route("/populate", post(populate))
            .route("/reset", post(reset))
            .route("/proxies", get(proxy_index).post(proxy_create))
            .route(
                "/proxies/{proxy}",
                get(proxy_show)
                    .post(proxy_update)
                    .patch(proxy_update)
                    .delete(proxy_delete),
            )
            .route(
                "/proxies/{proxy}/toxics",
                get(toxic_index).post(toxic_create),
            )
            .route(
                "/proxies/{proxy}/toxics/{toxic}",
                get(toxic_show)
                    .post(toxic_update)
                    .patch(toxic_update)
                    .delete(toxic_delete),
            )
            .fallback(|| async { ApiError::NoRoute })
            .layer(middleware::from_fn(stop_browsers))
            .with_state(self.clone())
    }

    /// Every proxy, by name.
    pub async fn proxies(&self) -> BTreeMap<String, ProxyView> {
        let registry = self.registry.lock().await;
        registry
            .iter()
            .map(|(name, entry)| (name.clone(), entry.view()))
            .collect()
    }

    /// Toxiproxy's `/populate`: creates the proxies that do not exist,
    /// replaces those whose listen or upstream changed, keeps the others
    /// (installing their declared toxics, if any). All or nothing: on an
    /// error every proxy is as before.
    pub async fn populate(&self, specs: Vec<ProxySpec>) -> Result<Vec<ProxyView>, ApiError> {
        let mut names = HashSet::new();
        for (index, spec) in specs.iter().enumerate() {
            if !names.insert(spec.name.as_str()) {
                return Err(ApiError::BadRequestBody(format!(
                    "duplicate proxy name {:?} at proxy {}",
                    spec.name,
                    index + 1
                )));
            }
        }
        let mut registry = self.registry.lock().await;
        let plans: Vec<Plan> = specs
            .into_iter()
            .map(|spec| match registry.get(&spec.name) {
                None => Plan::Create(spec),
                Some(entry)
                    if entry.proxy.upstream() == spec.upstream
                        && (entry.declared_listen == spec.listen
                            || entry.proxy.listen_addr().to_string() == spec.listen) =>
                {
                    Plan::Keep(spec)
                }
                Some(_) => Plan::Replace(spec),
            })
            .collect();
        // New proxies first: they touch nothing that exists.
        let mut undo = Vec::new();
        let mut names = Vec::new();
        for plan in &plans {
            if let Plan::Create(spec) = plan {
                match self.start(spec).await {
                    Ok(entry) => {
                        registry.insert(spec.name.clone(), entry);
                        undo.push(Undo::Remove(spec.name.clone()));
                    }
                    Err(error) => {
                        self.rollback(&mut registry, undo).await;
                        return Err(error);
                    }
                }
            }
        }
        for plan in &plans {
            if let Plan::Replace(spec) = plan {
                match self.replace(&mut registry, spec).await {
                    Ok(step) => undo.push(step),
                    Err(error) => {
                        self.rollback(&mut registry, undo).await;
                        return Err(error);
                    }
                }
            }
        }
        for plan in plans {
            let spec = match plan {
                Plan::Keep(spec) => {
                    if !spec.toxics.is_empty()
                        && let Some(entry) = registry.get(&spec.name)
                    {
                        entry
                            .proxy
                            .set_toxics(spec.toxics.clone())
                            .map_err(proxy_error)?;
                    }
                    spec
                }
                Plan::Create(spec) | Plan::Replace(spec) => spec,
            };
            names.push(spec.name);
        }
        commit(undo).await;
        Ok(names
            .iter()
            .filter_map(|name| registry.get(name).map(Entry::view))
            .collect())
    }

    /// Toxiproxy's `/reset`: enables every proxy and removes every toxic.
    pub async fn reset(&self) -> Result<(), ApiError> {
        let registry = self.registry.lock().await;
        let mut first_error = None;
        for entry in registry.values() {
            if let Err(error) = entry.proxy.set_toxics(Vec::new()) {
                first_error.get_or_insert(proxy_error(error));
            }
            if let Err(error) = entry.proxy.set_enabled(true).await {
                first_error.get_or_insert(proxy_error(error));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops every proxy and waits for their connections to close.
    pub async fn shutdown(&self) {
        let entries = std::mem::take(&mut *self.registry.lock().await);
        for entry in entries.into_values() {
            entry.proxy.shutdown().await;
        }
    }

    async fn start(&self, spec: &ProxySpec) -> Result<Entry, ApiError> {
        let listen = resolve_listen(&spec.listen).await?;
        let mut config = ProxyConfig::new(spec.name.clone(), spec.upstream.clone());
        config.listen = listen;
        config.enabled = spec.enabled;
        config.seed = self.seed;
        let proxy = Proxy::start(config).await.map_err(proxy_error)?;
        if let Err(error) = proxy.set_toxics(spec.toxics.clone()) {
            proxy.shutdown().await;
            return Err(proxy_error(error));
        }
        Ok(Entry {
            proxy,
            declared_listen: spec.listen.clone(),
        })
    }

    /// Replaces a proxy by a new one. On another address the new one starts
    /// first, so a failure changes nothing; on the same address the old one
    /// must stop first (its connections close) and is started again if the
    /// new one fails. Returns how to undo the step; [`commit`] finishes it.
    async fn replace(
        &self,
        registry: &mut BTreeMap<String, Entry>,
        spec: &ProxySpec,
    ) -> Result<Undo, ApiError> {
        let Some(old) = registry.get(&spec.name) else {
            return Err(ApiError::ProxyNotFound);
        };
        if resolve_listen(&spec.listen).await? != old.proxy.listen_addr() {
            let entry = self.start(spec).await?;
            return match registry.insert(spec.name.clone(), entry) {
                Some(old) => Ok(Undo::Reinstate(old)),
                None => Ok(Undo::Remove(spec.name.clone())),
            };
        }
        let Some(old) = registry.remove(&spec.name) else {
            return Err(ApiError::ProxyNotFound);
        };
        let old_spec = old.spec();
        let declared = old.declared_listen.clone();
        old.proxy.shutdown().await;
        match self.start(spec).await {
            Ok(entry) => {
                registry.insert(spec.name.clone(), entry);
                Ok(Undo::Restore(old_spec, declared))
            }
            Err(error) => {
                self.restore(registry, old_spec, declared).await;
                Err(error)
            }
        }
    }

    async fn restore(
        &self,
        registry: &mut BTreeMap<String, Entry>,
        spec: ProxySpec,
        declared: String,
    ) {
        match self.start(&spec).await {
            Ok(mut entry) => {
                entry.declared_listen = declared;
                registry.insert(spec.name, entry);
            }
            Err(error) => {
                tracing::warn!(proxy = %spec.name, %error, "failed to restore proxy");
            }
        }
    }

    async fn rollback(&self, registry: &mut BTreeMap<String, Entry>, undo: Vec<Undo>) {
        for step in undo.into_iter().rev() {
            match step {
                Undo::Remove(name) => {
                    if let Some(entry) = registry.remove(&name) {
                        entry.proxy.shutdown().await;
                    }
                }
                Undo::Reinstate(old) => {
                    if let Some(entry) = registry.insert(old.proxy.name().to_owned(), old) {
                        entry.proxy.shutdown().await;
                    }
                }
                Undo::Restore(spec, declared) => {
                    if let Some(entry) = registry.remove(&spec.name) {
                        entry.proxy.shutdown().await;
                    }
                    self.restore(registry, spec, declared).await;
                }
            }
        }
    }
}

/// Finishes the steps of a request that succeeded: proxies replaced by one
/// on another address stop now.
async fn commit(steps: Vec<Undo>) {
    for step in steps {
        if let Undo::Reinstate(old) = step {
            old.proxy.shutdown().await;
        }
    }
}

/// Serves the API on `listener` until `shutdown` completes, then stops
/// every proxy.
pub async fn serve(
    listener: TcpListener,
    server: ProxyServer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let result = axum::serve(listener, server.router())
        .with_graceful_shutdown(shutdown)
        .await;
    server.shutdown().await;
    result
}

/// Reads a config file: Toxiproxy's populate format (a JSON array of
/// proxies) or, for a `.toml` file, `[[proxies]]` tables of the same
/// fields. Either may declare toxics:
///
/// ```toml
/// [[proxies]]
/// name = "redis"
/// listen = "127.0.0.1:26379"
/// upstream = "127.0.0.1:6379"
///
/// [[proxies.toxics]]
/// type = "latency"
/// stream = "downstream"
/// attributes = { latency = 100, jitter = 10 }
/// ```
pub fn load_config(path: &Path) -> Result<Vec<ProxySpec>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let parse_error = |message: String| ConfigError::Parse {
        path: path.to_owned(),
        message,
    };
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let value: Value = if is_toml {
        let table: toml::Table = toml::from_str(&text).map_err(|e| parse_error(e.to_string()))?;
        let mut table = serde_json::to_value(table).map_err(|e| parse_error(e.to_string()))?;
        let unknown: Vec<String> = table
            .as_object()
            .into_iter()
            .flat_map(|t| t.keys())
            .filter(|k| *k != "proxies")
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(parse_error(format!(
                "unknown key(s) {}; expected [[proxies]] tables",
                unknown.join(", ")
            )));
        }
        table
            .get_mut("proxies")
            .map(Value::take)
            .unwrap_or(Value::Array(Vec::new()))
    } else {
        serde_json::from_str(&text).map_err(|e| parse_error(e.to_string()))?
    };
    parse_proxies(value).map_err(|(index, name, source)| {
        let offset = locate(&text, is_toml, index, source.field());
        let (line, column) = line_column(&text, offset);
        ConfigError::Invalid {
            path: path.to_owned(),
            at: Box::new(ConfigSpot {
                line,
                column,
                proxy: if name.is_empty() {
                    format!("proxy {}", index + 1)
                } else {
                    format!("proxy {} ({name:?})", index + 1)
                },
                help: source.help(),
            }),
            source,
        }
    })
}

/// Where, as a byte offset, a config file declares its `index`-th proxy
/// (0-based), or `field` inside it (or inside one of its toxics): the
/// `[[proxies]]` header in TOML, the object in the top-level JSON array.
fn locate(text: &str, is_toml: bool, index: usize, field: Option<&str>) -> usize {
    let starts = if is_toml {
        toml_proxy_starts(text)
    } else {
        json_element_starts(text)
    };
    let Some(&start) = starts.get(index) else {
        return 0;
    };
    let end = starts.get(index + 1).copied().unwrap_or(text.len());
    let region = &text[start..end];
    let found = field.and_then(|field| {
        if is_toml {
            let mut at = 0;
            region.split_inclusive('\n').find_map(|line| {
                let line_start = at;
                at += line.len();
                let indent = line.len() - line.trim_start().len();
                let rest = line.trim_start().strip_prefix(field)?;
                rest.trim_start()
                    .starts_with('=')
                    .then_some(line_start + indent)
            })
        } else {
            region.find(&format!("\"{field}\""))
        }
    });
    start + found.unwrap_or(0)
}

/// Offsets of the `[[proxies]]` headers of a TOML config.
fn toml_proxy_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == "[[proxies]]" {
            starts.push(at + line.len() - line.trim_start().len());
        }
        at += line.len();
    }
    starts
}

/// Offsets of the objects directly inside the top-level JSON array.
fn json_element_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => {
                if depth == 1 && c == '{' {
                    starts.push(i);
                }
                depth += 1;
            }
            '}' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    starts
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Parses a `/populate` body (or a config file's proxies).
pub fn parse_populate(value: Value) -> Result<Vec<ProxySpec>, ApiError> {
    parse_proxies(value).map_err(|(index, name, error)| error.in_proxy(index + 1, &name))
}

/// Parses an array of proxies; a failure names the proxy (0-based index,
/// name) it is about.
fn parse_proxies(value: Value) -> Result<Vec<ProxySpec>, (usize, String, ApiError)> {
    let Value::Array(items) = value else {
        return Err((
            0,
            String::new(),
            ApiError::BadRequestBody("expected a JSON array of proxies".to_owned()),
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let name = item
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            parse_proxy(item).map_err(|e| (index, name, e))
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct RawProxy {
    #[serde(default)]
    name: String,
    #[serde(default)]
    listen: String,
    #[serde(default)]
    upstream: String,
    enabled: Option<bool>,
    #[serde(default)]
    toxics: Vec<Value>,
}

/// Parses one proxy declaration (`POST /proxies`, an entry of `/populate`).
pub fn parse_proxy(value: Value) -> Result<ProxySpec, ApiError> {
    let raw: RawProxy = serde_json::from_value(value).map_err(bad_body)?;
    if raw.name.is_empty() {
        return Err(ApiError::MissingField("name".to_owned()));
    }
    if raw.upstream.is_empty() {
        return Err(ApiError::MissingField("upstream".to_owned()));
    }
    check_host_port("upstream", &raw.upstream)?;
    if !raw.listen.is_empty() {
        check_host_port("listen", &raw.listen)?;
    }
    let mut toxics: Vec<Toxic> = Vec::new();
    for value in raw.toxics {
        let toxic = parse_toxic(value)?;
        if toxics.iter().any(|t| t.name == toxic.name) {
            return Err(ApiError::ToxicAlreadyExists);
        }
        toxics.push(toxic);
    }
    Ok(ProxySpec {
        name: raw.name,
        listen: raw.listen,
        upstream: raw.upstream,
        enabled: raw.enabled.unwrap_or(true),
        toxics,
    })
}

/// The toxic types, as Toxiproxy names them.
pub const TOXIC_TYPE_NAMES: &[&str] = &[
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
];

/// Each type's attributes with their unit and largest accepted value.
fn attributes_of(kind: &str) -> Option<&'static [(&'static str, Unit)]> {
    use Unit::{Bytes, KilobytesPerSecond, Micros, Millis};
    Some(match kind {
        "latency" => &[("latency", Millis), ("jitter", Millis)],
        "bandwidth" => &[("rate", KilobytesPerSecond)],
        "slow_close" => &[("delay", Millis)],
        "timeout" | "reset_peer" => &[("timeout", Millis)],
        "slicer" => &[
            ("average_size", Bytes),
            ("size_variation", Bytes),
            ("delay", Micros),
        ],
        "limit_data" => &[("bytes", Bytes)],
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    Millis,
    Micros,
    Bytes,
    KilobytesPerSecond,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Millis => "milliseconds",
            Unit::Micros => "microseconds",
            Unit::Bytes => "bytes",
            Unit::KilobytesPerSecond => "KB/s",
        }
    }

    fn max(self) -> u64 {
        match self {
            Unit::Millis => MAX_MILLIS,
            Unit::Micros => MAX_MILLIS * 1000,
            // 1 TB: more is a typo; also keeps byte counts far from overflow.
            Unit::Bytes | Unit::KilobytesPerSecond => 1 << 40,
        }
    }
}

/// Parses a toxic as Toxiproxy's `POST /proxies/{name}/toxics` takes it:
/// `stream` defaults to `downstream`, `toxicity` to 1, `name` to
/// `<type>_<stream>`, attributes to 0. Attributes must be integers in
/// range; unknown ones are refused (Toxiproxy ignores them).
pub fn parse_toxic(value: Value) -> Result<Toxic, ApiError> {
    let Value::Object(mut object) = value else {
        return Err(ApiError::BadRequestBody(
            "expected a JSON object for the toxic".to_owned(),
        ));
    };
    let text = |object: &Map<String, Value>, key: &str| -> Result<Option<String>, ApiError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ApiError::BadRequestBody(format!(
                "`{key}` must be a string, found {other}"
            ))),
        }
    };
    let name = text(&object, "name")?.unwrap_or_default();
    let stream = match text(&object, "stream")?.map(|s| s.to_ascii_lowercase()) {
        None => Stream::Downstream,
        Some(s) if s.is_empty() || s == "downstream" || s == "down" => Stream::Downstream,
        Some(s) if s == "upstream" || s == "up" => Stream::Upstream,
        Some(_) => return Err(ApiError::InvalidStream),
    };
    let type_name = text(&object, "type")?.unwrap_or_default();
    let Some(known) = attributes_of(&type_name) else {
        return Err(ApiError::InvalidToxicType(type_name));
    };
    let toxicity = match object.get("toxicity") {
        None | Some(Value::Null) => 1.0,
        Some(value) => match value.as_f64() {
            Some(t) if (0.0..=1.0).contains(&t) => t as f32,
            _ => {
                return Err(ApiError::BadRequestBody(format!(
                    "toxicity must be a number from 0.0 to 1.0, found {value}"
                )));
            }
        },
    };
    let attributes = match object.remove("attributes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(attributes)) => attributes,
        Some(other) => {
            return Err(ApiError::BadRequestBody(format!(
                "`attributes` must be an object, found {other}"
            )));
        }
    };
    let mut checked = Map::new();
    for (key, value) in attributes {
        let Some((_, unit)) = known.iter().find(|(k, _)| *k == key) else {
            let names: Vec<&str> = known.iter().map(|(k, _)| *k).collect();
            return Err(ApiError::BadRequestBody(format!(
                "unknown attribute `{key}` for a {type_name} toxic (expected {})",
                names.join(", ")
            )));
        };
        match value.as_u64() {
            Some(n) if n <= unit.max() => {}
            Some(n) => {
                return Err(ApiError::BadRequestBody(format!(
                    "attribute `{key}` = {n} is absurd: at most {} {}",
                    unit.max(),
                    unit.name()
                )));
            }
            None => {
                return Err(ApiError::BadRequestBody(format!(
                    "attribute `{key}` must be a non-negative integer ({}), found {value}",
                    unit.name()
                )));
            }
        }
        checked.insert(key, value);
    }
    let kind: ToxicKind = serde_json::from_value(serde_json::json!({
        "type": type_name,
        "attributes": checked,
    }))
    .map_err(bad_body)?;
    Ok(Toxic {
        name,
        stream,
        toxicity,
        kind,
    }
    .with_default_name())
}

/// Toxiproxy's toxic update: `attributes` given are merged into the
/// toxic's, `toxicity` replaces its own; name, type and stream stay.
fn merge_toxic(existing: &Toxic, body: Value) -> Result<Toxic, ApiError> {
    let Value::Object(body) = body else {
        return Err(ApiError::BadRequestBody(
            "expected a JSON object for the toxic".to_owned(),
        ));
    };
    let mut merged = serde_json::to_value(existing).map_err(bad_body)?;
    if let Some(toxicity) = body.get("toxicity") {
        merged["toxicity"] = toxicity.clone();
    }
    match body.get("attributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(attributes)) => {
            if let Some(current) = merged["attributes"].as_object_mut() {
                for (key, value) in attributes {
                    current.insert(key.clone(), value.clone());
                }
            }
        }
        Some(other) => {
            return Err(ApiError::BadRequestBody(format!(
                "`attributes` must be an object, found {other}"
            )));
        }
    }
    parse_toxic(merged)
}

fn check_host_port(field: &str, address: &str) -> Result<(), ApiError> {
    let port_ok = address
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    if port_ok {
        Ok(())
    } else {
        Err(ApiError::BadRequestBody(format!(
            "`{field}` must be host:port, found {address:?}"
        )))
    }
}

/// Resolves a listen address; no host means 127.0.0.1, and of a name's
/// addresses the first IPv4 one wins.
async fn resolve_listen(listen: &str) -> Result<SocketAddr, ApiError> {
    if listen.is_empty() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    }
    let address = match listen.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => listen.to_owned(),
    };
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host(address.as_str())
        .await
        .map_err(|error| {
            ApiError::BadRequestBody(format!(
                "failed to resolve listen address {listen:?}: {error}"
            ))
        })?
        .collect();
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| resolved.first())
        .copied()
        .ok_or_else(|| {
            ApiError::BadRequestBody(format!("listen address {listen:?} resolves to nothing"))
        })
}

fn proxy_error(error: ProxyError) -> ApiError {
    match error {
        ProxyError::Listen { addr, source } => ApiError::Listen {
            listen: addr.to_string(),
            reason: source.to_string(),
        },
        ProxyError::ToxicExists { .. } => ApiError::ToxicAlreadyExists,
        ProxyError::ToxicNotFound { .. } => ApiError::ToxicNotFound,
        ProxyError::InvalidToxic { reason, .. } => ApiError::BadRequestBody(reason),
        ProxyError::NoRuntime { .. } | ProxyError::ShutDown { .. } => {
            ApiError::BadRequestBody(error.to_string())
        }
    }
}

fn bad_body(error: serde_json::Error) -> ApiError {
    ApiError::BadRequestBody(error.to_string())
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequestBody("EOF".to_owned()));
    }
    serde_json::from_slice(body).map_err(bad_body)
}

fn json_body(value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// Toxiproxy refuses browsers, so a web page cannot drive a local proxy
/// (the API has no authentication).
async fn stop_browsers(request: Request, next: Next) -> Response {
    let browser = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok())
        .is_some_and(|agent| agent.starts_with("Mozilla/"));
    if browser {
        return (StatusCode::FORBIDDEN, "User agent not allowed\n").into_response();
    }
    next.run(request).await
}

type ApiResult = Result<Response, ApiError>;

async fn version() -> Response {
    let mut response = json_body(&serde_json::json!({ "version": VERSION }));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    response
}

async fn populate(State(server): State<ProxyServer>, body: Bytes) -> ApiResult {
    let specs = parse_populate(parse_body(&body)?)?;
    let proxies = server.populate(specs).await?;
    let mut response = json_body(&serde_json::json!({ "proxies": proxies }));
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

async fn reset(State(server): State<ProxyServer>) -> ApiResult {
    server.reset().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn proxy_index(State(server): State<ProxyServer>) -> Response {
    json_body(&server.proxies().await)
}

async fn proxy_create(State(server): State<ProxyServer>, body: Bytes) -> ApiResult {
    let spec = parse_proxy(parse_body(&body)?)?;
    let mut registry = server.registry.lock().await;
    if registry.contains_key(&spec.name) {
        return Err(ApiError::ProxyAlreadyExists);
    }
    let entry = server.start(&spec).await?;
    let view = entry.view();
    registry.insert(spec.name, entry);
    let mut response = json_body(&view);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

async fn proxy_show(
    State(server): State<ProxyServer>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult {
    let registry = server.registry.lock().await;
    let entry = registry.get(&name).ok_or(ApiError::ProxyNotFound)?;
    Ok(json_body(&entry.view()))
}

#[derive(Debug, Deserialize)]
struct RawProxyUpdate {
    listen: Option<String>,
    upstream: Option<String>,
    enabled: Option<bool>,
}

/// Toxiproxy's proxy update: fields not given keep their value; a new
/// listen or upstream restarts the proxy (open connections close, toxics
/// stay); `enabled` starts or stops it.
async fn proxy_update(
    State(server): State<ProxyServer>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> ApiResult {
    let mut registry = server.registry.lock().await;
    let entry = registry.get(&name).ok_or(ApiError::ProxyNotFound)?;
    let update: RawProxyUpdate = serde_json::from_value(parse_body(&body)?).map_err(bad_body)?;
    let current = entry.spec();
    let listen = update.listen.filter(|l| !l.is_empty());
    let upstream = update.upstream.filter(|u| !u.is_empty());
    if let Some(listen) = &listen {
        check_host_port("listen", listen)?;
    }
    if let Some(upstream) = &upstream {
        check_host_port("upstream", upstream)?;
    }
    let listen_changed = match &listen {
        Some(listen) => {
            *listen != entry.declared_listen
                && resolve_listen(listen).await? != entry.proxy.listen_addr()
        }
        None => false,
    };
    let upstream_changed = upstream.as_ref().is_some_and(|u| *u != current.upstream);
    let enabled = update.enabled.unwrap_or(current.enabled);
    if listen_changed || upstream_changed {
        // Without a new listen address it keeps its port, as in Toxiproxy.
        let spec = ProxySpec {
            name: name.clone(),
            listen: listen.unwrap_or(current.listen),
            upstream: upstream.unwrap_or(current.upstream),
            enabled,
            toxics: current.toxics,
        };
        let step = server.replace(&mut registry, &spec).await?;
        commit(vec![step]).await;
    } else if enabled != current.enabled {
        entry
            .proxy
            .set_enabled(enabled)
            .await
            .map_err(proxy_error)?;
    }
    let entry = registry.get(&name).ok_or(ApiError::ProxyNotFound)?;
    Ok(json_body(&entry.view()))
}

async fn proxy_delete(
    State(server): State<ProxyServer>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult {
    let entry = server
        .registry
        .lock()
        .await
        .remove(&name)
        .ok_or(ApiError::ProxyNotFound)?;
    entry.proxy.shutdown().await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn toxic_index(
    State(server): State<ProxyServer>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult {
    let registry = server.registry.lock().await;
    let entry = registry.get(&name).ok_or(ApiError::ProxyNotFound)?;
    Ok(json_body(&entry.view().toxics))
}

async fn toxic_create(
    State(server): State<ProxyServer>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> ApiResult {
    let registry = server.registry.lock().await;
    let entry = registry.get(&name).ok_or(ApiError::ProxyNotFound)?;
    let toxic = parse_toxic(parse_body(&body)?)?;
    let toxic = entry.proxy.add_toxic(toxic).map_err(proxy_error)?;
    Ok(json_body(&toxic))
}

async fn toxic_show(
    State(server): State<ProxyServer>,
    UrlPath((name, toxic)): UrlPath<(String, String)>,
) -> ApiResult {
    let registry = server.registry.lock().await;
    let entry = registry.get(&name).ok_or(ApiError::ProxyNotFound)?;
    let toxic = entry
        .proxy
        .toxics()
        .into_iter()
        .find(|t| t.name == toxic)
        .ok_or(ApiError::ToxicNotFound)?;
    Ok(json_body(&toxic))
}

async fn toxic_update(
    State(server): State<ProxyServer>,
    UrlPath((name, toxic)): UrlPath<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let registry = server.registry.lock().await;
    let entry = registry.get(&name).ok_or(ApiError::ProxyNotFound)?;
    let existing = entry
        .proxy
        .toxics()
        .into_iter()
        .find(|t| t.name == toxic)
        .ok_or(ApiError::ToxicNotFound)?;
    let updated = merge_toxic(&existing, parse_body(&body)?)?;
    let updated = entry
        .proxy
        .update_toxic(&toxic, updated)
        .map_err(proxy_error)?;
    Ok(json_body(&updated))
}

async fn toxic_delete(
    State(server): State<ProxyServer>,
    UrlPath((name, toxic)): UrlPath<(String, String)>,
) -> ApiResult {
    let registry = server.registry.lock().await;
    let entry = registry.get(&name).ok_or(ApiError::ProxyNotFound)?;
    entry.proxy.remove_toxic(&toxic).map_err(proxy_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn toxic_defaults_like_toxiproxy() -> TestResult {
        let toxic = parse_toxic(json!({"type": "latency", "attributes": {"latency": 100}}))?;
        assert_eq!(
            toxic,
            Toxic::new(
                ToxicKind::Latency {
                    latency: 100,
                    jitter: 0
                },
                Stream::Downstream
            )
        );
        let toxic = parse_toxic(
            json!({"type": "limit_data", "stream": "upstream", "toxicity": 0.5, "name": "cap"}),
        )?;
        assert_eq!(toxic.name, "cap");
        assert_eq!(toxic.stream, Stream::Upstream);
        assert_eq!(toxic.toxicity, 0.5);
        assert_eq!(toxic.kind, ToxicKind::LimitData { bytes: 0 });
        Ok(())
    }

    #[test]
    fn bad_toxics_are_rejected_with_toxiproxy_errors() {
        let cases = [
            (json!({"type": "latncy"}), "invalid toxic type: \"latncy\""),
            (
                json!({"type": "latency", "stream": "sideways"}),
                "stream was invalid",
            ),
            (
                json!({"type": "latency", "attributes": {"latency": -5}}),
                "must be a non-negative integer (milliseconds), found -5",
            ),
            (
                json!({"type": "latency", "attributes": {"latency": 1.5}}),
                "non-negative integer",
            ),
            (
                json!({"type": "latency", "attributes": {"latency": "100ms"}}),
                "non-negative integer",
            ),
            (
                json!({"type": "latency", "attributes": {"latency": 86_400_001}}),
                "is absurd: at most 86400000 milliseconds",
            ),
            (
                json!({"type": "latency", "attributes": {"latncy": 5}}),
                "unknown attribute `latncy` for a latency toxic (expected latency, jitter)",
            ),
            (
                json!({"type": "latency", "toxicity": 1.5}),
                "toxicity must be a number from 0.0 to 1.0",
            ),
            (
                json!({"type": "latency", "attributes": [1]}),
                "`attributes` must be an object",
            ),
            (json!([1]), "expected a JSON object"),
        ];
        for (body, message) in cases {
            let error = parse_toxic(body.clone()).expect_err("a bad toxic");
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{body}");
            assert!(error.to_string().contains(message), "{body}: {error}");
        }
    }

    #[test]
    fn update_merges_attributes_and_keeps_type_and_stream() -> TestResult {
        let existing = parse_toxic(
            json!({"type": "slicer", "stream": "upstream", "attributes": {"average_size": 64, "delay": 10}}),
        )?;
        let updated = merge_toxic(
            &existing,
            json!({"type": "latency", "stream": "downstream", "attributes": {"delay": 20}, "toxicity": 0.25}),
        )?;
        assert_eq!(updated.name, "slicer_upstream");
        assert_eq!(updated.stream, Stream::Upstream);
        assert_eq!(updated.toxicity, 0.25);
        assert_eq!(
            updated.kind,
            ToxicKind::Slicer {
                average_size: 64,
                size_variation: 0,
                delay: 20
            }
        );
        let error =
            merge_toxic(&existing, json!({"attributes": {"delay": -1}})).expect_err("negative");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        Ok(())
    }

    #[test]
    fn proxies_need_name_and_upstream() {
        let cases = [
            (
                json!([{"upstream": "127.0.0.1:1"}]),
                "missing required field: name at proxy 1",
            ),
            (
                json!([{"name": "a", "upstream": "127.0.0.1:1"}, {"name": "b"}]),
                "missing required field: upstream at proxy 2 (b)",
            ),
            (
                json!([{"name": "a", "upstream": "nowhere"}]),
                "`upstream` must be host:port",
            ),
            (
                json!([{"name": "a", "upstream": "h:1", "enabled": "yes"}]),
                "bad request body: invalid type",
            ),
            (json!({"name": "a"}), "expected a JSON array"),
            (
                json!([{"name": "a", "upstream": "h:1", "toxics": [{"type": "timeout"}, {"type": "timeout"}]}]),
                "toxic already exists",
            ),
        ];
        for (body, message) in cases {
            let error = parse_populate(body.clone()).expect_err("a bad proxy");
            assert!(error.to_string().contains(message), "{body}: {error}");
        }
    }

    #[test]
    fn config_files_declare_proxies_and_toxics() -> TestResult {
        let dir = tempfile::tempdir()?;
        let toml_path = dir.path().join("proxies.toml");
        std::fs::write(
            &toml_path,
            r#"
[[proxies]]
name = "redis"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:6379"

[[proxies.toxics]]
type = "latency"
attributes = { latency = 100, jitter = 10 }

[[proxies.toxics]]
type = "bandwidth"
stream = "upstream"
attributes = { rate = 64 }
"#,
        )?;
        let json_path = dir.path().join("proxies.json");
        std::fs::write(
            &json_path,
            r#"[{"name": "redis", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:6379",
                "toxics": [{"type": "latency", "attributes": {"latency": 100, "jitter": 10}},
                           {"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 64}}]}]"#,
        )?;
        let from_toml = load_config(&toml_path)?;
        assert_eq!(from_toml, load_config(&json_path)?);
        assert_eq!(from_toml.len(), 1);
        let names: Vec<&str> = from_toml[0]
            .toxics
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["latency_downstream", "bandwidth_upstream"]);

        std::fs::write(&toml_path, "[[proxy]]\nname = \"x\"\n")?;
        let error = load_config(&toml_path).expect_err("unknown table");
        assert!(
            error.to_string().contains("unknown key(s) proxy"),
            "{error}"
        );
        std::fs::write(&json_path, "[{\"name\": ")?;
        let error = load_config(&json_path).expect_err("malformed");
        assert!(
            error
                .to_string()
                .starts_with("failed to parse proxy config"),
            "{error}"
        );
        std::fs::write(
            &json_path,
            r#"[{"name": "a", "upstream": "h:1", "toxics": [{"type": "chaos"}]}]"#,
        )?;
        let error = load_config(&json_path).expect_err("unknown toxic type");
        assert!(
            error.to_string().contains("invalid toxic type: \"chaos\""),
            "{error}"
        );
        Ok(())
    }

    #[test]
    fn invalid_config_errors_name_line_column_and_fix() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let toml_path = dir.path().join("proxies.toml");
        std::fs::write(
            &toml_path,
            "[[proxies]]\nname = \"a\"\nupstream = \"h:1\"\n\n[[proxies]]\nname = \"b\"\nupstream = \"h:2\"\n\n[[proxies.toxics]]\ntype = \"latency\"\n  stream = \"sideways\"\n",
        )?;
        let error = load_config(&toml_path).expect_err("bad stream").to_string();
        assert!(
            error.contains("proxies.toml:11:3 (proxy 2 (\"b\"))"),
            "{error}"
        );
        assert!(
            error.contains("help: write stream = \"upstream\""),
            "{error}"
        );

        let json_path = dir.path().join("proxies.json");
        std::fs::write(
            &json_path,
            "[{\"name\": \"a\", \"upstream\": \"h:1\"},\n {\"name\": \"{[b\\\"\", \"listen\": \"127.0.0.1:0\",\n  \"upstream\": \"nowhere\"}]",
        )?;
        let error = load_config(&json_path)
            .expect_err("bad upstream")
            .to_string();
        assert!(error.contains("proxies.json:3:3 (proxy 2"), "{error}");
        assert!(error.contains("`upstream` must be host:port"), "{error}");

        std::fs::write(
            &toml_path,
            "[[proxies]]\nname = \"a\"\nupstream = \"h:1\"\n\n[[proxies]]\nlisten = \"127.0.0.1:0\"\n",
        )?;
        let error = load_config(&toml_path).expect_err("no name").to_string();
        assert!(error.contains("proxies.toml:5:1 (proxy 2)"), "{error}");
        assert!(error.contains("help: add `name` to this proxy"), "{error}");
        Ok(())
    }

    #[test]
    fn json_elements_are_found_past_brackets_in_strings() {
        let text = "[ {\"a\": \"[{\\\"\"}, {\"b\": [ {} ]} ]";
        let starts = json_element_starts(text);
        assert_eq!(starts.len(), 2, "{starts:?}");
        assert_eq!(&text[starts[1]..starts[1] + 4], "{\"b\"");
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }

    fn spec(name: &str, listen: &str, upstream: &str) -> ProxySpec {
        ProxySpec {
            name: name.to_owned(),
            listen: listen.to_owned(),
            upstream: upstream.to_owned(),
            enabled: true,
            toxics: Vec::new(),
        }
    }

    #[tokio::test]
    async fn populate_is_all_or_nothing() -> TestResult {
        let server = ProxyServer::new(0);
        let first = server
            .populate(vec![spec("kept", "127.0.0.1:0", "127.0.0.1:1")])
            .await?;
        let kept_listen = first[0].listen.clone();
        // A port in use makes the whole request fail; nothing changes.
        let busy = std::net::TcpListener::bind("127.0.0.1:0")?;
        let busy_addr = busy.local_addr()?.to_string();
        let mut replaced = spec("kept", "127.0.0.1:0", "127.0.0.1:2");
        replaced.toxics = vec![Toxic::new(
            ToxicKind::Timeout { timeout: 0 },
            Stream::Upstream,
        )];
        let error = server
            .populate(vec![
                spec("new", "127.0.0.1:0", "127.0.0.1:1"),
                replaced.clone(),
                spec("blocked", &busy_addr, "127.0.0.1:1"),
            ])
            .await
            .expect_err("the port is in use");
        assert_eq!(error.status(), StatusCode::CONFLICT);
        assert!(
            error
                .to_string()
                .starts_with(&format!("failed to listen on {busy_addr}")),
            "{error}"
        );
        let proxies = server.proxies().await;
        assert_eq!(proxies.keys().collect::<Vec<_>>(), ["kept"]);
        assert_eq!(proxies["kept"].listen, kept_listen);
        assert_eq!(proxies["kept"].upstream, "127.0.0.1:1");

        // The same declaration keeps the proxy (same port); a new upstream
        // replaces it, its declared toxics installed.
        let again = server
            .populate(vec![spec("kept", "127.0.0.1:0", "127.0.0.1:1")])
            .await?;
        assert_eq!(again[0].listen, kept_listen);
        let changed = server.populate(vec![replaced]).await?;
        assert_eq!(changed[0].upstream, "127.0.0.1:2");
        assert_eq!(changed[0].toxics.len(), 1);
        let error = server
            .populate(vec![spec("a", "", "h:1"), spec("a", "", "h:1")])
            .await
            .expect_err("duplicate");
        assert!(
            error.to_string().contains("duplicate proxy name \"a\""),
            "{error}"
        );
        server.reset().await?;
        assert!(server.proxies().await["kept"].toxics.is_empty());
        server.shutdown().await;
        assert!(server.proxies().await.is_empty());
        Ok(())
    }
}
