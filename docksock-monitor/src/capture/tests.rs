use core::mem::size_of;

use docksock_common::{send_flags, MAX_PAYLOAD, RECORD_VERSION};

use super::testing::{self, set_captured, set_direction, set_kind, set_len, set_version};
use super::*;

fn task() -> Task {
    Task {
        pid: 4242,
        tid: 4243,
        uid: 1000,
        gid: 1001,
        cgroup_id: 77,
        comm: "docker".into(),
        cgroup_name: "docker-0123.scope".into(),
    }
}

#[test]
fn decodes_a_connect() {
    let raw = testing::connect(5, 9, &task(), 0x0010_0003, 1234);

    let rec = decode(&raw).expect("a well-formed connect decodes");

    assert_eq!(
        rec,
        Record::Connect {
            ts_ns: 5,
            conn_id: 9,
            task: task(),
            sock_dev: 0x0010_0003,
            sock_ino: 1234,
            fd: 3,
        }
    );
}

#[test]
fn decodes_a_send_with_payload() {
    let body = b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
    let raw = testing::send(6, 9, &task(), Direction::Request, body);

    let rec = decode(&raw).expect("a well-formed send decodes");

    let Record::Send {
        ts_ns,
        conn_id,
        task: t,
        len,
        flags,
        direction,
        payload,
        ..
    } = rec
    else {
        panic!("expected a send, got {rec:?}");
    };
    assert_eq!((ts_ns, conn_id, len, flags), (6, 9, body.len() as u32, 0));
    assert_eq!(t, task());
    assert_eq!(direction, Direction::Request);
    assert_eq!(payload, body);
}

#[test]
fn decodes_a_truncated_send_with_its_true_length() {
    let raw = testing::send_partial(
        1,
        2,
        &task(),
        Direction::Response,
        b"HTTP/1.1 200 OK\r\n",
        100_000,
        send_flags::TRUNCATED,
    );

    let Ok(Record::Send {
        len,
        flags,
        payload,
        direction,
        ..
    }) = decode(&raw)
    else {
        panic!("a truncated send is still a valid record");
    };
    assert_eq!((len, flags), (100_000, send_flags::TRUNCATED));
    assert_eq!(payload.len(), 17);
    assert_eq!(direction, Direction::Response);
}

#[test]
fn comm_with_invalid_utf8_is_replaced_not_rejected() {
    let mut t = task();
    t.comm = "ab".into();
    let mut raw = testing::connect(1, 1, &t, 0, 0);
    let at = core::mem::offset_of!(docksock_common::ConnectRecord, task)
        + core::mem::offset_of!(docksock_common::TaskInfo, comm);
    raw[at] = 0xff;

    let Ok(Record::Connect { task, .. }) = decode(&raw) else {
        panic!("a bad comm byte must not reject the record");
    };
    assert_eq!(task.comm, "\u{fffd}b");
}

#[test]
fn every_cut_of_a_record_is_an_error_not_a_panic() {
    let raw = testing::send(
        1,
        1,
        &task(),
        Direction::Request,
        b"POST /x HTTP/1.1\r\n\r\n",
    );

    for cut in 0..raw.len() {
        let err = decode(&raw[..cut]).expect_err("a cut record must not decode");
        let want = if cut < size_of::<RecordHeader>() {
            "short_header"
        } else {
            "length_mismatch"
        };
        assert_eq!(err.reason(), want, "cut at {cut}: {err}");
    }
}

#[test]
fn unknown_kind_is_counted_as_such() {
    let mut raw = testing::connect(1, 1, &task(), 0, 0);
    set_kind(&mut raw, 99);

    let err = decode(&raw).expect_err("kind 99 does not exist");

    assert_eq!(err, DecodeError::UnknownKind { kind: 99 });
    assert_eq!(err.reason(), "unknown_kind");
}

#[test]
fn other_version_is_rejected() {
    let mut raw = testing::connect(1, 1, &task(), 0, 0);
    set_version(&mut raw, RECORD_VERSION + 1);

    let err = decode(&raw).expect_err("a future version must not decode");

    assert_eq!(err.reason(), "bad_version");
}

#[test]
fn header_len_beyond_the_slice_is_a_mismatch() {
    let mut raw = testing::connect(1, 1, &task(), 0, 0);
    set_len(&mut raw, u32::MAX);

    let err = decode(&raw).expect_err("len past the slice");

    assert_eq!(err.reason(), "length_mismatch");
}

#[test]
fn header_len_shorter_than_the_body_is_a_mismatch() {
    let mut raw = testing::send(1, 1, &task(), Direction::Request, b"abc");
    set_len(&mut raw, 40);

    let err = decode(&raw).expect_err("len inside the fixed part");

    assert_eq!(err.reason(), "length_mismatch");
}

#[test]
fn captured_disagreeing_with_len_is_a_mismatch() {
    let mut raw = testing::send(1, 1, &task(), Direction::Request, b"abcdef");
    set_captured(&mut raw, 3);

    let err = decode(&raw).expect_err("captured must match the bytes after the struct");

    assert_eq!(err.reason(), "length_mismatch");
}

#[test]
fn captured_above_the_cap_is_rejected() {
    let mut raw = testing::send(1, 1, &task(), Direction::Request, b"abc");
    set_captured(&mut raw, MAX_PAYLOAD as u32 + 1);

    let err = decode(&raw).expect_err("more than MAX_PAYLOAD");

    assert_eq!(err.reason(), "captured_too_large");
}

