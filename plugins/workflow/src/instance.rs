//! Workflow instances: one run of a definition version on a subject, its
//! current state and full history, and the rules for taking a transition.
//! Pure: nothing here calls the kernel.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_sdk::Error;

use crate::definition::{Definition, Transition};

/// Longest transition comment, in bytes.
pub const MAX_COMMENT: usize = 4000;
/// Longest subject type or id, in bytes.
const MAX_SUBJECT: usize = 200;

/// What an instance is about: an asset of another plugin (`{"type":
/// "cms.entry", "id": "42"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// The kind of asset, e.g. `cms.entry` or `commerce.order`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The asset's id.
    pub id: String,
}

impl Subject {
    /// `Ok` when type and id have 1 to 200 bytes without control characters.
    pub fn validate(&self) -> Result<(), Error> {
        for (field, value) in [("subject.type", &self.kind), ("subject.id", &self.id)] {
            if value.is_empty() || value.len() > MAX_SUBJECT || value.chars().any(char::is_control)
            {
                return Err(Error::bad_request(format!(
                    "`{field}` must have 1 to {MAX_SUBJECT} bytes without control characters"
                )));
            }
        }
        Ok(())
    }
}

/// One entry of an instance's history: the start (no `from`, no
/// `transition`) or a transition taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The state left; `None` for the start.
    pub from: Option<String>,
    /// The state entered.
    pub to: String,
    /// The transition taken; `None` for the start.
    pub transition: Option<String>,
    /// Username of who did it, or `system` (timers, starts by event).
    pub by: String,
    /// Their user id, when a user did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_id: Option<String>,
    /// When, in milliseconds since the Unix epoch.
    pub at: u64,
    /// The comment given with the transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One run of a workflow definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Unique id.
    pub id: String,
    /// The site it belongs to.
    pub site: String,
    /// The definition key.
    pub definition: String,
    /// The definition version it was started on and keeps following.
    pub version: u32,
    /// What it is about.
    pub subject: Subject,
    /// Free data given at the start.
    #[serde(default)]
    pub data: Value,
    /// The current state.
    pub state: String,
    /// Whether the current state is terminal.
    pub completed: bool,
    /// When it started (ms since the epoch).
    pub created_at: u64,
    /// When it last changed (ms since the epoch).
    pub updated_at: u64,
    /// Every step, the start first.
    pub history: Vec<Step>,
}

/// Who takes a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The plugin itself: timers and starts by event. Not bound by roles.
    System,
    /// A signed-in user with the roles they hold on the instance's site.
    User {
        /// User id.
        id: String,
        /// Username.
        username: String,
        /// Role names.
        roles: Vec<String>,
    },
}

impl Actor {
    /// The `by` of a history step.
    pub fn name(&self) -> &str {
        match self {
            Actor::System => "system",
            Actor::User { username, .. } => username,
        }
    }

    fn id(&self) -> Option<String> {
        match self {
            Actor::System => None,
            Actor::User { id, .. } => Some(id.clone()),
        }
    }

    /// Whether this actor may take `transition`: the system always, a user
    /// when they hold one of its roles.
    pub fn may_take(&self, transition: &Transition) -> bool {
        match self {
            Actor::System => true,
            Actor::User { roles, .. } => transition.roles.iter().any(|role| roles.contains(role)),
        }
    }
}

/// Everything needed to start an instance.
#[derive(Debug, Clone)]
pub struct Start<'a> {
    /// The new instance's id.
    pub id: String,
    /// Its site.
    pub site: String,
    /// The definition key.
    pub key: &'a str,
    /// The definition version.
    pub version: u32,
    /// The definition itself.
    pub definition: &'a Definition,
    /// The subject.
    pub subject: Subject,
    /// Free data.
    pub data: Value,
    /// Who starts it.
    pub actor: &'a Actor,
    /// Now, in ms since the epoch.
    pub now: u64,
}

impl Instance {
    /// A new instance in the definition's initial state, its history
    /// holding the start.
    pub fn start(start: Start<'_>) -> Instance {
        let state = start.definition.initial.clone();
        Instance {
            id: start.id,
            site: start.site,
            definition: start.key.to_owned(),
            version: start.version,
            subject: start.subject,
            data: start.data,
            completed: start.definition.is_terminal(&state),
            created_at: start.now,
            updated_at: start.now,
            history: vec![Step {
                from: None,
                to: state.clone(),
                transition: None,
                by: start.actor.name().to_owned(),
                by_id: start.actor.id(),
                at: start.now,
                comment: None,
            }],
            state,
        }
    }

