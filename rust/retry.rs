//! Retry policies.
//!
//! "openai_sdk" reproduces openai-python's `_base_client.py` (checked against the installed
//! 2.x SDK): callers swap the SDK's HTTP layer for ours and must not see a different number
//! of attempts or different pacing, since both show up in rate-limit behaviour and bills.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// openai `_constants.py`.
const INITIAL_RETRY_DELAY: f64 = 0.5;
const MAX_RETRY_DELAY: f64 = 8.0;
/// Server-directed delays above this are not honoured, and a response asking for more
/// is not retried at all (the SDK gives up rather than sleep for minutes).
const MAX_RETRY_AFTER_DELAY: f64 = 120.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    None,
    OpenAiSdk,
}

impl Policy {
    pub fn parse(name: &str) -> Option<Policy> {
        match name {
            "none" => Some(Policy::None),
            "openai_sdk" => Some(Policy::OpenAiSdk),
            _ => None,
        }
    }
}

/// What an attempt ended with, as far as the policy cares.
pub enum Outcome<'a> {
    /// A response arrived; `header` looks a header up the way httpx's `headers.get` does
    /// (case-insensitive, duplicates joined with ", ").
    Response {
        status: u16,
        header: &'a dyn Fn(&str) -> Option<String>,
    },
    /// Transport failure (connect error, timeout, broken connection) that the SDK's
    /// `except Exception` branch would retry. Builder errors never reach the policy.
    TransportError,
}

/// `Some(delay)` to try again after sleeping `delay`, `None` to stop.
/// `retries_taken` counts attempts already made minus one (0 after the first attempt),
/// matching the SDK's loop variable.
pub fn next_delay(
    policy: Policy,
    outcome: &Outcome<'_>,
    retries_taken: u32,
    max_retries: u32,
    now: SystemTime,
    jitter: &mut Jitter,
) -> Option<Duration> {
    if policy == Policy::None || retries_taken >= max_retries {
        return None;
    }
    let retry_after = match outcome {
        Outcome::TransportError => None,
        Outcome::Response { status, header } => {
            // Only 4xx/5xx raise in httpx's raise_for_status, which is where the SDK decides.
            if *status < 400 {
                return None;
            }
            let retry_after = parse_retry_after(header, now);
            if !should_retry(*status, header, retry_after) {
                return None;
            }
            retry_after
        }
    };
    Some(retry_timeout(retries_taken, retry_after, jitter.next_f64()))
}

/// openai `_should_retry`.
fn should_retry(
    status: u16,
    header: &dyn Fn(&str) -> Option<String>,
    retry_after: Option<f64>,
) -> bool {
    if let Some(ra) = retry_after {
        if ra.is_finite() && ra > MAX_RETRY_AFTER_DELAY {
            return false;
        }
    }
    match header("x-should-retry").as_deref() {
        Some("true") => return true,
        Some("false") => return false,
        _ => {}
    }
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// openai `_calculate_retry_timeout`; `random` is the SDK's `random()` in [0, 1).
fn retry_timeout(retries_taken: u32, retry_after: Option<f64>, random: f64) -> Duration {
    if let Some(ra) = retry_after {
        if ra.is_finite() && ra > 0.0 && ra <= MAX_RETRY_AFTER_DELAY {
            return Duration::from_secs_f64(ra);
        }
    }
    let nb_retries = retries_taken.min(1000) as i32;
    let sleep = (INITIAL_RETRY_DELAY * 2f64.powi(nb_retries)).min(MAX_RETRY_DELAY);
    let timeout = sleep * (1.0 - 0.25 * random);
    Duration::from_secs_f64(timeout.max(0.0))
}

/// openai `_parse_retry_after_header`: seconds, possibly negative or huge; callers apply
/// the bounds. A valid `retry-after-ms` wins even when `retry-after` is also present.
pub fn parse_retry_after(header: &dyn Fn(&str) -> Option<String>, now: SystemTime) -> Option<f64> {
    if let Some(ms) = header("retry-after-ms").as_deref().and_then(py_float) {
        return Some(ms / 1000.0);
    }
    let value = header("retry-after")?;
    if let Some(secs) = py_float(&value) {
        return Some(secs);
    }
    let at = parse_http_date(&value)?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Some(at as f64 - now)
}

/// Python's `float(str)` for the inputs a header can carry: surrounding whitespace,
/// sign, decimal/exponent forms, inf/nan words and digit-separating underscores.
fn py_float(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    if t.is_empty() {
        return None;
    }
    let b = t.as_bytes();
    let mut cleaned = String::with_capacity(t.len());
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let ok =
                i > 0 && i + 1 < b.len() && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit();
            if !ok {
                return None;
            }
            continue;
        }
        cleaned.push(c as char);
    }
    // Rust accepts the same spellings as Python here ("1.", ".5", "1e3", "inf", "nan",
    // "infinity" in any case), but also none that Python rejects.
    cleaned.parse::<f64>().ok()
}

