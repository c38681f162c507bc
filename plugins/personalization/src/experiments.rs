//! A/B tests: definitions, deterministic assignment (a hash of the
//! experiment key and the person's id, spread over the variants'
//! weights), and results with a two-proportion z-test of every variant
//! against the first (the control). Pure.

use serde::{Deserialize, Serialize};
use tessera_sdk::Error;

use crate::ids::{fnv1a, is_event_name, is_key};

/// The most variants one experiment may have.
pub const MAX_ARMS: usize = 10;

/// One variant and its share of the traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    /// Its key.
    pub key: String,
    /// Its relative weight (1 to 1000; default 1).
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// Whether an experiment assigns and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Assigns, counts exposures and conversions.
    Running,
    /// Everyone gets the control; nothing is counted.
    Stopped,
}

/// An experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// Its key.
    pub key: String,
    /// A name to show.
    pub name: String,
    /// The variants; the first is the control.
    pub variants: Vec<Arm>,
    /// The tracked event name that counts as a conversion.
    pub goal: String,
    /// Running or stopped.
    pub status: Status,
    /// When it was last changed (ms).
    pub updated_at: u64,
}

/// What an administrator sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentInput {
    /// A name to show.
    pub name: String,
    /// The variants; the first is the control.
    pub variants: Vec<Arm>,
    /// The event name that counts as a conversion.
    pub goal: String,
    /// Running (default) or stopped.
    #[serde(default = "running")]
    pub status: Status,
}

fn running() -> Status {
    Status::Running
}

/// Checks `input`: 400 `invalid_experiment` saying what is wrong.
pub fn define(key: &str, input: ExperimentInput, now: u64) -> Result<Experiment, Error> {
    let invalid = |message: String| Error::new(400, "invalid_experiment", message);
    if input.name.trim().is_empty() || input.name.len() > 200 {
        return Err(invalid("`name` is 1 to 200 bytes".into()));
    }
    if !(2..=MAX_ARMS).contains(&input.variants.len()) {
        return Err(invalid(format!(
            "`variants` lists 2 to {MAX_ARMS} variants"
        )));
    }
    for (at, arm) in input.variants.iter().enumerate() {
        if !is_key(&arm.key) {
            return Err(invalid(format!(
                "variants[{at}].key `{}` is not a key",
                arm.key
            )));
        }
        if !(1..=1000).contains(&arm.weight) {
            return Err(invalid(format!("variants[{at}].weight is 1 to 1000")));
        }
        if input
            .variants
            .iter()
            .take(at)
            .any(|earlier| earlier.key == arm.key)
        {
            return Err(invalid(format!(
                "variants[{at}].key `{}` appears twice",
                arm.key
            )));
        }
    }
    if !is_event_name(&input.goal) {
        return Err(invalid(
            "`goal` is an event name (lower-case letters, digits, `.`, `-`, `_`)".into(),
        ));
    }
    Ok(Experiment {
        key: key.to_owned(),
        name: input.name.trim().to_owned(),
        variants: input.variants,
        goal: input.goal,
        status: input.status,
        updated_at: now,
    })
}

impl Experiment {
    /// The control (first) variant's key.
    pub fn control(&self) -> &str {
        self.variants
            .first()
            .map(|arm| arm.key.as_str())
            .unwrap_or_default()
    }

    /// The variant for the person `person_id`: the FNV-1a hash of
    /// `{experiment key}:{person id}` modulo the total weight picks the
    /// variant whose cumulative weight range holds it.
    pub fn assign(&self, person_id: &str) -> &str {
        let total: u64 = self.variants.iter().map(|arm| u64::from(arm.weight)).sum();
        if total == 0 {
            return self.control();
        }
        let mut point = fnv1a(format!("{}:{person_id}", self.key).as_bytes()) % total;
        for arm in &self.variants {
            let weight = u64::from(arm.weight);
            if point < weight {
                return &arm.key;
            }
            point -= weight;
        }
        self.control()
    }

    /// Whether `variant` is one of its variants.
    pub fn has(&self, variant: &str) -> bool {
        self.variants.iter().any(|arm| arm.key == variant)
    }
}

/// One variant's counts and, against the control, its z-test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmResult {
    /// The variant.
    pub variant: String,
    /// People who saw it.
    pub exposures: u64,
    /// Of them, people who reached the goal.
    pub conversions: u64,
    /// conversions / exposures.
    pub conversion_rate: f64,
    /// The rate's change against the control, relative (0.1 = +10 %).
    pub uplift: Option<f64>,
    /// The two-proportion z statistic against the control.
    pub z: Option<f64>,
    /// Its two-sided p-value.
    pub p_value: Option<f64>,
    /// Whether p < 0.05.
    pub significant: bool,
}

