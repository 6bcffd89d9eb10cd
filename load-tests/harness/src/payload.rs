//! Realistic Segment traffic: what a tracker on a content site sends. The
//! same mix as the k6 scenarios (`load-tests/k6/lib/events.js`): about half
//! page views, a third link clicks, the rest custom events, each with the
//! page, user agent, campaign, library, locale and screen context a browser
//! tracker attaches. Events are 550–900 bytes of JSON.
//!
//! Message ids are `<prefix>-<i>` where the prefix names the request, so the
//! acknowledged ids of a run are written as one line per request.

use std::fmt::Write as _;

/// A small, fast, deterministic generator (xorshift64*): payloads are
/// reproducible and cost next to nothing to choose.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const PATHS: &[&str] = &[
    "/",
    "/pricing",
    "/blog/2026/11/kafka-at-the-edge",
    "/docs/getting-started",
    "/docs/api/http-tracking",
    "/products/analytics",
    "/products/analytics/features?tab=funnels",
    "/signup",
    "/customers/acme-retail",
    "/about/careers",
];
const TITLES: &[&str] = &[
    "Home | Example",
    "Pricing | Example",
    "Kafka at the edge: ingesting clickstreams without losing a click | Example Blog",
    "Getting started | Example Docs",
    "HTTP Tracking API | Example Docs",
];
const REFERRERS: &[&str] = &[
    "https://www.google.com/",
    "https://news.ycombinator.com/item?id=41234567",
    "https://www.linkedin.com/feed/",
    "",
    "https://example.com/blog",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
];
const CAMPAIGNS: &[&str] = &[
    r#""campaign":{"name":"black-friday-2026","source":"newsletter","medium":"email","content":"hero-button"},"#,
    r#""campaign":{"name":"brand","source":"google","medium":"cpc","term":"clickstream gateway"},"#,
    "",
    "",
];
const LOCALES: &[&str] = &["en-US", "de-DE", "fr-FR", "en-GB", "pt-BR"];
const LINKS: &[&str] = &[
    r#"{"href":"https://example.com/pricing","text":"See pricing","id":"nav-pricing","classes":"btn btn-primary"}"#,
    r#"{"href":"https://github.com/example/clickgate","text":"Star us on GitHub","id":"","classes":"link external"}"#,
    r#"{"href":"/docs/getting-started","text":"Read the docs","id":"cta-docs","classes":"cta"}"#,
];
const CUSTOM: &[&str] = &[
    r#""event":"Product Viewed","properties":{"product_id":"sku-48213","name":"Analytics Pro (annual)","category":"plans","price":499.0,"currency":"EUR"}"#,
    r#""event":"Signup Started","properties":{"plan":"team","seats":5,"trial":true,"form_variant":"b"}"#,
    r#""event":"Video Played","properties":{"video_id":"intro-2026","position":0,"length":184,"quality":"1080p","autoplay":false}"#,
];

/// A visitor: the identity and device every one of their events carries.
pub struct Visitor {
    pub anonymous_id: String,
    agent: &'static str,
    locale: &'static str,
    campaign: &'static str,
    screen: (u32, u32),
}

impl Visitor {
    pub fn new(rng: &mut Rng, n: u64) -> Self {
        let screens = [(1920, 1080), (1440, 900), (390, 844), (412, 915), (2560, 1440)];
        Self {
            anonymous_id: format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                n as u32,
                rng.next() as u16,
                rng.next() as u16 & 0xfff,
                rng.next() as u16 & 0xfff,
                rng.next() & 0xffff_ffff_ffff
            ),
            agent: rng.pick(AGENTS),
            locale: rng.pick(LOCALES),
            campaign: rng.pick(CAMPAIGNS),
            screen: screens[rng.below(screens.len())],
        }
    }
}

/// Appends one event with `messageId` = `id` to `out`.
pub fn write_event(out: &mut String, rng: &mut Rng, v: &Visitor, id: &str, now: &str) {
    let path = rng.pick(PATHS);
    let title = rng.pick(TITLES);
    let referrer = rng.pick(REFERRERS);
    let roll = rng.below(100);
    out.push('{');
    let _ = write!(out, r#""messageId":"{id}","anonymousId":"{}","#, v.anonymous_id);
    if roll < 50 {
        let _ = write!(
            out,
            r#""type":"page","name":"{title}","properties":{{"path":"{path}","referrer":"{referrer}","title":"{title}","url":"https://example.com{path}"}},"#
        );
    } else if roll < 85 {
        let _ = write!(
            out,
            r#""type":"track","event":"Link Clicked","properties":{},"#,
            rng.pick(LINKS)
        );
    } else {
        let _ = write!(out, r#""type":"track",{},"#, rng.pick(CUSTOM));
    }
    let _ = write!(
        out,
        r#""context":{{{}"library":{{"name":"clickgate.js","version":"0.3.1"}},"locale":"{}","page":{{"path":"{path}","referrer":"{referrer}","title":"{title}","url":"https://example.com{path}"}},"screen":{{"width":{},"height":{}}},"timezone":"Europe/Berlin","userAgent":"{}","sessionId":1764070000{:03}}},"#,
        v.campaign,
        v.locale,
        v.screen.0,
        v.screen.1,
        v.agent,
        rng.below(1000),
    );
    let _ = write!(out, r#""timestamp":"{now}","sentAt":"{now}"}}"#);
}

/// A `/v1/batch` body of `n` events, `writeKey` in the body as the browser
/// tracker sends it (`text/plain`, no preflight).
pub fn batch_body(rng: &mut Rng, v: &Visitor, prefix: &str, n: usize, key: &str) -> String {
    let now = crate::now_rfc3339();
    let mut out = String::with_capacity(n * 900 + 128);
    out.push_str(r#"{"batch":["#);
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        write_event(&mut out, rng, v, &format!("{prefix}-{i}"), &now);
    }
    let _ = write!(out, r#"],"sentAt":"{now}","writeKey":"{key}"}}"#);
    out
}
