//! Pass 3: raw structs to the typed model, collecting every problem.
//!
//! Each section is checked even when another one is broken, with harmless
//! placeholders standing in for bad values; the placeholders never escape
//! because any recorded problem turns the result into an error.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::error::{Problems, did_you_mean};
use super::raw::{
    self, RawDrill, RawExpect, RawFault, RawProxy, RawScenario, RawService, RawSteady, RawToxic,
    RawValue, RawVariant, RawWorkload,
};
use super::{
    Check, ContainerFault, DURATION_HELP, Drill, Expect, Fault, FaultAction, Invariant,
    PgTransfers, ProxyDecl, Remedy, Scenario, Service, ServiceKind, Steady, Variant, Workload,
    WsStream, format_duration, parse_duration,
};
use crate::toxic::{Stream, Toxic, ToxicKind};

mod process;

const DEFAULT_DRILL_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_CLIENTS: i64 = 64;
const SERVICE_KINDS: [&str; 2] = ["ws-hub", "postgres"];
const WORKLOAD_KINDS: [&str; 5] = [
    WsStream::KIND,
    PgTransfers::KIND,
    process::PROCESS_KINDS[0],
    process::PROCESS_KINDS[1],
    process::PROCESS_KINDS[2],
];
const CONTAINER_FAULTS: [&str; 2] = ["pause", "kill"];
const MAX_WORKERS: i64 = 256;
const MAX_ACCOUNTS: i64 = 10_000;
const MAX_POOL_SIZE: i64 = 1_000;
const MAX_LEAK_SESSIONS: i64 = 1_000;
const STREAMS: [&str; 2] = ["upstream", "downstream"];

/// A `[workload]` key and its span when the file has it.
type KeySpan<'a> = (&'a str, Option<Range<usize>>);

/// When a fault is active: from `at` until `at + heal_after` (`None`: until
/// the run ends).
type Window = (Duration, Option<Duration>);

pub(crate) fn scenario(raw: RawScenario, path: &Path, problems: &mut Problems<'_>) -> Scenario {
    let mut c = Checker { problems };
    let drill = c.drill(raw.drill);
    let services = c.services(raw.services);
    let proxies = c.proxies(raw.proxies, &services);
    let (workload, workload_kind) = c.workload(raw.workload, &services, &proxies);
    let expect = c.expect(raw.expect);
    let variants = c.variants(raw.variants, workload_kind.as_deref(), &expect);
    let steady = c.steady(raw.steady);
    let faults = match workload_kind.as_deref() {
        Some(kind) if process::PROCESS_KINDS.contains(&kind) => {
            c.no_faults(raw.faults, kind);
            Vec::new()
        }
        _ => c.faults(raw.faults, &services, &proxies, drill.timeout),
    };
    Scenario {
        path: path.to_owned(),
        drill,
        services,
        proxies,
        workload,
        variants,
        steady,
        faults,
        expect: expect.value,
    }
}

/// `[expect]` plus which checks the file declares, valid or not, so that a
/// bad bound is reported once rather than again under every `caught_by`.
struct ExpectDecl {
    value: Expect,
    declared: BTreeSet<Check>,
}

struct Checker<'p, 's> {
    problems: &'p mut Problems<'s>,
}

impl Checker<'_, '_> {
    fn push(&mut self, span: Range<usize>, message: String, label: &str, help: impl Into<String>) {
        self.problems.push(span, message, label, Some(help.into()));
    }

    // ---- sections -------------------------------------------------------

    fn drill(&mut self, raw: Option<Spanned<RawDrill>>) -> Drill {
        let mut drill = Drill {
            name: String::new(),
            playbook: String::new(),
            description: String::new(),
            seed: 0,
            timeout: DEFAULT_DRILL_TIMEOUT,
        };
        let Some(raw) = raw else {
            self.push(
                0..0,
                "missing table [drill]".to_owned(),
                "expected [drill]",
                "add a [drill] table with name = \"...\" and playbook = \"...\"",
            );
            return drill;
        };
        let span = raw.span();
        let raw = raw.into_inner();
        let ctx = "[drill]";
        if let Some(name) = self.required(raw.name, "name", ctx, &span, "name = \"my-drill\"") {
            if !is_name(name.get_ref(), false) {
                self.push(
                    name.span(),
                    format!(
                        "drill name {:?} may use only lowercase letters, digits and `-`",
                        name.get_ref()
                    ),
                    "invalid name",
                    format!("write name = {:?}", slug(name.get_ref(), false)),
                );
            }
            drill.name = name.into_inner();
        }
        let playbook_help = "playbook = \"<the playbook entry this drill reproduces>\"";
        if let Some(playbook) = self.required(raw.playbook, "playbook", ctx, &span, playbook_help) {
            if playbook.get_ref().trim().is_empty() {
                self.push(
                    playbook.span(),
                    "`playbook` in [drill] is empty".to_owned(),
                    "empty",
                    format!("write {playbook_help}"),
                );
            }
            drill.playbook = playbook.into_inner();
        }
        drill.description = raw.description.map(Spanned::into_inner).unwrap_or_default();
        if let Some(seed) = raw.seed {
            match u64::try_from(*seed.get_ref()) {
                Ok(seed) => drill.seed = seed,
                Err(_) => self.push(
                    seed.span(),
                    format!("`seed` in [drill] is negative ({})", seed.get_ref()),
                    "negative",
                    "use a seed of 0 or more",
                ),
            }
        }
        drill.timeout = self
            .duration(
                raw.timeout.as_ref(),
                "timeout",
                ctx,
                DEFAULT_DRILL_TIMEOUT,
                true,
            )
            .0;
        drill
    }

