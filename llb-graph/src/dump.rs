//! A readable JSON view of a definition, for golden tests and `aishell-frontend llb --json`.

use crate::Digest;
use crate::pb;
use prost::Message;
use serde_json::{Map, Value, json};

fn platform(p: &Option<pb::Platform>) -> Value {
    match p {
        None => Value::Null,
        Some(p) => {
            let mut s = format!("{}/{}", p.os, p.architecture);
            if !p.variant.is_empty() {
                s.push('/');
                s.push_str(&p.variant);
            }
            Value::String(s)
        }
    }
}

fn chown(o: &Option<pb::ChownOpt>) -> Value {
    let id = |u: &Option<pb::UserOpt>| match u.as_ref().and_then(|u| u.user.as_ref()) {
        Some(pb::user_opt::User::ById(n)) => json!(n),
        Some(pb::user_opt::User::ByName(n)) => json!(n.name),
        None => Value::Null,
    };
    match o {
        None => Value::Null,
        Some(c) => json!({"user": id(&c.user), "group": id(&c.group)}),
    }
}

fn mode(m: i32) -> Value {
    if m < 0 {
        Value::Null
    } else {
        Value::String(format!("{m:04o}"))
    }
}

fn timestamp(t: i64) -> Value {
    if t < 0 { Value::Null } else { json!(t) }
}

fn action(a: &pb::FileAction) -> Value {
    let body = match &a.action {
        Some(pb::file_action::Action::Copy(c)) => json!({"copy": {
            "src": c.src, "dest": c.dest, "owner": chown(&c.owner), "mode": mode(c.mode),
            "followSymlink": c.follow_symlink, "dirCopyContents": c.dir_copy_contents,
            "unpack": c.attempt_unpack_docker_compatibility, "createDestPath": c.create_dest_path,
            "allowWildcard": c.allow_wildcard, "timestamp": timestamp(c.timestamp),
        }}),
        Some(pb::file_action::Action::Mkfile(m)) => json!({"mkfile": {
            "path": m.path, "mode": mode(m.mode), "owner": chown(&m.owner),
            "data": String::from_utf8_lossy(&m.data), "timestamp": timestamp(m.timestamp),
        }}),
        Some(pb::file_action::Action::Mkdir(m)) => json!({"mkdir": {
            "path": m.path, "mode": mode(m.mode), "makeParents": m.make_parents,
            "owner": chown(&m.owner), "timestamp": timestamp(m.timestamp),
        }}),
        Some(pb::file_action::Action::Rm(r)) => json!({"rm": {
            "path": r.path, "allowNotFound": r.allow_not_found, "allowWildcard": r.allow_wildcard,
        }}),
        Some(pb::file_action::Action::Symlink(s)) => json!({"symlink": {
            "oldpath": s.oldpath, "newpath": s.newpath,
        }}),
        None => Value::Null,
    };
    json!({"input": a.input, "secondaryInput": a.secondary_input, "output": a.output, "action": body})
}

