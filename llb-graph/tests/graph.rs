//! Behaviour of the LLB builder: dedup, ordering, index conventions, determinism.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llb_graph::{
    CopyOptions, Exec, FileOp, FileRef, Location, Meta, MountKind, NetMode, Source, SourceFile,
    State, decode_op, definition_to_json, diff, encode_definition, marshal, merge, pb, validate,
};

fn base() -> State {
    Source::image("docker.io/library/busybox:1")
        .platform(llb_graph::platform("linux", "amd64", None))
        .build(Meta::named("base"))
}

fn ops(def: &pb::Definition) -> Vec<pb::Op> {
    def.def.iter().map(|b| decode_op(b).unwrap()).collect()
}

#[test]
fn marshalling_twice_gives_identical_bytes() {
    let build = || {
        let b = base();
        let e = Exec::new(b.clone(), ["/bin/sh", "-c", "touch /x"])
            .env("A", "1")
            .mount(
                "/c",
                MountKind::Cache {
                    id: "c".into(),
                    locked: false,
                },
            )
            .build(Meta::named("run"));
        let src = Source::http("https://example.invalid/a")
            .attr("http.checksum", "sha256:ab")
            .attr("http.filename", "a")
            .attr("http.perm", "0755")
            .build(Meta::default());
        let tool = FileOp::on(State::scratch())
            .copy(
                src,
                "/a",
                "/tools/bin/a",
                CopyOptions {
                    create_dest_path: true,
                    ..Default::default()
                },
            )
            .build(Meta::named("tool"));
        merge(
            &[b.clone(), diff(&b, &e, Meta::default()), tool],
            Meta::named("m"),
        )
    };
    let a = encode_definition(&marshal(&build(), &[]));
    let b = encode_definition(&marshal(&build(), &[]));
    assert_eq!(a, b);
    validate(&marshal(&build(), &[])).unwrap();
}

#[test]
fn identical_ops_are_one_vertex() {
    let a = base();
    let b = base();
    assert_eq!(a, b);
    let m = merge(
        &[a, Exec::new(b, ["/bin/true"]).build(Meta::default())],
        Meta::default(),
    );
    let def = marshal(&m, &[]);
    // image once, exec, merge, terminal
    assert_eq!(def.def.len(), 4);
    validate(&def).unwrap();
}

#[test]
fn inputs_come_before_users_and_terminal_is_last() {
    let b = base();
    let e = Exec::new(b.clone(), ["/bin/true"]).build(Meta::default());
    let def = marshal(&diff(&b, &e, Meta::default()), &[]);
    let ops = ops(&def);
    let last = ops.last().unwrap();
    assert!(last.op.is_none());
    assert_eq!(last.inputs.len(), 1);
    let digests: Vec<String> = def
        .def
        .iter()
        .map(|b| format!("sha256:{}", hex_digest(b)))
        .collect();
    for (i, op) in ops.iter().enumerate() {
        for inp in &op.inputs {
            let pos = digests.iter().position(|d| *d == inp.digest).unwrap();
            assert!(pos < i, "op {i} uses op {pos} defined later");
        }
    }
}

