use super::*;

#[test]
fn names() {
    assert!(valid_npm_name("@anthropic-ai/claude-code"));
    assert!(valid_npm_name("is-number"));
    assert!(!valid_npm_name("@scope"));
    assert!(!valid_npm_name("Upper"));
    assert!(crate::spec::validate::valid_apt_name("ca-certificates"));
    assert!(crate::spec::validate::valid_apt_name(
        "nodejs=20.19.2+dfsg-1"
    ));
    assert!(!crate::spec::validate::valid_apt_name("rm -rf /"));
    assert!(valid_file_name("gitleaks"));
    assert!(!valid_file_name("../x"));
    assert_eq!(parse_mode("0755"), Some(0o755));
    assert_eq!(parse_mode("999"), None);
    assert_eq!(
        parse_owner("1000:1000"),
        Some(Owner {
            uid: 1000,
            gid: 1000
        })
    );
    assert_eq!(parse_owner("dev:1000"), None);
    assert_eq!(
        closest("fundation", &["foundation", "harness"]),
        Some("foundation")
    );
    assert_eq!(closest("workingdir", &["workdir", "user"]), Some("workdir"));
    assert_eq!(closest("zzz", &["workdir", "user"]), None);
    assert_eq!(closest("ext", &["extension", "harness"]), Some("extension"));
    assert_eq!(suggest_name("MY-VAR").as_deref(), Some("MY_VAR"));
    assert_eq!(suggest_name("1X"), None);
}

fn errors(text: &str) -> Vec<String> {
    match parse_spec("s.yaml", text) {
        Ok(_) => Vec::new(),
        Err(d) => d.items.iter().map(|x| x.render("s.yaml")).collect(),
    }
}

#[test]
fn value_mistakes_are_reported_with_structural_ones() {
    let e = errors(
        "version: 1\nfoundation:\n  from: x\n  apt: [Git]\nharness:\n  npm: {a: ^1.0.0, b: \"${V}\"}\nimgae: {}\n",
    );
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(e[0].starts_with("s.yaml:4:9: error: foundation.apt[0]: `Git`"));
    assert!(e[1].contains("`^1.0.0` is not an exact version"));
    // Neither declared nor predefined: reported; its value is not judged.
    assert!(e[2].contains("`${V}` is neither declared"));
    assert!(e[3].contains("unknown key `imgae`"));
}

#[test]
fn missing_parts_do_not_hide_the_rest() {
    let e = errors("version: 1\nimage:\n  workdir: w\n");
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].contains("foundation: is required"));
    assert!(e[1].contains("image.workdir: `w` is not absolute"));
}

#[test]
fn order_names_the_missing_part_only_when_the_rest_is_known() {
    let e = errors("version: 1\nfoundation: {from: x}\nimage: {order: [harness, foundation]}\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].contains("`extension` is missing"));
    let e =
        errors("version: 1\nfoundation: {from: x}\nimage: {order: [harness, foundation, ext]}\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].contains("unknown part `ext`"));
    assert!(e[0].contains("did you mean `extension`?"));
}

#[test]
fn common_shapes_get_the_fix_as_a_hint() {
    let e = errors("version: 1\nfoundation:\n  from: x\n  apt: git curl\n  env: [A=1]\n");
    assert!(e[0].contains("write [git, curl]"), "{e:#?}");
    assert!(e[1].contains("write `A: 1`"), "{e:#?}");
    let e = errors("version: 1\nfoundation: {from: x}\nharness: {npm: [\"@a/b@1.2.3\"]}\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].contains("write `\"@a/b\": \"1.2.3\"`"), "{e:#?}");
}

#[test]
fn an_npm_tool_can_opt_out_of_cross_installs() {
    let spec = parse_spec(
        "s.yaml",
        "version: 1\nfoundation: {from: x}\nharness:\n  npm:\n    a: \"1.0.0\"\n    b: {version: \"2.0.0\", emulate: true}\n",
    )
    .unwrap();
    let npm = &spec.harness.npm;
    assert!(!npm[0].emulated());
    assert_eq!(npm[1].version.value, "2.0.0");
    assert!(npm[1].emulated());
    let e = errors(
        "version: 1\nfoundation: {from: x}\nharness:\n  npm:\n    a: {emulate: yes}\n    b: {version: \"1.0.0\", emulated: true}\n",
    );
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(
        e[0].contains("harness.npm.a.version: is required"),
        "{e:#?}"
    );
    assert!(
        e[1].contains("harness.npm.a.emulate: expected true or false"),
        "{e:#?}"
    );
    assert!(e[2].contains("unknown key `emulated`"), "{e:#?}");
}
