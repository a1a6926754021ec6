//! Byte-level checks that our own `.proto` files produce what BuildKit's
//! decoders expect: field numbers, wire types, field order, map order and
//! enum numbers. Each check reads the encoded bytes back with a tiny,
//! independent protobuf reader instead of trusting prost's decoder.

use std::collections::BTreeMap;
use std::error::Error;

use aishell_proto::apicaps::ApiCap;
use aishell_proto::fsutil::Stat;
use aishell_proto::gateway::{
    self, CacheOptionsEntry, PongResponse, Ref, ResolveImageConfigRequest, ReturnRequest,
    SolveRequest,
};
use aishell_proto::pb::{
    self, DiffOp, FileAction, FileActionCopy, FileOp, Input, LowerDiffInput, MergeInput, MergeOp,
    Op, OpMetadata, SourceOp, UpperDiffInput, WorkerConstraints,
};
use aishell_proto::rpc::Status;
use prost::Message;

type TestResult = Result<(), Box<dyn Error>>;

/// Protobuf wire types.
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

/// One top-level field as it appears on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    number: u64,
    wire_type: u8,
    /// For VARINT the raw varint bytes, for LEN the payload, otherwise the
    /// fixed-size bytes.
    payload: Vec<u8>,
}

/// Reads one base-128 varint at `*pos`, returning its value and advancing.
fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes".into())
}

/// Splits an encoded message into its top-level fields, in wire order.
fn fields(buf: &[u8]) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        let number = key >> 3;
        let wire_type = u8::try_from(key & 7).map_err(|e| e.to_string())?;
        let start = pos;
        let end = match wire_type {
            VARINT => {
                read_varint(buf, &mut pos)?;
                pos
            }
            I64 => start + 8,
            LEN => {
                let len =
                    usize::try_from(read_varint(buf, &mut pos)?).map_err(|e| e.to_string())?;
                pos + len
            }
            I32 => start + 4,
            other => return Err(format!("unsupported wire type {other}")),
        };
        let payload_start = if wire_type == LEN { pos } else { start };
        let payload = buf
            .get(payload_start..end)
            .ok_or("field runs past the end of the buffer")?
            .to_vec();
        pos = end;
        out.push(Field {
            number,
            wire_type,
            payload,
        });
    }
    Ok(out)
}

/// The field numbers of an encoded message, in wire order.
fn tags(buf: &[u8]) -> Result<Vec<u64>, String> {
    Ok(fields(buf)?.iter().map(|f| f.number).collect())
}

/// The only field of a message that is expected to encode exactly one.
fn only_field(buf: &[u8]) -> Result<Field, String> {
    let mut all = fields(buf)?;
    match all.len() {
        1 => all.pop().ok_or_else(|| "unreachable".to_string()),
        n => Err(format!("expected exactly one field, found {n}: {all:?}")),
    }
}

/// Value of a VARINT field's payload.
fn varint_value(field: &Field) -> Result<u64, String> {
    let mut pos = 0;
    read_varint(&field.payload, &mut pos)
}

fn input(digest: &str) -> Input {
    Input {
        digest: digest.to_string(),
        index: 0,
    }
}

fn merge_of_three(constraints: Option<WorkerConstraints>) -> Op {
    Op {
        inputs: vec![input("sha256:aa"), input("sha256:bb"), input("sha256:cc")],
        op: Some(pb::op::Op::Merge(MergeOp {
            inputs: (0..3).map(|i| MergeInput { input: i }).collect(),
        })),
        platform: None,
        constraints,
    }
}

#[test]
fn merge_op_fields_are_written_in_tag_order() -> TestResult {
    let bare = merge_of_three(None).encode_to_vec();
    assert_eq!(tags(&bare)?, vec![1, 1, 1, 6]);

    let constrained = merge_of_three(Some(WorkerConstraints::default())).encode_to_vec();
    assert_eq!(tags(&constrained)?, vec![1, 1, 1, 6, 11]);
    // An empty-but-present message is written as tag + zero length, exactly
    // what the Go client emits for constraints: 0x5a 0x00.
    assert_eq!(
        constrained.get(constrained.len() - 2..),
        Some(&[0x5a, 0x00][..])
    );

    // The merge body lists its three MergeInputs under field 1; the first one
    // (input 0) is an empty message, the others carry their index.
    let merge = fields(&constrained)?
        .into_iter()
        .find(|f| f.number == 6)
        .ok_or("no merge field")?;
    assert_eq!(merge.wire_type, LEN);
    let merge_inputs = fields(&merge.payload)?;
    assert_eq!(merge_inputs.len(), 3);
    assert!(
        merge_inputs
            .iter()
            .all(|f| f.number == 1 && f.wire_type == LEN)
    );
    assert_eq!(merge_inputs[0].payload, Vec::<u8>::new());
    assert_eq!(merge_inputs[1].payload, vec![0x08, 0x01]);
    assert_eq!(merge_inputs[2].payload, vec![0x08, 0x02]);
    Ok(())
}