/// `email.utils.parsedate_tz` + `mktime_tz` for the date forms servers send:
/// RFC 7231 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850
/// ("Sunday, 06-Nov-94 08:49:37 GMT"), asctime ("Sun Nov  6 08:49:37 1994") and RFC 2822
/// numeric offsets ("... +0100"). Returns Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let mut toks: Vec<&str> = s
        .split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    // Drop the day-of-week name, wherever the format put it.
    if let Some(first) = toks.first() {
        if first.chars().all(|c| c.is_ascii_alphabetic()) && month(first).is_none() {
            toks.remove(0);
        }
    }
    // RFC 850 packs the date as 06-Nov-94.
    let split;
    if !toks.is_empty() && toks[0].matches('-').count() == 2 {
        split = toks[0].split('-').map(str::to_owned).collect::<Vec<_>>();
        let rest: Vec<&str> = toks[1..].to_vec();
        toks = split.iter().map(String::as_str).chain(rest).collect();
    }
    let (day, mon, year, time, zone) = if toks.len() >= 4 && month(toks[0]).is_some() {
        // asctime: Mon DD HH:MM:SS YYYY
        (
            toks[1],
            toks[0],
            *toks.get(3)?,
            toks[2],
            toks.get(4).copied(),
        )
    } else {
        (
            *toks.first()?,
            *toks.get(1)?,
            *toks.get(2)?,
            *toks.get(3)?,
            toks.get(4).copied(),
        )
    };
    let day: i64 = day.parse().ok()?;
    let mon = month(mon)?;
    let mut year: i64 = year.parse().ok()?;
    // parsedate_tz's two-digit year rule.
    if year < 100 {
        year += if year > 68 { 1900 } else { 2000 };
    }
    let mut hms = time.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = hms.next().map(|x| x.parse().ok()).unwrap_or(Some(0))?;
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 61 {
        return None;
    }
    let offset = match zone {
        None => 0,
        // parsedate_tz leaves unknown zones unresolved and mktime_tz then reads the
        // time as local; servers run in UTC, so treat it as UTC.
        Some(z) => zone_offset(z).unwrap_or(0),
    };
    Some(days_from_civil(year, mon, day) * 86400 + h * 3600 + m * 60 + sec - offset)
}

fn month(s: &str) -> Option<i64> {
    const NAMES: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let l = s.to_ascii_lowercase();
    NAMES
        .iter()
        .position(|&n| l.starts_with(n))
        .map(|i| i as i64 + 1)
}

