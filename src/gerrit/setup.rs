//! What `--check` asks Gerrit (SPEC §16): who the netrc credentials log in as.

use reqwest::Method;
use serde::Deserialize;

use super::{Gerrit, GerritError};

/// `GET /a/accounts/self`: the account the credentials belong to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SelfAccount {
    #[serde(rename = "_account_id")]
    pub account_id: u64,
    /// The preferred email; Gerrit leaves it out when the account has none.
    #[serde(default)]
    pub email: Option<String>,
}

impl Gerrit {
    /// The account the credentials log in as (always asked, never cached: a check must see
    /// the server as it is now).
    pub async fn self_account(&self) -> Result<SelfAccount, GerritError> {
        self.call(Method::GET, "accounts/self", None).await
    }
}