#[test]
fn unknown_direction_is_rejected() {
    let mut raw = testing::send(1, 1, &task(), Direction::Request, b"abc");
    set_direction(&mut raw, 7);

    let err = decode(&raw).expect_err("direction 7");

    assert_eq!(err, DecodeError::BadDirection { direction: 7 });
}

#[test]
fn trailing_bytes_after_len_are_ignored() {
    let mut raw = testing::send(1, 1, &task(), Direction::Request, b"abc");
    raw.extend_from_slice(&[0xee; 5]);

    let Ok(Record::Send { payload, .. }) = decode(&raw) else {
        panic!("trailing ring-buffer padding must be ignored");
    };
    assert_eq!(payload, b"abc");
}

#[test]
fn reasons_list_matches_the_variants() {
    let all = [
        DecodeError::ShortHeader { len: 0, need: 16 },
        DecodeError::UnknownKind { kind: 0 },
        DecodeError::BadVersion {
            version: 0,
            expected: 1,
        },
        DecodeError::LengthMismatch {
            detail: String::new(),
        },
        DecodeError::CapturedTooLarge {
            captured: 0,
            max: 0,
        },
        DecodeError::BadDirection { direction: 9 },
    ];

    let reasons: Vec<&str> = all.iter().map(DecodeError::reason).collect();

    assert_eq!(reasons, DecodeError::REASONS);
}

#[test]
fn byte_noise_never_panics() {
    // A cheap deterministic stand-in for the fuzzer: xorshift noise, with a
    // valid header sometimes, so the body checks are reached too.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let good =
        testing::send(1, 1, &task(), Direction::Request, b"GET / HTTP/1.1\r\n\r\n");
    let (mut decoded, mut rejected) = (0, 0);
    for round in 0..2000 {
        let mut raw = good.clone();
        let flips = 1 + round % 8;
        for _ in 0..flips {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x as usize) % raw.len();
            raw[i] = (x >> 32) as u8;
        }
        raw.truncate((x >> 40) as usize % (raw.len() + 1));
        match decode(&raw) {
            Ok(_) => decoded += 1,
            Err(_) => rejected += 1,
        }
    }
    assert!(
        decoded > 0 && rejected > 0,
        "{decoded} decoded, {rejected} rejected"
    );
}

#[test]
fn record_file_round_trips() {
    let records = [
        testing::connect(1, 1, &task(), 0, 0),
        testing::send(2, 1, &task(), Direction::Request, b"GET / HTTP/1.1\r\n\r\n"),
        Vec::new(),
    ];
    let mut w = RecordWriter::new(Vec::new(), "mem").expect("writing to a Vec");
    for r in &records {
        w.write_record(r).expect("writing to a Vec");
    }
    let bytes = w.into_inner().expect("flush a Vec");
    assert!(bytes.starts_with(RECORD_FILE_MAGIC));

    let back: Vec<Vec<u8>> = RecordReader::new(bytes.as_slice(), "mem")
        .expect("magic is right")
        .collect::<Result<_, _>>()
        .expect("file is whole");

    assert_eq!(back, records);
}

#[test]
fn record_file_on_disk_round_trips() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("r.rec");
    let raw = testing::connect(1, 1, &task(), 0, 0);
    let mut w = RecordWriter::create(&path).expect("create");
    w.write_record(&raw).expect("write");
    w.flush().expect("flush");

    let mut r = RecordReader::open(&path).expect("open");

    assert_eq!(r.next_record().expect("read"), Some(raw));
    assert_eq!(r.next_record().expect("clean end"), None);
}

#[test]
fn record_file_with_wrong_magic_names_the_file() {
    let err = RecordReader::new(&b"GIF89a...."[..], "/tmp/x.rec").expect_err("not ours");

    let msg = err.to_string();
    assert!(matches!(err, RecordFileError::BadMagic { .. }));
    assert!(msg.contains("/tmp/x.rec"), "{msg}");
}

#[test]
fn cut_record_file_names_file_and_offset() {
    let mut w = RecordWriter::new(Vec::new(), "mem").expect("vec");
    w.write_record(b"0123456789").expect("vec");
    let mut bytes = w.into_inner().expect("vec");
    bytes.truncate(bytes.len() - 3);

    let mut r = RecordReader::new(bytes.as_slice(), "night.rec").expect("magic ok");
    let err = r.next_record().expect_err("the record is cut");

    let RecordFileError::Truncated {
        offset, want, got, ..
    } = &err
    else {
        panic!("expected Truncated, got {err:?}");
    };
    assert_eq!(
        (*offset, *want, *got),
        (RECORD_FILE_MAGIC.len() as u64 + 4, 10, 7)
    );
    assert!(err.to_string().contains("night.rec"));
    assert!(err.to_string().contains("byte 18"), "{err}");
}

#[test]
fn absurd_length_prefix_is_reported_with_offset() {
    let mut bytes = RECORD_FILE_MAGIC.to_vec();
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());

    let mut r = RecordReader::new(bytes.as_slice(), "big.rec").expect("magic ok");
    let first = r.next().expect("an item");

    let err = first.expect_err("length is absurd");
    assert!(
        matches!(err, RecordFileError::TooLarge { offset: 14, .. }),
        "{err:?}"
    );
    assert!(r.next().is_none(), "the iterator stops after an error");
}
