//! Saving and loading the mock's state (`--state-file`), so a restarted mock keeps its groups.
//!
//! The file holds what ARM was sent: resource groups, and each container group's spec as PUT
//! (secrets included, or the reloaded containers would start without them and fake a loss) and
//! whether it was stopped. It is written with mode 0600 and replaced atomically. Loading
//! redeploys each group from its spec, the way a platform restart would: same spec and
//! restart policy, a new boot; stopped groups stay stopped. Runtime-only effects (a rehost's
//! losses, crash-loop counters, the request log) are not kept.

use crate::world::{Timings, World};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `format` field of a state file.
pub const FORMAT: &str = "aci-chaos-mock-state/1";

/// Errors reading or writing a state file.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The file could not be read or written.
    #[error("state file {path}: {source} (hint: check the path and its folder's permissions)")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a state file this mock can read.
    #[error("state file {path}: {message} (hint: it must be written by `aci-chaos mock serve --state-file`; move it away to start empty)")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The world's state as a JSON document (secrets included: for the state file only).
pub fn save(world: &World) -> Value {
    let snap = world.snapshot();
    let mut rgs = Vec::new();
    for rg in snap["resourceGroups"].as_array().into_iter().flatten() {
        let sub = rg["id"].as_str().and_then(|id| id.split('/').nth(2)).unwrap_or_default();
        rgs.push(json!({"subscription": sub, "name": rg["name"], "location": rg["location"], "tags": rg.get("tags").cloned().unwrap_or(Value::Null)}));
    }
    let mut groups = Vec::new();
    for g in snap["groups"].as_array().into_iter().flatten() {
        let Some(crate::route::Route::Group(gp)) = g["id"].as_str().map(crate::route::route) else { continue };
        let Ok(group) = world.group(&gp.subscription, &gp.resource_group, &gp.name) else { continue };
        groups.push(json!({
            "subscription": group.subscription, "resourceGroup": group.resource_group, "name": group.name,
            "location": group.location, "tags": group.tags, "zones": group.zones, "identity": group.identity,
            "properties": group.properties, "stopped": group.state == "Stopped",
        }));
    }
    json!({"format": FORMAT, "resourceGroups": rgs, "groups": groups})
}

/// Replaces the world's state with a saved document. Returns how many groups were loaded.
pub fn load(world: &mut World, doc: &Value) -> Result<usize, String> {
    if doc.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(format!("not a {FORMAT} document"));
    }
    *world = World::new(world.config.clone());
    for rg in doc["resourceGroups"].as_array().into_iter().flatten() {
        let (Some(sub), Some(name)) = (rg["subscription"].as_str(), rg["name"].as_str()) else {
            return Err(format!("a resource group entry lacks subscription or name: {rg}"));
        };
        world.put_resource_group(sub, name, &json!({"location": rg["location"], "tags": rg["tags"]})).map_err(|e| e.message)?;
    }
    // Redeploy at once: loading is not an operation anyone waits for.
    let timings = world.config.timings;
    world.config.timings = Timings { provision: Duration::ZERO, update: Duration::ZERO, restart: Duration::ZERO, start: Duration::ZERO };
    let result = (|| {
        let mut n = 0;
        for g in doc["groups"].as_array().into_iter().flatten() {
            let (Some(sub), Some(rg), Some(name)) = (g["subscription"].as_str(), g["resourceGroup"].as_str(), g["name"].as_str()) else {
                return Err(format!("a group entry lacks subscription, resourceGroup or name: {}", g["id"]));
            };
            let mut body = json!({"location": g["location"], "properties": g["properties"]});
            for k in ["tags", "zones", "identity"] {
                if let Some(v) = g.get(k).filter(|v| !v.is_null()) {
                    body[k] = v.clone();
                }
            }
            crate::validate::container_group(name, &body).map_err(|e| format!("group '{name}': {}", e.message))?;
            world.put_group(sub, rg, name, body).map_err(|e| e.message)?;
            world.tick();
            if g["stopped"].as_bool() == Some(true) {
                world.stop_group(sub, rg, name).map_err(|e| e.message)?;
            }
            n += 1;
        }
        Ok(n)
    })();
    world.config.timings = timings;
    result
}

/// Writes the world's state to a file (mode 0600, atomically via a temporary file beside it).
pub fn save_file(world: &World, path: &Path) -> Result<(), PersistError> {
    let io = |source| PersistError::Io { path: path.to_path_buf(), source };
    let text = serde_json::to_vec_pretty(&save(world)).map_err(|e| io(std::io::Error::other(e)))?;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(io)?;
        f.write_all(&text).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

/// Loads a state file into the world. Returns how many groups were loaded.
pub fn load_file(world: &mut World, path: &Path) -> Result<usize, PersistError> {
    let text = std::fs::read(path).map_err(|source| PersistError::Io { path: path.to_path_buf(), source })?;
    let doc: Value =
        serde_json::from_slice(&text).map_err(|e| PersistError::Invalid { path: path.to_path_buf(), message: e.to_string() })?;
    load(world, &doc).map_err(|message| PersistError::Invalid { path: path.to_path_buf(), message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ClockMode;
    use crate::world::WorldConfig;

    fn world() -> World {
        World::new(WorldConfig {
            seed: 1,
            clock: ClockMode::Virtual,
            subscription: "s".into(),
            tenant: "t".into(),
            timings: Timings::default(),
        })
    }

    #[test]
    fn a_saved_world_loads_with_its_groups_secrets_and_stopped_state() {
        let mut w = world();
        w.put_resource_group("s", "RG", &json!({"location": "eastus", "tags": {"a": "b"}})).unwrap();
        let body = |n: &str| {
            json!({"location": "eastus", "tags": {"k": n}, "properties": {"osType": "Linux", "containers": [{"name": "c", "properties": {
                "image": "busybox", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}},
                "environmentVariables": [{"name": "TOKEN", "secureValue": "s3cret"}]}}]}})
        };
        w.put_group("s", "RG", "g1", body("1")).unwrap();
        w.put_group("s", "RG", "g2", body("2")).unwrap();
        w.clock.advance(Duration::from_secs(10));
        w.tick();
        w.stop_group("s", "RG", "g2").unwrap();
        let doc = save(&w);
        assert!(doc.to_string().contains("s3cret"), "the state file keeps secrets so reloaded containers still see them");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        save_file(&w, &path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let mut w2 = world();
        assert_eq!(load_file(&mut w2, &path).unwrap(), 2);
        let g1 = w2.group("s", "rg", "g1").unwrap();
        assert_eq!(g1.provisioning_state, "Succeeded");
        assert_eq!(g1.state, "Running");
        assert_eq!(g1.containers[0].env["TOKEN"], "s3cret");
        assert_eq!(w2.group("s", "rg", "g2").unwrap().state, "Stopped");
        assert_eq!(w2.get_resource_group("s", "rg").unwrap()["tags"]["a"], "b");
        assert_eq!(w2.config.timings, Timings::default());
        assert!(load(&mut w2, &json!({"format": "other"})).is_err());
    }
}
