//! User agents: browser, OS and device type parsed with `woothee` (a
//! table-driven parser without a long regex list: a few µs for an unseen
//! string), bots flagged from our own token list, and a bounded cache keyed
//! by the user-agent string, since a visitor sends the same one every time.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::value::RawValue;

use super::cache::Generations;
use super::{failure, FailureKind};

/// What one user-agent string says, pre-serialised for every event that
/// carries it.
#[derive(Debug)]
pub struct Agent {
    /// `context.userAgentParsed`: browser, OS, device type.
    pub parsed: Option<Arc<RawValue>>,
    /// `context.bot`, for bots only.
    pub bot: Option<Arc<RawValue>>,
}

impl Agent {
    pub fn is_bot(&self) -> bool {
        self.bot.is_some()
    }
}

/// Why a user agent counts as a bot (the `reason` in `context.bot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BotReason {
    /// Search engines, link previews, SEO and AI crawlers.
    Crawler,
    /// Uptime checks and synthetic monitoring.
    Monitoring,
    /// Headless and automated browsers.
    Headless,
    /// Command-line tools and HTTP libraries.
    HttpClient,
}

/// Lower-case tokens, checked in order: the first that occurs decides.
const BOT_TOKENS: &[(&str, BotReason, &str)] = &[
    ("headlesschrome", BotReason::Headless, "HeadlessChrome"),
    ("phantomjs", BotReason::Headless, "PhantomJS"),
    ("slimerjs", BotReason::Headless, "SlimerJS"),
    ("puppeteer", BotReason::Headless, "Puppeteer"),
    ("playwright", BotReason::Headless, "Playwright"),
    ("selenium", BotReason::Headless, "Selenium"),
    ("webdriver", BotReason::Headless, "WebDriver"),
    ("chrome-lighthouse", BotReason::Monitoring, "Lighthouse"),
    ("pingdom", BotReason::Monitoring, "Pingdom"),
    ("uptimerobot", BotReason::Monitoring, "UptimeRobot"),
    ("statuscake", BotReason::Monitoring, "StatusCake"),
    ("site24x7", BotReason::Monitoring, "Site24x7"),
    ("newrelicpinger", BotReason::Monitoring, "New Relic"),
    ("datadog", BotReason::Monitoring, "Datadog"),
    ("checkly", BotReason::Monitoring, "Checkly"),
    ("betteruptime", BotReason::Monitoring, "Better Uptime"),
    ("gtmetrix", BotReason::Monitoring, "GTmetrix"),
    ("kube-probe", BotReason::Monitoring, "kube-probe"),
    (
        "elb-healthchecker",
        BotReason::Monitoring,
        "ELB health check",
    ),
    (
        "blackbox-exporter",
        BotReason::Monitoring,
        "Prometheus blackbox",
    ),
    ("curl/", BotReason::HttpClient, "curl"),
    ("wget/", BotReason::HttpClient, "Wget"),
    ("python-requests", BotReason::HttpClient, "python-requests"),
    ("python-urllib", BotReason::HttpClient, "Python urllib"),
    ("python-httpx", BotReason::HttpClient, "HTTPX"),
    ("aiohttp", BotReason::HttpClient, "aiohttp"),
    ("go-http-client", BotReason::HttpClient, "Go http client"),
    ("okhttp", BotReason::HttpClient, "OkHttp"),
    (
        "apache-httpclient",
        BotReason::HttpClient,
        "Apache HttpClient",
    ),
    ("java/", BotReason::HttpClient, "Java"),
    ("libwww-perl", BotReason::HttpClient, "libwww-perl"),
    ("axios/", BotReason::HttpClient, "axios"),
    ("node-fetch", BotReason::HttpClient, "node-fetch"),
    ("undici", BotReason::HttpClient, "undici"),
    ("httpie", BotReason::HttpClient, "HTTPie"),
    ("postmanruntime", BotReason::HttpClient, "Postman"),
    ("scrapy", BotReason::HttpClient, "Scrapy"),
    ("guzzlehttp", BotReason::HttpClient, "Guzzle"),
    ("googlebot", BotReason::Crawler, "Googlebot"),
    (
        "google-inspectiontool",
        BotReason::Crawler,
        "Google-InspectionTool",
    ),
    ("adsbot-google", BotReason::Crawler, "AdsBot-Google"),
    ("bingbot", BotReason::Crawler, "bingbot"),
    ("yandex", BotReason::Crawler, "Yandex"),
    ("baiduspider", BotReason::Crawler, "Baiduspider"),
    ("duckduckbot", BotReason::Crawler, "DuckDuckBot"),
    ("slurp", BotReason::Crawler, "Yahoo! Slurp"),
    ("applebot", BotReason::Crawler, "Applebot"),
    (
        "facebookexternalhit",
        BotReason::Crawler,
        "facebookexternalhit",
    ),
    ("twitterbot", BotReason::Crawler, "Twitterbot"),
    ("linkedinbot", BotReason::Crawler, "LinkedInBot"),
    ("slackbot", BotReason::Crawler, "Slackbot"),
    ("discordbot", BotReason::Crawler, "Discordbot"),
    ("telegrambot", BotReason::Crawler, "TelegramBot"),
    ("whatsapp", BotReason::Crawler, "WhatsApp"),
    ("ahrefsbot", BotReason::Crawler, "AhrefsBot"),
    ("semrushbot", BotReason::Crawler, "SemrushBot"),
    ("mj12bot", BotReason::Crawler, "MJ12bot"),
    ("petalbot", BotReason::Crawler, "PetalBot"),
    ("bytespider", BotReason::Crawler, "Bytespider"),
    ("gptbot", BotReason::Crawler, "GPTBot"),
    ("claudebot", BotReason::Crawler, "ClaudeBot"),
    ("ccbot", BotReason::Crawler, "CCBot"),
    ("amazonbot", BotReason::Crawler, "Amazonbot"),
    // Generic markers last; `bot/`-style tokens rather than `bot`, which
    // would also match device names such as "CUBOT".
    ("bot/", BotReason::Crawler, "bot"),
    ("bot;", BotReason::Crawler, "bot"),
    ("bot)", BotReason::Crawler, "bot"),
    ("crawler", BotReason::Crawler, "crawler"),
    ("spider", BotReason::Crawler, "spider"),
];

