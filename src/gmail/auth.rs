//! Authorising the bot's Gmail account (OAuth 2 installed-app flow through yup-oauth2), and
//! the token cache it leaves behind.
//!
//! yup-oauth2 falls back to the interactive flow whenever a refresh fails; the daemon's flow
//! delegate ([`Authorize::Never`]) refuses, so a dead token is an error that says what to do,
//! never a hang. `--authorize` uses a delegate that prints the consent URL and reads the code.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use google_gmail1::api::Scope;
use yup_oauth2::authenticator_delegate::InstalledFlowDelegate;

use crate::config::GmailConfig;

use super::GmailError;

/// How to obtain a token when none is stored (or the stored one cannot be refreshed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorize {
    /// Never prompt: the daemon's mode.
    Never,
    /// Print the consent URL and read the redirected `http://localhost:PORT/?code=…` URL (or the
    /// bare code) from standard input. Works on a headless server without a tunnel.
    Paste { port: u16 },
    /// Print the consent URL and wait for the browser's redirect on `127.0.0.1:PORT` (for a
    /// workstation, or a server reached with `ssh -L PORT:localhost:PORT`).
    Loopback { port: u16 },
}

pub(super) const NOT_AUTHORISED: &str = "Gmail access is not authorised, or the stored token could not be \
    refreshed. If this repeats, run `gmail-listener --config <file> --authorize` once in a \
    terminal (README: \"Authorise Gmail\"); a transient refresh failure heals on the next poll";

/// The daemon's delegate: refuses every interactive prompt.
struct NoPrompt;

impl InstalledFlowDelegate for NoPrompt {
    fn present_user_url<'a>(
        &'a self,
        _url: &'a str,
        _need_code: bool,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>> {
        Box::pin(async { Err(NOT_AUTHORISED.to_string()) })
    }
}

/// The `--authorize` delegate: prints instructions, reads the redirected URL or code.
struct PasteCode {
    redirect: String,
}

impl InstalledFlowDelegate for PasteCode {
    fn redirect_uri(&self) -> Option<&str> {
        Some(&self.redirect)
    }

    fn present_user_url<'a>(
        &'a self,
        url: &'a str,
        need_code: bool,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>> {
        Box::pin(async move {
            use tokio::io::AsyncBufReadExt;
            println!(
                "Open this URL in a browser signed in to the bot's Google account:\n\n  {url}\n"
            );
            if !need_code {
                println!(
                    "Waiting for the browser to come back to {} ...",
                    self.redirect
                );
                return Ok(String::new());
            }
            println!(
                "After you allow access, the browser goes to {}/?code=… and shows an error page \
                 (nothing listens there; that is expected).\nCopy that whole URL from the address \
                 bar and paste it here, then press Enter:",
                self.redirect
            );
            let mut line = String::new();
            tokio::io::BufReader::new(tokio::io::stdin())
                .read_line(&mut line)
                .await
                .map_err(|e| format!("cannot read the code from standard input: {e}"))?;
            code_from_pasted(&line).ok_or_else(|| "no authorisation code was pasted".to_string())
        })
    }
}

/// Accepts the redirected URL (`http://localhost:8085/?code=4/0A…&scope=…`) or the bare code.
pub fn code_from_pasted(input: &str) -> Option<String> {
    let input = input.trim();
    if input.is_empty() {
        return None;
    }
    if input.contains("code=") {
        let query = input.split_once('?').map_or(input, |(_, q)| q);
        return query
            .split('&')
            .find_map(|kv| kv.strip_prefix("code="))
            .map(|c| {
                percent_encoding::percent_decode_str(c)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .filter(|c| !c.is_empty());
    }
    if input.contains("://") || input.contains('?') || input.contains(char::is_whitespace) {
        return None;
    }
    Some(input.to_string())
}

/// yup-oauth2 creates the token cache 0600, but a file copied or made by hand may be readable
/// by others: it holds a refresh token, so it is tightened (SPEC §11 files).
pub(super) fn make_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
        && let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot make the token cache private");
    }
}

pub(super) async fn read_secret(path: &Path) -> Result<yup_oauth2::ApplicationSecret, GmailError> {
    yup_oauth2::read_application_secret(path)
        .await
        .map_err(|e| {
            GmailError::Setup(format!(
                "cannot read the OAuth client secret {}: {e} (download the \"Desktop app\" OAuth \
             client JSON from the Google Cloud console; README: \"Gmail OAuth client\")",
                path.display()
            ))
        })
}

pub(super) async fn build_authenticator(
    secret: yup_oauth2::ApplicationSecret,
    token_cache: &Path,
    authorize: Authorize,
) -> Result<yup_oauth2::authenticator::DefaultAuthenticator, GmailError> {
    use yup_oauth2::{InstalledFlowAuthenticator, InstalledFlowReturnMethod as Method};
    let (method, delegate): (Method, Box<dyn InstalledFlowDelegate>) = match authorize {
        Authorize::Never => (Method::Interactive, Box::new(NoPrompt)),
        Authorize::Paste { port } => (
            Method::Interactive,
            Box::new(PasteCode {
                redirect: format!("http://localhost:{port}"),
            }),
        ),
        Authorize::Loopback { port } => (
            Method::HTTPPortRedirect(port),
            Box::new(PasteCode {
                redirect: format!("http://localhost:{port}"),
            }),
        ),
    };
    InstalledFlowAuthenticator::builder(secret, method)
        .flow_delegate(delegate)
        .force_account_selection(authorize != Authorize::Never)
        .persist_tokens_to_disk(token_cache)
        .build()
        .await
        .map_err(|e| {
            GmailError::Setup(format!(
                "cannot use the token cache {}: {e}",
                token_cache.display()
            ))
        })
}

/// Obtains a token for the `gmail.modify` scope now (prompting per `authorize`) and stores it.
pub async fn authorize_now(config: &GmailConfig, authorize: Authorize) -> Result<(), GmailError> {
    let secret = read_secret(&config.client_secret).await?;
    let auth = build_authenticator(secret, &config.token_cache, authorize).await?;
    auth.token(&[Scope::Modify.as_ref()])
        .await
        .map(|_| ())
        .map_err(|e| GmailError::Auth(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_redirect_urls_and_bare_codes_give_the_code() {
        assert_eq!(
            code_from_pasted("http://localhost:8085/?code=4%2F0Aabc&scope=https://x\n").as_deref(),
            Some("4/0Aabc")
        );
        assert_eq!(code_from_pasted("  4/0Aabc \n").as_deref(), Some("4/0Aabc"));
        assert_eq!(code_from_pasted("\n"), None);
        assert_eq!(
            code_from_pasted("http://localhost:8085/?error=access_denied"),
            None
        );
    }
}
