//! Who the bot trusts (SPEC §11): an account is trusted when its email (as Gerrit knows it) is
//! one of `[presubmit] trusted_accounts` or its domain is exactly one of `trusted_domains`.
//! Automatic builds need both the committer (which anyone can write into a commit) and the
//! uploader (whom Gerrit authenticated) to be trusted; commands need a trusted commenter.

use crate::command::{self, Command};
use crate::config::PresubmitConfig;
use crate::gerrit::{Account, ChangeFacts};

use super::comment;

/// The domain (after the last `@`) must equal a trusted domain exactly:
/// `a@google.com.evil.com` is not `google.com`.
pub fn is_trusted(email: &str, trusted_domains: &[String]) -> bool {
    match email.trim().rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() => trusted_domains
            .iter()
            .any(|t| t.eq_ignore_ascii_case(domain)),
        _ => false,
    }
}

/// `trusted_accounts` (exact, case-insensitive) or a trusted domain.
pub fn is_trusted_email(email: &str, cfg: &PresubmitConfig) -> bool {
    let email = email.trim();
    cfg.trusted_accounts
        .iter()
        .any(|a| a.trim().eq_ignore_ascii_case(email))
        || is_trusted(email, &cfg.trusted_domains)
}

/// Whether Gerrit's account (with its email) is trusted; an account without an email is not.
pub fn is_trusted_account(a: Option<&Account>, cfg: &PresubmitConfig) -> bool {
    a.and_then(|a| a.email.as_deref())
        .is_some_and(|e| is_trusted_email(e, cfg))
}

/// How an account is named in a line: its email, else its name, else its id.
pub fn describe(a: Option<&Account>) -> String {
    match a {
        Some(Account { email: Some(e), .. }) => e.clone(),
        Some(Account { name: Some(n), .. }) => n.clone(),
        Some(a) => format!("account {}", a.id),
        None => "an unknown account".into(),
    }
}

/// Whether a trusted account (not the bot) said `bionicbb: ok-to-test` on the change's
/// current patch set, which lets that patch set of an untrusted committer or uploader build.
pub fn approved_for_testing(f: &ChangeFacts, cfg: &PresubmitConfig, bot_id: Option<u64>) -> bool {
    f.messages.iter().any(|m| {
        m.patch_set == Some(f.current_patch_set.0)
            && m.author.is_some()
            && m.author != bot_id
            && is_trusted_account(m.author_account.as_ref(), cfg)
            && command::parse(&comment::message_text(m, &f.comments), &cfg.targets)
                .iter()
                .any(|c| matches!(c, Ok(Command::OkToTest)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn cfg() -> PresubmitConfig {
        let mut c = Config::parse(include_str!("../../config.example.toml"), "example")
            .expect("example")
            .presubmit;
        c.trusted_accounts = vec!["Alice@Example.org".into()];
        c
    }

    #[test]
    fn accounts_are_trusted_by_exact_address_or_exact_domain() {
        let c = cfg();
        for (email, trusted) in [
            ("dev@google.com", true),
            ("DEV@GOOGLE.COM", true),
            ("alice@example.org", true),
            (" alice@EXAMPLE.org ", true),
            ("bob@example.org", false),
            ("a@google.com.evil.com", false),
            ("a@evil-google.com", false),
            ("@google.com", false),
            ("google.com", false),
            ("", false),
        ] {
            assert_eq!(is_trusted_email(email, &c), trusted, "{email}");
        }
        let account = |email: Option<&str>| Account {
            id: 7,
            name: Some("A".into()),
            email: email.map(String::from),
        };
        assert!(is_trusted_account(Some(&account(Some("x@google.com"))), &c));
        assert!(!is_trusted_account(Some(&account(None)), &c));
        assert!(!is_trusted_account(None, &c));
    }
}