/// Classifies a user agent by the token list.
pub fn detect_bot(user_agent: &str) -> Option<(BotReason, &'static str)> {
    let lower = user_agent.to_ascii_lowercase();
    BOT_TOKENS
        .iter()
        .find(|(token, _, _)| lower.contains(token))
        .map(|(_, reason, name)| (*reason, *name))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BotJson<'a> {
    is_bot: bool,
    reason: BotReason,
    name: &'a str,
}

#[derive(Serialize)]
struct NameVersion<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ParsedJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    browser: Option<NameVersion<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    os: Option<NameVersion<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_type: Option<&'static str>,
}

fn known(v: &str) -> Option<&str> {
    Some(v).filter(|v| !v.is_empty() && *v != woothee::woothee::VALUE_UNKNOWN)
}

fn name_version<'a>(name: &'a str, version: &'a str) -> Option<NameVersion<'a>> {
    known(name).map(|n| NameVersion {
        name: Some(n),
        version: known(version),
    })
}

/// Parses one user agent without the cache.
pub fn parse(user_agent: &str) -> Agent {
    let bot = detect_bot(user_agent);
    let result = woothee::parser::Parser::new().parse(user_agent);
    let parsed = result.as_ref().and_then(|r| {
        let device_type = match r.category {
            "pc" => Some("desktop"),
            "smartphone"
                if r.os == "iPad" || (r.os == "Android" && !user_agent.contains("Mobile")) =>
            {
                Some("tablet")
            }
            "smartphone" | "mobilephone" => Some("mobile"),
            "appliance" => Some("appliance"),
            "crawler" => Some("bot"),
            _ => None,
        };
        let json = ParsedJson {
            browser: name_version(r.name, r.version),
            os: name_version(r.os, &r.os_version),
            device_type,
        };
        if json.browser.is_none() && json.os.is_none() && json.device_type.is_none() {
            return None;
        }
        serde_json::value::to_raw_value(&json).ok().map(Arc::from)
    });
    let bot = bot.or_else(|| {
        result
            .as_ref()
            .filter(|r| r.category == "crawler")
            .map(|r| (BotReason::Crawler, known(r.name).unwrap_or("crawler")))
    });
    if parsed.is_none() && bot.is_none() {
        failure(
            FailureKind::UserAgent,
            format_args!("user agent not recognised: {user_agent:.120}"),
        );
    }
    Agent {
        parsed,
        bot: bot.and_then(|(reason, name)| {
            serde_json::value::to_raw_value(&BotJson {
                is_bot: true,
                reason,
                name,
            })
            .ok()
            .map(Arc::from)
        }),
    }
}

const SHARDS: usize = 16;

type Shard = Mutex<Generations<Box<str>, Arc<Agent>>>;

/// Parsed user agents, cached by string in shards so that requests on
/// different threads rarely wait for one another.
pub struct UserAgents {
    shards: Box<[Shard]>,
    /// The answer for strings too long to be a real user agent.
    too_long: Arc<Agent>,
}

/// Longer strings are not parsed or cached: real user agents are a few
/// hundred bytes, and a client could otherwise fill the cache with
/// event-sized strings (or spend the parser's time on them).
pub const MAX_USER_AGENT_BYTES: usize = 1024;