    fn services(
        &mut self,
        raw: BTreeMap<String, Spanned<RawService>>,
    ) -> BTreeMap<String, Service> {
        let mut services = BTreeMap::new();
        for (name, table) in raw {
            let span = table.span();
            let table = table.into_inner();
            let ctx = format!("[services.{name}]");
            self.check_name(&name, "service", &span);
            let max_connections = table.max_connections.and_then(|max| {
                match u32::try_from(*max.get_ref()) {
                    Ok(n) if n >= 1 => Some(Spanned::new(max.span(), n)),
                    _ => {
                        self.push(
                            max.span(),
                            format!("`max_connections` in {ctx} must be at least 1 (found {})", max.get_ref()),
                            "out of range",
                            "set max_connections to 1 or more, or remove it to keep Postgres' default",
                        );
                        None
                    }
                }
            });
            let kind_help = "kind = \"ws-hub\" or kind = \"postgres\"";
            let kind = match self.required(table.kind, "kind", &ctx, &span, kind_help) {
                None => ServiceKind::WsHub,
                Some(kind) => {
                    match kind.get_ref().as_str() {
                        "postgres" => ServiceKind::Postgres {
                            max_connections: max_connections.map(Spanned::into_inner),
                        },
                        "ws-hub" => {
                            if let Some(max) = &max_connections {
                                self.push(
                                max.span(),
                                format!("`max_connections` in {ctx} applies only to postgres services"),
                                "not a postgres service",
                                "remove max_connections, or use kind = \"postgres\"",
                            );
                            }
                            ServiceKind::WsHub
                        }
                        other => {
                            self.unknown_name(
                                &kind.span(),
                                other,
                                "service kind",
                                &ctx,
                                &SERVICE_KINDS,
                            );
                            ServiceKind::WsHub
                        }
                    }
                }
            };
            services.insert(name.clone(), Service { name, kind });
        }
        services
    }

    fn proxies(
        &mut self,
        raw: BTreeMap<String, Spanned<RawProxy>>,
        services: &BTreeMap<String, Service>,
    ) -> BTreeMap<String, ProxyDecl> {
        let mut proxies = BTreeMap::new();
        for (name, table) in raw {
            let span = table.span();
            let table: RawProxy = table.into_inner();
            let ctx = format!("[proxies.{name}]");
            self.check_name(&name, "proxy", &span);
            let mut upstream = String::new();
            let help = format!(
                "upstream = \"<service>\" ({})",
                declared_list("services", services)
            );
            if let Some(value) = self.required(table.upstream, "upstream", &ctx, &span, &help) {
                if !services.contains_key(value.get_ref()) {
                    let help = reference_help(value.get_ref(), "service", services, None);
                    self.push(
                        value.span(),
                        format!(
                            "`upstream` in {ctx} names no declared service: {:?}",
                            value.get_ref()
                        ),
                        "unknown service",
                        help,
                    );
                }
                upstream = value.into_inner();
            }
            proxies.insert(name.clone(), ProxyDecl { name, upstream });
        }
        proxies
    }

    /// The workload and its `kind` when that is a known kind (variants are
    /// checked against it).
    fn workload(
        &mut self,
        raw: Option<Spanned<RawWorkload>>,
        services: &BTreeMap<String, Service>,
        proxies: &BTreeMap<String, ProxyDecl>,
    ) -> (Workload, Option<String>) {
        let Some(raw) = raw else {
            self.push(
                0..0,
                "missing table [workload]".to_owned(),
                "expected [workload]",
                "add a [workload] table with kind = \"ws-stream\" and target = \"<proxy>\"",
            );
            return (
                Workload::WsStream(self.ws_stream(None, services, proxies)),
                None,
            );
        };
        let span = raw.span();
        let mut raw = raw.into_inner();
        let ctx = "[workload]";
        let kind = match self.required(raw.kind.take(), "kind", ctx, &span, "kind = \"ws-stream\"")
        {
            Some(kind) if WORKLOAD_KINDS.contains(&kind.get_ref().as_str()) => {
                Some(kind.into_inner())
            }
            Some(kind) => {
                self.unknown_name(
                    &kind.span(),
                    kind.get_ref(),
                    "workload kind",
                    ctx,
                    &WORKLOAD_KINDS,
                );
                None
            }
            None => None,
        };
        if let Some(process_kind) = kind
            .as_deref()
            .filter(|k| process::PROCESS_KINDS.contains(k))
        {
            let workload = self.process_workload(process_kind, span, raw);
            return (workload, kind);
        }
        if let Some(kind) = &kind {
            self.process_keys_misplaced(&raw, kind);
        }
        if kind.as_deref() == Some(PgTransfers::KIND) {
            self.keys_of_other_kind(&raw, PgTransfers::KIND);
            let transfers = self.pg_transfers(span, raw, services, proxies);
            return (Workload::PgTransfers(transfers), kind);
        }
        if kind.is_some() {
            self.keys_of_other_kind(&raw, WsStream::KIND);
        }
        let stream = self.ws_stream(Some((span, raw)), services, proxies);
        (Workload::WsStream(stream), kind)
    }

