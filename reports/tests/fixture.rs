//! Reports from a recorded history (the default suite, seed 42, on the embedded mock).

use aci_chaos_reports::output::{merge_dirs, render_dir};
use std::path::Path;

const FIXTURE: &str = "tests/fixtures/seed42.history.jsonl";
/// The mock's subscription, which appears unmasked in the fixture's ARM paths.
const SUBSCRIPTION: &str = "00000000-0000-0000-0000-00000000c0de";

fn run_dir(into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE), into.join("history.jsonl")).unwrap();
}

#[test]
fn render_writes_every_report_and_masks_the_subscription() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    run_dir(&dir);
    let ev = render_dir(&dir, false).unwrap();
    assert_eq!(ev.rows.len(), 24);
    for f in ["report.md", "evidence.csv", "junit.xml"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(!text.contains(SUBSCRIPTION), "{f} holds the subscription id");
    }
    if let Ok(keep) = std::env::var("ACI_CHAOS_KEEP_REPORT") {
        for f in ["report.md", "evidence.csv", "junit.xml"] {
            std::fs::copy(dir.join(f), Path::new(&keep).join(f)).unwrap();
        }
    }
    let first = std::fs::read(dir.join("report.md")).unwrap();
    render_dir(&dir, false).unwrap();
    assert_eq!(first, std::fs::read(dir.join("report.md")).unwrap(), "rendering again gives the same bytes");

    let other = tmp.path().join("other");
    run_dir(&other);
    let merged = merge_dirs(&[dir.clone(), other], &tmp.path().join("merged"), false).unwrap();
    assert_eq!(merged.runs.len(), 2);
    let s = merged.summary();
    let one = ev.summary();
    for (ch_i, _) in s.channels.iter().enumerate() {
        for (sc, counts) in &s.scenarios {
            let single = &one.scenarios.iter().find(|(n, _)| n == sc).unwrap().1[ch_i];
            assert_eq!(counts[ch_i].total(), 2 * single.total(), "{sc}");
            assert_eq!(counts[ch_i].lost, 2 * single.lost, "{sc}");
        }
    }
}
