//! `ayanami new function`: skeletons in each language whose toolchain is
//! here, called through a flow, and the refusals that leave a project as it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{TempDir, ayanami};

/// A new project made by `ayanami init` in a fresh folder.
fn init(temp: &TempDir) -> PathBuf {
    let project = temp.path().join("app");
    let output = ayanami(&["init"]).arg(&project).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    project
}

fn new_function(project: &Path, args: &[&str]) -> Output {
    ayanami(&["new", "function"])
        .args(args)
        .arg("--dir")
        .arg(project)
        .output()
        .unwrap()
}

fn on_path(program: &str, version: &str) -> bool {
    Command::new(program)
        .arg(version)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_in(project: &Path, program: &str, args: &[&str]) {
    // The skeleton's command names its own target folder, so a target
    // folder set for the test run must not move the build elsewhere.
    let output = Command::new(program)
        .args(args)
        .env_remove("CARGO_TARGET_DIR")
        .current_dir(project)
        .output()
        .unwrap();
    assert!(output.status.success(), "{program} {args:?}: {output:?}");
}

#[test]
fn every_skeleton_whose_toolchain_is_here_answers_through_a_flow() {
    let temp = TempDir::new("new-function");
    let project = init(&temp);
    let languages = [
        ("python", "python3", "--version", &["worker", "exec"][..]),
        ("node", "node", "--version", &["worker", "exec"]),
        ("bash", "bash", "--version", &["cmd"]),
        ("rust", "cargo", "--version", &["exec", "worker"]),
        ("go", "go", "version", &["exec", "worker"]),
    ];
    let mut names = Vec::new();
    for (lang, program, version, kinds) in languages {
        if !on_path(program, version) {
            println!("skipped: {lang} skeletons, for there is no `{program}` here");
            continue;
        }
        for kind in kinds {
            let name = format!("{lang}-{kind}");
            let output = new_function(&project, &["skel", &name, "--lang", lang, "--kind", kind]);
            assert!(output.status.success(), "{output:?}");
            build(&project, lang, &name);
            names.push(name);
        }
    }
    // scripts/test installs python3, and bash is everywhere; the other
    // toolchains are called when they are here.
    for name in ["python-worker", "python-exec", "bash-cmd"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }

    let mut yaml = std::fs::read_to_string(project.join("ayanami.yaml")).unwrap();
    yaml.push_str(&format!(
        "\n  skeletons:\n    inputs: [input]\n    outputs: [{}]\n    wirings:\n      - var: input\n        to: [{}]\n",
        names.join(", "),
        names
            .iter()
            .map(|n| format!("srvc.skel.{n}.in.input"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for name in &names {
        yaml.push_str(&format!(
            "      - from: srvc.skel.{name}.out.output\n        var: {name}\n"
        ));
    }
    std::fs::write(project.join("ayanami.yaml"), yaml).unwrap();

    let output = ayanami(&["invoke", "skeletons", "--in", "input=rei", "--dir"])
        .arg(&project)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for name in &names {
        assert_eq!(printed[name], "Hello rei", "{name}: {printed}");
    }
}

/// Builds a compiled skeleton the way `new function` says to. Rust
/// skeletons share one target folder that outlives the test, so their
/// dependencies are compiled once, not per skeleton or per run.
fn build(project: &Path, lang: &str, name: &str) {
    let folder = format!("skel/{name}");
    match lang {
        "rust" => {
            let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skeletons");
            std::fs::create_dir_all(&shared).unwrap();
            std::os::unix::fs::symlink(&shared, project.join(&folder).join("target")).unwrap();
            let manifest = format!("{folder}/Cargo.toml");
            run_in(
                project,
                "cargo",
                &[
                    "build",
                    "--release",
                    "--quiet",
                    "--manifest-path",
                    &manifest,
                ],
            );
        }
        "go" => run_in(project, "go", &["build", "-C", &folder, "-o", name, "."]),
        _ => {}
    }
}

fn failure(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn new_function_never_overwrites_a_file_and_writes_nothing_when_it_refuses() {
    let temp = TempDir::new("new-function-refusals");
    let project = init(&temp);
    let yaml = std::fs::read_to_string(project.join("ayanami.yaml")).unwrap();
    std::fs::create_dir_all(project.join("skel")).unwrap();
    std::fs::write(project.join("skel/mine.py"), "mine").unwrap();

    let stderr = failure(&new_function(
        &project,
        &["skel", "mine", "--lang", "python"],
    ));
    assert!(
        stderr.contains("skel/mine.py` already exists; nothing was written"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(project.join("skel/mine.py")).unwrap(),
        "mine"
    );

    let stderr = failure(&new_function(
        &project,
        &["greeting", "hello", "--lang", "node"],
    ));
    assert!(
        stderr.contains("function `greeting.hello` is already in"),
        "{stderr}"
    );
    assert!(!project.join("greeting/hello.js").exists());

    let stderr = failure(&new_function(
        &project,
        &["skel", "f", "--lang", "bash", "--kind", "worker"],
    ));
    assert!(
        stderr.contains("a bash function cannot be of kind `worker`; use --kind cmd"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(project.join("ayanami.yaml")).unwrap(),
        yaml
    );
    assert!(!project.join("skel/f.sh").exists());

    let flow_style = "name: app\nservices: {greeting: {functions: {hello: {kind: exec, run: python3 greeting/hello.py}}}}\n";
    std::fs::write(project.join("ayanami.yaml"), flow_style).unwrap();
    let stderr = failure(&new_function(
        &project,
        &["greeting", "f", "--lang", "python"],
    ));
    assert!(
        stderr.contains("cannot add the function safely")
            && stderr.contains("Add the function by hand to the `functions` of service `greeting`:\nf:\n  kind: worker\n  run: python3 greeting/f.py\n"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(project.join("ayanami.yaml")).unwrap(),
        flow_style
    );
    assert!(!project.join("greeting/f.py").exists());
}

#[test]
fn adding_to_a_linked_composition_updates_the_file_it_points_to_and_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let temp = TempDir::new("new-function-link");
    let project = init(&temp);
    let real = temp.path().join("shared.yaml");
    std::fs::rename(project.join("ayanami.yaml"), &real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink(&real, project.join("ayanami.yaml")).unwrap();
    std::fs::write(temp.path().join("shared.yaml.new"), "someone's").unwrap();

    let output = new_function(&project, &["skel", "hi", "--lang", "python"]);
    assert!(output.status.success(), "{output:?}");

    let link = std::fs::symlink_metadata(project.join("ayanami.yaml")).unwrap();
    assert!(link.file_type().is_symlink());
    assert!(std::fs::read_to_string(&real).unwrap().contains("hi:"));
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert_eq!(
        std::fs::read_to_string(temp.path().join("shared.yaml.new")).unwrap(),
        "someone's"
    );
    let left: Vec<_> = std::fs::read_dir(temp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".ayanami-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
