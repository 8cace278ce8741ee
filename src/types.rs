//! Newtypes for the identifiers that cross process and service boundaries.
//!
//! Each has `Display` and `FromStr` kept in sync, so a value that went into a URL, a Jenkins
//! parameter or the state database comes back out as the same value.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Errors from parsing an identifier.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    #[error("`{0}` is not a change ref (expected refs/changes/NN/CHANGE/PATCHSET)")]
    NotAChangeRef(String),
    #[error("`{0}` is not a change (expected project~number)")]
    NotAChange(String),
    #[error("`{0}` is not a patch set number")]
    BadPatchSet(String),
    #[error(
        "project `{0}` has no Jenkins PROJECT value: it needs a first path component and a \
         remainder that does not start with platform/"
    )]
    ProjectParam(String),
}

/// A patch set number (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PatchSet(pub u32);

impl fmt::Display for PatchSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for PatchSet {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        match s.trim().parse::<u32>() {
            Ok(n) if n > 0 => Ok(PatchSet(n)),
            _ => Err(IdError::BadPatchSet(s.to_string())),
        }
    }
}

/// A Gerrit change ref, `refs/changes/NN/CHANGE/PATCHSET`, where NN is CHANGE mod 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GerritRef {
    pub change: u64,
    pub patch_set: PatchSet,
}

impl fmt::Display for GerritRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refs/changes/{:02}/{}/{}",
            self.change % 100,
            self.change,
            self.patch_set
        )
    }
}

impl FromStr for GerritRef {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::NotAChangeRef(s.chars().take(120).collect());
        let rest = s.strip_prefix("refs/changes/").ok_or_else(bad)?;
        let mut parts = rest.split('/');
        let (Some(nn), Some(change), Some(ps), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let digits =
            |p: &str| !p.is_empty() && p.len() <= 19 && p.bytes().all(|b| b.is_ascii_digit());
        if nn.len() != 2 || !digits(nn) || !digits(change) || !digits(ps) {
            return Err(bad());
        }
        let change: u64 = change.parse().map_err(|_| bad())?;
        let nn: u64 = nn.parse().map_err(|_| bad())?;
        let patch_set: PatchSet = ps.parse().map_err(|_| bad())?;
        if change == 0 || change % 100 != nn {
            return Err(bad());
        }
        Ok(GerritRef { change, patch_set })
    }
}

/// A Gerrit project name such as `platform/bionic`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Project(pub String);

impl Project {
    /// The Jenkins `PROJECT` parameter: the project without its first path component
    /// (`platform/bionic` -> `bionic`). SPEC §4: a project with no second component, or whose
    /// remainder still starts with `platform/`, is a configuration error.
    pub fn jenkins_param(&self) -> Result<String, IdError> {
        match self.0.split_once('/') {
            Some((first, rest))
                if !first.is_empty() && !rest.is_empty() && !rest.starts_with("platform/") =>
            {
                Ok(rest.to_string())
            }
            _ => Err(IdError::ProjectParam(self.0.clone())),
        }
    }
}

impl fmt::Display for Project {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A change as the bot keeps it: `project~number`. Numbers are unique on a server; the project
/// makes the name readable and the REST id unambiguous (the Gerrit client encodes it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChangeRef {
    pub project: String,
    pub number: u64,
}

impl fmt::Display for ChangeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}~{}", self.project, self.number)
    }
}

impl From<&ChangeRef> for String {
    fn from(c: &ChangeRef) -> String {
        c.to_string()
    }
}

impl FromStr for ChangeRef {
    type Err = IdError;
    fn from_str(s: &str) -> Result<ChangeRef, IdError> {
        let bad = || IdError::NotAChange(s.chars().take(120).collect());
        let (project, number) = s.rsplit_once('~').ok_or_else(bad)?;
        let number: u64 = number.parse().map_err(|_| bad())?;
        if project.is_empty() || project.contains('~') || number == 0 {
            return Err(bad());
        }
        Ok(ChangeRef {
            project: project.to_string(),
            number,
        })
    }
}

