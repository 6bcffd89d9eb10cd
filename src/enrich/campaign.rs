//! Campaign and referrer: `utm_*` parameters and ad click ids from the
//! page URL, and what kind of site the visitor came from. URLs are taken
//! apart by hand (scheme, host, query): no allocation unless a value is
//! percent-encoded.

use std::borrow::Cow;

use serde::Serialize;

/// `context.campaign`, named as the browser snippet names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Campaign<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medium: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gclid: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fbclid: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msclkid: Option<Cow<'a, str>>,
}

impl Campaign<'_> {
    pub fn into_owned(self) -> Campaign<'static> {
        let own = |v: Option<Cow<'_, str>>| v.map(|c| Cow::Owned(c.into_owned()));
        Campaign {
            source: own(self.source),
            medium: own(self.medium),
            name: own(self.name),
            term: own(self.term),
            content: own(self.content),
            gclid: own(self.gclid),
            fbclid: own(self.fbclid),
            msclkid: own(self.msclkid),
        }
    }
}

/// The campaign in `url`'s query, if it has any campaign parameter.
pub fn campaign(url: &str) -> Option<Campaign<'_>> {
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    let query = url.split_once('?')?.1;
    let mut c = Campaign::default();
    let mut any = false;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "utm_source" => &mut c.source,
            "utm_medium" => &mut c.medium,
            "utm_campaign" => &mut c.name,
            "utm_term" => &mut c.term,
            "utm_content" => &mut c.content,
            "gclid" => &mut c.gclid,
            "fbclid" => &mut c.fbclid,
            "msclkid" => &mut c.msclkid,
            _ => continue,
        };
        if slot.is_none() && !v.is_empty() {
            *slot = Some(v);
            any = true;
        }
    }
    any.then_some(c)
}

/// The host of an absolute `http(s)://` URL, without user info or port.
pub fn host(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        authority.split_once(':').map_or(authority, |(h, _)| h)
    };
    (!host.is_empty() && !host.contains(char::is_whitespace)).then_some(host)
}

/// What kind of site a referrer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Medium {
    /// The same site as the page.
    Internal,
    Search,
    Social,
    /// Any other site.
    External,
}

/// `context.referrer` as clickgate derives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Referrer<'a> {
    pub host: Cow<'a, str>,
    pub medium: Medium,
    /// The search engine or network, for `search` and `social`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
}

impl Referrer<'_> {
    pub fn into_owned(self) -> Referrer<'static> {
        Referrer {
            host: Cow::Owned(self.host.into_owned()),
            medium: self.medium,
            name: self.name,
        }
    }
}

/// Search engines and social networks by a label of their host name
/// (`google` matches `www.google.co.uk`) or by a whole domain.
const SEARCH_LABELS: &[&str] = &[
    "google",
    "bing",
    "duckduckgo",
    "yahoo",
    "yandex",
    "baidu",
    "ecosia",
    "qwant",
    "startpage",
    "naver",
    "seznam",
    "sogou",
];
const SEARCH_DOMAINS: &[(&str, &str)] = &[("search.brave.com", "brave")];
const SOCIAL_LABELS: &[&str] = &[
    "facebook",
    "instagram",
    "twitter",
    "linkedin",
    "reddit",
    "pinterest",
    "youtube",
    "tiktok",
    "tumblr",
    "weibo",
    "vk",
];
const SOCIAL_DOMAINS: &[(&str, &str)] = &[
    ("t.co", "twitter"),
    ("x.com", "twitter"),
    ("fb.com", "facebook"),
    ("lnkd.in", "linkedin"),
    ("news.ycombinator.com", "hackernews"),
    ("bsky.app", "bluesky"),
    ("threads.net", "threads"),
    ("mastodon.social", "mastodon"),
];

fn in_domain(host: &str, domain: &str) -> bool {
    host.eq_ignore_ascii_case(domain)
        || (host.len() > domain.len()
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain))
}

