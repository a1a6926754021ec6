//! The SBOM's build steps: one inventory step per part, and the state that holds the
//! document (with the inventories among its inputs, so that `--cache-to …,mode=max`
//! exports them and a fresh runner finds them in the cache).

use crate::guards::step;
use crate::sbom::scan::{INVENTORY_FILE, ScanRequest};
use crate::session::guards::{OwnImage, own_step};
use llb_graph::{CopyOptions, FileOp, FileRef, Meta, MountKind, State};

/// The file an inventory step writes.
/// Where the document is in the attestation's state.
pub const DOCUMENT: &str = "/aishell.spdx.json";

/// The step that reads `part` for `req`; its output holds [`INVENTORY_FILE`].
pub fn inventory(own: &OwnImage, part: &State, req: &ScanRequest, meta: Meta) -> State {
    // Serialising an enum of strings cannot fail.
    let json = serde_json::to_string(req).unwrap_or_default();
    let e = own_step(own, "inventory", json).mount(
        step::LAYER,
        MountKind::ReadOnly {
            state: part.clone(),
            selector: String::new(),
            key: own.layer_key,
        },
    );
    e.build_outputs(meta).swap_remove(0)
}

/// The inventories side by side (`/<i>/inventory.json`): one state to solve, and the
/// attestation's base.
pub fn collect(inventories: &[State], meta: Meta) -> State {
    let mut op = FileOp::on(State::scratch());
    for (i, s) in inventories.iter().enumerate() {
        op = op.copy_from(
            FileRef::State(s.clone()),
            &format!("/{INVENTORY_FILE}"),
            &format!("/{i}/{INVENTORY_FILE}"),
            CopyOptions {
                create_dest_path: true,
                timestamp: Some(0),
                ..Default::default()
            },
        );
    }
    op.build(meta)
}

/// `collected` plus the document at [`DOCUMENT`].
pub fn document(collected: &State, doc: Vec<u8>, meta: Meta) -> State {
    FileOp::on(collected.clone())
        .mkfile_with(DOCUMENT, 0o644, doc, None, Some(0))
        .build(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use llb_graph::{Source, definition_to_json, marshal};

    #[test]
    fn the_document_state_is_built_on_the_inventories() {
        let own = OwnImage::from_definition(
            &marshal(
                &Source::image("ghcr.io/org/aishell-frontend:1@sha256:00").build(Meta::default()),
                &[],
            ),
            "/bin/aishell-frontend",
        )
        .unwrap();
        let part = Source::image("docker.io/library/debian:13").build(Meta::default());
        let inv = inventory(
            &own,
            &part,
            &ScanRequest::System,
            Meta::named("[sbom] foundation"),
        );
        let doc = document(
            &collect(std::slice::from_ref(&inv), Meta::named("[sbom] collect")),
            b"{}".to_vec(),
            Meta::named("[sbom] document"),
        );
        let text = definition_to_json(&marshal(&doc, &[])).to_string();
        assert!(
            text.contains(r#""guard-step","inventory","\"system\""#),
            "{text}"
        );
        assert!(text.contains("debian:13"), "{text}");
        assert!(text.contains("/0/inventory.json"), "{text}");
    }
}