/// How to address one change in Gerrit's REST API, unambiguously where the mail allows it.
///
/// A bare Change-Id can match several changes (cherry-picks keep it) and then Gerrit answers
/// 404 "Multiple changes found", so we prefer `project~number`, then `project~branch~Change-Id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChangeLocator {
    Number {
        project: String,
        number: u64,
    },
    Triplet {
        project: String,
        branch: String,
        change_id: String,
    },
}

impl ChangeLocator {
    /// The change as the bot names it (`project~number`, else `project~branch~Change-Id`);
    /// the Gerrit client makes the REST id of it.
    pub fn plain_id(&self) -> String {
        match self {
            ChangeLocator::Number { project, number } => format!("{project}~{number}"),
            ChangeLocator::Triplet {
                project,
                branch,
                change_id,
            } => {
                format!("{project}~{branch}~{change_id}")
            }
        }
    }
}

impl fmt::Display for ChangeLocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.plain_id())
    }
}

/// `build.phase`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Queued,
    Started,
    Completed,
    Finalized,
    Other(String),
}

impl Phase {
    pub fn parse(s: &str) -> Phase {
        match s {
            "QUEUED" => Phase::Queued,
            "STARTED" => Phase::Started,
            "COMPLETED" => Phase::Completed,
            "FINALIZED" => Phase::Finalized,
            other => Phase::Other(other.to_string()),
        }
    }

    /// COMPLETED and FINALIZED both carry the result; whichever comes first is acted on.
    pub fn is_finished(&self) -> bool {
        matches!(self, Phase::Completed | Phase::Finalized)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Queued => "QUEUED",
            Phase::Started => "STARTED",
            Phase::Completed => "COMPLETED",
            Phase::Finalized => "FINALIZED",
            Phase::Other(s) => s,
        })
    }
}

/// The phases a build's callbacks brought, each once, in the order they first came; stored
/// as their names separated by spaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phases(Vec<Phase>);

impl Phases {
    /// Reads the stored form.
    pub fn read(s: &str) -> Phases {
        let mut phases = Phases::default();
        for name in s.split(' ').filter(|n| !n.is_empty()) {
            phases = phases.with(&Phase::parse(name));
        }
        phases
    }

    /// These phases and `phase`, if it is new.
    pub fn with(mut self, phase: &Phase) -> Phases {
        if !self.0.contains(phase) {
            self.0.push(phase.clone());
        }
        self
    }

    /// The phases' names, in arrival order.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for Phases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(" "))
    }
}

/// `build.status`: Jenkins' `Result` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildResult {
    Success,
    Unstable,
    Failure,
    NotBuilt,
    Aborted,
    Other(String),
}

impl BuildResult {
    pub fn parse(s: &str) -> BuildResult {
        match s {
            "SUCCESS" => BuildResult::Success,
            "UNSTABLE" => BuildResult::Unstable,
            "FAILURE" => BuildResult::Failure,
            "NOT_BUILT" => BuildResult::NotBuilt,
            "ABORTED" => BuildResult::Aborted,
            other => BuildResult::Other(other.to_string()),
        }
    }
}

impl fmt::Display for BuildResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildResult::Success => "SUCCESS",
            BuildResult::Unstable => "UNSTABLE",
            BuildResult::Failure => "FAILURE",
            BuildResult::NotBuilt => "NOT_BUILT",
            BuildResult::Aborted => "ABORTED",
            BuildResult::Other(s) => s,
        })
    }
}

/// SPEC §14's build statuses, plus `not_triggered` for a trigger that failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStatus {
    Pending,
    Building,
    Successful,
    Failed,
    Unstable,
    Aborted,
    Cancelled,
    NotTriggered,
}

