//! Prometheus metrics (SPEC §14), rendered from the shared journal so that build-listener
//! serves the counters of both processes.
//!
//! Counters are kept by the journal's triggers in the same transactions as what they count
//! ([`crate::journal::views`]). Request durations are measured where the requests are made
//! (the Gerrit, Jenkins and Gmail clients hold a [`Timings`]) and flushed into the journal as
//! counter deltas: after each gmail-listener poll and every few seconds by build-listener.
//! Keeping them per process in memory and adding them up in the database is what lets one
//! `/metrics` show gmail-listener's Gmail latency without a second scrape target.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::journal::{CounterRow, IntentKind, Journal, JournalError, WaitingRow, now_ms};

/// An outside service whose requests are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Gerrit,
    Jenkins,
    Gmail,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Gerrit, Service::Jenkins, Service::Gmail];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::Gerrit => "gerrit",
            Service::Jenkins => "jenkins",
            Service::Gmail => "gmail",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Upper bounds of the duration buckets, in seconds (the last bucket is `+Inf`).
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Durations observed since the last flush, per service.
#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    buckets: [u64; BUCKETS.len() + 1],
    count: u64,
    micros: u64,
}

/// Request durations of one process, not yet in the journal; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pending: Arc<Mutex<[Pending; 3]>>,
}

impl Timings {
    /// Records one request to `service` that took `took` (whatever its outcome).
    pub fn observe(&self, service: Service, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        let mut all = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let p = &mut all[service.index()];
        p.buckets[bucket] += 1;
        p.count += 1;
        p.micros += u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    }

    /// Moves what was observed into the journal's counters; on failure it is kept for the
    /// next flush.
    pub async fn flush(&self, journal: &Journal) -> Result<(), JournalError> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let mut deltas = Vec::new();
        for s in Service::ALL {
            let p = taken[s.index()];
            if p.count == 0 {
                continue;
            }
            for (i, &n) in p.buckets.iter().enumerate().filter(|(_, n)| **n > 0) {
                deltas.push(("request_bucket".into(), bucket_label(s, i), n));
            }
            deltas.push(("request_count".into(), s.as_str().into(), p.count));
            deltas.push(("request_micros".into(), s.as_str().into(), p.micros));
        }
        if deltas.is_empty() {
            return Ok(());
        }
        let result = journal.add_counters(deltas).await;
        if result.is_err() {
            let mut all = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            for s in Service::ALL {
                let (a, b) = (&mut all[s.index()], taken[s.index()]);
                a.count += b.count;
                a.micros += b.micros;
                a.buckets
                    .iter_mut()
                    .zip(b.buckets)
                    .for_each(|(x, y)| *x += y);
            }
        }
        result
    }
}

fn bucket_label(s: Service, i: usize) -> String {
    match BUCKETS.get(i) {
        Some(le) => format!("{} {le}", s.as_str()),
        None => format!("{} +Inf", s.as_str()),
    }
}

/// A metric whose samples were read from the journal at scrape time.
#[derive(Debug)]
struct Sampled {
    metric_type: MetricType,
    samples: Vec<Sample>,
}

#[derive(Debug)]
enum Sample {
    Counter(Vec<(String, String)>, u64),
    Gauge(Vec<(String, String)>, f64),
    Histogram(Vec<(String, String)>, Histogram),
}