    /// Keys of `[workload]` that belong to another workload kind than `kind`
    /// (pass 1 knows every kind's keys, so this is where they are caught).
    fn keys_of_other_kind(&mut self, raw: &RawWorkload, kind: &str) {
        let ws_only = [
            ("clients", raw.clients.as_ref().map(Spanned::span)),
            ("send_every", raw.send_every.as_ref().map(Spanned::span)),
            ("heartbeat", raw.heartbeat.as_ref().map(Spanned::span)),
            (
                "pong_deadline",
                raw.pong_deadline.as_ref().map(Spanned::span),
            ),
            ("max_attempts", raw.max_attempts.as_ref().map(Spanned::span)),
        ];
        let pg_only = [
            ("accounts", raw.accounts.as_ref().map(Spanned::span)),
            ("workers", raw.workers.as_ref().map(Spanned::span)),
            (
                "transfer_every",
                raw.transfer_every.as_ref().map(Spanned::span),
            ),
            ("pool_size", raw.pool_size.as_ref().map(Spanned::span)),
            (
                "acquire_timeout",
                raw.acquire_timeout.as_ref().map(Spanned::span),
            ),
            (
                "transfer_timeout",
                raw.transfer_timeout.as_ref().map(Spanned::span),
            ),
            ("retry_budget", raw.retry_budget.as_ref().map(Spanned::span)),
            (
                "idle_threshold",
                raw.idle_threshold.as_ref().map(Spanned::span),
            ),
            ("max_lifetime", raw.max_lifetime.as_ref().map(Spanned::span)),
        ];
        let (foreign, own): (&[KeySpan<'_>], &[&str]) = if kind == PgTransfers::KIND {
            (
                &ws_only,
                &[
                    "target",
                    "accounts",
                    "workers",
                    "transfer_every",
                    "pool_size",
                    "acquire_timeout",
                    "transfer_timeout",
                    "backoff_base",
                    "backoff_max",
                    "retry_budget",
                    "connect_timeout",
                    "idle_threshold",
                    "max_lifetime",
                ],
            )
        } else {
            (
                &pg_only,
                &[
                    "target",
                    "clients",
                    "send_every",
                    "heartbeat",
                    "pong_deadline",
                    "backoff_base",
                    "backoff_max",
                    "connect_timeout",
                    "max_attempts",
                ],
            )
        };
        for (key, span) in foreign {
            if let Some(span) = span {
                self.push(
                    span.clone(),
                    format!("`{key}` in [workload] does not apply to workload kind {kind:?}"),
                    "another workload's key",
                    format!("remove `{key}`; {kind} takes: {}", own.join(", ")),
                );
            }
        }
    }

    fn pg_transfers(
        &mut self,
        span: Range<usize>,
        raw: RawWorkload,
        services: &BTreeMap<String, Service>,
        proxies: &BTreeMap<String, ProxyDecl>,
    ) -> PgTransfers {
        let ctx = "[workload]";
        let mut pg = PgTransfers {
            target: String::new(),
            accounts: 10,
            workers: 8,
            transfer_every: Duration::from_millis(20),
            pool_size: 10,
            acquire_timeout: Duration::from_secs(2),
            transfer_timeout: Duration::from_secs(2),
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_millis(500),
            retry_budget: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            idle_threshold: Duration::from_secs(1),
            max_lifetime: Duration::from_secs(30 * 60),
        };
        let help = format!(
            "target = \"<proxy>\" ({})",
            declared_list("proxies", proxies)
        );
        if let Some(target) = self.required(raw.target, "target", ctx, &span, &help) {
            self.proxy_reference(&target, "`target` in [workload]", services, proxies);
            let upstream = proxies
                .get(target.get_ref())
                .and_then(|proxy| services.get(&proxy.upstream));
            if let Some(service) = upstream
                && !matches!(service.kind, ServiceKind::Postgres { .. })
            {
                self.push(
                    target.span(),
                    format!(
                        "`target` in [workload]: proxy {:?} forwards to {} service {:?}, not Postgres",
                        target.get_ref(),
                        service.kind.as_str(),
                        service.name
                    ),
                    "not postgres behind this proxy",
                    "pg-transfers workers need a postgres service: target a proxy whose upstream has kind = \"postgres\"",
                );
            }
            pg.target = target.into_inner();
        }
        for (value, key, max, slot) in [
            (raw.accounts, "accounts", MAX_ACCOUNTS, &mut pg.accounts),
            (raw.workers, "workers", MAX_WORKERS, &mut pg.workers),
            (raw.pool_size, "pool_size", MAX_POOL_SIZE, &mut pg.pool_size),
        ] {
            let Some(value) = value else { continue };
            let min = if key == "accounts" { 2 } else { 1 };
            match u32::try_from(*value.get_ref()) {
                Ok(n) if (min..=max).contains(&i64::from(n)) => *slot = n,
                _ => self.push(
                    value.span(),
                    format!(
                        "`{key}` in [workload] must be {min}..={max} (found {})",
                        value.get_ref()
                    ),
                    "out of range",
                    format!("set {key} to a number from {min} to {max}"),
                ),
            }
        }
        for (value, key, slot) in [
            (
                &raw.transfer_every,
                "transfer_every",
                &mut pg.transfer_every,
            ),
            (
                &raw.acquire_timeout,
                "acquire_timeout",
                &mut pg.acquire_timeout,
            ),
            (
                &raw.transfer_timeout,
                "transfer_timeout",
                &mut pg.transfer_timeout,
            ),
            (&raw.retry_budget, "retry_budget", &mut pg.retry_budget),
            (
                &raw.connect_timeout,
                "connect_timeout",
                &mut pg.connect_timeout,
            ),
            (
                &raw.idle_threshold,
                "idle_threshold",
                &mut pg.idle_threshold,
            ),
            (&raw.max_lifetime, "max_lifetime", &mut pg.max_lifetime),
        ] {
            *slot = self.duration(value.as_ref(), key, ctx, *slot, true).0;
        }
        let (base, base_span) = self.duration(
            raw.backoff_base.as_ref(),
            "backoff_base",
            ctx,
            pg.backoff_base,
            true,
        );
        let (max, max_span) = self.duration(
            raw.backoff_max.as_ref(),
            "backoff_max",
            ctx,
            pg.backoff_max,
            false,
        );
        if base > max {
            self.push(
                max_span.or(base_span).unwrap_or(span),
                format!(
                    "`backoff_base` ({}) is greater than `backoff_max` ({}) in [workload]",
                    format_duration(base),
                    format_duration(max)
                ),
                "backoff_max below backoff_base",
                format!(
                    "raise backoff_max to at least {} or lower backoff_base (defaults: 20ms and 500ms)",
                    format_duration(base)
                ),
            );
        }
        pg.backoff_base = base;
        pg.backoff_max = max;
        pg
    }

    fn ws_stream(
        &mut self,
        raw: Option<(Range<usize>, RawWorkload)>,
        services: &BTreeMap<String, Service>,
        proxies: &BTreeMap<String, ProxyDecl>,
    ) -> WsStream {
        let ctx = "[workload]";
        let mut stream = WsStream {
            target: String::new(),
            clients: 4,
            send_every: Duration::from_millis(50),
            heartbeat: Duration::from_secs(1),
            pong_deadline: Duration::from_secs(3),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_attempts: None,
        };
        let Some((span, raw)) = raw else {
            return stream;
        };
        let help = format!(
            "target = \"<proxy>\" ({})",
            declared_list("proxies", proxies)
        );
        if let Some(target) = self.required(raw.target, "target", ctx, &span, &help) {
            self.proxy_reference(&target, "`target` in [workload]", services, proxies);
            let upstream = proxies
                .get(target.get_ref())
                .and_then(|proxy| services.get(&proxy.upstream));
            if let Some(service) = upstream
                && service.kind != ServiceKind::WsHub
            {
                self.push(
                    target.span(),
                    format!(
                        "`target` in [workload]: proxy {:?} forwards to {} service {:?}, not a WebSocket hub",
                        target.get_ref(),
                        service.kind.as_str(),
                        service.name
                    ),
                    "not a ws-hub behind this proxy",
                    "ws-stream clients need a ws-hub service: target a proxy whose upstream has kind = \"ws-hub\"",
                );
            }
            stream.target = target.into_inner();
        }
        if let Some(clients) = raw.clients {
            match u32::try_from(*clients.get_ref()) {
                Ok(n) if (1..=MAX_CLIENTS).contains(&i64::from(n)) => stream.clients = n,
                _ => self.push(
                    clients.span(),
                    format!(
                        "`clients` in [workload] must be 1..={MAX_CLIENTS} (found {})",
                        clients.get_ref()
                    ),
                    "out of range",
                    format!("set clients to a number from 1 to {MAX_CLIENTS}"),
                ),
            }
        }
        stream.send_every = self
            .duration(
                raw.send_every.as_ref(),
                "send_every",
                ctx,
                stream.send_every,
                true,
            )
            .0;
        stream.heartbeat = self
            .duration(
                raw.heartbeat.as_ref(),
                "heartbeat",
                ctx,
                stream.heartbeat,
                true,
            )
            .0;
        stream.pong_deadline = self
            .duration(
                raw.pong_deadline.as_ref(),
                "pong_deadline",
                ctx,
                stream.pong_deadline,
                true,
            )
            .0;
        let (base, base_span) = self.duration(
            raw.backoff_base.as_ref(),
            "backoff_base",
            ctx,
            stream.backoff_base,
            true,
        );
        let (max, max_span) = self.duration(
            raw.backoff_max.as_ref(),
            "backoff_max",
            ctx,
            stream.backoff_max,
            false,
        );
        if base > max {
            let span = max_span.or(base_span).unwrap_or(span);
            self.push(
                span,
                format!(
                    "`backoff_base` ({}) is greater than `backoff_max` ({}) in [workload]",
                    format_duration(base),
                    format_duration(max)
                ),
                "backoff_max below backoff_base",
                format!(
                    "raise backoff_max to at least {} or lower backoff_base (defaults: 100ms and 5s)",
                    format_duration(base)
                ),
            );
        }
        stream.backoff_base = base;
        stream.backoff_max = max;
        stream.connect_timeout = self
            .duration(
                raw.connect_timeout.as_ref(),
                "connect_timeout",
                ctx,
                stream.connect_timeout,
                true,
            )
            .0;
        if let Some(attempts) = raw.max_attempts {
            match u32::try_from(*attempts.get_ref()) {
                Ok(0) => stream.max_attempts = None,
                Ok(n) => stream.max_attempts = Some(n),
                Err(_) => self.push(
                    attempts.span(),
                    format!(
                        "`max_attempts` in [workload] is out of range (found {})",
                        attempts.get_ref()
                    ),
                    "out of range",
                    "use 0 for unbounded, or a positive number of attempts",
                ),
            }
        }
        stream
    }

    fn expect(&mut self, raw: Option<Spanned<RawExpect>>) -> ExpectDecl {
        let mut decl = ExpectDecl {
            value: Expect::default(),
            declared: BTreeSet::new(),
        };
        let Some(raw) = raw else {
            return decl;
        };
        let raw = raw.into_inner();
        let ctx = "[expect]";
        for (value, key, check, slot) in [
            (
                &raw.detect_within,
                "detect_within",
                Check::DetectWithin,
                &mut decl.value.detect_within,
            ),
            (
                &raw.recover_within,
                "recover_within",
                Check::RecoverWithin,
                &mut decl.value.recover_within,
            ),
        ] {
            if value.is_some() {
                decl.declared.insert(check);
                *slot = Some(
                    self.duration(value.as_ref(), key, ctx, Duration::ZERO, true)
                        .0,
                );
            }
        }
        if let Some(list) = raw.invariants {
            let names: Vec<&str> = Invariant::ALL.iter().map(Invariant::as_str).collect();
            for entry in list.into_inner() {
                let Some(invariant) = Invariant::from_name(entry.get_ref()) else {
                    self.unknown_name(
                        &entry.span(),
                        entry.get_ref(),
                        "invariant",
                        "[expect] invariants",
                        &names,
                    );
                    continue;
                };
                if decl.value.invariants.contains(&invariant) {
                    self.push(
                        entry.span(),
                        format!(
                            "invariant {:?} is listed twice in [expect]",
                            invariant.as_str()
                        ),
                        "repeated",
                        "remove the repeated entry",
                    );
                    continue;
                }
                decl.declared.insert(Check::Invariant(invariant));
                decl.value.invariants.push(invariant);
            }
        }
        if let Some(snapshot) = raw.snapshot {
            decl.value.snapshot = snapshot.into_inner();
        }
        decl
    }

    fn variants(
        &mut self,
        raw: Option<Spanned<Vec<Spanned<RawVariant>>>>,
        workload_kind: Option<&str>,
        expect: &ExpectDecl,
    ) -> Vec<Variant> {
        let example = "[[variants]]\nremedy = \"ws-client\"";
        let (list_span, list) = match raw {
            Some(list) => (list.span(), list.into_inner()),
            None => (0..0, Vec::new()),
        };
        if list.is_empty() {
            self.push(
                list_span,
                "the scenario has no [[variants]]".to_owned(),
                "no variants",
                format!("add at least one variant:\n{example}"),
            );
        }
        let remedies: Vec<&str> = Remedy::ALL.iter().map(Remedy::as_str).collect();
        let mut seen = BTreeSet::new();
        let mut variants = Vec::new();
        for table in list {
            let span = table.span();
            let table: RawVariant = table.into_inner();
            let ctx = "[[variants]]";
            let help = "remedy = \"ws-client\" or remedy = \"ws-client-naive\"";
            let remedy = self.required(table.remedy, "remedy", ctx, &span, help);
            let parsed = remedy.as_ref().and_then(|r| {
                let found = Remedy::from_name(r.get_ref());
                if found.is_none() {
                    self.unknown_name(&r.span(), r.get_ref(), "remedy", ctx, &remedies);
                }
                found
            });
            if let (Some(remedy), Some(parsed), Some(kind)) = (&remedy, parsed, workload_kind)
                && parsed.workload_kind() != kind
            {
                let suitable: Vec<&str> = Remedy::ALL
                    .iter()
                    .filter(|r| r.workload_kind() == kind)
                    .map(Remedy::as_str)
                    .collect();
                self.push(
                    remedy.span(),
                    format!(
                        "remedy {:?} does not suit workload kind {kind:?}",
                        parsed.as_str()
                    ),
                    "wrong workload",
                    format!("remedies for {kind}: {}", suitable.join(", ")),
                );
            }
            // The name: explicit, else the remedy's.
            let (name, name_span, defaulted) = match (table.name, &remedy) {
                (Some(name), _) => {
                    let span = name.span();
                    (name.into_inner(), span, false)
                }
                (None, Some(remedy)) => (remedy.get_ref().clone(), remedy.span(), true),
                (None, None) => (String::new(), span.clone(), true),
            };
            if !defaulted {
                self.check_name(&name, "variant", &name_span);
            }
            if !name.is_empty() && !seen.insert(name.clone()) {
                let help = if defaulted {
                    "a variant's name defaults to its remedy; add name = \"...\" to tell the variants apart"
                } else {
                    "give each variant a distinct name"
                };
                self.push(
                    name_span,
                    format!("duplicate variant name {name:?}"),
                    "duplicate name",
                    help,
                );
            }
            let caught_by = self.caught_by(table.caught_by, expect);
            variants.push(Variant {
                name,
                remedy: parsed.unwrap_or(Remedy::WsClient),
                caught_by,
            });
        }
        variants
    }

    fn caught_by(
        &mut self,
        raw: Option<Spanned<Vec<Spanned<String>>>>,
        expect: &ExpectDecl,
    ) -> Vec<Check> {
        let mut checks = Vec::new();
        for entry in raw.map(Spanned::into_inner).unwrap_or_default() {
            let Some(check) = Check::from_name(entry.get_ref()) else {
                self.unknown_name(
                    &entry.span(),
                    entry.get_ref(),
                    "check",
                    "caught_by",
                    &Check::names(),
                );
                continue;
            };
            if checks.contains(&check) {
                self.push(
                    entry.span(),
                    format!("caught_by lists {:?} twice", check.as_str()),
                    "repeated",
                    "remove the repeated entry",
                );
                continue;
            }
            if !expect.declared.contains(&check) {
                let declare = match check {
                    Check::DetectWithin => "add detect_within = \"1s\" to [expect]".to_owned(),
                    Check::RecoverWithin => "add recover_within = \"2s\" to [expect]".to_owned(),
                    Check::Invariant(i) => {
                        format!("add {:?} to invariants in [expect]", i.as_str())
                    }
                };
                self.push(
                    entry.span(),
                    format!(
                        "caught_by {:?} is impossible: the check is not measured",
                        check.as_str()
                    ),
                    "not declared in [expect]",
                    format!("{declare}, or remove it from caught_by"),
                );
            }
            checks.push(check);
        }
        checks
    }

    fn steady(&mut self, raw: Option<Spanned<RawSteady>>) -> Steady {
        let mut steady = Steady::default();
        let Some(raw) = raw else {
            return steady;
        };
        let raw = raw.into_inner();
        let ctx = "[steady]";
        steady.probe_every = self
            .duration(
                raw.probe_every.as_ref(),
                "probe_every",
                ctx,
                steady.probe_every,
                true,
            )
            .0;
        steady.timeout = self
            .duration(raw.timeout.as_ref(), "timeout", ctx, steady.timeout, true)
            .0;
        if let Some(consecutive) = raw.consecutive {
            match u32::try_from(*consecutive.get_ref()) {
                Ok(n) if n >= 1 => steady.consecutive = n,
                _ => self.push(
                    consecutive.span(),
                    format!(
                        "`consecutive` in [steady] must be at least 1 (found {})",
                        consecutive.get_ref()
                    ),
                    "out of range",
                    "set consecutive to 1 or more (default 3)",
                ),
            }
        }
        steady
    }

    fn faults(
        &mut self,
        raw: Option<Spanned<Vec<Spanned<RawFault>>>>,
        services: &BTreeMap<String, Service>,
        proxies: &BTreeMap<String, ProxyDecl>,
        drill_timeout: Duration,
    ) -> Vec<Fault> {
        let (list_span, list) = match raw {
            Some(list) => (list.span(), list.into_inner()),
            None => (0..0, Vec::new()),
        };
        if list.is_empty() {
            self.push(
                list_span,
                "the scenario has no [[faults]]".to_owned(),
                "no faults",
                "add at least one fault:\n[[faults]]\nat = \"1s\"\nproxy = \"<proxy>\"\ndown = true",
            );
        }
        let mut faults: Vec<Fault> = Vec::new();
        // (proxy, toxic name or "down") -> active windows so far, to catch
        // two faults Toxiproxy could not hold at once.
        let mut windows: BTreeMap<(String, Option<String>), Vec<Window>> = BTreeMap::new();
        let mut service_windows: BTreeMap<String, Vec<Window>> = BTreeMap::new();
        for table in list {
            let span = table.span();
            let table: RawFault = table.into_inner();
            let ctx = "[[faults]]";
            let at = self
                .required(table.at, "at", ctx, &span, "at = \"1s\"")
                .and_then(|at| {
                    let before = self.problems.len();
                    let (at, at_span) = self.duration(Some(&at), "at", ctx, Duration::ZERO, false);
                    // A broken `at` would only cause follow-on noise below.
                    (self.problems.len() == before).then_some((at, at_span))
                });
            if table.service.is_some() || table.container.is_some() || table.leak_sessions.is_some()
            {
                let heal = self.optional_duration(table.heal_after.as_ref(), "heal_after", ctx);
                let at_value = at.as_ref().map(|(at, _)| *at);
                if let Some(action) =
                    self.service_fault(RawFault { at: None, ..table }, &span, services)
                {
                    if let Some(at) = at_value {
                        let until = heal.as_ref().and_then(|h| at.checked_add(*h.get_ref()));
                        if let (Some(h), Some(end)) = (&heal, until)
                            && end > drill_timeout
                        {
                            self.push(
                                h.span(),
                                format!(
                                    "fault ends after the drill timeout: at + heal_after = {}, but [drill] timeout = {}",
                                    format_duration(end),
                                    format_duration(drill_timeout)
                                ),
                                "ends after the drill timeout",
                                "raise timeout in [drill], or heal the fault sooner",
                            );
                        }
                        let key = match &action {
                            FaultAction::Container { service, .. } => {
                                Some(format!("container {service}"))
                            }
                            FaultAction::IdleLeak { service, .. } => {
                                Some(format!("leak {service}"))
                            }
                            _ => None,
                        };
                        if let Some(key) = key {
                            let earlier = service_windows.entry(key).or_default();
                            if earlier.iter().any(|(start, end)| {
                                until.is_none_or(|until| *start < until)
                                    && end.is_none_or(|end| at < end)
                            }) {
                                self.push(
                                    span.clone(),
                                    "this fault acts on a service while an earlier fault of the same kind on it is still active".to_owned(),
                                    "overlaps an earlier fault",
                                    "heal the earlier fault before this one starts",
                                );
                            }
                            earlier.push((at, until));
                        }
                    }
                    faults.push(Fault {
                        at: at_value.unwrap_or_default(),
                        heal_after: heal.map(Spanned::into_inner),
                        proxy: String::new(),
                        action,
                    });
                }
                continue;
            }
            let help = format!(
                "proxy = \"<proxy>\" ({})",
                declared_list("proxies", proxies)
            );
            let proxy = self.required(table.proxy, "proxy", ctx, &span, &help);
            if let Some(proxy) = &proxy {
                self.proxy_reference(proxy, "`proxy` in [[faults]]", services, proxies);
            }
            let heal = self.optional_duration(table.heal_after.as_ref(), "heal_after", ctx);
            let action = self.fault_action(table.toxic, table.down, &span);

            if let Some((at, at_span)) = at.clone() {
                let end = heal
                    .as_ref()
                    .map_or(Some(at), |h| at.checked_add(*h.get_ref()));
                if end.is_none_or(|end| end > drill_timeout) {
                    let end_text = end.map_or_else(|| "forever".to_owned(), format_duration);
                    let (span, what) = match &heal {
                        Some(h) => (h.span(), "ends after the drill timeout: at + heal_after"),
                        None => (
                            at_span.unwrap_or(span.clone()),
                            "starts after the drill timeout: at",
                        ),
                    };
                    self.push(
                        span,
                        format!(
                            "fault {what} = {end_text}, but [drill] timeout = {}",
                            format_duration(drill_timeout)
                        ),
                        "ends after the drill timeout",
                        format!(
                            "raise timeout in [drill] to more than {end_text}, or move the fault earlier / heal it sooner"
                        ),
                    );
                }
                if let (Some(proxy), Some((action, action_span))) = (&proxy, &action) {
                    // `None` stands for `down`, which no toxic name can equal.
                    let key = match action {
                        FaultAction::ProxyDown => None,
                        FaultAction::Toxic(toxic) => Some(toxic.name.clone()),
                        // `fault_action` returns only proxy actions.
                        FaultAction::Container { .. } | FaultAction::IdleLeak { .. } => None,
                    };
                    let until = heal.as_ref().and_then(|h| at.checked_add(*h.get_ref()));
                    let earlier = windows
                        .entry((proxy.get_ref().clone(), key.clone()))
                        .or_default();
                    let overlaps = earlier.iter().any(|(start, end)| {
                        until.is_none_or(|until| *start < until) && end.is_none_or(|end| at < end)
                    });
                    if overlaps {
                        let (what, help) = match &key {
                            None => (
                                "takes the proxy down while an earlier `down` fault is still active".to_owned(),
                                "heal the earlier fault before this one starts, or merge the two",
                            ),
                            Some(key) => (
                                format!(
                                    "adds toxic {key:?} while an earlier toxic of that name is still active"
                                ),
                                "give one of the toxics a distinct name = \"...\", or heal the earlier one before this one starts",
                            ),
                        };
                        self.push(
                            action_span.clone(),
                            format!("fault on proxy {:?} {what}", proxy.get_ref()),
                            "overlaps an earlier fault",
                            help,
                        );
                    }
                    earlier.push((at, until));
                }
            }
            faults.push(Fault {
                at: at.map(|(at, _)| at).unwrap_or_default(),
                heal_after: heal.map(Spanned::into_inner),
                proxy: proxy.map(Spanned::into_inner).unwrap_or_default(),
                action: action.map_or(FaultAction::ProxyDown, |(action, _)| action),
            });
        }
        faults
    }

    /// A fault on a service (`service` with `container` or `leak_sessions`):
    /// no proxy, toxic or `down` alongside.
    fn service_fault(
        &mut self,
        table: RawFault,
        span: &Range<usize>,
        services: &BTreeMap<String, Service>,
    ) -> Option<FaultAction> {
        let ctx = "[[faults]]";
        let mut ok = true;
        for (key, other) in [
            ("proxy", table.proxy.as_ref().map(Spanned::span)),
            ("toxic", table.toxic.as_ref().map(Spanned::span)),
            ("down", table.down.as_ref().map(Spanned::span)),
        ] {
            if let Some(other) = other {
                self.push(
                    other,
                    format!("a fault on a service (`service` with `container` or `leak_sessions`) cannot also have `{key}`"),
                    "one fault, one action",
                    "split them into two [[faults]]: one on the service, one on the proxy",
                );
                ok = false;
            }
        }
        let help = format!(
            "service = \"<service>\" ({})",
            declared_list("services", services)
        );
        let service = self.required(table.service, "service", ctx, span, &help)?;
        let declared = services.get(service.get_ref());
        if declared.is_none() {
            self.push(
                service.span(),
                format!(
                    "`service` in [[faults]] names no declared service: {:?}",
                    service.get_ref()
                ),
                "unknown service",
                reference_help(service.get_ref(), "service", services, None),
            );
            ok = false;
        }
        let action = match (table.container, table.leak_sessions) {
            (Some(_), Some(leak)) => {
                self.push(
                    leak.span(),
                    "a fault has both `container` and `leak_sessions`".to_owned(),
                    "one fault, one action",
                    "keep one: split them into two [[faults]] if you want both",
                );
                return None;
            }
            (None, None) => {
                self.push(
                    service.span(),
                    "a fault on a service needs `container` or `leak_sessions`".to_owned(),
                    "no action",
                    "add container = \"pause\" (or \"kill\"), or leak_sessions = 20",
                );
                return None;
            }
            (Some(container), None) => {
                let action = match container.get_ref().as_str() {
                    "pause" => ContainerFault::Pause,
                    "kill" => ContainerFault::Kill,
                    other => {
                        self.unknown_name(
                            &container.span(),
                            other,
                            "container fault",
                            ctx,
                            &CONTAINER_FAULTS,
                        );
                        return None;
                    }
                };
                FaultAction::Container {
                    service: service.get_ref().clone(),
                    action,
                }
            }
            (None, Some(leak)) => {
                if let Some(declared) = declared
                    && !matches!(declared.kind, ServiceKind::Postgres { .. })
                {
                    self.push(
                        service.span(),
                        format!(
                            "`leak_sessions` needs a postgres service; {:?} is a {} service",
                            declared.name,
                            declared.kind.as_str()
                        ),
                        "not a postgres service",
                        "name a service with kind = \"postgres\"",
                    );
                    ok = false;
                }
                match u32::try_from(*leak.get_ref()) {
                    Ok(n) if (1..=MAX_LEAK_SESSIONS).contains(&i64::from(n)) => {
                        FaultAction::IdleLeak {
                            service: service.get_ref().clone(),
                            sessions: n,
                        }
                    }
                    _ => {
                        self.push(
                            leak.span(),
                            format!(
                                "`leak_sessions` in [[faults]] must be 1..={MAX_LEAK_SESSIONS} (found {})",
                                leak.get_ref()
                            ),
                            "out of range",
                            "set leak_sessions to the number of idle sessions the leaking client opens",
                        );
                        return None;
                    }
                }
            }
        };
        ok.then_some(action)
    }

    fn fault_action(
        &mut self,
        toxic: Option<Spanned<RawToxic>>,
        down: Option<Spanned<bool>>,
        span: &Range<usize>,
    ) -> Option<(FaultAction, Range<usize>)> {
        if let Some(down) = &down
            && !down.get_ref()
        {
            self.push(
                down.span(),
                "`down = false` in [[faults]] does nothing".to_owned(),
                "does nothing",
                "remove `down` and give the fault a `toxic`, or write down = true to disable the proxy",
            );
            return None;
        }
        match (toxic, down) {
            (Some(_), Some(down)) => {
                self.push(
                    down.span(),
                    "a fault has both `toxic` and `down = true`".to_owned(),
                    "one fault, one action",
                    "keep one: split them into two [[faults]] if you want both",
                );
                None
            }
            (None, None) => {
                self.push(
                    span.clone(),
                    "a fault needs either `toxic` or `down = true`".to_owned(),
                    "no action",
                    "add toxic = { type = \"timeout\", attributes = { timeout = 0 } } or down = true",
                );
                None
            }
            (None, Some(down)) => Some((FaultAction::ProxyDown, down.span())),
            (Some(toxic), None) => {
                let span = toxic.span();
                self.toxic(toxic).map(|t| (FaultAction::Toxic(t), span))
            }
        }
    }

    fn toxic(&mut self, raw: Spanned<RawToxic>) -> Option<Toxic> {
        let span = raw.span();
        let raw = raw.into_inner();
        let ctx = "the toxic of [[faults]]";
        let types: Vec<&str> = raw::TOXIC_TYPES.iter().map(|(name, _)| *name).collect();
        let type_help = format!("type = \"<{}>\"", types.join(" | "));
        let kind = self.required(raw.kind, "type", ctx, &span, &type_help)?;
        let Some(known) = raw::toxic_attributes(kind.get_ref()) else {
            self.unknown_name(&kind.span(), kind.get_ref(), "toxic type", ctx, &types);
            return None;
        };
        let mut ok = true;
        let stream = match raw.stream {
            None => Stream::Downstream,
            Some(stream) => match stream.get_ref().as_str() {
                "upstream" => Stream::Upstream,
                "downstream" => Stream::Downstream,
                other => {
                    self.unknown_name(&stream.span(), other, "stream", ctx, &STREAMS);
                    ok = false;
                    Stream::Downstream
                }
            },
        };
        let mut toxicity = 1.0;
        if let Some(value) = raw.toxicity {
            let t = *value.get_ref();
            if (0.0..=1.0).contains(&t) {
                toxicity = t as f32;
            } else {
                self.push(
                    value.span(),
                    format!("toxicity must be between 0 and 1 (found {t})"),
                    "out of range",
                    "toxicity is the probability a connection is affected: 0.0 to 1.0, default 1",
                );
                ok = false;
            }
        }
        // Attribute values: non-negative integers in Toxiproxy's units.
        // (Unknown attribute names were reported and removed in pass 1.)
        let type_name = kind.get_ref().as_str();
        let mut attributes: BTreeMap<&str, (u64, Range<usize>)> = BTreeMap::new();
        for (key, value) in raw.attributes.map(Spanned::into_inner).unwrap_or_default() {
            let Some(key) = known.iter().copied().find(|k| *k == key) else {
                continue;
            };
            match value.get_ref() {
                toml::Value::Integer(n) if *n >= 0 => {
                    attributes.insert(key, (n.unsigned_abs(), value.span()));
                }
                other => {
                    let unit = attribute_unit(type_name, key);
                    self.push(
                        value.span(),
                        format!("toxic attribute `{key}` must be a non-negative integer ({unit}), found {other}"),
                        "not a non-negative integer",
                        format!("toxic attributes use Toxiproxy's units: {key} = 100 means 100 {unit}"),
                    );
                    ok = false;
                }
            }
        }
        let attr = |name: &str| attributes.get(name).map_or(0, |(n, _)| *n);
        let attr_span = |name: &str| {
            attributes
                .get(name)
                .map_or(span.clone(), |(_, s)| s.clone())
        };
        let behaviour = match type_name {
            "latency" => ToxicKind::Latency {
                latency: attr("latency"),
                jitter: attr("jitter"),
            },
            "bandwidth" => {
                if attr("rate") == 0 {
                    self.push(
                        attr_span("rate"),
                        "a bandwidth toxic with rate = 0 lets no data through".to_owned(),
                        "rate = 0",
                        "set attributes = { rate = <KB/s> } to 1 or more; to stop all data use a timeout toxic",
                    );
                    ok = false;
                }
                ToxicKind::Bandwidth { rate: attr("rate") }
            }
            "slow_close" => ToxicKind::SlowClose {
                delay: attr("delay"),
            },
            "timeout" => ToxicKind::Timeout {
                timeout: attr("timeout"),
            },
            "reset_peer" => ToxicKind::ResetPeer {
                timeout: attr("timeout"),
            },
            "slicer" => {
                let (average, variation) = (attr("average_size"), attr("size_variation"));
                if average == 0 {
                    self.push(
                        attr_span("average_size"),
                        "a slicer toxic with average_size = 0 cannot slice".to_owned(),
                        "average_size = 0",
                        "set attributes = { average_size = <bytes> } to 1 or more, e.g. 64",
                    );
                    ok = false;
                } else if variation >= average {
                    self.push(
                        attr_span("size_variation"),
                        format!("slicer size_variation ({variation}) must be smaller than average_size ({average})"),
                        "too large",
                        format!("lower size_variation below {average}"),
                    );
                    ok = false;
                }
                ToxicKind::Slicer {
                    average_size: average,
                    size_variation: variation,
                    delay: attr("delay"),
                }
            }
            "limit_data" => ToxicKind::LimitData {
                bytes: attr("bytes"),
            },
            _ => return None, // unreachable: `known` matched a TOXIC_TYPES entry
        };
        let toxic = Toxic {
            name: raw.name.map(Spanned::into_inner).unwrap_or_default(),
            stream,
            toxicity,
            kind: behaviour,
        }
        .with_default_name();
        ok.then_some(toxic)
    }

    // ---- shared checks --------------------------------------------------

    /// `value`, or a "missing key" problem at the table's span.
    fn required<T>(
        &mut self,
        value: Option<Spanned<T>>,
        key: &str,
        ctx: &str,
        table_span: &Range<usize>,
        example: &str,
    ) -> Option<Spanned<T>> {
        if value.is_none() {
            self.push(
                table_span.clone(),
                format!("missing key {key:?} in {ctx}"),
                format!("{ctx} needs `{key}`").as_str(),
                format!("add {example}"),
            );
        }
        value
    }

    /// A duration value, its default when absent, and its span when present.
    fn duration(
        &mut self,
        value: Option<&RawValue>,
        key: &str,
        ctx: &str,
        default: Duration,
        nonzero: bool,
    ) -> (Duration, Option<Range<usize>>) {
        let Some(value) = value else {
            return (default, None);
        };
        let span = value.span();
        let parsed = match value.get_ref() {
            toml::Value::String(text) => parse_duration(text).map_err(|e| e.to_string()),
            other => Err(format!(
                "expected a duration string, found {} {other}",
                other.type_str()
            )),
        };
        match parsed {
            Ok(d) if nonzero && d.is_zero() => {
                let default_hint = if default.is_zero() {
                    String::new()
                } else {
                    format!(" (default {})", format_duration(default))
                };
                self.push(
                    span.clone(),
                    format!("`{key}` in {ctx} must be greater than 0"),
                    "zero",
                    format!("use a positive duration{default_hint}"),
                );
                (default, Some(span))
            }
            Ok(d) => (d, Some(span)),
            Err(reason) => {
                self.push(
                    span.clone(),
                    format!("`{key}` in {ctx}: {reason}"),
                    "not a duration",
                    DURATION_HELP,
                );
                (default, Some(span))
            }
        }
    }

    /// An optional, non-zero duration; `None` when absent or invalid.
    fn optional_duration(
        &mut self,
        value: Option<&RawValue>,
        key: &str,
        ctx: &str,
    ) -> Option<Spanned<Duration>> {
        let before = self.problems.len();
        let (d, span) = self.duration(value, key, ctx, Duration::ZERO, true);
        let span = span?;
        (self.problems.len() == before).then(|| Spanned::new(span, d))
    }

    /// A proxy reference (`workload.target`, `faults[].proxy`).
    fn proxy_reference(
        &mut self,
        name: &Spanned<String>,
        what: &str,
        services: &BTreeMap<String, Service>,
        proxies: &BTreeMap<String, ProxyDecl>,
    ) {
        if proxies.contains_key(name.get_ref()) {
            return;
        }
        let is_service = services
            .contains_key(name.get_ref())
            .then(|| format!("{:?} is a service; traffic must go through a proxy: add [proxies.{0}] with upstream = {:?}", name.get_ref(), name.get_ref()));
        self.push(
            name.span(),
            format!("{what} names no declared proxy: {:?}", name.get_ref()),
            "unknown proxy",
            reference_help(name.get_ref(), "proxy", proxies, is_service),
        );
    }

    fn unknown_name(
        &mut self,
        span: &Range<usize>,
        found: &str,
        what: &str,
        ctx: &str,
        valid: &[&str],
    ) {
        let quoted: Vec<String> = valid.iter().map(|v| format!("{v:?}")).collect();
        let help = match did_you_mean(found, valid) {
            Some(close) => format!("did you mean {close:?}?"),
            None => format!("use one of: {}", quoted.join(", ")),
        };
        self.push(
            span.clone(),
            format!(
                "unknown {what} {found:?} in {ctx}; expected one of: {}",
                quoted.join(", ")
            ),
            &format!("unknown {what}"),
            help,
        );
    }

    fn check_name(&mut self, name: &str, what: &str, span: &Range<usize>) {
        if !is_name(name, true) {
            self.push(
                span.clone(),
                format!("{what} name {name:?} may use only lowercase letters, digits, `-` and `_`"),
                "invalid name",
                format!("rename it to {:?}", slug(name, true)),
            );
        }
    }
}

/// `[a-z0-9-]+` (drill names) or `[a-z0-9_-]+` (everything else named).
fn is_name(name: &str, underscore: bool) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (underscore && b == b'_')
        })
}

