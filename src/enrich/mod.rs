//! Enrichment at the edge: what clickgate adds to an event before it
//! leaves: geo location, IP privacy, parsed user agent and bot flag,
//! derived session, campaign and referrer, and duplicate dropping.
//!
//! Work that depends only on the request (geo lookup, IP truncation, user
//! agent parse) is done once per request by [`Enricher::request`]; the per
//! event step [`Enricher::event`] only attaches pre-serialised values and
//! does the cheap per-event parts. The context keys written are documented
//! in `docs/enrichment.md`.

pub mod cache;
pub mod campaign;
pub mod config;
pub mod dedupe;
pub mod geo;
pub mod privacy;
pub mod session;
pub mod useragent;

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::event::{ContextValue, Event};
use crate::request::RequestContext;
use crate::source::SourceKind;
use crate::telemetry as names;
use campaign::{Campaign, Referrer};
use config::EnrichSettings;
use dedupe::{Claims, Dedupe};
use geo::GeoLookup;
use privacy::IpPolicy;
use session::{SessionFields, Sessions};
use useragent::{Agent, UserAgents};

/// A value clickgate adds to an event's context; it replaces the client's
/// value of the same key.
#[derive(Debug)]
pub enum Added<'a> {
    /// Pre-serialised JSON shared by the request's events.
    Raw(&'a RawValue),
    /// Pre-serialised JSON shared across requests (cached user agents).
    Shared(Arc<RawValue>),
    Json(serde_json::Value),
    Text(Cow<'a, str>),
    Session(SessionFields),
    Campaign(Campaign<'a>),
    Referrer(Referrer<'a>),
    /// Leave the client's value of this key out.
    Omit,
}

impl ContextValue for Added<'_> {
    fn is_omitted(&self) -> bool {
        matches!(self, Added::Omit)
    }
}

/// The context fields clickgate adds to one event.
pub type AddedFields<'a> = Vec<(&'static str, Added<'a>)>;

impl From<serde_json::Value> for Added<'_> {
    fn from(v: serde_json::Value) -> Self {
        Added::Json(v)
    }
}

impl Serialize for Added<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Added::Raw(r) => r.serialize(s),
            Added::Shared(r) => r.as_ref().serialize(s),
            Added::Json(v) => v.serialize(s),
            Added::Text(t) => s.serialize_str(t),
            Added::Session(v) => v.serialize(s),
            Added::Campaign(v) => v.serialize(s),
            Added::Referrer(v) => v.serialize(s),
            Added::Omit => s.serialize_unit(),
        }
    }
}

/// Why enrichment could not add a field (the `kind` label of
/// `clickgate_enrichment_failures_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A configured database file is missing or unreadable.
    GeoDatabase,
    /// A lookup failed inside a database.
    GeoLookup,
    /// A user agent that no rule recognises.
    UserAgent,
    /// A page or referrer URL that cannot be taken apart.
    Url,
    /// A client-sent `context.ip` that is not an address.
    Ip,
}

impl FailureKind {
    const ALL: [FailureKind; 5] = [
        FailureKind::GeoDatabase,
        FailureKind::GeoLookup,
        FailureKind::UserAgent,
        FailureKind::Url,
        FailureKind::Ip,
    ];

    pub fn code(self) -> &'static str {
        match self {
            FailureKind::GeoDatabase => "geo_database",
            FailureKind::GeoLookup => "geo_lookup",
            FailureKind::UserAgent => "user_agent",
            FailureKind::Url => "url",
            FailureKind::Ip => "ip",
        }
    }
}

/// Counts a failure and logs the first of each kind (then only counts, so
/// bad input cannot flood the logs).
pub fn failure(kind: FailureKind, detail: fmt::Arguments<'_>) {
    static LOGGED: [AtomicBool; 5] = [const { AtomicBool::new(false) }; 5];
    metrics::counter!(names::ENRICHMENT_FAILURES, "kind" => kind.code()).increment(1);
    let i = FailureKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(0);
    if !LOGGED[i].swap(true, Ordering::Relaxed) {
        tracing::warn!(
            kind = kind.code(),
            detail = %detail,
            "enrichment left a field out (logged once per kind; see clickgate_enrichment_failures_total)"
        );
    }
}

/// A string field that borrows from the JSON unless it has escapes (serde
/// would copy an `Option<Cow<str>>` field every time).
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// A JSON string value, borrowed unless it has escapes.
fn json_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    match serde_json::from_str::<&str>(raw.get()) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(raw.get())
            .ok()
            .map(Cow::Owned),
    }
}

/// What happens to an event after enrichment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Publish it (its id, if remembered, is in the request's claims).
    Publish,
    /// Acknowledge without publishing: already seen within the window.
    Duplicate,
    /// Acknowledge without publishing: a bot, and bots are dropped.
    Bot,
}

/// The request-level results, computed once and shared by its events.
pub struct RequestEnrichment {
    /// The client address as it may leave clickgate (raw envelope).
    pub client_ip: Option<String>,
    ip: Option<Box<RawValue>>,
    location: Option<Box<RawValue>>,
    user_agent: Option<Arc<Agent>>,
}

