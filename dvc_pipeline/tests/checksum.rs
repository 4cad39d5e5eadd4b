//! Downloads are hashed as they stream in (`Md5Stream`), files from disk by `md5_file`; both
//! must give the hash DVC stores, however the bytes are split into pieces.

use dvc_pipeline::checksum::{Algo, Md5Stream, hex, md5_file};
use md5::Digest;

fn stream_in_pieces(data: &[u8], algo: Algo, piece: usize) -> String {
    let mut h = Md5Stream::new(algo);
    for chunk in data.chunks(piece) {
        h.update(chunk);
    }
    h.finish()
}

/// ~3.2 MiB of CRLF text, so dos2unix hashing spans several of dvc-data's 1 MiB chunks.
fn crlf_text() -> Vec<u8> {
    let mut data = Vec::new();
    let mut i = 0u64;
    while data.len() < 3_300_000 {
        data.extend_from_slice(format!("{i},{}.5,sensor\r\n", i * 7).as_bytes());
        i += 1;
    }
    data
}

#[test]
fn streamed_hash_equals_file_hash_for_any_piece_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut binary = crlf_text();
    // A NUL byte makes dvc-data treat that 1 MiB chunk as binary (hashed as is).
    binary[1_500_000] = 0;
    for (name, data) in [("text.csv", crlf_text()), ("mixed.bin", binary)] {
        let path = dir.path().join(name);
        std::fs::write(&path, &data).unwrap();
        for algo in [Algo::Md5, Algo::Dos2Unix] {
            let from_file = md5_file(&path, algo).unwrap();
            for piece in [1, 4096, 65_537, 1 << 20, 5 << 20] {
                // One-byte pieces on 3 MiB are slow to feed; a prefix checks the same logic.
                let (bytes, want) = if piece == 1 {
                    let head = &data[..200_000];
                    let p = dir.path().join("head");
                    std::fs::write(&p, head).unwrap();
                    (head, md5_file(&p, algo).unwrap())
                } else {
                    (&data[..], from_file.clone())
                };
                assert_eq!(stream_in_pieces(bytes, algo, piece), want, "{name} {algo:?} in {piece}-byte pieces");
            }
        }
    }
}

#[test]
fn raw_md5_is_plain_md5_and_dos2unix_drops_carriage_returns_in_text() {
    let data = crlf_text();
    let raw = hex(&md5::Md5::digest(&data));
    assert_eq!(stream_in_pieces(&data, Algo::Md5, 100_000), raw);

    // Small text (one chunk): dos2unix is the md5 of the LF-only text, as DVC 2 stored it.
    let small = b"a,b\r\n1,2\r\n3,4\r\n";
    let lf = hex(&md5::Md5::digest(b"a,b\n1,2\n3,4\n"));
    assert_eq!(stream_in_pieces(small, Algo::Dos2Unix, 3), lf);
    assert_ne!(stream_in_pieces(small, Algo::Md5, 3), lf);
}
