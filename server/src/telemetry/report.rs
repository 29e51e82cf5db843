//! The rows of `/telemetry/stats` and `/telemetry/anomalies`, computed from the groups the
//! store counts as the Python server computes them after its aggregations: rates rounded to
//! three places, the thresholds, the sort orders and the row shapes its unit test pins.
use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use crate::store::telemetry::TelemetryGroup;

/// `round(x, 3)`, ties to even as Python's `round` (and MongoDB's `$round`).
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round_ties_even() / 1000.0
}

fn key_value(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

/// Orders groups by their key values, for a stable order among equals (the Python server
/// leaves ties in whatever order MongoDB returns them).
fn by_key(a: &TelemetryGroup, b: &TelemetryGroup) -> Ordering {
    a.key.cmp(&b.key)
}

/// The counts of a group, after its key fields.
fn counts(row: &mut Map<String, Value>, g: &TelemetryGroup) {
    for (name, n) in [
        ("total", g.total),
        ("pass", g.pass),
        ("fail", g.fail),
        ("incomplete", g.incomplete),
        ("skip", g.skip),
        ("infra_error", g.infra_error),
    ] {
        row.insert(name.to_owned(), json!(n));
    }
}

/// `/telemetry/stats`: one row per group, `{<names...>, total, pass, fail, incomplete, skip,
/// infra_error}`, most events first. `names` are the requested group fields with the index
/// of their value in the groups' keys (`lab` and `runtime` share one).
pub fn stats_rows(mut groups: Vec<TelemetryGroup>, names: &[(String, usize)]) -> Vec<Value> {
    groups.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| by_key(a, b)));
    groups
        .iter()
        .map(|g| {
            let mut row = Map::new();
            for (name, i) in names {
                row.insert(name.clone(), g.key.get(*i).map_or(Value::Null, key_value));
            }
            counts(&mut row, g);
            Value::Object(row)
        })
        .collect()
}

/// What makes a group of results an anomaly.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    /// The rate (infrastructure errors, or failures) at or above which a group is reported.
    pub threshold: f64,
    /// The fewest events a group must have.
    pub min_total: u64,
}

/// The result anomalies: groups keyed `[runtime, device_type]` (`[.., device_id]` with
/// `by_device`) whose infrastructure-error or failure rate reaches the threshold, highest
/// rates first.
pub fn result_anomalies(groups: Vec<TelemetryGroup>, by_device: bool, t: Thresholds) -> Vec<Value> {
    let mut kept: Vec<(f64, f64, TelemetryGroup)> = groups
        .into_iter()
        .filter(|g| g.total > 0)
        .map(|g| {
            let total = g.total as f64;
            let infra = round3(g.infra_error as f64 / total);
            let fail = round3((g.fail + g.incomplete) as f64 / total);
            (infra, fail, g)
        })
        .filter(|(infra, fail, g)| {
            g.total >= t.min_total && (*infra >= t.threshold || *fail >= t.threshold)
        })
        .collect();
    kept.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| b.1.total_cmp(&a.1))
            .then_with(|| by_key(&a.2, &b.2))
    });
    kept.into_iter()
        .map(|(infra, fail, g)| {
            let mut row = Map::new();
            let runtime = g.key.first().map_or(Value::Null, key_value);
            row.insert("runtime".into(), runtime.clone());
            row.insert("lab".into(), runtime);
            row.insert(
                "device_type".into(),
                g.key.get(1).map_or(Value::Null, key_value),
            );
            if by_device {
                row.insert(
                    "device_id".into(),
                    g.key.get(2).map_or(Value::Null, key_value),
                );
            }
            counts(&mut row, &g);
            row.insert("infra_rate".into(), json!(infra));
            row.insert("fail_rate".into(), json!(fail));
            let constant_failure = g.pass == 0 && g.fail + g.incomplete == g.total;
            row.insert("constant_failure".into(), json!(constant_failure));
            row.insert(
                "constant_infra_failure".into(),
                json!(g.infra_error == g.total),
            );
            row.insert(
                "last_seen".into(),
                g.last_seen.map_or(Value::Null, |t| json!(t)),
            );
            row.insert("latest_error_type".into(), key_value(&g.latest_error_type));
            row.insert("latest_error_msg".into(), key_value(&g.latest_error_msg));
            Value::Object(row)
        })
        .collect()
}

