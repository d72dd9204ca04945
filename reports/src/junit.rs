//! `junit.xml` for CI systems: one test suite per scenario (per run, in a merge), one test case
//! per scenario iteration; a `failure` when any channel was lost, `skipped` when none was lost
//! but some check could not observe (`unknown`), success otherwise.

use crate::model::Verdict;
use crate::redact::Redactor;
use crate::summary::{Evidence, Row};
use crate::time_fmt::seconds_between;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

/// (run, scenario) and its iterations, each ((iteration, group), rows).
type Suite<'a> = ((usize, &'a str), Vec<Iteration<'a>>);
/// (iteration, rows of every group it deployed).
type Iteration<'a> = (u32, Vec<&'a Row>);

fn line(r: &Row) -> String {
    format!(
        "{} {} {}: {} (expected {}, observed {})",
        r.step,
        r.channel,
        r.verdict,
        r.reason,
        r.expected_fp,
        if r.observed_fp.is_empty() { "nothing" } else { &r.observed_fp }
    )
}

fn duration(rows: &[&Row]) -> Option<Duration> {
    let first = rows.iter().map(|r| r.step_wall.as_str()).filter(|w| !w.is_empty()).min()?;
    let last = rows.iter().map(|r| r.wall.as_str()).filter(|w| !w.is_empty()).max()?;
    seconds_between(first, last).map(Duration::from_secs_f64)
}

/// Renders the JUnit XML, ids masked by `redactor`.
pub fn render(ev: &Evidence, redactor: &Redactor) -> Result<String, quick_junit::SerializeError> {
    let ids: Vec<&str> = ev.runs.iter().map(|r| r.meta.run_id.as_str()).collect();
    let mut report = Report::new(format!("aci-chaos {}", ids.join(" + ")));
    // (run, scenario) → iterations in order, each with its rows.
    let mut suites: Vec<Suite<'_>> = Vec::new();
    for r in &ev.rows {
        let key = (r.run, r.scenario.as_str());
        let i = match suites.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                suites.push((key, Vec::new()));
                suites.len() - 1
            }
        };
        let its = &mut suites[i].1;
        let it = r.iteration;
        match its.iter_mut().find(|(k, _)| *k == it) {
            Some((_, rows)) => rows.push(r),
            None => its.push((it, vec![r])),
        }
    }
    for ((run, scenario), iterations) in suites {
        let meta = &ev.runs[run].meta;
        let name = if ev.runs.len() > 1 { format!("{}/{scenario}", meta.run_id) } else { scenario.to_string() };
        let mut suite = TestSuite::new(name);
        suite.add_properties([
            Property::new("run_id", meta.run_id.as_str()),
            Property::new("target", meta.target.as_str()),
            Property::new("region", meta.region.as_str()),
            Property::new("seed", meta.seed.to_string()),
        ]);
        for (iteration, rows) in iterations {
            let mut groups: Vec<&str> = Vec::new();
            for r in &rows {
                if !groups.contains(&r.group.as_str()) {
                    groups.push(&r.group);
                }
            }
            let group = groups.join(", ");
            let lost: Vec<&&Row> = rows.iter().filter(|r| r.verdict == Verdict::Lost).collect();
            let unknown: Vec<&&Row> = rows.iter().filter(|r| r.verdict == Verdict::Unknown).collect();
            let status = if let Some(first) = lost.first() {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let mut channels: Vec<&str> = Vec::new();
                for r in &lost {
                    if !channels.contains(&r.channel.as_str()) {
                        channels.push(&r.channel);
                    }
                }
                st.set_message(format!("{} lost (first after {})", channels.join(", "), first.step));
                st.set_type("lost");
                st.set_description(lost.iter().chain(unknown.iter()).map(|r| line(r)).collect::<Vec<_>>().join("\n"));
                st
            } else if !unknown.is_empty() {
                let mut st = TestCaseStatus::skipped();
                st.set_message(format!("{} could not be observed (unknown, never guessed as survived)", unknown.len()));
                st.set_type("unknown");
                st.set_description(unknown.iter().map(|r| line(r)).collect::<Vec<_>>().join("\n"));
                st
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(format!("{scenario} #{iteration} ({group})"), status);
            case.set_classname(format!("aci-chaos.{scenario}"));
            case.set_assertions(rows.len());
            if let Some(d) = duration(&rows) {
                case.set_time(d);
            }
            case.set_system_out(rows.iter().map(|r| line(r)).collect::<Vec<_>>().join("\n"));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    Ok(redactor.apply(&report.to_string()?).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::tests::{evidence, row};

    #[test]
    fn lost_fails_unknown_skips_survived_passes() {
        let mut rows = vec![
            row("a", "secure-env", Verdict::Lost),
            row("b", "secure-env", Verdict::Unknown),
            row("c", "secure-env", Verdict::Survived),
        ];
        rows[0].reason = "x < y & \"z\"".into();
        let xml = render(&evidence(rows), &Redactor::default()).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
        assert_eq!(cases.len(), 3);
        assert!(cases[0].children().any(|c| c.has_tag_name("failure")));
        assert!(cases[1].children().any(|c| c.has_tag_name("skipped")));
        assert!(!cases[2].children().any(|c| c.is_element() && c.tag_name().name() != "system-out"));
        let root = doc.root_element();
        assert_eq!(root.attribute("tests"), Some("3"));
        assert_eq!(root.attribute("failures"), Some("1"));
    }
}