impl UserAgents {
    /// Caches at most `capacity` user agents.
    pub fn new(capacity: usize) -> Self {
        let per_shard = (capacity / SHARDS).max(2);
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Generations::new(per_shard)))
                .collect(),
            too_long: Arc::new(Agent {
                parsed: None,
                bot: None,
            }),
        }
    }

    /// The parsed user agent; parses only strings not seen lately. The
    /// parse itself runs outside the lock.
    pub fn get(&self, user_agent: &str) -> Arc<Agent> {
        if user_agent.len() > MAX_USER_AGENT_BYTES {
            failure(
                FailureKind::UserAgent,
                format_args!("user agent longer than {MAX_USER_AGENT_BYTES} bytes"),
            );
            return Arc::clone(&self.too_long);
        }
        let shard = &self.shards[shard_of(user_agent)];
        if let Some(hit) = lock(shard).get_mut(user_agent) {
            return Arc::clone(hit);
        }
        let agent = Arc::new(parse(user_agent));
        lock(shard).insert(user_agent.into(), Arc::clone(&agent));
        agent
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A cheap spread over the shards: user agents mostly differ near the end.
fn shard_of(s: &str) -> usize {
    let bytes = s.as_bytes();
    let tail = &bytes[bytes.len().saturating_sub(8)..];
    let mut h = bytes.len();
    for b in tail {
        h = h.wrapping_mul(31).wrapping_add(usize::from(*b));
    }
    h % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    const HEADLESS: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36";
    const GOOGLEBOT: &str =
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

    fn json(raw: &Option<Arc<RawValue>>) -> Value {
        raw.as_ref()
            .map(|r| serde_json::from_str(r.get()).expect("json"))
            .unwrap_or(Value::Null)
    }

    #[test]
    fn desktop_chrome_is_parsed_and_not_a_bot() {
        let a = parse(CHROME_MAC);
        let p = json(&a.parsed);
        assert_eq!(p["browser"]["name"], "Chrome");
        assert_eq!(p["browser"]["version"], "124.0.0.0");
        assert_eq!(p["os"]["name"], "Mac OSX");
        assert_eq!(p["deviceType"], "desktop");
        assert!(!a.is_bot());
    }

    #[test]
    fn iphone_is_mobile_safari() {
        let p = json(&parse(IPHONE).parsed);
        assert_eq!(p["browser"]["name"], "Safari");
        assert_eq!(p["os"]["name"], "iPhone");
        assert_eq!(p["deviceType"], "mobile");
    }

    #[test]
    fn crawlers_headless_browsers_and_tools_are_bots() {
        let b = json(&parse(GOOGLEBOT).bot);
        assert_eq!(b["isBot"], true);
        assert_eq!(b["reason"], "crawler");
        assert_eq!(b["name"], "Googlebot");
        let b = json(&parse(HEADLESS).bot);
        assert_eq!(b["reason"], "headless");
        assert_eq!(b["name"], "HeadlessChrome");
        assert_eq!(json(&parse("curl/8.5.0").bot)["reason"], "http-client");
        assert_eq!(
            json(&parse("python-requests/2.31.0").bot)["name"],
            "python-requests"
        );
        assert_eq!(
            json(
                &parse("Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)")
                    .bot
            )["reason"],
            "monitoring"
        );
        assert!(parse(
            "Mozilla/5.0 (Linux; Android 9; CUBOT P30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0 Mobile Safari/537.36"
        )
        .bot
        .is_none());
    }

    #[test]
    fn garbage_is_neither_parsed_nor_a_bot() {
        let a = parse("%%% not a user agent %%%");
        assert!(a.parsed.is_none());
        assert!(a.bot.is_none());
    }

    #[test]
    fn cache_returns_the_same_parse_and_stays_bounded() {
        let agents = UserAgents::new(32);
        let a = agents.get(CHROME_MAC);
        let b = agents.get(CHROME_MAC);
        assert!(Arc::ptr_eq(&a, &b));
        for i in 0..1_000 {
            agents.get(&format!("{CHROME_MAC} build/{i}"));
        }
        let held: usize = agents.shards.iter().map(|s| lock(s).len()).sum();
        assert!(held <= 32, "{held}");
    }

    #[test]
    fn overlong_strings_are_neither_parsed_nor_cached() {
        let agents = UserAgents::new(32);
        let long = format!("{CHROME_MAC}{}", " x".repeat(MAX_USER_AGENT_BYTES));
        let a = agents.get(&long);
        assert!(a.parsed.is_none() && a.bot.is_none());
        let held: usize = agents.shards.iter().map(|s| lock(s).len()).sum();
        assert_eq!(held, 0);
    }
}