/// The error anomalies: groups keyed `[runtime, error_type]` with at least `min_total`
/// events, as `{runtime, error_type, count}`, most first.
pub fn error_anomalies(mut groups: Vec<TelemetryGroup>, min_total: u64) -> Vec<Value> {
    groups.retain(|g| g.total >= min_total);
    groups.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| by_key(a, b)));
    groups
        .iter()
        .map(|g| {
            json!({
                "runtime": g.key.first().map_or(Value::Null, key_value),
                "error_type": g.key.get(1).map_or(Value::Null, key_value),
                "count": g.total,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use maestro_common::Timestamp;

    use super::*;

    fn group(key: &[&str], total: u64, fail: u64, incomplete: u64, infra: u64) -> TelemetryGroup {
        TelemetryGroup {
            key: key.iter().map(|k| Some((*k).to_owned())).collect(),
            total,
            pass: total - fail - incomplete,
            fail,
            incomplete,
            infra_error: infra,
            ..TelemetryGroup::default()
        }
    }

    #[test]
    fn rounding_is_to_three_places_ties_to_even() {
        assert_eq!(round3(2.0 / 3.0), 0.667);
        assert_eq!(round3(0.0625), 0.062);
        assert_eq!(round3(1.0), 1.0);
    }

    #[test]
    fn the_device_row_is_the_one_upstream_pins() {
        let mut g = group(&["lava-test", "board", "board-01"], 3, 0, 3, 3);
        g.last_seen = Timestamp::parse_iso("2026-07-21T01:24:01.322");
        g.latest_error_type = Some("Infrastructure".into());
        g.latest_error_msg = Some("bootloader-commands timed out after 180 seconds".into());
        let t = Thresholds {
            threshold: 1.0,
            min_total: 3,
        };
        let rows = result_anomalies(vec![g], true, t);
        let want = json!([{
            "runtime": "lava-test", "lab": "lava-test", "device_type": "board",
            "device_id": "board-01", "total": 3, "pass": 0, "fail": 0, "incomplete": 3,
            "skip": 0, "infra_error": 3, "infra_rate": 1.0, "fail_rate": 1.0,
            "constant_failure": true, "constant_infra_failure": true,
            "last_seen": "2026-07-21T01:24:01.322000", "latest_error_type": "Infrastructure",
            "latest_error_msg": "bootloader-commands timed out after 180 seconds",
        }]);
        assert_eq!(Value::Array(rows.clone()), want);
        // The keys in the order of upstream's row, too.
        let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
        let want_keys: Vec<&String> = want[0].as_object().unwrap().keys().collect();
        assert_eq!(keys, want_keys);
    }

    #[test]
    fn thresholds_and_order_select_the_anomalies() {
        let t = Thresholds {
            threshold: 0.5,
            min_total: 3,
        };
        let groups = vec![
            group(&["a", "x"], 10, 5, 0, 0), // fail 0.5: kept
            group(&["b", "x"], 10, 0, 0, 6), // infra 0.6: kept, first
            group(&["c", "x"], 2, 2, 0, 2),  // too few
            group(&["d", "x"], 10, 4, 0, 4), // below both
        ];
        let rows = result_anomalies(groups, false, t);
        let runtimes: Vec<&str> = rows
            .iter()
            .map(|r| r["runtime"].as_str().unwrap())
            .collect();
        assert_eq!(runtimes, ["b", "a"]);
        assert!(rows[0].get("device_id").is_none());
        assert_eq!(rows[1]["constant_failure"], json!(false));
        let errors = error_anomalies(
            vec![
                group(&["r", "Timeout"], 2, 0, 0, 0),
                group(&["r", "Boot"], 5, 0, 0, 0),
            ],
            3,
        );
        assert_eq!(
            Value::Array(errors),
            json!([{"runtime": "r", "error_type": "Boot", "count": 5}])
        );
    }
}
