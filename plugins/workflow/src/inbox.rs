//! The task inbox: the open instances whose current state has a transition
//! the caller's roles may take. Pure: nothing here calls the kernel.

use serde::Serialize;

use crate::definition::Definition;
use crate::instance::{Actor, Instance, Subject};

/// A transition offered in a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offer {
    /// The transition's name.
    pub name: String,
    /// Where it leads.
    pub to: String,
}

/// One task: an instance waiting for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    /// The instance id.
    pub instance: String,
    /// The definition key.
    pub definition: String,
    /// The definition version.
    pub version: u32,
    /// The definition's name.
    pub name: String,
    /// What the instance is about.
    pub subject: Subject,
    /// Its current state.
    pub state: String,
    /// Since when it is in that state (ms since the epoch).
    pub since: u64,
    /// The transitions the caller may take.
    pub transitions: Vec<Offer>,
}

/// The task `instance` (run on `definition`) is for `actor`, if any.
pub fn task_for(instance: &Instance, definition: &Definition, actor: &Actor) -> Option<Task> {
    if instance.completed {
        return None;
    }
    let transitions: Vec<Offer> = instance
        .available(definition, actor)
        .map(|transition| Offer {
            name: transition.name.clone(),
            to: transition.to.clone(),
        })
        .collect();
    if transitions.is_empty() {
        return None;
    }
    Some(Task {
        instance: instance.id.clone(),
        definition: instance.definition.clone(),
        version: instance.version,
        name: definition.name.clone(),
        subject: instance.subject.clone(),
        state: instance.state.clone(),
        since: instance.updated_at,
        transitions,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::definition::tests::approval;
    use crate::instance::Start;

    fn user(roles: &[&str]) -> Actor {
        Actor::User {
            id: "u".into(),
            username: "u".into(),
            roles: roles.iter().map(|role| (*role).to_owned()).collect(),
        }
    }

    #[test]
    fn tasks_follow_the_state_and_the_roles() {
        let definition = approval();
        let author = user(&["author"]);
        let reviewer = user(&["reviewer"]);
        let mut instance = Instance::start(Start {
            id: "7".into(),
            site: "default".into(),
            key: "approval",
            version: 1,
            definition: &definition,
            subject: Subject {
                kind: "cms.entry".into(),
                id: "42".into(),
            },
            data: json!(null),
            actor: &author,
            now: 5,
        });
        let task = task_for(&instance, &definition, &author).unwrap();
        assert_eq!(
            task.transitions,
            [Offer {
                name: "submit".into(),
                to: "submitted".into()
            }]
        );
        assert_eq!((task.instance.as_str(), task.since), ("7", 5));
        assert!(task_for(&instance, &definition, &reviewer).is_none());
        instance
            .take(&definition, "submit", &author, None, 9)
            .unwrap();
        assert!(task_for(&instance, &definition, &author).is_none());
        let task = task_for(&instance, &definition, &reviewer).unwrap();
        let names: Vec<_> = task.transitions.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["approve", "reject"]);
        assert_eq!(task.since, 9);
        assert!(task_for(&instance, &definition, &Actor::System).is_none());
        instance
            .take(&definition, "approve", &reviewer, None, 10)
            .unwrap();
        assert!(task_for(&instance, &definition, &reviewer).is_none());
    }
}