    /// Takes the transition `name` as `actor`: 409 `invalid_transition` when
    /// it does not leave the current state (the message names those that
    /// do), 403 `role_required` when the actor holds none of its roles.
    /// On success the state and history are updated.
    pub fn take(
        &mut self,
        definition: &Definition,
        name: &str,
        actor: &Actor,
        comment: Option<String>,
        now: u64,
    ) -> Result<(), Error> {
        if let Some(comment) = &comment
            && comment.len() > MAX_COMMENT
        {
            return Err(Error::bad_request(format!(
                "`comment` has {} bytes; the limit is {MAX_COMMENT}",
                comment.len()
            )));
        }
        let allowed: Vec<&str> = definition
            .transitions_from(&self.state)
            .map(|transition| transition.name.as_str())
            .collect();
        let transition = definition
            .transition(name)
            .filter(|transition| transition.from.contains(&self.state));
        let Some(transition) = transition else {
            let known = if definition.transition(name).is_some() {
                format!("`{name}` does not leave the state `{}`", self.state)
            } else {
                format!("the definition has no transition `{name}`")
            };
            let options = if allowed.is_empty() {
                format!("the instance is completed in `{}`", self.state)
            } else {
                format!("allowed from `{}`: {}", self.state, allowed.join(", "))
            };
            return Err(Error::new(
                409,
                "invalid_transition",
                format!("{known}; {options}"),
            ));
        };
        if !actor.may_take(transition) {
            let message = if transition.roles.is_empty() {
                format!("`{name}` is taken by its timer only")
            } else {
                format!(
                    "`{name}` needs one of the roles: {}",
                    transition.roles.join(", ")
                )
            };
            return Err(Error::new(403, "role_required", message));
        }
        self.history.push(Step {
            from: Some(self.state.clone()),
            to: transition.to.clone(),
            transition: Some(transition.name.clone()),
            by: actor.name().to_owned(),
            by_id: actor.id(),
            at: now,
            comment: comment.filter(|comment| !comment.trim().is_empty()),
        });
        self.state = transition.to.clone();
        self.completed = definition.is_terminal(&self.state);
        self.updated_at = now;
        Ok(())
    }

