//! The sample scheduled workflow (examples/github-actions/aci-chaos-soak.yml) is valid YAML, is
//! scheduled, asks for the OIDC token, and every aci-chaos command in it is one this binary
//! accepts: `run` lines are run with `--dry-run` (nothing sent), `soak check` lines against a
//! folder that does not exist (flags parsed, then the clear "no such run folder").

use std::path::Path;
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

const WORKFLOW: &str = "examples/github-actions/aci-chaos-soak.yml";

fn key<'a>(y: &'a Yaml, k: &str) -> &'a Yaml {
    &y[k]
}

#[test]
fn the_sample_workflow_is_scheduled_and_its_commands_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(WORKFLOW)).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{WORKFLOW}: {e}"));
    let wf = &docs[0];
    assert!(key(wf, "on")["schedule"][0]["cron"].as_str().is_some(), "a schedule: trigger");
    assert_eq!(key(wf, "permissions")["id-token"].as_str(), Some("write"), "OIDC for workload identity");
    let steps = key(wf, "jobs")["round"]["steps"].as_vec().expect("jobs.round.steps");
    // Every aci-chaos command of every step's script, from `aci-chaos` to the end of its line.
    let commands: Vec<&str> = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .flat_map(str::lines)
        .filter_map(|l| l.find("aci-chaos ").map(|i| &l[i..]))
        .filter(|c| !c.contains("::error::") && !c.starts_with("aci-chaos groups"))
        .map(|c| c.split(" > ").next().unwrap_or(c).trim())
        .collect();
    assert!(commands.iter().any(|c| c.contains("--detach")) && commands.iter().any(|c| c.contains("soak check")), "{commands:?}");
    assert!(commands.iter().any(|c| c.starts_with("aci-chaos cleanup --all-runs")), "the lost-cache guard: {commands:?}");

    let bin_dir = Path::new(env!("CARGO_BIN_EXE_aci-chaos")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let empty = tempfile::tempdir().unwrap();
    for c in commands {
        let (cmd, dir, expect) = if c.starts_with("aci-chaos run ") {
            (format!("{c} --dry-run"), root, Some(0))
        } else if c.starts_with("aci-chaos soak check ") {
            (c.to_string(), empty.path(), Some(2))
        } else {
            // Needs a token this test has not: the flags must parse, then the credential fails.
            (c.to_string(), empty.path(), None)
        };
        let o = Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .current_dir(dir)
            .env("PATH", &path)
            .env("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-0000000000aa")
            .env("ACI_CHAOS_RG", "aci-chaos-canary")
            .output()
            .unwrap();
        let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        match expect {
            Some(0) => {
                assert_eq!(o.status.code(), Some(0), "{cmd}\n{out}");
                assert!(out.contains("dry run of run") && out.contains("container groups (2)"), "{cmd}\n{out}");
            }
            Some(code) => {
                assert_eq!(o.status.code(), Some(code), "{cmd}\n{out}");
                assert!(out.contains("no such run folder"), "{cmd}: flags accepted, then the folder is missing\n{out}");
            }
            None => {
                assert!(!out.contains("unexpected argument") && !out.contains("Usage:"), "{cmd}: flags must parse\n{out}");
                assert!(out.contains("workload-identity"), "{cmd}: it got as far as the credential\n{out}");
            }
        }
    }
}
