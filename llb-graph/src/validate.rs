//! Structural checks BuildKit applies when it loads a definition, done on our side so
//! tests (and fuzzing) catch a malformed graph without a daemon.

use crate::Digest;
use crate::pb;
use prost::Message;
use std::collections::HashMap;

/// Checks a definition the way BuildKit's loader does: at least two entries, a terminal
/// last op with exactly one input, every input defined earlier, exec ops with args and a
/// root mount, file ops with actions and valid indices, diff ops with both sides, merge
/// inputs matching their edges, and metadata only for ops that exist.
///
/// Errors: the first violation, described.
pub fn validate(def: &pb::Definition) -> Result<(), String> {
    if def.def.is_empty() {
        return Ok(()); // solves to scratch
    }
    if def.def.len() < 2 {
        return Err(format!("invalid LLB with {} vertexes", def.def.len()));
    }
    let mut outputs: HashMap<String, usize> = HashMap::new();
    let last = def.def.len() - 1;
    for (i, bytes) in def.def.iter().enumerate() {
        let digest = Digest::of(bytes).to_string();
        let op = pb::Op::decode(bytes.as_slice()).map_err(|e| format!("op {i}: {e}"))?;
        for inp in &op.inputs {
            if inp.index < 0 {
                return Err(format!("op {i}: negative input index"));
            }
            if !outputs.contains_key(&inp.digest) {
                return Err(format!(
                    "op {i}: input {} is not defined before use",
                    inp.digest
                ));
            }
        }
        if i == last && op.op.is_some() {
            return Err("the last op must be a terminal op (no body, one input)".into());
        }
        let n = op.inputs.len() as i64;
        let in_range = |x: i64, extra: i64| x == -1 || (0..n + extra).contains(&x);
        match &op.op {
            None => {
                if i != last || op.inputs.len() != 1 {
                    return Err(format!(
                        "op {i}: an op without a body must be the last, with one input"
                    ));
                }
            }
            Some(pb::op::Op::Exec(e)) => {
                let meta = e
                    .meta
                    .as_ref()
                    .ok_or(format!("op {i}: exec without meta"))?;
                if meta.args.is_empty() {
                    return Err(format!("op {i}: exec without args"));
                }
                if !e.mounts.iter().any(|m| m.dest == "/") {
                    return Err(format!("op {i}: exec without a root mount"));
                }
                if e.mounts.iter().any(|m| !in_range(m.input, 0)) {
                    return Err(format!("op {i}: exec mount input out of range"));
                }
            }
            Some(pb::op::Op::File(f)) => {
                if f.actions.is_empty() {
                    return Err(format!("op {i}: file op without actions"));
                }
                for (k, a) in f.actions.iter().enumerate() {
                    // Action k may use inputs and results of actions before it.
                    if !in_range(a.input, k as i64) || !in_range(a.secondary_input, k as i64) {
                        return Err(format!("op {i}: file action {k} refers to a later result"));
                    }
                    let want = if k == f.actions.len() - 1 { 0 } else { -1 };
                    if a.output != want {
                        return Err(format!("op {i}: file action {k} has output {}", a.output));
                    }
                }
            }
            Some(pb::op::Op::Diff(d)) => {
                let (Some(l), Some(u)) = (&d.lower, &d.upper) else {
                    return Err(format!("op {i}: diff with nil lower or upper input"));
                };
                if !in_range(l.input, 0) || !in_range(u.input, 0) {
                    return Err(format!("op {i}: diff input out of range"));
                }
                let used = i64::from(l.input >= 0) + i64::from(u.input >= 0);
                if used != n {
                    return Err(format!("op {i}: diff has {n} edges for {used} inputs"));
                }
            }
            Some(pb::op::Op::Merge(m)) => {
                if m.inputs.len() < 2 {
                    return Err(format!("op {i}: merge with fewer than 2 inputs"));
                }
                if m.inputs.len() as i64 != n
                    || m.inputs
                        .iter()
                        .enumerate()
                        .any(|(k, mi)| mi.input != k as i64)
                {
                    return Err(format!("op {i}: merge inputs do not match its edges"));
                }
            }
            Some(pb::op::Op::Source(s)) => {
                if s.identifier.is_empty() {
                    return Err(format!("op {i}: source without identifier"));
                }
            }
            Some(_) => {}
        }
        outputs.insert(digest, i);
    }
    for k in def.metadata.keys() {
        if !outputs.contains_key(k) {
            return Err(format!("metadata for unknown op {k}"));
        }
    }
    Ok(())
}