    /// The transitions leaving the current state that `actor` may take.
    pub fn available<'a>(
        &'a self,
        definition: &'a Definition,
        actor: &'a Actor,
    ) -> impl Iterator<Item = &'a Transition> {
        definition
            .transitions_from(&self.state)
            .filter(move |transition| {
                matches!(actor, Actor::User { .. }) && actor.may_take(transition)
            })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::definition::tests::approval;

    fn user(name: &str, roles: &[&str]) -> Actor {
        Actor::User {
            id: format!("u-{name}"),
            username: name.to_owned(),
            roles: roles.iter().map(|role| (*role).to_owned()).collect(),
        }
    }

    fn started(definition: &Definition, by: &Actor) -> Instance {
        Instance::start(Start {
            id: "1".into(),
            site: "default".into(),
            key: "approval",
            version: 3,
            definition,
            subject: Subject {
                kind: "cms.entry".into(),
                id: "42".into(),
            },
            data: json!({"title": "Hello"}),
            actor: by,
            now: 1000,
        })
    }

    #[test]
    fn an_approval_runs_and_keeps_its_history() {
        let definition = approval();
        let author = user("ada", &["author"]);
        let reviewer = user("rex", &["reviewer"]);
        let mut instance = started(&definition, &author);
        assert_eq!(
            (instance.state.as_str(), instance.completed),
            ("draft", false)
        );
        instance
            .take(&definition, "submit", &author, None, 2000)
            .unwrap();
        instance
            .take(
                &definition,
                "approve",
                &reviewer,
                Some("looks good".into()),
                3000,
            )
            .unwrap();
        assert_eq!(
            (instance.state.as_str(), instance.completed),
            ("approved", true)
        );
        let steps: Vec<_> = instance
            .history
            .iter()
            .map(|s| {
                (
                    s.from.as_deref(),
                    s.to.as_str(),
                    s.transition.as_deref(),
                    s.by.as_str(),
                    s.at,
                )
            })
            .collect();
        assert_eq!(
            steps,
            [
                (None, "draft", None, "ada", 1000),
                (Some("draft"), "submitted", Some("submit"), "ada", 2000),
                (Some("submitted"), "approved", Some("approve"), "rex", 3000),
            ]
        );
        assert_eq!(instance.history[2].comment.as_deref(), Some("looks good"));
        assert_eq!(instance.history[2].by_id.as_deref(), Some("u-rex"));
        assert_eq!(instance.updated_at, 3000);
        let json = serde_json::to_value(&instance).unwrap();
        assert_eq!(json["subject"], json!({"type": "cms.entry", "id": "42"}));
        assert_eq!(serde_json::from_value::<Instance>(json).unwrap(), instance);
    }

    #[test]
    fn invalid_transitions_name_the_allowed_ones() {
        let definition = approval();
        let author = user("ada", &["author", "reviewer"]);
        let mut instance = started(&definition, &author);
        let error = instance
            .take(&definition, "approve", &author, None, 2)
            .unwrap_err();
        assert_eq!(
            (error.status, error.code.as_str()),
            (409, "invalid_transition")
        );
        assert!(
            error
                .message
                .contains("`approve` does not leave the state `draft`"),
            "{error}"
        );
        assert!(
            error.message.contains("allowed from `draft`: submit"),
            "{error}"
        );
        let error = instance
            .take(&definition, "fly", &author, None, 2)
            .unwrap_err();
        assert!(error.message.contains("no transition `fly`"), "{error}");
        instance
            .take(&definition, "submit", &author, None, 2)
            .unwrap();
        instance
            .take(&definition, "reject", &author, None, 3)
            .unwrap();
        let error = instance
            .take(&definition, "approve", &author, None, 4)
            .unwrap_err();
        assert_eq!(error.status, 409);
        assert!(error.message.contains("completed in `rejected`"), "{error}");
        assert_eq!(instance.history.len(), 3, "refusals leave no trace");
    }

    #[test]
    fn roles_are_required_but_not_of_the_system() {
        let definition = approval();
        let author = user("ada", &["author"]);
        let mut instance = started(&definition, &author);
        instance
            .take(&definition, "submit", &author, None, 2)
            .unwrap();
        let error = instance
            .take(&definition, "approve", &author, None, 3)
            .unwrap_err();
        assert_eq!((error.status, error.code.as_str()), (403, "role_required"));
        assert!(error.message.contains("reviewer, chief"), "{error}");
        // A timer-only transition: no user may take it, the system may.
        let chief = user("cy", &["chief", "reviewer"]);
        let error = instance
            .take(&definition, "escalate", &chief, None, 3)
            .unwrap_err();
        assert_eq!(error.code, "role_required");
        assert!(error.message.contains("timer only"), "{error}");
        instance
            .take(&definition, "escalate", &Actor::System, None, 4)
            .unwrap();
        assert_eq!(instance.state, "escalated");
        assert_eq!(instance.history[2].by, "system");
        assert_eq!(instance.history[2].by_id, None);
        // Any one of the listed roles suffices.
        instance
            .take(&definition, "approve", &user("cy", &["chief"]), None, 5)
            .unwrap();
    }

    #[test]
    fn available_transitions_follow_roles() {
        let definition = approval();
        let reviewer = user("rex", &["reviewer"]);
        let mut instance = started(&definition, &user("ada", &["author"]));
        assert_eq!(instance.available(&definition, &reviewer).count(), 0);
        instance.state = "submitted".into();
        let names: Vec<_> = instance
            .available(&definition, &reviewer)
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["approve", "reject"], "not the timer's escalate");
    }

    #[test]
    fn comments_and_subjects_are_bounded() {
        let definition = approval();
        let author = user("ada", &["author"]);
        let mut instance = started(&definition, &author);
        let error = instance
            .take(
                &definition,
                "submit",
                &author,
                Some("x".repeat(MAX_COMMENT + 1)),
                2,
            )
            .unwrap_err();
        assert_eq!(error.status, 400);
        instance
            .take(&definition, "submit", &author, Some("  ".into()), 2)
            .unwrap();
        assert_eq!(
            instance.history[1].comment, None,
            "blank comments are dropped"
        );
        assert!(
            Subject {
                kind: "".into(),
                id: "1".into()
            }
            .validate()
            .is_err()
        );
        assert!(
            Subject {
                kind: "t".into(),
                id: "a\nb".into()
            }
            .validate()
            .is_err()
        );
        assert!(
            Subject {
                kind: "t".into(),
                id: "a/b c".into()
            }
            .validate()
            .is_ok()
        );
    }
}
