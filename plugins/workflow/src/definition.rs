//! Workflow definitions: states, role-guarded transitions, timers and
//! actions, and their validation. Pure: nothing here calls the kernel.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// The topic other plugins publish to start an instance; actions may not
/// publish it (the plugin would start instances from its own actions).
pub const START_TOPIC: &str = "workflow.start";

/// Longest state, transition, role and definition key name, in bytes.
const MAX_NAME: usize = 64;
/// Most states, transitions, timers or actions in one definition.
const MAX_ITEMS: usize = 200;
/// Longest timer: ten years.
const MAX_AFTER_SECS: u64 = 10 * 365 * 24 * 3600;

/// A workflow definition as an administrator writes it (`PUT
/// /definitions/{key}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// Human-readable name.
    pub name: String,
    /// Optional longer description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The state a new instance starts in.
    pub initial: String,
    /// Every state.
    pub states: Vec<State>,
    /// Every transition.
    pub transitions: Vec<Transition>,
    /// Transitions the system takes when an instance stays in a state too
    /// long.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timers: Vec<Timer>,
    /// Events published when an instance enters a state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

/// One state of a workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Its name, unique in the definition.
    pub name: String,
    /// Whether the instance is finished once here: no transition leaves a
    /// terminal state.
    #[serde(default)]
    pub terminal: bool,
}

/// A named move from one of the `from` states to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// Its name, unique in the definition (`approve`).
    pub name: String,
    /// The states it may be taken from: one name or a list.
    #[serde(deserialize_with = "one_or_many")]
    pub from: Vec<String>,
    /// The state it leads to.
    pub to: String,
    /// Roles that may take it (any one suffices). Empty: only a timer takes
    /// it.
    pub roles: Vec<String>,
}

/// Takes `transition` as the system once an instance has been in `state`
/// for `after_secs` seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timer {
    /// The state that starts the clock.
    pub state: String,
    /// Seconds after entering `state`.
    pub after_secs: u64,
    /// The transition to take; it must leave `state`.
    pub transition: String,
}

/// Publishes the event `publish` whenever an instance enters `on_enter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// The state whose entry triggers the action.
    pub on_enter: String,
    /// The topic to publish, under `workflow.`.
    pub publish: String,
}

/// Why a definition is refused: the offending field (`transitions[1].to`)
/// and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// JSON path of the field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    match OneOrMany::deserialize(deserializer) {
        Ok(OneOrMany::One(name)) => Ok(vec![name]),
        Ok(OneOrMany::Many(names)) => Ok(names),
        Err(_) => Err(D::Error::custom(
            "`from` must be a state name or a list of state names",
        )),
    }
}

/// Whether `name` is a valid state, transition or definition key name:
/// 1 to 64 lower-case letters, digits, `-` and `_`, starting with a letter
/// or digit.
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Whether `topic` is a dotted topic of lower-case segments under
/// `workflow.` (and not [`START_TOPIC`]).
pub fn is_action_topic(topic: &str) -> bool {
    let dotted = !topic.is_empty()
        && topic.len() <= 200
        && topic.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
    dotted && topic.starts_with("workflow.") && topic != START_TOPIC
}