fn hex_digest(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[test]
fn merge_drops_scratch_and_collapses_single_inputs() {
    let b = base();
    assert_eq!(merge(&[State::scratch(), b.clone()], Meta::default()), b);
    assert!(merge(&[State::scratch()], Meta::default()).is_scratch());
    let e = Exec::new(b.clone(), ["/bin/true"]).build(Meta::default());
    let m = merge(&[b.clone(), State::scratch(), e], Meta::default());
    let def = marshal(&m, &[]);
    let op = ops(&def).into_iter().rev().nth(1).unwrap();
    let Some(pb::op::Op::Merge(mo)) = op.op else {
        panic!("not a merge")
    };
    assert_eq!(
        mo.inputs.iter().map(|i| i.input).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert_eq!(op.inputs.len(), 2);
}

#[test]
fn diff_takes_lower_then_upper_and_marks_scratch() {
    let b = base();
    let e = Exec::new(b.clone(), ["/bin/true"]).build(Meta::default());
    let d = diff(&b, &e, Meta::default());
    let op = ops(&marshal(&d, &[])).into_iter().rev().nth(1).unwrap();
    let Some(pb::op::Op::Diff(dop)) = &op.op else {
        panic!()
    };
    assert_eq!(dop.lower.unwrap().input, 0);
    assert_eq!(dop.upper.unwrap().input, 1);
    assert_eq!(op.inputs[0].digest, b.digest().unwrap().as_str());
    assert_eq!(op.inputs[1].digest, e.digest().unwrap().as_str());

    let d2 = diff(&State::scratch(), &e, Meta::default());
    let op2 = ops(&marshal(&d2, &[])).into_iter().rev().nth(1).unwrap();
    let Some(pb::op::Op::Diff(dop2)) = &op2.op else {
        panic!()
    };
    assert_eq!(dop2.lower.unwrap().input, -1);
    assert_eq!(dop2.upper.unwrap().input, 0);
    validate(&marshal(&d2, &[])).unwrap();
}

#[test]
fn file_actions_number_results_after_inputs() {
    let archive = Source::http("https://example.invalid/t.tar.gz").build(Meta::default());
    let layer = FileOp::on(State::scratch())
        .copy(
            archive,
            "/t.tar.gz",
            "/x/",
            CopyOptions {
                unpack_archive: true,
                ..Default::default()
            },
        )
        .base(FileRef::State(State::scratch()))
        .copy_from(
            FileRef::Action(0),
            "/x/t",
            "/tools/bin/t",
            CopyOptions {
                mode: Some(0o755),
                ..Default::default()
            },
        )
        .mkdir("/tools/etc", 0o755, true)
        .build(Meta::default());
    let def = marshal(&layer, &[]);
    validate(&def).unwrap();
    let op = ops(&def).into_iter().rev().nth(1).unwrap();
    let Some(pb::op::Op::File(f)) = op.op else {
        panic!()
    };
    assert_eq!(op.inputs.len(), 1);
    let a: Vec<(i64, i64, i64)> = f
        .actions
        .iter()
        .map(|a| (a.input, a.secondary_input, a.output))
        .collect();
    // action 0: scratch + input 0; action 1: scratch + result of action 0 (= 1 + 0);
    // action 2: result of action 1 (= 1 + 1). Only the last has output 0.
    assert_eq!(a, vec![(-1, 0, -1), (-1, 1, -1), (2, -1, 0)]);
    let Some(pb::file_action::Action::Copy(c0)) = &f.actions[0].action else {
        panic!()
    };
    assert!(c0.attempt_unpack_docker_compatibility);
    assert_eq!(c0.mode, -1, "no mode means keep (-1), not 0000");
    assert_eq!(c0.timestamp, -1, "no timestamp means keep (-1), not 1970");
    let Some(pb::file_action::Action::Copy(c1)) = &f.actions[1].action else {
        panic!()
    };
    assert_eq!(c1.mode, 0o755);
}

#[test]
fn exec_mounts_are_sorted_with_secrets_last() {
    let b = base();
    let build = |order: bool| {
        let mut e = Exec::new(b.clone(), ["/bin/true"]).network(NetMode::None);
        let mounts = vec![
            (
                "/run/secrets/npmrc",
                MountKind::Secret {
                    id: "npmrc".into(),
                    uid: 0,
                    gid: 0,
                    mode: 0o400,
                    optional: false,
                },
            ),
            (
                "/var/cache/apt",
                MountKind::Cache {
                    id: "apt".into(),
                    locked: true,
                },
            ),
            ("/tmp", MountKind::Tmpfs),
        ];
        let mounts: Vec<_> = if order {
            mounts
        } else {
            mounts.into_iter().rev().collect()
        };
        for (d, m) in mounts {
            e = e.mount(d, m);
        }
        e.build(Meta::default())
    };
    assert_eq!(build(true), build(false));
    let def = marshal(&build(true), &[]);
    let op = ops(&def).into_iter().rev().nth(1).unwrap();
    let Some(pb::op::Op::Exec(e)) = op.op else {
        panic!()
    };
    let dests: Vec<&str> = e.mounts.iter().map(|m| m.dest.as_str()).collect();
    assert_eq!(
        dests,
        vec!["/", "/tmp", "/var/cache/apt", "/run/secrets/npmrc"]
    );
    assert_eq!(e.mounts[0].output, 0);
    assert!(
        e.mounts[1..]
            .iter()
            .all(|m| m.output == -1 && m.input == -1)
    );
    assert_eq!(e.network, pb::NetMode::None as i32);
    let digest = build(true).digest().unwrap().to_string();
    let caps = &def.metadata[&digest].caps;
    for c in [
        "exec.mount.secret",
        "exec.mount.cache",
        "exec.mount.tmpfs",
        "exec.meta.network",
    ] {
        assert!(caps.contains_key(c), "missing cap {c}");
    }
}

#[test]
fn names_and_locations_do_not_change_digests_but_are_emitted() {
    let a = Exec::new(base(), ["/bin/true"]).build(Meta::named("one"));
    let b = Exec::new(base(), ["/bin/true"]).build(Meta::named("two").at(Location::lines(3, 4)));
    assert_eq!(a.digest(), b.digest());
    let src = SourceFile {
        filename: "image.yaml".into(),
        data: b"x".to_vec(),
        language: "yaml".into(),
        definition: None,
    };
    let def = marshal(&b, std::slice::from_ref(&src));
    let d = b.digest().unwrap().as_str();
    assert_eq!(def.metadata[d].description["llb.customname"], "two");
    let source = def.source.as_ref().unwrap();
    assert_eq!(source.infos[0].filename, "image.yaml");
    let loc = &source.locations[d].locations[0];
    assert_eq!(loc.ranges[0].start.unwrap().line, 3);
    assert_eq!(loc.ranges[0].end.unwrap().line, 4);
}

#[test]
fn foreign_definitions_are_copied_byte_for_byte() {
    let b = base();
    let e = Exec::new(b, ["/bin/true"]).build(Meta::named("theirs"));
    let theirs = marshal(&e, &[]);
    let st = State::from_definition(&theirs).unwrap();
    assert_eq!(st.digest(), e.digest());
    let ours = marshal(&merge(&[base(), st], Meta::default()), &[]);
    validate(&ours).unwrap();
    for op in &theirs.def[..theirs.def.len() - 1] {
        assert!(ours.def.contains(op));
    }
    // the shared image source is emitted once
    assert_eq!(ours.def.len(), 4);
}

#[test]
fn validate_rejects_malformed_graphs() {
    let b = base();
    let good = marshal(&Exec::new(b, ["/bin/true"]).build(Meta::default()), &[]);
    validate(&good).unwrap();
    let mut swapped = good.clone();
    swapped.def.swap(0, 1);
    assert!(
        validate(&swapped)
            .unwrap_err()
            .contains("not defined before use")
    );
    let mut no_terminal = good.clone();
    no_terminal.def.pop();
    assert!(validate(&no_terminal).is_err());
}

/// Our op digests are the vertex digests BuildKit names in its progress and in its errors
/// (`errdefs.Vertex`), which the frontend maps back to the layer that failed. BuildKit
/// (v0.32.2) re-encodes every op it loads with Go's protobuf encoding, which writes the
/// `op` oneof after `platform` and `constraints`, and hashes those bytes. The expected
/// digests were read off BuildKit v0.32.2's error details for exactly these two ops (an
/// image source and an exec on it that failed).
#[test]
fn op_digests_are_buildkits_own() {
    let image = Source::image(
        "127.0.0.1:5010/busybox:1@sha256:51ae7affbd6ff42d6b4934f9698cb627b58389eab7fe89f4f3f4626e6315e703",
    )
    .platform(llb_graph::platform("linux", "amd64", None))
    .build(Meta::default());
    assert_eq!(
        image.digest().unwrap().as_str(),
        "sha256:e401cc668b5fa5c0b16e86d8d99de4348698d111b6559f2ab64a575d5c07d016"
    );
    let exec = Exec::new(image, ["/bin/sh", "-c", "exit 3"])
        .env("PATH", "/bin")
        .platform(llb_graph::platform("linux", "amd64", None))
        .build(Meta::default());
    assert_eq!(
        exec.digest().unwrap().as_str(),
        "sha256:f09d507e26a88b990d8f2bc9d25d56794c08c46955df9a73e7a5fae7b478edd2"
    );
}

/// Pinned digests: a drift means a change to the bytes we send, which changes every vertex
/// digest users see in progress and errors (BuildKit's cache keys are computed from the
/// ops' content, not from these bytes). The snapshot is `tests/golden/pinned_digests.snap`,
/// one digest a line; accept a change only on purpose (`cargo insta review`), with a commit
/// that says why.
#[test]
fn pinned_digests() {
    let b = Source::image("docker.io/library/busybox:1")
        .platform(llb_graph::platform("linux", "amd64", None))
        .build(Meta::default());
    let e = Exec::new(b.clone(), ["/bin/sh", "-c", "true"])
        .env("PATH", "/bin")
        .build(Meta::default());
    let m = merge(&[b.clone(), diff(&b, &e, Meta::default())], Meta::default());
    let json = definition_to_json(&marshal(&m, &[]));
    let got: Vec<&str> = json["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["digest"].as_str().unwrap())
        .collect();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("golden");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description("the op digests of merge(busybox, diff(busybox, exec)), in order");
    settings.bind(|| insta::assert_snapshot!("pinned_digests", got.join("\n")));
}