impl BuildStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Pending => "pending",
            BuildStatus::Building => "building",
            BuildStatus::Successful => "successful",
            BuildStatus::Failed => "failed",
            BuildStatus::Unstable => "unstable",
            BuildStatus::Aborted => "aborted",
            BuildStatus::Cancelled => "cancelled",
            BuildStatus::NotTriggered => "not_triggered",
        }
    }

    pub fn parse(s: &str) -> Option<BuildStatus> {
        Some(match s {
            "pending" => BuildStatus::Pending,
            "building" => BuildStatus::Building,
            "successful" => BuildStatus::Successful,
            "failed" => BuildStatus::Failed,
            "unstable" => BuildStatus::Unstable,
            "aborted" => BuildStatus::Aborted,
            "cancelled" => BuildStatus::Cancelled,
            "not_triggered" => BuildStatus::NotTriggered,
            _ => return None,
        })
    }

    /// The status of a finished build from Jenkins' result.
    pub fn from_result(result: &BuildResult) -> BuildStatus {
        match result {
            BuildResult::Success => BuildStatus::Successful,
            BuildResult::Unstable => BuildStatus::Unstable,
            BuildResult::Aborted | BuildResult::NotBuilt => BuildStatus::Aborted,
            BuildResult::Failure | BuildResult::Other(_) => BuildStatus::Failed,
        }
    }

    /// Jenkins' name for a finished build's status (`RUNNING` while it has none).
    pub fn result_name(self) -> &'static str {
        match self {
            BuildStatus::Successful => "SUCCESS",
            BuildStatus::Failed => "FAILURE",
            BuildStatus::Unstable => "UNSTABLE",
            BuildStatus::Aborted => "ABORTED",
            BuildStatus::Cancelled => "CANCELLED",
            BuildStatus::Pending | BuildStatus::Building | BuildStatus::NotTriggered => "RUNNING",
        }
    }

    /// Whether Jenkins finished the build (a result a vote can count).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            BuildStatus::Successful
                | BuildStatus::Failed
                | BuildStatus::Unstable
                | BuildStatus::Aborted
        )
    }
}

/// The latest build of each job of a patch set, as the bot triggered them (no target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sibling {
    pub job: String,
    pub number: Option<u64>,
    pub status: Option<BuildStatus>,
    pub url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_project_tilde_number_and_read_back_so() {
        let c: ChangeRef = "platform/bionic~1234".parse().unwrap();
        assert_eq!(c.project, "platform/bionic");
        assert_eq!(c.number, 1234);
        assert_eq!(c.to_string(), "platform/bionic~1234");
        for bad in ["", "1234", "~5", "p~x", "p~0", "p~main~I0123", "p~-1"] {
            assert!(bad.parse::<ChangeRef>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn change_refs_round_trip() {
        let r: GerritRef = "refs/changes/45/123445/3".parse().unwrap();
        assert_eq!(r.change, 123445);
        assert_eq!(r.patch_set, PatchSet(3));
        assert_eq!(r.to_string(), "refs/changes/45/123445/3");
        let small: GerritRef = "refs/changes/07/7/1".parse().unwrap();
        assert_eq!(small.to_string(), "refs/changes/07/7/1");
    }

    #[test]
    fn malformed_change_refs_are_rejected() {
        for bad in [
            "",
            "refs/heads/main",
            "refs/changes/45/123445",
            "refs/changes/45/123445/3/4",
            "refs/changes/44/123445/3",
            "refs/changes/45/123445/0",
            "refs/changes/45/123445/x",
            "refs/changes/5/5/1",
            "refs/changes/00/0/1",
            "refs/changes/45/99999999999999999999945/1",
            "refs/changes/45/+123445/1",
        ] {
            assert!(bad.parse::<GerritRef>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn project_parameter_drops_the_first_component() {
        let p = |s: &str| Project(s.to_string()).jenkins_param();
        assert_eq!(p("platform/bionic").unwrap(), "bionic");
        assert_eq!(
            p("platform/external/jemalloc").unwrap(),
            "external/jemalloc"
        );
        assert!(p("bionic").is_err());
        assert!(p("platform/").is_err());
        assert!(p("/bionic").is_err());
        assert!(p("device/platform/x").is_err());
    }

    #[test]
    fn locators_name_changes_as_gerrit_writes_them() {
        let n = ChangeLocator::Number {
            project: "platform/bionic".into(),
            number: 1234,
        };
        assert_eq!(n.plain_id(), "platform/bionic~1234");
        let t = ChangeLocator::Triplet {
            project: "platform/bionic".into(),
            branch: "main".into(),
            change_id: "I0123".into(),
        };
        assert_eq!(t.plain_id(), "platform/bionic~main~I0123");
    }
}
