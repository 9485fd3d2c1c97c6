//! The S3 client against a real service (SeaweedFS, started by the test process).

use std::io::{Read, Write};

use pyk_s3::seaweedfs;
use pyk_s3::{Bucket, Condition, Fetched, Put, MIN_PART};

/// A fresh prefix per test, so tests share one service without seeing each other.
fn setup(test: &str) -> Option<(Bucket, String)> {
    let weed = seaweedfs::shared()?;
    Some((weed.bucket(), format!("bucket-tests/{test}")))
}

#[test]
fn put_get_head_delete() {
    let Some((b, p)) = setup("basic") else { return };
    let key = format!("{p}/a.txt");
    assert_eq!(b.head(&key).unwrap(), None);
    assert_eq!(b.get_bytes(&key, None).unwrap(), Fetched::Missing);
    let Put::Stored { etag } = b.put(&key, b"hello", Condition::Always).unwrap() else {
        panic!("unconditional put refused")
    };
    let info = b.head(&key).unwrap().unwrap();
    assert_eq!((info.len, info.etag.as_str()), (5, etag.as_str()));
    match b.get_bytes(&key, None).unwrap() {
        Fetched::Found { bytes, etag: e } => {
            assert_eq!((bytes.as_slice(), e), (&b"hello"[..], etag.clone()))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        b.get_bytes(&key, Some(&etag)).unwrap(),
        Fetched::NotModified
    );
    b.delete(&key).unwrap();
    b.delete(&key).unwrap();
    assert_eq!(b.head(&key).unwrap(), None);
}

#[test]
fn conditional_writes() {
    let Some((b, p)) = setup("conditional") else {
        return;
    };
    let key = format!("{p}/index.json");
    let Put::Stored { etag: first } = b.put(&key, b"1", Condition::IfAbsent).unwrap() else {
        panic!("create refused")
    };
    assert_eq!(
        b.put(&key, b"2", Condition::IfAbsent).unwrap(),
        Put::Conflict,
        "If-None-Match: * ignored"
    );
    let Put::Stored { etag: second } = b.put(&key, b"3", Condition::IfMatch(&first)).unwrap()
    else {
        panic!("If-Match with the current ETag refused")
    };
    assert_eq!(
        b.put(&key, b"4", Condition::IfMatch(&first)).unwrap(),
        Put::Conflict,
        "If-Match ignored"
    );
    match b.get_bytes(&key, None).unwrap() {
        Fetched::Found { bytes, etag } => assert_eq!((bytes, etag), (b"3".to_vec(), second)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn multipart_is_invisible_until_complete() {
    let Some((b, p)) = setup("multipart") else {
        return;
    };
    let key = format!("{p}/big");
    let part1 = vec![7u8; MIN_PART];
    let part2 = b"tail".to_vec();
    let upload = b.start_multipart(&key).unwrap();
    let e1 = upload.upload_part(1, &part1).unwrap();
    let e2 = upload.upload_part(2, &part2).unwrap();
    assert_eq!(b.head(&key).unwrap(), None, "visible before completion");
    assert!(matches!(
        upload.complete(&[e1, e2]).unwrap(),
        Put::Stored { .. }
    ));
    let mut got = Vec::new();
    let mut d = b.open(&key).unwrap().unwrap();
    assert_eq!(d.info().len, (MIN_PART + 4) as u64);
    d.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), MIN_PART + 4);
    assert!(got.ends_with(b"tail") && got[..MIN_PART].iter().all(|&x| x == 7));

    let abandoned = b.start_multipart(&format!("{p}/abandoned")).unwrap();
    abandoned.upload_part(1, b"x").unwrap();
    abandoned.abort().unwrap();
    assert_eq!(b.head(&format!("{p}/abandoned")).unwrap(), None);
}

#[test]
fn streamed_put_and_listing_in_pages() {
    let Some((b, p)) = setup("list") else { return };
    let len = 3 * 1024 * 1024 + 17;
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let (mut rx, mut tx) = std::io::pipe().unwrap();
    let writer = {
        let data = data.clone();
        std::thread::spawn(move || tx.write_all(&data))
    };
    let put = b
        .put_reader(
            &format!("{p}/streamed"),
            &mut rx,
            len as u64,
            Condition::Always,
        )
        .unwrap();
    writer.join().unwrap().unwrap();
    assert!(matches!(put, Put::Stored { .. }));
    let mut back = Vec::new();
    b.open(&format!("{p}/streamed"))
        .unwrap()
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert!(back == data, "streamed bytes differ");

    for i in 0..7 {
        b.put(&format!("{p}/dir/{i}/x"), b"", Condition::Always)
            .unwrap();
    }
    let small = b.clone().with_page_size(3);
    let all = small.list(&format!("{p}/dir/"), None).unwrap();
    assert_eq!(all.objects.len(), 7, "continuation lost keys");
    assert!(all.objects.iter().all(|o| o.modified > 1_700_000_000));
    let dirs = small.list(&format!("{p}/dir/"), Some("/")).unwrap();
    assert_eq!(dirs.prefixes.len(), 7);
    assert_eq!(dirs.prefixes[0], format!("{p}/dir/0/"));
}

#[test]
fn refusals_name_operation_and_key() {
    let Some(weed) = seaweedfs::shared() else {
        return;
    };
    let mut settings = weed.settings();
    settings.credentials.as_mut().unwrap().secret_access_key = "wrong".into();
    let b = Bucket::new(&settings).unwrap();
    let e = b.put("x/y", b"1", Condition::Always).unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");
    assert!(e.to_string().starts_with("PUT x/y: 403"), "{e}");
    settings.endpoint = Some("http://127.0.0.1:9".into());
    let e = Bucket::new(&settings).unwrap().head("x").unwrap_err();
    assert!(e.is_network(), "{e}");
}

/// A proxy to the service that cuts its first connection after `cut` bytes of answer.
fn cutting_proxy(upstream: &str, cut: usize) -> String {
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = upstream.trim_start_matches("http://").to_owned();
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().enumerate() {
            let Ok(client) = client else { return };
            let server = TcpStream::connect(&upstream).unwrap();
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut c_in, &mut s_out));
            let limit = if n == 0 { cut } else { usize::MAX };
            std::thread::spawn(move || {
                let (mut server, mut client) = (server, client);
                let mut sent = 0;
                let mut buf = [0u8; 8192];
                while sent < limit {
                    let Ok(k) = server.read(&mut buf) else { break };
                    if k == 0 {
                        break;
                    }
                    let k = k.min(limit - sent);
                    if client.write_all(&buf[..k]).is_err() {
                        break;
                    }
                    sent += k;
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_broken_download_resumes_where_it_stopped() {
    let Some(weed) = seaweedfs::shared() else {
        return;
    };
    let b = weed.bucket();
    let key = "bucket-tests/resume/blob";
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    b.put(key, &data, Condition::Always).unwrap();
    let mut settings = weed.settings();
    settings.endpoint = Some(cutting_proxy(weed.endpoint(), 700_000));
    let through = Bucket::new(&settings).unwrap();
    let mut back = Vec::new();
    through
        .open(key)
        .unwrap()
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert!(
        back == data,
        "resumed download differs ({} bytes)",
        back.len()
    );
}