/// A histogram: counts per bucket (the encoder makes them cumulative; `f64::MAX` is its
/// `+Inf`).
#[derive(Debug, Default)]
struct Histogram {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for Sampled {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for s in &self.samples {
            match s {
                Sample::Counter(labels, v) => encoder
                    .encode_family(labels)?
                    .encode_counter::<NoLabelSet, _, u64>(v, None)?,
                Sample::Gauge(labels, v) if labels.is_empty() => encoder.encode_gauge(v)?,
                Sample::Gauge(labels, v) => encoder.encode_family(labels)?.encode_gauge(v)?,
                Sample::Histogram(labels, h) => encoder
                    .encode_family(labels)?
                    .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?,
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        self.metric_type
    }
}

/// The counters the journal keeps: (journal name, metric name, label name, help).
const COUNTERS: &[(&str, &str, &str, &str)] = &[
    (
        "mails",
        "bionicbb_mails",
        "outcome",
        "Mails handled by gmail-listener: trashed, set_aside, left (failed, kept for a later \
         poll), move_failed",
    ),
    (
        "builds_triggered",
        "bionicbb_builds_triggered",
        "job",
        "Jenkins builds triggered, by job",
    ),
    (
        "callbacks",
        "bionicbb_callbacks",
        "phase",
        "Jenkins Notification-plugin callbacks accepted: the first of each phase of a build, \
         `repeated` for a phase sent again",
    ),
    (
        "reviews",
        "bionicbb_reviews",
        "result",
        "Gerrit reviews (votes and messages) posted or given up",
    ),
    (
        "drop_rejections",
        "bionicbb_drop_rejections",
        "result",
        "Requests to drop the bot's Verified-1: removed, kept (nothing to drop), failed",
    ),
    (
        "events",
        "bionicbb_events",
        "kind",
        "Events recorded by both processes, by kind",
    ),
];

fn labelled(name: &str, value: &str) -> Vec<(String, String)> {
    vec![(name.to_string(), value.to_string())]
}

/// Renders the Prometheus text exposition of what the journal holds now.
pub async fn render(journal: &Journal) -> Result<String, JournalError> {
    let counters = journal.counters().await?;
    let waiting = journal.waiting_intents().await?;
    Ok(encode(&counters, &waiting, now_ms()))
}

fn encode(counters: &[CounterRow], waiting: &[WaitingRow], now: i64) -> String {
    let mut registry = Registry::default();
    for &(key, name, label, help) in COUNTERS {
        let samples = counters
            .iter()
            .filter(|c| c.name == key)
            .map(|c| Sample::Counter(labelled(label, &c.label), c.value))
            .collect();
        registry.register(name, help, counter(samples));
    }
    let last_mail = counters
        .iter()
        .filter(|c| c.name == "mails" && (c.label == "trashed" || c.label == "set_aside"))
        .map(|c| c.updated)
        .max();
    registry.register(
        "bionicbb_mail_last_handled_timestamp_seconds",
        "When gmail-listener last trashed or set aside a mail (Unix time; absent until then)",
        gauge(
            last_mail
                .map(|ms| Sample::Gauge(vec![], ms as f64 / 1000.0))
                .into_iter()
                .collect(),
        ),
    );
    registry.register(
        "bionicbb_outbox_pending",
        "Effects recorded but not yet carried out (intents pending or running), by kind",
        gauge(per_kind(waiting, |o| o.pending as f64)),
    );
    registry.register(
        "bionicbb_outbox_oldest_age_seconds",
        "Age of the oldest effect not yet carried out, by kind (0 when none waits)",
        gauge(per_kind(waiting, |o| {
            (now - o.oldest).max(0) as f64 / 1000.0
        })),
    );
    registry.register(
        "bionicbb_request_duration_seconds",
        "Duration of requests to the outside services (gerrit, jenkins, gmail), both processes",
        Sampled {
            metric_type: MetricType::Histogram,
            samples: histograms(counters),
        },
    );
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        // Writing to a String cannot fail; say so rather than serve half a page.
        let _ = writeln!(out, "# encoding failed");
    }
    out
}

fn counter(samples: Vec<Sample>) -> Sampled {
    Sampled {
        metric_type: MetricType::Counter,
        samples,
    }
}

fn gauge(samples: Vec<Sample>) -> Sampled {
    Sampled {
        metric_type: MetricType::Gauge,
        samples,
    }
}

/// The intent kinds the runners carry out (`legacy` is only a key left by an earlier release).
const KINDS: [IntentKind; 6] = [
    IntentKind::Trigger,
    IntentKind::Review,
    IntentKind::DropRejection,
    IntentKind::DropRequest,
    IntentKind::MailMove,
    IntentKind::Cancel,
];

/// One sample per kind: every kind the runners carry out gets one, 0 when nothing waits, so
/// that an alert on it has a series to look at (a gauge absent until the first wait looks like
/// a broken scrape, and `absent()` alerts cannot tell the two apart).
fn per_kind(waiting: &[WaitingRow], value: impl Fn(&WaitingRow) -> f64) -> Vec<Sample> {
    let mut kinds: Vec<&str> = KINDS.iter().map(|k| k.as_str()).collect();
    kinds.extend(waiting.iter().map(|o| o.kind.as_str()));
    kinds.sort_unstable();
    kinds.dedup();
    kinds
        .into_iter()
        .map(|k| {
            let v = waiting.iter().find(|o| o.kind == k).map_or(0.0, &value);
            Sample::Gauge(labelled("kind", k), v)
        })
        .collect()
}

fn histograms(counters: &[CounterRow]) -> Vec<Sample> {
    Service::ALL
        .iter()
        .map(|&s| {
            let value = |name: &str, label: &str| {
                counters
                    .iter()
                    .find(|c| c.name == name && c.label == label)
                    .map_or(0, |c| c.value)
            };
            let mut h = Histogram {
                count: value("request_count", s.as_str()),
                sum: value("request_micros", s.as_str()) as f64 / 1e6,
                buckets: Vec::new(),
            };
            for i in 0..=BUCKETS.len() {
                let n = value("request_bucket", &bucket_label(s, i));
                h.buckets
                    .push((BUCKETS.get(i).copied().unwrap_or(f64::MAX), n));
            }
            Sample::Histogram(labelled("service", s.as_str()), h)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, label: &str, value: u64) -> CounterRow {
        CounterRow {
            name: name.into(),
            label: label.into(),
            value,
            updated: 5_000,
        }
    }

    #[test]
    fn the_exposition_names_every_metric_and_cumulates_buckets() {
        let counters = vec![
            row("mails", "trashed", 3),
            row("builds_triggered", "bionic-presubmit", 2),
            row("request_bucket", "gerrit 0.01", 1),
            row("request_bucket", "gerrit 1", 2),
            row("request_count", "gerrit", 3),
            row("request_micros", "gerrit", 1_500_000),
        ];
        let waiting = vec![WaitingRow {
            kind: "review".into(),
            pending: 2,
            oldest: 1_000,
        }];
        let text = encode(&counters, &waiting, 11_000);
        for line in [
            "bionicbb_mails_total{outcome=\"trashed\"} 3",
            "bionicbb_builds_triggered_total{job=\"bionic-presubmit\"} 2",
            "bionicbb_mail_last_handled_timestamp_seconds 5.0",
            "bionicbb_outbox_pending{kind=\"review\"} 2.0",
            "bionicbb_outbox_oldest_age_seconds{kind=\"review\"} 10.0",
            "bionicbb_outbox_oldest_age_seconds{kind=\"trigger\"} 0.0",
            "bionicbb_request_duration_seconds_bucket{le=\"0.005\",service=\"gerrit\"} 0",
            "bionicbb_request_duration_seconds_bucket{le=\"0.01\",service=\"gerrit\"} 1",
            "bionicbb_request_duration_seconds_bucket{le=\"+Inf\",service=\"gerrit\"} 3",
            "bionicbb_request_duration_seconds_count{service=\"gerrit\"} 3",
            "bionicbb_request_duration_seconds_sum{service=\"gerrit\"} 1.5",
            "bionicbb_request_duration_seconds_bucket{le=\"1.0\",service=\"gerrit\"} 3",
            "bionicbb_request_duration_seconds_count{service=\"gmail\"} 0",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
    }

    #[test]
    fn every_kind_has_a_pending_and_an_age_sample_when_nothing_waits() {
        let text = encode(&[], &[], 11_000);
        for kind in KINDS {
            let kind = kind.as_str();
            for name in [
                "bionicbb_outbox_pending",
                "bionicbb_outbox_oldest_age_seconds",
            ] {
                let line = format!("{name}{{kind=\"{kind}\"}} 0.0");
                assert!(text.contains(&line), "no {line:?} in\n{text}");
            }
        }
    }

    #[test]
    fn a_kind_that_waits_counts_beside_the_zeros_of_the_others() {
        let waiting = vec![WaitingRow {
            kind: "mail_move".into(),
            pending: 3,
            oldest: 8_000,
        }];
        let text = encode(&[], &waiting, 11_000);
        for line in [
            "bionicbb_outbox_pending{kind=\"mail_move\"} 3.0",
            "bionicbb_outbox_pending{kind=\"review\"} 0.0",
            "bionicbb_outbox_oldest_age_seconds{kind=\"mail_move\"} 3.0",
            "bionicbb_outbox_oldest_age_seconds{kind=\"trigger\"} 0.0",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
    }

    #[test]
    fn a_duration_lands_in_the_first_bucket_that_holds_it() {
        let t = Timings::default();
        t.observe(Service::Jenkins, Duration::from_millis(7));
        t.observe(Service::Jenkins, Duration::from_secs(100));
        let all = t.pending.lock().unwrap_or_else(|p| p.into_inner());
        let p = all[Service::Jenkins.index()];
        assert_eq!((p.buckets[1], p.buckets[BUCKETS.len()], p.count), (1, 1, 2));
    }
}