#[test]
fn source_attrs_are_encoded_sorted_and_deterministically() -> TestResult {
    let entries = [
        ("local.sharedkeyhint", "dockerfile"),
        ("local.followpaths", "[\"Dockerfile\"]"),
        ("local.session", "s3ss10n"),
        ("local.differ", "none"),
        ("a", "first"),
    ];

    let mut forward = BTreeMap::new();
    for (k, v) in entries {
        forward.insert(k.to_string(), v.to_string());
    }
    let mut backward = BTreeMap::new();
    for (k, v) in entries.iter().rev() {
        backward.insert((*k).to_string(), (*v).to_string());
    }

    let one = SourceOp {
        identifier: "local://dockerfile".into(),
        attrs: forward,
    }
    .encode_to_vec();
    let two = SourceOp {
        identifier: "local://dockerfile".into(),
        attrs: backward,
    }
    .encode_to_vec();
    assert_eq!(one, two, "same attrs must give the same bytes");

    // Read the map entries back in wire order and check their keys.
    let mut keys = Vec::new();
    for field in fields(&one)?.into_iter().filter(|f| f.number == 2) {
        assert_eq!(field.wire_type, LEN);
        let entry = fields(&field.payload)?;
        let key = entry
            .iter()
            .find(|f| f.number == 1)
            .ok_or("map entry without key")?;
        keys.push(String::from_utf8(key.payload.clone())?);
    }
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys.len(), entries.len());
    assert_eq!(keys, sorted);
    assert_eq!(keys.first().map(String::as_str), Some("a"));

    // The same holds one level up: equal ops give equal digests input.
    let op_a = Op {
        op: Some(pb::op::Op::Source(SourceOp::decode(one.as_slice())?)),
        ..Op::default()
    };
    let op_b = Op {
        op: Some(pb::op::Op::Source(SourceOp::decode(two.as_slice())?)),
        ..Op::default()
    };
    assert_eq!(op_a.encode_to_vec(), op_b.encode_to_vec());
    Ok(())
}

#[test]
fn negative_int64_is_a_ten_byte_varint() {
    let bytes = MergeInput { input: -1 }.encode_to_vec();
    assert_eq!(
        bytes,
        vec![
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
        ]
    );
}

#[test]
fn minus_one_fields_use_plain_varints_not_zigzag() -> TestResult {
    let ten_bytes_minus_one = vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];

    // Mount.input and Mount.output are int64.
    let mount = pb::Mount {
        input: -1,
        ..pb::Mount::default()
    };
    let field = only_field(&mount.encode_to_vec())?;
    assert_eq!((field.number, field.wire_type), (1, VARINT));
    assert_eq!(field.payload, ten_bytes_minus_one);

    // FileActionCopy.mode is int32: a negative int32 is sign-extended to ten
    // bytes too (sint32 would give a single 0x01).
    let copy = FileActionCopy {
        mode: -1,
        ..FileActionCopy::default()
    };
    let field = only_field(&copy.encode_to_vec())?;
    assert_eq!((field.number, field.wire_type), (4, VARINT));
    assert_eq!(field.payload, ten_bytes_minus_one);

    // FileAction.input / secondaryInput / output.
    let action = FileAction {
        input: -1,
        secondary_input: -1,
        output: -1,
        action: None,
    };
    let all = fields(&action.encode_to_vec())?;
    assert_eq!(
        all.iter().map(|f| f.number).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(all.iter().all(|f| f.payload == ten_bytes_minus_one));
    Ok(())
}