/// Enrichment for the whole process; cheap to share between requests.
pub struct Enricher {
    /// False only for [`Enricher::passthrough`].
    enabled: bool,
    geo: Arc<dyn GeoLookup>,
    ip: IpPolicy,
    agents: UserAgents,
    drop_bots: bool,
    sessions: Option<Sessions>,
    dedupe: Option<Arc<Dedupe>>,
}

impl Enricher {
    pub fn new(settings: &EnrichSettings, geo: Arc<dyn GeoLookup>) -> Self {
        Self {
            enabled: true,
            geo,
            ip: IpPolicy::from_settings(&settings.privacy),
            agents: UserAgents::new(settings.user_agent.cache_size),
            drop_bots: settings.user_agent.drop_bots,
            sessions: settings
                .sessions
                .enabled
                .then(|| Sessions::new(settings.sessions.timeout, settings.sessions.max_visitors)),
            dedupe: settings
                .dedupe
                .enabled
                .then(|| Arc::new(Dedupe::new(settings.dedupe.window, settings.dedupe.max_ids))),
        }
    }

    /// An enricher that adds nothing and keeps the client address as it
    /// is: the baseline the benchmark compares against. Not for production
    /// (no IP anonymisation).
    pub fn passthrough() -> Self {
        let mut e = Self::new(&EnrichSettings::default(), Arc::new(geo::NoGeo));
        e.enabled = false;
        e.ip = IpPolicy::Keep;
        e
    }

    /// Geo lookup from the full address first, then anonymisation; the
    /// user agent parsed (or taken from the cache).
    pub fn request(&self, info: &RequestContext<'_>) -> RequestEnrichment {
        if !self.enabled {
            return RequestEnrichment {
                client_ip: info.client_ip.map(|ip| ip.to_string()),
                ip: None,
                location: None,
                user_agent: None,
            };
        }
        let (location, client_ip) = match info.client_ip {
            Some(ip) => (self.locate(ip), self.ip.apply(ip)),
            None => (None, None),
        };
        let client_ip = client_ip.map(|ip| ip.to_string());
        let ip = client_ip
            .as_deref()
            .and_then(|t| serde_json::value::to_raw_value(t).ok());
        // A server source's own user agent is its HTTP library's, not the
        // visitor's: only the events' `context.userAgent` counts there.
        let user_agent = match info.source.kind {
            SourceKind::Browser => info
                .user_agent
                .filter(|ua| !ua.is_empty())
                .map(|ua| self.agents.get(ua)),
            SourceKind::Server => None,
        };
        RequestEnrichment {
            client_ip,
            ip,
            location,
            user_agent,
        }
    }

    fn locate(&self, ip: IpAddr) -> Option<Box<RawValue>> {
        match self.geo.locate(ip) {
            Ok(Some(l)) => serde_json::value::to_raw_value(&l).ok(),
            Ok(None) => None,
            Err(e) => {
                failure(FailureKind::GeoLookup, format_args!("{e}"));
                None
            }
        }
    }

    /// An empty set of duplicate-check claims for one request.
    pub fn claims(&self) -> Claims {
        Claims::new(self.dedupe.clone())
    }

