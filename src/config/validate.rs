//! What serde cannot check: URLs, names that must not be empty, ranges, and whether the sections
//! agree with each other. One function per section; the first problem found becomes a
//! [`ConfigError`] naming the file and the dotted key.

use std::time::Duration;

use super::{
    BuildListenerConfig, Config, ConfigError, GerritConfig, GmailConfig, JenkinsConfig,
    PresubmitConfig, StateConfig, StatusConfig,
};

/// A problem one section's check found: the dotted key and what is wrong with its value.
struct Invalid {
    key: String,
    message: String,
}

type Checked = Result<(), Invalid>;

fn invalid(key: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

impl Config {
    /// Checks every section, in the order they usually appear in the file.
    pub(super) fn validate(&self, file: &str) -> Result<(), ConfigError> {
        self.check_sections()
            .map_err(|Invalid { key, message }| ConfigError {
                file: file.to_string(),
                key,
                message,
            })
    }

    fn check_sections(&self) -> Checked {
        gerrit(&self.gerrit)?;
        jenkins(&self.jenkins)?;
        gmail(&self.gmail)?;
        build_listener(&self.build_listener)?;
        state(&self.state)?;
        status(&self.status)?;
        presubmit(&self.presubmit)
    }
}

/// `[gerrit]`
fn gerrit(g: &GerritConfig) -> Checked {
    http_url("gerrit.url", &g.url)?;
    not_empty("gerrit.bot_account", &g.bot_account)?;
    positive("gerrit.timeout", g.timeout)
}

/// `[jenkins]`
fn jenkins(j: &JenkinsConfig) -> Checked {
    http_url("jenkins.url", &j.url)?;
    positive("jenkins.timeout", j.timeout)
}

/// `[gmail]`
fn gmail(g: &GmailConfig) -> Checked {
    http_url("gmail.api_url", &g.api_url)?;
    if !g.api_url.ends_with('/') {
        return Err(invalid("gmail.api_url", "must end with `/`"));
    }
    not_empty("gmail.label", &g.label)?;
    not_empty("gmail.set_aside_label", &g.set_aside_label)?;
    if g.label == g.set_aside_label {
        return Err(invalid(
            "gmail.set_aside_label",
            "must differ from gmail.label",
        ));
    }
    if g.senders.is_empty() || g.senders.iter().any(|s| s.trim().is_empty()) {
        return Err(invalid(
            "gmail.senders",
            "needs at least one non-empty pattern",
        ));
    }
    positive("gmail.full_scan_interval", g.full_scan_interval)?;
    positive("gmail.poll_interval", g.poll_interval)?;
    if !(1..=256).contains(&g.concurrency) {
        return Err(invalid("gmail.concurrency", "must be between 1 and 256"));
    }
    if g.max_attempts == 0 {
        return Err(invalid("gmail.max_attempts", "must be at least 1"));
    }
    positive("gmail.timeout", g.timeout)
}

/// `[build_listener]`
fn build_listener(b: &BuildListenerConfig) -> Checked {
    http_url("build_listener.url", &b.url)?;
    positive("build_listener.give_up_after", b.give_up_after)?;
    check_link_template(&b.build_link).map_err(|m| invalid("build_listener.build_link", m))?;
    if b.max_body_bytes < 1024 {
        return Err(invalid(
            "build_listener.max_body_bytes",
            "must be at least 1024",
        ));
    }
    if !(16..=65_536).contains(&b.max_connections) {
        return Err(invalid(
            "build_listener.max_connections",
            "must be between 16 and 65536",
        ));
    }
    Ok(())
}

/// `[state]`
fn state(s: &StateConfig) -> Checked {
    positive("state.retention", s.retention)
}

/// `[status]`
fn status(s: &StatusConfig) -> Checked {
    match &s.webhook_url {
        Some(url) => http_url("status.webhook_url", url),
        None => Ok(()),
    }
}

/// `[presubmit]`: the jobs, who is trusted, and the tables of targets and projects.
fn presubmit(p: &PresubmitConfig) -> Checked {
    not_empty("presubmit.default_job", &p.default_job)?;
    not_empty("presubmit.clean_job", &p.clean_job)?;
    trust(p)?;
    if p.max_commands_per_comment == 0 {
        return Err(invalid(
            "presubmit.max_commands_per_comment",
            "must be at least 1",
        ));
    }
    for (name, target) in &p.targets {
        presubmit_target(name, target)?;
    }
    for (project, jobs) in &p.projects {
        if jobs.as_slice().is_empty() || jobs.as_slice().iter().any(|j| j.trim().is_empty()) {
            return Err(invalid(
                &format!("presubmit.projects.\"{project}\""),
                "needs a job name, or a non-empty list of them",
            ));
        }
    }
    if let Some(j) = p.ignored_jobs.iter().find(|j| p.is_presubmit_job(j)) {
        return Err(invalid(
            "presubmit.ignored_jobs",
            format!("`{j}` is also a presubmit job: its callbacks would be ignored"),
        ));
    }
    if let Some(j) = p.non_voting_jobs.iter().find(|j| !p.is_presubmit_job(j)) {
        return Err(invalid(
            "presubmit.non_voting_jobs",
            format!("`{j}` is not a job of [presubmit.projects] or default_job"),
        ));
    }
    Ok(())
}

/// `presubmit.trusted_domains` and `presubmit.trusted_accounts`.
fn trust(p: &PresubmitConfig) -> Checked {
    if p.trusted_domains.is_empty() {
        return Err(invalid(
            "presubmit.trusted_domains",
            "is empty: no committer would ever be trusted",
        ));
    }
    if let Some(a) = p.trusted_accounts.iter().find(|a| {
        a.split_once('@')
            .is_none_or(|(l, d)| l.is_empty() || d.is_empty())
    }) {
        return Err(invalid(
            "presubmit.trusted_accounts",
            format!("`{a}` is not an email address"),
        ));
    }
    if let Some(d) = p
        .trusted_domains
        .iter()
        .find(|d| d.contains('@') || d.trim().is_empty())
    {
        return Err(invalid(
            "presubmit.trusted_domains",
            format!("`{d}` is not a domain (write `google.com`, not an address)"),
        ));
    }
    Ok(())
}

/// One entry of `[presubmit.targets]`: a command name of its own, and a lunch target.
fn presubmit_target(name: &str, target: &str) -> Checked {
    let key = format!("presubmit.targets.{name}");
    if ["retry", "clean", "ok-to-test"]
        .iter()
        .any(|b| b.eq_ignore_ascii_case(name))
    {
        return Err(invalid(&key, "is a built-in command name"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        || name.is_empty()
    {
        return Err(invalid(
            &key,
            "names may use letters, digits, `_` and `-` only",
        ));
    }
    if target.trim().is_empty() {
        return Err(invalid(&key, "must not be empty"));
    }
    Ok(())
}

fn not_empty(key: &str, value: &str) -> Checked {
    if value.trim().is_empty() {
        return Err(invalid(key, "must not be empty"));
    }
    Ok(())
}

fn positive(key: &str, d: Duration) -> Checked {
    if d.is_zero() {
        return Err(invalid(key, "must be greater than zero"));
    }
    Ok(())
}

fn http_url(key: &str, url: &str) -> Checked {
    check_http_url(url).map_err(|m| invalid(key, m))
}

fn check_http_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(u) => Err(format!(
            "`{url}` is not an http(s) URL (scheme `{}`)",
            u.scheme()
        )),
        Err(e) => Err(format!("`{url}` is not a URL: {e}")),
    }
}

/// Only `{full_url}` and `{url}` may appear in braces.
fn check_link_template(t: &str) -> Result<(), String> {
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("has an unclosed `{`")?;
        let name = &after[..close];
        if name != "full_url" && name != "url" {
            return Err(format!(
                "unknown placeholder `{{{name}}}` (use {{full_url}} or {{url}})"
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}