#[test]
fn result_writes_ref_before_metadata() -> TestResult {
    let mut metadata = BTreeMap::new();
    metadata.insert("containerimage.config".to_string(), b"{}".to_vec());
    let result = gateway::Result {
        result: Some(gateway::result::Result::Ref(Ref {
            id: "ref-1".into(),
            def: None,
        })),
        metadata,
        attestations: BTreeMap::new(),
    };
    let bytes = result.encode_to_vec();
    assert_eq!(tags(&bytes)?, vec![3, 10]);

    // The Ref body carries the id at field 1.
    let reference = fields(&bytes)?.into_iter().next().ok_or("empty result")?;
    let id = only_field(&reference.payload)?;
    assert_eq!((id.number, id.payload.as_slice()), (1, &b"ref-1"[..]));

    // And the other oneof members sit at 1, 2 and 4.
    let cases = [
        (gateway::result::Result::RefDeprecated("x".into()), 1),
        (
            gateway::result::Result::RefsDeprecated(gateway::RefMapDeprecated::default()),
            2,
        ),
        (gateway::result::Result::Refs(gateway::RefMap::default()), 4),
    ];
    for (variant, number) in cases {
        let encoded = gateway::Result {
            result: Some(variant),
            ..gateway::Result::default()
        }
        .encode_to_vec();
        assert_eq!(only_field(&encoded)?.number, number);
    }
    Ok(())
}

/// Asserts that `msg` encodes to exactly one field with this number and wire type.
fn assert_single<M: Message>(what: &str, msg: &M, number: u64, wire_type: u8) -> TestResult {
    let field = only_field(&msg.encode_to_vec()).map_err(|e| format!("{what}: {e}"))?;
    assert_eq!(
        (field.number, field.wire_type),
        (number, wire_type),
        "{what} is at the wrong field number or wire type"
    );
    Ok(())
}

#[test]
fn field_numbers_match_buildkit() -> TestResult {
    let diff = Op {
        op: Some(pb::op::Op::Diff(DiffOp {
            lower: Some(LowerDiffInput { input: -1 }),
            upper: Some(UpperDiffInput { input: 0 }),
        })),
        ..Op::default()
    };
    assert_single("Op.diff", &diff, 7, LEN)?;
    // Both halves of the diff must be present even when one is empty.
    let diff_body = only_field(&diff.encode_to_vec())?.payload;
    assert_eq!(tags(&diff_body)?, vec![1, 2]);

    let file = FileOp {
        actions: vec![FileAction::default()],
    };
    assert_single("FileOp.actions", &file, 2, LEN)?;

    let stamp = FileActionCopy {
        timestamp: 1_700_000_000_000_000_000,
        ..FileActionCopy::default()
    };
    assert_single("FileActionCopy.timestamp", &stamp, 11, VARINT)?;

    let newer_copy = FileActionCopy {
        always_replace_existing_dest_paths: true,
        mode_str: "u+x".into(),
        required_paths: vec!["/a".into()],
        ..FileActionCopy::default()
    };
    assert_eq!(tags(&newer_copy.encode_to_vec())?, vec![14, 15, 16]);

    let symlink = FileAction {
        action: Some(pb::file_action::Action::Symlink(
            pb::FileActionSymlink::default(),
        )),
        ..FileAction::default()
    };
    assert_single("FileAction.symlink", &symlink, 8, LEN)?;

    let by_id = pb::UserOpt {
        user: Some(pb::user_opt::User::ById(1000)),
    };
    assert_single("UserOpt.byID", &by_id, 2, VARINT)?;

    let definition = pb::Definition {
        source: Some(pb::Source::default()),
        ..pb::Definition::default()
    };
    assert_single("Definition.Source", &definition, 3, LEN)?;

    let mut caps = BTreeMap::new();
    caps.insert("mergeop".to_string(), true);
    let metadata = OpMetadata {
        caps,
        ..OpMetadata::default()
    };
    assert_single("OpMetadata.caps", &metadata, 5, LEN)?;
    // map<string,bool> entry: key (1, string) then value (2, varint 1).
    let entry = only_field(&metadata.encode_to_vec())?.payload;
    assert_eq!(
        entry,
        [&[0x0a, 7][..], b"mergeop", &[0x10, 0x01][..]].concat()
    );

    let resources = OpMetadata {
        linux_resources: Some(pb::LinuxResources::default()),
        ..OpMetadata::default()
    };
    assert_single("OpMetadata.linux_resources", &resources, 7, LEN)?;

    let cache = SolveRequest {
        cache_imports: vec![CacheOptionsEntry {
            r#type: "registry".into(),
            attrs: BTreeMap::new(),
        }],
        ..SolveRequest::default()
    };
    assert_single("SolveRequest.CacheImports", &cache, 12, LEN)?;

    let mut frontend_inputs = BTreeMap::new();
    frontend_inputs.insert("context".to_string(), pb::Definition::default());
    let inputs = SolveRequest {
        frontend_inputs,
        ..SolveRequest::default()
    };
    assert_single("SolveRequest.FrontendInputs", &inputs, 13, LEN)?;

    let evaluate = SolveRequest {
        evaluate: true,
        ..SolveRequest::default()
    };
    assert_single("SolveRequest.Evaluate", &evaluate, 14, VARINT)?;

    let allow = SolveRequest {
        allow_result_return: true,
        allow_result_array_ref: true,
        ..SolveRequest::default()
    };
    assert_eq!(tags(&allow.encode_to_vec())?, vec![5, 6]);

    let resolve = ResolveImageConfigRequest {
        resolve_mode: "pull".into(),
        ..ResolveImageConfigRequest::default()
    };
    assert_single("ResolveImageConfigRequest.ResolveMode", &resolve, 3, LEN)?;

    let pong = PongResponse {
        llb_caps: vec![ApiCap {
            id: "mergeop".into(),
            enabled: true,
            ..ApiCap::default()
        }],
        ..PongResponse::default()
    };
    assert_single("PongResponse.LLBCaps", &pong, 2, LEN)?;

    let failed = ReturnRequest {
        result: None,
        error: Some(Status {
            code: 2,
            message: "boom".into(),
            details: Vec::new(),
        }),
    };
    assert_single("ReturnRequest.error", &failed, 2, LEN)?;

    let location = pb::Location {
        source_index: 3,
        ranges: Vec::new(),
    };
    assert_single("Location.sourceIndex", &location, 1, VARINT)?;

    let stat = Stat {
        mode: 1 << 31,
        ..Stat::default()
    };
    let mode = only_field(&stat.encode_to_vec())?;
    assert_eq!((mode.number, mode.wire_type), (2, VARINT));
    // uint32: a plain five-byte varint, no sign extension.
    assert_eq!(varint_value(&mode)?, 1 << 31);
    assert_eq!(mode.payload.len(), 5);
    Ok(())
}