    /// Adds the context fields of one event to `added` and decides whether
    /// it is published; a first-seen id is added to `claims`.
    pub fn event<'a>(
        &self,
        req: &'a RequestEnrichment,
        info: &RequestContext<'a>,
        event: &Event<'a>,
        added: &mut AddedFields<'a>,
        claims: &mut Claims,
    ) -> Verdict {
        if !self.enabled {
            return Verdict::Publish;
        }
        added.reserve(8);
        self.ip_and_location(req, info, event, added);
        let is_bot = self.user_agent(req, info, event, added);
        if let (Some(sessions), None) = (&self.sessions, event.context.get("session")) {
            let s = sessions.touch(
                &info.source.name,
                event.identity.visitor(),
                event.timestamp.timestamp_millis(),
            );
            added.push(("session", Added::Session(s)));
        }
        let client_campaign = event.context.get("campaign").is_some();
        let client_referrer = event.context.get("referrer").is_some();
        if let Some(page) = event.context.get("page") {
            if !client_campaign || !client_referrer {
                self.page(page, client_campaign, client_referrer, added);
            }
        }
        // The cookie identifies a browser; a backend's calls carry none of
        // their visitors' cookies, so a minted id would mean nothing there.
        if let Some(id) = info
            .network_user_id
            .filter(|_| info.source.kind == SourceKind::Browser)
        {
            added.push(("networkUserId", Added::Text(Cow::Borrowed(id))));
        }
        if is_bot && self.drop_bots {
            return Verdict::Bot;
        }
        match &self.dedupe {
            Some(d) => {
                let now = info.received_at.timestamp_millis();
                if d.claim(claims, &info.source.name, &event.message_id, now) {
                    Verdict::Publish
                } else {
                    Verdict::Duplicate
                }
            }
            None => Verdict::Publish,
        }
    }

    /// IP and location. A server source may pass its visitor's address in
    /// `context.ip`; a browser's own claim is replaced by the address the
    /// request came from.
    fn ip_and_location<'a>(
        &self,
        req: &'a RequestEnrichment,
        info: &RequestContext<'a>,
        event: &Event<'a>,
        added: &mut AddedFields<'a>,
    ) {
        let client_ip = event.context.get("ip");
        let client_location = event.context.get("location").is_some();
        match (info.source.kind, client_ip) {
            (SourceKind::Server, Some(raw)) => {
                match json_str(raw).and_then(|t| t.trim().parse::<IpAddr>().ok()) {
                    Some(ip) => {
                        if !client_location {
                            if let Some(l) = self.locate(ip) {
                                added.push(("location", Added::Shared(Arc::from(l))));
                            }
                        }
                        added.push(match self.ip.apply(ip) {
                            Some(ip) => ("ip", Added::Text(Cow::Owned(ip.to_string()))),
                            None => ("ip", Added::Omit),
                        });
                    }
                    None => {
                        failure(
                            FailureKind::Ip,
                            format_args!("context.ip is not an address"),
                        );
                        added.push(("ip", Added::Omit));
                    }
                }
            }
            _ => {
                if !client_location {
                    if let Some(l) = &req.location {
                        added.push(("location", Added::Raw(l)));
                    }
                }
                match &req.ip {
                    Some(ip) => added.push(("ip", Added::Raw(ip))),
                    None if client_ip.is_some() => added.push(("ip", Added::Omit)),
                    None => {}
                }
            }
        }
    }

    /// User agent and bot flag: the event's own `context.userAgent` wins;
    /// the cache makes a repeat cost one hash lookup. True for a bot.
    fn user_agent<'a>(
        &self,
        req: &'a RequestEnrichment,
        info: &RequestContext<'a>,
        event: &Event<'a>,
        added: &mut AddedFields<'a>,
    ) -> bool {
        let event_ua = event.context.get("userAgent").and_then(json_str);
        match event_ua.as_deref() {
            Some(ua) if Some(ua) != info.user_agent || req.user_agent.is_none() => {
                if ua.is_empty() {
                    return false;
                }
                let shared = self.agents.get(ua);
                if let Some(p) = &shared.parsed {
                    added.push(("userAgentParsed", Added::Shared(Arc::clone(p))));
                }
                if let Some(b) = &shared.bot {
                    added.push(("bot", Added::Shared(Arc::clone(b))));
                }
                shared.is_bot()
            }
            _ => req.user_agent.as_deref().is_some_and(|a| {
                if let Some(p) = &a.parsed {
                    added.push(("userAgentParsed", Added::Raw(p)));
                }
                if let Some(b) = &a.bot {
                    added.push(("bot", Added::Raw(b)));
                }
                a.is_bot()
            }),
        }
    }

    /// Campaign and referrer from `context.page`.
    fn page<'a>(
        &self,
        page: &'a RawValue,
        client_campaign: bool,
        client_referrer: bool,
        added: &mut AddedFields<'a>,
    ) {
        #[derive(Deserialize)]
        struct Page<'p> {
            #[serde(borrow, default)]
            url: Option<Text<'p>>,
            #[serde(borrow, default)]
            referrer: Option<Text<'p>>,
        }
        let Ok(page) = serde_json::from_str::<Page<'a>>(page.get()) else {
            failure(
                FailureKind::Url,
                format_args!("context.page is not an object"),
            );
            return;
        };
        let url = page.url.map(|t| t.0).filter(|u| !u.is_empty());
        let page_referrer = page.referrer.map(|t| t.0);
        let page_host = url.as_deref().and_then(campaign::host);
        if url.is_some() && page_host.is_none() {
            failure(
                FailureKind::Url,
                format_args!("context.page.url is not an absolute URL"),
            );
        }
        if !client_campaign {
            let c = match &url {
                Some(Cow::Borrowed(u)) => campaign::campaign(u),
                Some(Cow::Owned(u)) => campaign::campaign(u).map(Campaign::into_owned),
                None => None,
            };
            if let Some(c) = c {
                added.push(("campaign", Added::Campaign(c)));
            }
        }
        if client_referrer {
            return;
        }
        let r = match page_referrer.as_ref().filter(|r| !r.is_empty()) {
            None => None,
            Some(Cow::Borrowed(r)) => campaign::referrer(r, page_host),
            Some(Cow::Owned(r)) => campaign::referrer(r, page_host).map(Referrer::into_owned),
        };
        match r {
            Some(r) => added.push(("referrer", Added::Referrer(r))),
            None if page_referrer.as_ref().is_some_and(|r| !r.is_empty()) => failure(
                FailureKind::Url,
                format_args!("context.page.referrer is not an absolute URL"),
            ),
            None => {}
        }
    }
}
