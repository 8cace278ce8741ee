//! What `--check` asks Jenkins (SPEC §16): whether the credentials are accepted and which
//! parameters a job declares. Read-only requests, nothing is queued.

use super::{Jenkins, JenkinsError};

impl Jenkins {
    /// Reads Jenkins' root object: reachable and the API token accepted.
    pub async fn check_access(&self) -> Result<(), JenkinsError> {
        let url = format!("{}/api/json?tree=mode", self.base);
        self.get_json("", &url).await.map(|_| ())
    }

    /// The names of the parameters `job` declares (empty for an unparameterized job);
    /// [`JenkinsError::UnknownJob`] when Jenkins has no such job.
    pub async fn job_parameters(&self, job: &str) -> Result<Vec<String>, JenkinsError> {
        let url = format!(
            "{}/{}/api/json?tree=property[parameterDefinitions[name]]",
            self.base,
            Self::job_path(job)
        );
        let v = self.get_json(job, &url).await?;
        Ok(v["property"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["parameterDefinitions"].as_array().into_iter().flatten())
            .filter_map(|d| d["name"].as_str().map(String::from))
            .collect())
    }
}