impl Definition {
    /// The state called `name`.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.iter().find(|state| state.name == name)
    }

    /// Whether `state` is terminal (unknown states count as terminal: an
    /// instance there can go nowhere).
    pub fn is_terminal(&self, state: &str) -> bool {
        self.state(state).is_none_or(|state| state.terminal)
    }

    /// The transition called `name`.
    pub fn transition(&self, name: &str) -> Option<&Transition> {
        self.transitions
            .iter()
            .find(|transition| transition.name == name)
    }

    /// The transitions that leave `state`, in definition order.
    pub fn transitions_from<'a>(&'a self, state: &'a str) -> impl Iterator<Item = &'a Transition> {
        self.transitions
            .iter()
            .filter(move |transition| transition.from.iter().any(|from| from == state))
    }

    /// The timer of `state`, if it has one.
    pub fn timer_for(&self, state: &str) -> Option<&Timer> {
        self.timers.iter().find(|timer| timer.state == state)
    }

    /// The topics to publish when entering `state`, in definition order.
    pub fn topics_on_enter<'a>(&'a self, state: &'a str) -> impl Iterator<Item = &'a str> {
        self.actions
            .iter()
            .filter(move |action| action.on_enter == state)
            .map(|action| action.publish.as_str())
    }

    /// Checks everything a definition promises: known and unique names,
    /// no transition out of a terminal state, no dead end, every state
    /// reachable, timers that can fire, topics the plugin may publish.
    pub fn validate(&self) -> Result<(), Invalid> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(invalid(
                "name",
                "give the workflow a name of 1 to 200 bytes",
            ));
        }
        self.validate_states()?;
        self.validate_transitions()?;
        self.validate_graph()?;
        self.validate_timers()?;
        self.validate_actions()
    }

    fn validate_states(&self) -> Result<(), Invalid> {
        if self.states.is_empty() || self.states.len() > MAX_ITEMS {
            return Err(invalid("states", format!("list 1 to {MAX_ITEMS} states")));
        }
        let mut seen = BTreeSet::new();
        for (index, state) in self.states.iter().enumerate() {
            let field = format!("states[{index}].name");
            if !is_name(&state.name) {
                return Err(invalid(
                    field,
                    format!(
                        "`{}` is not a valid name: use 1 to {MAX_NAME} lower-case letters, digits, `-` or `_`",
                        state.name
                    ),
                ));
            }
            if !seen.insert(state.name.as_str()) {
                return Err(invalid(
                    field,
                    format!("the state `{}` is listed twice", state.name),
                ));
            }
        }
        match self.state(&self.initial) {
            None => Err(invalid(
                "initial",
                format!("`{}` is not one of the states", self.initial),
            )),
            Some(state) if state.terminal => Err(invalid(
                "initial",
                format!(
                    "`{}` is terminal: an instance would start finished",
                    self.initial
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    fn known_state(&self, field: String, name: &str) -> Result<(), Invalid> {
        if self.state(name).is_none() {
            return Err(invalid(field, format!("`{name}` is not one of the states")));
        }
        Ok(())
    }

    fn validate_transitions(&self) -> Result<(), Invalid> {
        if self.transitions.is_empty() || self.transitions.len() > MAX_ITEMS {
            return Err(invalid(
                "transitions",
                format!("list 1 to {MAX_ITEMS} transitions"),
            ));
        }
        let mut seen = BTreeSet::new();
        for (index, transition) in self.transitions.iter().enumerate() {
            let at = format!("transitions[{index}]");
            if !is_name(&transition.name) {
                return Err(invalid(
                    format!("{at}.name"),
                    format!(
                        "`{}` is not a valid name: use 1 to {MAX_NAME} lower-case letters, digits, `-` or `_`",
                        transition.name
                    ),
                ));
            }
            if !seen.insert(transition.name.as_str()) {
                return Err(invalid(
                    format!("{at}.name"),
                    format!("the transition `{}` is defined twice", transition.name),
                ));
            }
            if transition.from.is_empty() {
                return Err(invalid(format!("{at}.from"), "name at least one state"));
            }
            for (position, from) in transition.from.iter().enumerate() {
                let field = format!("{at}.from[{position}]");
                self.known_state(field.clone(), from)?;
                if self.is_terminal(from) {
                    return Err(invalid(
                        field,
                        format!("`{from}` is terminal: no transition may leave it"),
                    ));
                }
            }
            self.known_state(format!("{at}.to"), &transition.to)?;
            for (position, role) in transition.roles.iter().enumerate() {
                if role.trim().is_empty() || role.len() > MAX_NAME {
                    return Err(invalid(
                        format!("{at}.roles[{position}]"),
                        format!("a role name has 1 to {MAX_NAME} bytes"),
                    ));
                }
            }
            if transition.roles.is_empty()
                && !self.timers.iter().any(|t| t.transition == transition.name)
            {
                return Err(invalid(
                    format!("{at}.roles"),
                    format!(
                        "no role may take `{}` and no timer takes it: list the roles that may",
                        transition.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// No dead ends, and every state reachable from the initial one.
    fn validate_graph(&self) -> Result<(), Invalid> {
        for (index, state) in self.states.iter().enumerate() {
            if !state.terminal && self.transitions_from(&state.name).next().is_none() {
                return Err(invalid(
                    format!("states[{index}]"),
                    format!(
                        "no transition leaves `{}`: add one, or mark it `\"terminal\": true`",
                        state.name
                    ),
                ));
            }
        }
        let mut reached = BTreeSet::from([self.initial.as_str()]);
        let mut queue = vec![self.initial.as_str()];
        while let Some(state) = queue.pop() {
            for transition in self.transitions_from(state) {
                if reached.insert(transition.to.as_str()) {
                    queue.push(transition.to.as_str());
                }
            }
        }
        match self
            .states
            .iter()
            .enumerate()
            .find(|(_, state)| !reached.contains(state.name.as_str()))
        {
            Some((index, state)) => Err(invalid(
                format!("states[{index}]"),
                format!(
                    "`{}` cannot be reached from the initial state `{}`",
                    state.name, self.initial
                ),
            )),
            None => Ok(()),
        }
    }

    fn validate_timers(&self) -> Result<(), Invalid> {
        if self.timers.len() > MAX_ITEMS {
            return Err(invalid("timers", format!("at most {MAX_ITEMS} timers")));
        }
        let mut seen = BTreeMap::new();
        for (index, timer) in self.timers.iter().enumerate() {
            let at = format!("timers[{index}]");
            self.known_state(format!("{at}.state"), &timer.state)?;
            if self.is_terminal(&timer.state) {
                return Err(invalid(
                    format!("{at}.state"),
                    format!(
                        "`{}` is terminal: a timer there could never fire",
                        timer.state
                    ),
                ));
            }
            if let Some(first) = seen.insert(timer.state.as_str(), index) {
                return Err(invalid(
                    format!("{at}.state"),
                    format!("`{}` already has a timer (timers[{first}])", timer.state),
                ));
            }
            if timer.after_secs == 0 || timer.after_secs > MAX_AFTER_SECS {
                return Err(invalid(
                    format!("{at}.after_secs"),
                    format!("give 1 to {MAX_AFTER_SECS} seconds"),
                ));
            }
            match self.transition(&timer.transition) {
                None => {
                    return Err(invalid(
                        format!("{at}.transition"),
                        format!("`{}` is not one of the transitions", timer.transition),
                    ));
                }
                Some(transition) if !transition.from.contains(&timer.state) => {
                    return Err(invalid(
                        format!("{at}.transition"),
                        format!("`{}` does not leave `{}`", timer.transition, timer.state),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn validate_actions(&self) -> Result<(), Invalid> {
        if self.actions.len() > MAX_ITEMS {
            return Err(invalid("actions", format!("at most {MAX_ITEMS} actions")));
        }
        for (index, action) in self.actions.iter().enumerate() {
            let at = format!("actions[{index}]");
            self.known_state(format!("{at}.on_enter"), &action.on_enter)?;
            if !is_action_topic(&action.publish) {
                return Err(invalid(
                    format!("{at}.publish"),
                    format!(
                        "`{}` is not a topic this plugin publishes: use dotted lower-case segments under `workflow.` (not `{START_TOPIC}`), e.g. `workflow.review.approved`",
                        action.publish
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// Draft → submitted (author) → approved or rejected (reviewer), an
    /// escalation after 48 h, and an event on approval.
    pub(crate) fn approval_json() -> Value {
        json!({
            "name": "Two-step approval",
            "initial": "draft",
            "states": [
                {"name": "draft"},
                {"name": "submitted"},
                {"name": "escalated"},
                {"name": "approved", "terminal": true},
                {"name": "rejected", "terminal": true}
            ],
            "transitions": [
                {"name": "submit", "from": "draft", "to": "submitted", "roles": ["author"]},
                {"name": "approve", "from": ["submitted", "escalated"], "to": "approved", "roles": ["reviewer", "chief"]},
                {"name": "reject", "from": ["submitted", "escalated"], "to": "rejected", "roles": ["reviewer"]},
                {"name": "escalate", "from": "submitted", "to": "escalated", "roles": []}
            ],
            "timers": [{"state": "submitted", "after_secs": 172800, "transition": "escalate"}],
            "actions": [
                {"on_enter": "approved", "publish": "workflow.review.approved"},
                {"on_enter": "submitted", "publish": "workflow.review.submitted"}
            ]
        })
    }

    pub(crate) fn approval() -> Definition {
        serde_json::from_value(approval_json()).unwrap()
    }

    type Edit = Box<dyn FnOnce(&mut Value)>;

    fn error_of(edit: impl FnOnce(&mut Value)) -> Invalid {
        let mut value = approval_json();
        edit(&mut value);
        let definition: Definition = serde_json::from_value(value).unwrap();
        definition.validate().unwrap_err()
    }

    #[test]
    fn the_approval_workflow_is_valid() {
        let definition = approval();
        definition.validate().unwrap();
        assert_eq!(
            definition.transition("approve").unwrap().from,
            ["submitted", "escalated"]
        );
        assert_eq!(definition.transitions_from("submitted").count(), 3);
        assert_eq!(
            definition.timer_for("submitted").unwrap().transition,
            "escalate"
        );
        assert_eq!(
            definition.topics_on_enter("approved").collect::<Vec<_>>(),
            ["workflow.review.approved"]
        );
        assert!(definition.is_terminal("approved"));
        assert!(!definition.is_terminal("draft"));
    }

    #[test]
    fn a_single_from_and_a_list_both_parse_and_unknown_fields_are_refused() {
        let error = serde_json::from_value::<Definition>(json!({
            "name": "x", "initial": "a", "states": [{"name": "a"}], "transitions": [], "colour": "red"
        }))
        .unwrap_err();
        assert!(error.to_string().contains("colour"), "{error}");
        let error = serde_json::from_value::<Transition>(json!({
            "name": "t", "from": 3, "to": "b", "roles": []
        }))
        .unwrap_err();
        assert!(error.to_string().contains("`from` must be"), "{error}");
    }

    #[test]
    fn errors_name_the_field() {
        let cases: Vec<(Edit, &str, &str)> = vec![
            (Box::new(|v| v["name"] = json!(" ")), "name", "name"),
            (
                Box::new(|v| v["initial"] = json!("nowhere")),
                "initial",
                "not one of the states",
            ),
            (
                Box::new(|v| v["initial"] = json!("approved")),
                "initial",
                "terminal",
            ),
            (
                Box::new(|v| v["states"][1]["name"] = json!("draft")),
                "states[1].name",
                "listed twice",
            ),
            (
                Box::new(|v| v["states"][1]["name"] = json!("Sub mitted")),
                "states[1].name",
                "not a valid name",
            ),
            (
                Box::new(|v| v["transitions"][1]["name"] = json!("submit")),
                "transitions[1].name",
                "defined twice",
            ),
            (
                Box::new(|v| v["transitions"][0]["to"] = json!("limbo")),
                "transitions[0].to",
                "not one of the states",
            ),
            (
                Box::new(|v| v["transitions"][1]["from"] = json!(["submitted", "ghost"])),
                "transitions[1].from[1]",
                "not one of the states",
            ),
            (
                Box::new(|v| v["transitions"][0]["from"] = json!("approved")),
                "transitions[0].from[0]",
                "terminal",
            ),
            (
                Box::new(|v| v["transitions"][0]["from"] = json!([])),
                "transitions[0].from",
                "at least one",
            ),
            (
                Box::new(|v| v["transitions"][0]["roles"] = json!([""])),
                "transitions[0].roles[0]",
                "role name",
            ),
            (
                Box::new(|v| v["transitions"][0]["roles"] = json!([])),
                "transitions[0].roles",
                "no role may take",
            ),
            (
                Box::new(|v| v["timers"][0]["transition"] = json!("approve")),
                "transitions[3].roles",
                "no timer takes it",
            ),
            (
                Box::new(|v| v["timers"][0]["state"] = json!("approved")),
                "timers[0].state",
                "terminal",
            ),
            (
                Box::new(|v| v["timers"][0]["after_secs"] = json!(0)),
                "timers[0].after_secs",
                "seconds",
            ),
            (
                Box::new(|v| {
                    v["timers"][0]["transition"] = json!("approve");
                    v["transitions"][3]["roles"] = json!(["chief"]);
                    v["timers"][0]["state"] = json!("draft")
                }),
                "timers[0].transition",
                "does not leave",
            ),
            (
                Box::new(|v| v["actions"][0]["on_enter"] = json!("gone")),
                "actions[0].on_enter",
                "not one of the states",
            ),
            (
                Box::new(|v| v["actions"][0]["publish"] = json!("cms.entry.published")),
                "actions[0].publish",
                "under `workflow.`",
            ),
            (
                Box::new(|v| v["actions"][0]["publish"] = json!("workflow.start")),
                "actions[0].publish",
                "not `workflow.start`",
            ),
            (
                Box::new(|v| v["actions"][0]["publish"] = json!("workflow.Review")),
                "actions[0].publish",
                "lower-case",
            ),
        ];
        for (edit, field, needle) in cases {
            let error = error_of(edit);
            assert_eq!(error.field, field, "{error}");
            assert!(error.message.contains(needle), "{error} lacks {needle:?}");
        }
    }

    #[test]
    fn dead_ends_and_unreachable_states_are_refused() {
        let error = error_of(|v| {
            v["states"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "limbo"}));
        });
        assert_eq!(error.field, "states[5]");
        assert!(
            error.message.contains("no transition leaves `limbo`"),
            "{error}"
        );
        let error = error_of(|v| {
            v["states"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "island", "terminal": true}));
        });
        assert_eq!(error.field, "states[5]");
        assert!(error.message.contains("cannot be reached"), "{error}");
    }

    #[test]
    fn a_second_timer_on_a_state_is_refused() {
        let error = error_of(|v| {
            let timer = v["timers"][0].clone();
            v["timers"].as_array_mut().unwrap().push(timer);
        });
        assert_eq!(error.field, "timers[1].state");
        assert!(error.message.contains("already has a timer"), "{error}");
    }

    #[test]
    fn names_and_topics() {
        assert!(is_name("draft") && is_name("in_review-2") && is_name("2fa"));
        assert!(!is_name("") && !is_name("-x") && !is_name("a/b") && !is_name(&"x".repeat(65)));
        assert!(is_action_topic("workflow.review.approved"));
        assert!(!is_action_topic("workflow.") && !is_action_topic("workflow..x"));
        assert!(!is_action_topic("workflowx.y") && !is_action_topic("workflow.start"));
    }
}