/// Counts per variant, in the experiment's order, with the z-test of each
/// non-control variant against the control.
pub fn results(counts: &[(String, u64, u64)]) -> Vec<ArmResult> {
    let rate = |exposed: u64, converted: u64| {
        if exposed == 0 {
            0.0
        } else {
            converted as f64 / exposed as f64
        }
    };
    let control = counts.first().cloned();
    counts
        .iter()
        .enumerate()
        .map(|(at, (variant, exposures, conversions))| {
            let mut result = ArmResult {
                variant: variant.clone(),
                exposures: *exposures,
                conversions: *conversions,
                conversion_rate: rate(*exposures, *conversions),
                uplift: None,
                z: None,
                p_value: None,
                significant: false,
            };
            if let (true, Some((_, n1, c1))) = (at > 0, &control) {
                let base = rate(*n1, *c1);
                result.uplift = (base > 0.0).then(|| (result.conversion_rate - base) / base);
                if let Some(z) = z_test(*n1, *c1, *exposures, *conversions) {
                    let p = 2.0 * (1.0 - normal_cdf(z.abs()));
                    result.z = Some(z);
                    result.p_value = Some(p);
                    result.significant = p < 0.05;
                }
            }
            result
        })
        .collect()
}

/// The pooled two-proportion z statistic of `c2/n2` against `c1/n1`;
/// `None` when a group is empty or the pooled rate is 0 or 1.
pub fn z_test(n1: u64, c1: u64, n2: u64, c2: u64) -> Option<f64> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (n1, c1, n2, c2) = (n1 as f64, c1 as f64, n2 as f64, c2 as f64);
    let pooled = (c1 + c2) / (n1 + n2);
    let variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2);
    (variance > 0.0).then(|| (c2 / n2 - c1 / n1) / variance.sqrt())
}

/// The standard normal distribution function, through the error function
/// (Abramowitz and Stegun 7.1.26, absolute error below 1.5e-7).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2))
}

fn erf(x: f64) -> f64 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = ((((1.061_405_429 * t - 1.453_152_027) * t + 1.421_413_741) * t - 0.284_496_736)
        * t
        + 0.254_829_592)
        * t;
    sign * (1.0 - poly * (-x * x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn experiment(weights: &[u32]) -> Experiment {
        let input = ExperimentInput {
            name: "CTA colour".into(),
            variants: weights
                .iter()
                .enumerate()
                .map(|(i, w)| Arm {
                    key: format!("v{i}"),
                    weight: *w,
                })
                .collect(),
            goal: "signup".into(),
            status: Status::Running,
        };
        define("cta", input, 0).unwrap()
    }

    #[test]
    fn assignment_is_stable_and_follows_the_weights() {
        let even = experiment(&[1, 1]);
        assert_eq!(even.assign("visitor-1"), even.assign("visitor-1"));
        let mut counts = [0u32; 2];
        for i in 0..10_000 {
            let arm = even.assign(&format!("visitor-{i}"));
            counts[usize::from(arm == "v1")] += 1;
        }
        assert!((4_500..5_500).contains(&counts[0]), "{counts:?}");
        let skewed = experiment(&[9, 1]);
        let control = (0..10_000)
            .filter(|i| skewed.assign(&format!("p{i}")) == "v0")
            .count();
        assert!((8_500..9_500).contains(&control), "{control}");
    }

    #[test]
    fn definitions_are_checked() {
        let bad = |variants: Vec<Arm>, goal: &str| {
            define(
                "x",
                ExperimentInput {
                    name: "x".into(),
                    variants,
                    goal: goal.into(),
                    status: Status::Running,
                },
                0,
            )
            .unwrap_err()
            .message
        };
        let arm = |key: &str| Arm {
            key: key.into(),
            weight: 1,
        };
        assert!(bad(vec![arm("a")], "g").contains("2 to"));
        assert!(bad(vec![arm("a"), arm("a")], "g").contains("twice"));
        assert!(bad(vec![arm("a"), arm("b c")], "g").contains("variants[1].key"));
        assert!(bad(vec![arm("a"), arm("b")], "Sign Up").contains("goal"));
    }

    #[test]
    fn the_z_test_matches_a_worked_example() {
        // 200/1000 against 250/1000: pooled 0.225, z = 2.6774, p = 0.00742.
        let z = z_test(1000, 200, 1000, 250).unwrap();
        assert!((z - 2.6774).abs() < 1e-4, "{z}");
        let results = results(&[("a".into(), 1000, 200), ("b".into(), 1000, 250)]);
        let b = &results[1];
        assert!((b.p_value.unwrap() - 0.00742).abs() < 1e-5, "{b:?}");
        assert!(b.significant);
        assert!((b.uplift.unwrap() - 0.25).abs() < 1e-9);
        assert_eq!(results[0].z, None);
        assert_eq!(z_test(0, 0, 10, 1), None);
        assert_eq!(z_test(10, 0, 10, 0), None);
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
    }
}