#[test]
fn decodes_bytes_laid_out_like_the_go_client() -> TestResult {
    // Op { inputs: [{digest: "d", index: 1}], file: {}, constraints: {} }
    let bytes = [
        0x0a, 0x05, 0x0a, 0x01, b'd', 0x10, 0x01, // inputs
        0x22, 0x00, // file
        0x5a, 0x00, // constraints
    ];
    let op = Op::decode(&bytes[..])?;
    assert_eq!(
        op.inputs,
        vec![Input {
            digest: "d".into(),
            index: 1
        }]
    );
    assert_eq!(op.op, Some(pb::op::Op::File(FileOp::default())));
    assert_eq!(op.constraints, Some(WorkerConstraints::default()));
    assert_eq!(
        op.encode_to_vec(),
        bytes.to_vec(),
        "re-encoding must be byte-exact"
    );
    Ok(())
}

#[test]
fn enum_numbers_match_buildkit() {
    use pb::{CacheSharingOpt, MountContentCache, MountType, NetMode, SecurityMode};

    assert_eq!(NetMode::Unset as i32, 0);
    assert_eq!(NetMode::Host as i32, 1);
    assert_eq!(NetMode::None as i32, 2);
    assert_eq!(NetMode::None.as_str_name(), "NONE");

    assert_eq!(SecurityMode::Sandbox as i32, 0);
    assert_eq!(SecurityMode::Insecure as i32, 1);

    assert_eq!(MountType::Bind as i32, 0);
    assert_eq!(MountType::Secret as i32, 1);
    assert_eq!(MountType::Ssh as i32, 2);
    assert_eq!(MountType::Cache as i32, 3);
    assert_eq!(MountType::Tmpfs as i32, 4);

    assert_eq!(CacheSharingOpt::Shared as i32, 0);
    assert_eq!(CacheSharingOpt::Private as i32, 1);
    assert_eq!(CacheSharingOpt::Locked as i32, 2);

    assert_eq!(MountContentCache::Default as i32, 0);
    assert_eq!(MountContentCache::On as i32, 1);
    assert_eq!(MountContentCache::Off as i32, 2);

    assert_eq!(gateway::AttestationKind::Bundle as i32, 1);
    assert_eq!(gateway::InTotoSubjectKind::Raw as i32, 1);
}
