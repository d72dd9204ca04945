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
    let commands: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).filter(|r| r.trim_start().starts_with("aci-chaos ")).collect();
    assert!(commands.iter().any(|c| c.contains("--detach")) && commands.iter().any(|c| c.contains("soak check")), "{commands:?}");

    let bin_dir = Path::new(env!("CARGO_BIN_EXE_aci-chaos")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let empty = tempfile::tempdir().unwrap();
    for c in commands {
        let (cmd, dir, expect) = if c.trim_start().starts_with("aci-chaos run ") {
            (format!("{c} --dry-run"), root, 0)
        } else {
            (c.to_string(), empty.path(), 2)
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
        assert_eq!(o.status.code(), Some(expect), "{cmd}\n{out}");
        if expect == 2 {
            assert!(out.contains("no such run folder"), "{cmd}: flags accepted, then the folder is missing\n{out}");
        } else {
            assert!(out.contains("dry run of run") && out.contains("container groups (2)"), "{cmd}\n{out}");
        }
    }
}