/// A readable JSON form of one op.
pub fn op_to_json(op: &pb::Op) -> Value {
    let body = match &op.op {
        Some(pb::op::Op::Source(s)) => {
            json!({"source": {"identifier": s.identifier, "attrs": s.attrs}})
        }
        Some(pb::op::Op::Exec(e)) => {
            let meta = e.meta.clone().unwrap_or_default();
            let mounts: Vec<Value> = e
                .mounts
                .iter()
                .map(|m| {
                    let mut o = Map::new();
                    o.insert("dest".into(), json!(m.dest));
                    o.insert("input".into(), json!(m.input));
                    o.insert("output".into(), json!(m.output));
                    let kind = pb::MountType::try_from(m.mount_type)
                        .map(|t| t.as_str_name().to_ascii_lowercase())
                        .unwrap_or_else(|_| m.mount_type.to_string());
                    o.insert("type".into(), json!(kind));
                    if m.readonly {
                        o.insert("readonly".into(), json!(true));
                    }
                    if !m.selector.is_empty() {
                        o.insert("selector".into(), json!(m.selector));
                    }
                    if m.content_cache != 0 {
                        let c = pb::MountContentCache::try_from(m.content_cache)
                            .map(|c| c.as_str_name().to_ascii_lowercase())
                            .unwrap_or_else(|_| m.content_cache.to_string());
                        o.insert("content_cache".into(), json!(c));
                    }
                    if let Some(c) = &m.cache_opt {
                        o.insert("cache".into(), json!({"id": c.id, "sharing": c.sharing}));
                    }
                    if let Some(s) = &m.secret_opt {
                        o.insert(
                            "secret".into(),
                            json!({"id": s.id, "uid": s.uid, "gid": s.gid, "mode": format!("{:04o}", s.mode), "optional": s.optional}),
                        );
                    }
                    Value::Object(o)
                })
                .collect();
            json!({"exec": {
                "args": meta.args, "env": meta.env, "cwd": meta.cwd, "user": meta.user,
                "network": e.network, "mounts": mounts,
            }})
        }
        Some(pb::op::Op::File(f)) => {
            json!({"file": f.actions.iter().map(action).collect::<Vec<_>>()})
        }
        Some(pb::op::Op::Merge(m)) => {
            json!({"merge": m.inputs.iter().map(|i| i.input).collect::<Vec<_>>()})
        }
        Some(pb::op::Op::Diff(d)) => json!({"diff": {
            "lower": d.lower.as_ref().map(|l| l.input),
            "upper": d.upper.as_ref().map(|u| u.input),
        }}),
        Some(other) => json!({"other": format!("{other:?}")}),
        None => json!("terminal"),
    };
    let mut o = Map::new();
    o.insert("op".into(), body);
    let p = platform(&op.platform);
    if !p.is_null() {
        o.insert("platform".into(), p);
    }
    Value::Object(o)
}

/// A readable JSON form of a whole definition: ops in order with their digests, inputs
/// (as `#<position>:<output>`), progress names, caps and source locations.
pub fn definition_to_json(def: &pb::Definition) -> Value {
    let digests: Vec<String> = def.def.iter().map(|b| Digest::of(b).to_string()).collect();
    let ops: Vec<Value> = def
        .def
        .iter()
        .zip(&digests)
        .enumerate()
        .map(|(i, (bytes, digest))| {
            let Ok(op) = pb::Op::decode(bytes.as_slice()) else {
                return json!({"n": i, "digest": digest, "error": "undecodable op"});
            };
            let inputs: Vec<String> = op
                .inputs
                .iter()
                .map(|inp| match digests.iter().position(|d| *d == inp.digest) {
                    Some(p) => format!("#{p}:{}", inp.index),
                    None => format!("{}:{}", inp.digest, inp.index),
                })
                .collect();
            let mut o = Map::new();
            o.insert("n".into(), json!(i));
            o.insert("digest".into(), json!(digest));
            if let Some(m) = def.metadata.get(digest) {
                if let Some(name) = m.description.get("llb.customname") {
                    o.insert("name".into(), json!(name));
                }
                if !m.caps.is_empty() {
                    o.insert("caps".into(), json!(m.caps.keys().collect::<Vec<_>>()));
                }
            }
            if !inputs.is_empty() {
                o.insert("inputs".into(), json!(inputs));
            }
            if let Value::Object(body) = op_to_json(&op) {
                o.extend(body);
            }
            if let Some(src) = &def.source
                && let Some(locs) = src.locations.get(digest)
            {
                let lines: Vec<String> = locs
                    .locations
                    .iter()
                    .flat_map(|l| {
                        l.ranges.iter().map(move |r| {
                            let s = r.start.unwrap_or_default().line;
                            let e = r.end.unwrap_or_default().line;
                            format!("{}:{s}-{e}", l.source_index)
                        })
                    })
                    .collect();
                o.insert("locations".into(), json!(lines));
            }
            Value::Object(o)
        })
        .collect();
    json!({"ops": ops})
}