/// A label other than the last one (the TLD) equal to one of `labels`.
fn label_in(host: &str, labels: &[&'static str]) -> Option<&'static str> {
    let mut parts = host.rsplit('.');
    parts.next(); // the top-level domain
    parts.find_map(|p| labels.iter().find(|l| p.eq_ignore_ascii_case(l)).copied())
}

fn strip_www(h: &str) -> &str {
    if h.len() > 4 && h[..4].eq_ignore_ascii_case("www.") {
        &h[4..]
    } else {
        h
    }
}

/// Classifies `referrer` (a URL) relative to the page's host. Internal
/// means the same host, ignoring `www.`, or a subdomain of one another.
pub fn referrer<'a>(referrer: &'a str, page_host: Option<&str>) -> Option<Referrer<'a>> {
    let host = self::host(referrer)?;
    if let Some(page) = page_host.map(strip_www) {
        let bare = strip_www(host);
        if in_domain(bare, page) || in_domain(page, bare) {
            return Some(Referrer {
                host: Cow::Borrowed(host),
                medium: Medium::Internal,
                name: None,
            });
        }
    }
    let by_domain = |list: &[(&str, &'static str)]| {
        list.iter()
            .find(|(d, _)| in_domain(host, d))
            .map(|(_, n)| *n)
    };
    let (medium, name) =
        if let Some(n) = by_domain(SEARCH_DOMAINS).or(label_in(host, SEARCH_LABELS)) {
            (Medium::Search, Some(n))
        } else if let Some(n) = by_domain(SOCIAL_DOMAINS).or(label_in(host, SOCIAL_LABELS)) {
            (Medium::Social, Some(n))
        } else {
            (Medium::External, None)
        };
    Some(Referrer {
        host: Cow::Borrowed(host),
        medium,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utm_parameters_and_click_ids_are_read() {
        let c = campaign(
            "https://shop.example.com/p?utm_source=news&utm_medium=email&utm_campaign=spring%20sale&gclid=abc#top",
        )
        .expect("campaign");
        assert_eq!(c.source.as_deref(), Some("news"));
        assert_eq!(c.medium.as_deref(), Some("email"));
        assert_eq!(c.name.as_deref(), Some("spring sale"));
        assert_eq!(c.gclid.as_deref(), Some("abc"));
        assert!(matches!(c.source, Some(Cow::Borrowed(_))), "no copy");
        assert_eq!(c.term, None);
    }

    #[test]
    fn no_campaign_without_parameters() {
        assert_eq!(campaign("https://example.com/?q=1"), None);
        assert_eq!(campaign("https://example.com/"), None);
        assert_eq!(campaign("https://example.com/#?utm_source=x"), None);
    }

    #[test]
    fn hosts_are_extracted() {
        assert_eq!(
            host("https://www.Google.com/search?q=x"),
            Some("www.Google.com")
        );
        assert_eq!(
            host("http://user:pw@example.com:8080/"),
            Some("example.com")
        );
        assert_eq!(host("https://[2001:db8::1]:443/"), Some("2001:db8::1"));
        assert_eq!(
            host("android-app://com.google.android.gm/"),
            Some("com.google.android.gm")
        );
        assert_eq!(host("/relative/path"), None);
        assert_eq!(host("not a url"), None);
        assert_eq!(host("https:///nohost"), None);
    }

    #[test]
    fn referrers_are_classified() {
        let page = Some("www.shop.example");
        let r = referrer("https://www.google.co.uk/", page).expect("ref");
        assert_eq!((r.medium, r.name), (Medium::Search, Some("google")));
        let r = referrer("https://t.co/abc", page).expect("ref");
        assert_eq!((r.medium, r.name), (Medium::Social, Some("twitter")));
        let r = referrer("https://l.facebook.com/l.php", page).expect("ref");
        assert_eq!(r.medium, Medium::Social);
        let r = referrer("https://shop.example/cart", page).expect("ref");
        assert_eq!(r.medium, Medium::Internal);
        let r = referrer("https://blog.shop.example/post", page).expect("ref");
        assert_eq!(r.medium, Medium::Internal);
        let r = referrer("https://news.example.org/a", page).expect("ref");
        assert_eq!(
            (r.host.as_ref(), r.medium),
            ("news.example.org", Medium::External)
        );
        assert!(referrer("", page).is_none());
    }
}