/// The closest valid name to `name`, to suggest in a fix.
fn slug(name: &str, underscore: bool) -> String {
    let mapped: String = name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || (underscore && c == '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    if trimmed.is_empty() {
        "my-name".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// "declared services: a, b" / "no services are declared".
fn declared_list<T>(what: &str, declared: &BTreeMap<String, T>) -> String {
    if declared.is_empty() {
        format!("no {what} are declared yet")
    } else {
        let names: Vec<&str> = declared.keys().map(String::as_str).collect();
        format!("declared {what}: {}", names.join(", "))
    }
}

/// The fix for a reference to an undeclared service or proxy.
fn reference_help<T>(
    name: &str,
    what: &str,
    declared: &BTreeMap<String, T>,
    extra: Option<String>,
) -> String {
    let names: Vec<&str> = declared.keys().map(String::as_str).collect();
    let plural = if what == "proxy" {
        "proxies"
    } else {
        "services"
    };
    let mut help = match did_you_mean(name, &names) {
        Some(close) => format!(
            "did you mean {close:?}? {}",
            declared_list(plural, declared)
        ),
        None if names.is_empty() => {
            format!("no {plural} are declared; add a [{plural}.{name}] table")
        }
        None => declared_list(plural, declared),
    };
    if let Some(extra) = extra {
        help = format!("{extra}; {help}");
    }
    help
}

/// Toxiproxy's unit for a toxic attribute.
fn attribute_unit(kind: &str, key: &str) -> &'static str {
    match (kind, key) {
        ("bandwidth", "rate") => "KB/s",
        ("slicer", "delay") => "microseconds",
        ("slicer", _) | ("limit_data", _) => "bytes",
        _ => "milliseconds",
    }
}