fn zone_offset(z: &str) -> Option<i64> {
    let named = match z.to_ascii_uppercase().as_str() {
        "GMT" | "UT" | "UTC" | "Z" => Some(0),
        "EST" => Some(-5),
        "EDT" => Some(-4),
        "CST" => Some(-6),
        "CDT" => Some(-5),
        "MST" => Some(-7),
        "MDT" => Some(-6),
        "PST" => Some(-8),
        "PDT" => Some(-7),
        _ => None,
    };
    if let Some(h) = named {
        return Some(h * 3600);
    }
    let b = z.as_bytes();
    if b.len() == 5 && (b[0] == b'+' || b[0] == b'-') && b[1..].iter().all(u8::is_ascii_digit) {
        let v: i64 = z[1..].parse().ok()?;
        let secs = (v / 100) * 3600 + (v % 100) * 60;
        return Some(if b[0] == b'-' { -secs } else { secs });
    }
    None
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Jitter source. Retry jitter only needs to de-synchronise clients, not be
/// unpredictable, so xorshift seeded from the clock is plenty.
pub struct Jitter(u64);

impl Jitter {
    pub fn new() -> Jitter {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        // Mix in a stack address so threads starting in the same nanosecond still differ.
        let local = 0u8;
        let seed = t ^ ((&local as *const u8 as u64).rotate_left(32)) ^ 0x9E37_79B9_7F4A_7C15;
        Jitter(if seed == 0 { 1 } else { seed })
    }

    pub fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn delay(
        status: u16,
        h: &HashMap<String, String>,
        retries_taken: u32,
        max_retries: u32,
        random: f64,
    ) -> Option<Duration> {
        let lookup = |name: &str| h.get(name).cloned();
        let outcome = Outcome::Response {
            status,
            header: &lookup,
        };
        // A jitter source whose first draw is `random`: search a seed is overkill, so go
        // through the pure function directly after the policy decision.
        next_delay(
            Policy::OpenAiSdk,
            &outcome,
            retries_taken,
            max_retries,
            now(),
            &mut Jitter(1),
        )
        .map(|_| retry_timeout(retries_taken, parse_retry_after(&lookup, now()), random))
    }

    fn now() -> SystemTime {
        // 2015-10-21 07:28:00 UTC
        UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    }

    #[test]
    fn retryable_statuses_follow_the_sdk() {
        let h = headers(&[]);
        for s in [408, 409, 429, 500, 502, 503, 504, 599] {
            assert!(delay(s, &h, 0, 2, 0.0).is_some(), "{s}");
        }
        for s in [200, 201, 301, 400, 401, 403, 404, 422] {
            assert!(delay(s, &h, 0, 2, 0.0).is_none(), "{s}");
        }
        // Out of retries.
        assert!(delay(500, &h, 2, 2, 0.0).is_none());
        // Policy "none" never retries.
        let lookup = |_: &str| None;
        let o = Outcome::Response {
            status: 500,
            header: &lookup,
        };
        assert!(next_delay(Policy::None, &o, 0, 5, now(), &mut Jitter::new()).is_none());
        assert!(next_delay(
            Policy::None,
            &Outcome::TransportError,
            0,
            5,
            now(),
            &mut Jitter::new()
        )
        .is_none());
        assert!(next_delay(
            Policy::OpenAiSdk,
            &Outcome::TransportError,
            0,
            1,
            now(),
            &mut Jitter::new()
        )
        .is_some());
        assert!(next_delay(
            Policy::OpenAiSdk,
            &Outcome::TransportError,
            1,
            1,
            now(),
            &mut Jitter::new()
        )
        .is_none());
    }

    #[test]
    fn x_should_retry_overrides_status() {
        assert!(delay(400, &headers(&[("x-should-retry", "true")]), 0, 2, 0.0).is_some());
        assert!(delay(500, &headers(&[("x-should-retry", "false")]), 0, 2, 0.0).is_none());
        assert!(
            delay(429, &headers(&[("x-should-retry", "False")]), 0, 2, 0.0).is_some(),
            "exact match only, like the SDK"
        );
        // A 2xx is never an error, whatever the header says.
        assert!(delay(200, &headers(&[("x-should-retry", "true")]), 0, 2, 0.0).is_none());
    }

    #[test]
    fn exponential_backoff_with_jitter_and_cap() {
        let h = headers(&[]);
        assert_eq!(delay(500, &h, 0, 9, 0.0), Some(Duration::from_millis(500)));
        assert_eq!(delay(500, &h, 1, 9, 0.0), Some(Duration::from_secs(1)));
        assert_eq!(delay(500, &h, 2, 9, 0.0), Some(Duration::from_secs(2)));
        assert_eq!(delay(500, &h, 4, 9, 0.0), Some(Duration::from_secs(8)));
        assert_eq!(
            delay(500, &h, 8, 9, 0.0),
            Some(Duration::from_secs(8)),
            "capped at 8 s"
        );
        // Jitter takes off at most a quarter.
        assert_eq!(
            delay(500, &h, 0, 9, 0.5),
            Some(Duration::from_secs_f64(0.4375))
        );
        let d = delay(500, &h, 0, 9, 0.999_999).unwrap().as_secs_f64();
        assert!((0.375..0.376).contains(&d), "{d}");
        let mut j = Jitter::new();
        for _ in 0..1000 {
            let r = j.next_f64();
            assert!((0.0..1.0).contains(&r));
        }
    }

    #[test]
    fn retry_after_forms() {
        let p = |pairs: &[(&str, &str)]| {
            let h = headers(pairs);
            parse_retry_after(&|n: &str| h.get(n).cloned(), now())
        };
        assert_eq!(p(&[("retry-after-ms", "1500")]), Some(1.5));
        assert_eq!(p(&[("retry-after", "3")]), Some(3.0));
        assert_eq!(p(&[("retry-after", " 2.5 ")]), Some(2.5));
        assert_eq!(p(&[("retry-after", "1_0")]), Some(10.0));
        assert_eq!(p(&[("retry-after", "_10")]), None);
        // ms wins over seconds; an unparsable ms falls through to seconds.
        assert_eq!(
            p(&[("retry-after-ms", "250"), ("retry-after", "7")]),
            Some(0.25)
        );
        assert_eq!(
            p(&[("retry-after-ms", "soon"), ("retry-after", "7")]),
            Some(7.0)
        );
        // HTTP dates, relative to `now`.
        assert_eq!(
            p(&[("retry-after", "Wed, 21 Oct 2015 07:28:05 GMT")]),
            Some(5.0)
        );
        assert_eq!(
            p(&[("retry-after", "Wednesday, 21-Oct-15 07:28:30 GMT")]),
            Some(30.0)
        );
        assert_eq!(
            p(&[("retry-after", "Wed Oct 21 07:28:10 2015")]),
            Some(10.0)
        );
        assert_eq!(
            p(&[("retry-after", "Wed, 21 Oct 2015 08:28:20 +0100")]),
            Some(20.0)
        );
        assert_eq!(
            p(&[("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT")]),
            Some(-60.0)
        );
        assert_eq!(p(&[("retry-after", "tomorrow")]), None);
        assert_eq!(p(&[]), None);
        assert!(p(&[("retry-after", "nan")]).unwrap().is_nan());
    }

    #[test]
    fn retry_after_bounds() {
        // Honoured when 0 < value <= 120 s.
        assert_eq!(
            delay(429, &headers(&[("retry-after", "0.25")]), 0, 2, 0.0),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            delay(429, &headers(&[("retry-after", "120")]), 0, 2, 0.0),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            delay(429, &headers(&[("retry-after-ms", "61000")]), 0, 2, 0.0),
            Some(Duration::from_secs(61))
        );
        // Zero, negative, NaN: fall back to backoff.
        assert_eq!(
            delay(429, &headers(&[("retry-after", "0")]), 0, 2, 0.0),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            delay(429, &headers(&[("retry-after", "-3")]), 1, 2, 0.0),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            delay(429, &headers(&[("retry-after", "nan")]), 0, 2, 0.0),
            Some(Duration::from_millis(500))
        );
        // Past the maximum: the SDK does not retry at all, even with x-should-retry.
        assert_eq!(
            delay(429, &headers(&[("retry-after", "121")]), 0, 2, 0.0),
            None
        );
        assert_eq!(
            delay(
                503,
                &headers(&[("retry-after", "300"), ("x-should-retry", "true")]),
                0,
                2,
                0.0
            ),
            None
        );
        assert_eq!(
            delay(
                429,
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:38:00 GMT")]),
                0,
                2,
                0.0
            ),
            None
        );
        // "inf" is not finite, so it neither blocks the retry nor sets the delay.
        assert_eq!(
            delay(429, &headers(&[("retry-after", "inf")]), 0, 2, 0.0),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn dates_agree_with_calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 -0500"),
            Some(784_111_777 + 5 * 3600)
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 EST"),
            Some(784_111_777 + 5 * 3600)
        );
        assert_eq!(parse_http_date("Sun, 32 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
    }
}
