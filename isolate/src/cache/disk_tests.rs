//! The cache's disk tier through [`CacheShard`], on a real glommio
//! executor (its blocking pool does the file work) and a real directory:
//! restart, expiry, torn and corrupt files, the budget, delete, ordering,
//! re-homing and the directory lock.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;

/// Runs `f` on a small glommio executor.
fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    glommio::LocalExecutorBuilder::default()
        .io_memory(256 * 1024)
        .ring_depth(32)
        .make()
        .expect("a glommio executor")
        .run(f)
}

/// A fresh, empty directory for test `name`.
fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ringworker-cache-unit-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn entry(body: &[u8], ttl: Duration) -> Entry {
    Entry {
        status: 200,
        headers: vec![
            ("content-type".into(), "text/plain".into()),
            ("cache-control".into(), "max-age=60".into()),
        ],
        body: Bytes::copy_from_slice(body),
        vary: vec![],
        expires: Instant::now() + ttl,
    }
}

const HOUR: Duration = Duration::from_secs(3600);

/// A one-shard cache over `dir` (opened for `partitions`), memory budget
/// `mem` bytes, disk budget `disk` bytes.
fn shard(dir: &Path, partitions: usize, mem: usize, disk: u64) -> (Rc<CacheShard>, OpenReport) {
    let mut d = CacheDir::new(dir, disk);
    let report = d.open(partitions).expect("the directory opens");
    let options = CacheOptions {
        budget_bytes: mem,
        disk: Some(d),
        ..CacheOptions::default()
    };
    (CacheShard::start(&options, 0), report)
}

async fn ask(c: &Rc<CacheShard>, op: Op) -> Answer {
    match c.begin(op) {
        Served::Now(a) => a,
        Served::Later(a) => a.await,
    }
}

async fn put(c: &Rc<CacheShard>, key: &str, e: Entry) -> bool {
    matches!(ask(c, Op::Put(key.into(), e)).await, Answer::Stored(true))
}

async fn get(c: &Rc<CacheShard>, key: &str) -> Option<Entry> {
    get_with(c, key, vec![]).await
}

async fn get_with(c: &Rc<CacheShard>, key: &str, headers: Vec<(String, String)>) -> Option<Entry> {
    match ask(c, Op::Match(key.into(), headers)).await {
        Answer::Found(e) => e,
        a => panic!("match answered {a:?}"),
    }
}

async fn delete(c: &Rc<CacheShard>, key: &str) -> bool {
    matches!(ask(c, Op::Delete(key.into())).await, Answer::Deleted(true))
}

/// Whether `path` is gone within a few seconds (a removal the answer did
/// not wait for).
async fn gone(path: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while path.exists() && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
    !path.exists()
}

fn entry_file(dir: &Path, partition: usize, key: &str) -> PathBuf {
    dir.join(format!("shard-{partition}"))
        .join(format::file_name(format::key_hash(key)))
}

#[test]
fn an_entry_survives_a_restart_whole_and_is_served_from_disk() {
    let dir = fresh_dir("restart");
    let mut e = entry(b"persisted body", HOUR);
    e.status = 203;
    e.headers.push(("x-multi".into(), "a".into()));
    e.headers.push(("x-multi".into(), "b".into()));
    run(async {
        let (c, report) = shard(&dir, 1, 1 << 20, 1 << 20);
        assert_eq!(report.entries, 0);
        assert!(put(&c, "default\u{0}https://a/x", e.clone()).await);
        assert!(entry_file(&dir, 0, "default\u{0}https://a/x").exists());
    });
    // A new process's view: nothing in memory, the file on disk.
    run(async {
        let (c, report) = shard(&dir, 1, 1 << 20, 1 << 20);
        assert_eq!((report.entries, report.corrupt), (1, 0));
        assert_eq!(c.stats().entries, 0, "memory starts empty");
        let got = get(&c, "default\u{0}https://a/x")
            .await
            .expect("a hit from disk");
        assert_eq!(got.status, 203);
        assert_eq!(got.headers, e.headers);
        assert_eq!(&got.body[..], b"persisted body");
        assert!(got.expires > Instant::now() + Duration::from_secs(3500));
        assert_eq!(c.stats().entries, 1, "promoted into memory");
        assert!(get(&c, "default\u{0}https://a/other").await.is_none());
        assert!(
            get(&c, "named:x\u{0}https://a/x").await.is_none(),
            "another cache's key"
        );
    });
}

#[test]
fn vary_still_selects_after_a_restart() {
    let dir = fresh_dir("vary");
    run(async {
        let (c, _) = shard(&dir, 1, 1 << 20, 1 << 20);
        let mut e = entry(b"gzip body", HOUR);
        e.vary = vec![("accept-encoding".into(), Some("gzip".into()))];
        assert!(put(&c, "k", e).await);
    });
    run(async {
        let (c, _) = shard(&dir, 1, 1 << 20, 1 << 20);
        let br = vec![("accept-encoding".to_string(), "br".to_string())];
        let gzip = vec![("accept-encoding".to_string(), "gzip".to_string())];
        assert!(get_with(&c, "k", br.clone()).await.is_none());
        assert!(get_with(&c, "k", gzip).await.is_some());
        assert!(get_with(&c, "k", br).await.is_none(), "from memory now");
    });
}

#[test]
fn expired_entries_are_not_served_after_a_restart_and_their_files_go() {
    let dir = fresh_dir("expiry");
    run(async {
        let (c, _) = shard(&dir, 1, 1 << 20, 1 << 20);
        assert!(put(&c, "short", entry(b"s", Duration::from_millis(30))).await);
        assert!(put(&c, "long", entry(b"l", HOUR)).await);
    });
    std::thread::sleep(Duration::from_millis(60));
    run(async {
        let (c, report) = shard(&dir, 1, 1 << 20, 1 << 20);
        assert_eq!((report.entries, report.expired), (1, 1));
        assert!(!entry_file(&dir, 0, "short").exists());
        assert!(get(&c, "short").await.is_none());
        assert!(get(&c, "long").await.is_some());
    });
    // An entry that goes stale while the process runs is dropped when asked.
    run(async {
        let (c, _) = shard(&dir, 1, 0, 1 << 20);
        assert!(put(&c, "soon", entry(b"x", Duration::from_millis(20))).await);
        glommio::timer::sleep(Duration::from_millis(40)).await;
        assert!(get(&c, "soon").await.is_none());
        assert!(
            gone(&entry_file(&dir, 0, "soon")).await,
            "the stale file is removed"
        );
    });
}

#[test]
fn a_torn_or_corrupt_file_is_never_served() {
    let dir = fresh_dir("corrupt");
    run(async {
        let (c, _) = shard(&dir, 1, 1 << 20, 1 << 20);
        for k in ["torn", "flipped", "fine"] {
            assert!(put(&c, k, entry(&[b'z'; 5000], HOUR)).await);
        }
    });
    // A write cut short (what a temp file renamed too early would be), a
    // flipped body byte, a leftover temporary file, and a foreign file.
    let torn = entry_file(&dir, 0, "torn");
    let bytes = std::fs::read(&torn).unwrap();
    std::fs::write(&torn, &bytes[..bytes.len() / 2]).unwrap();
    let flipped = entry_file(&dir, 0, "flipped");
    let mut bytes = std::fs::read(&flipped).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&flipped, &bytes).unwrap();
    let tmp = dir.join("shard-0").join(format::temp_name(42, 7));
    std::fs::write(&tmp, b"half a write").unwrap();
    let foreign = dir.join("shard-0").join("notes.txt");
    std::fs::write(&foreign, b"mine").unwrap();
    run(async {
        let (c, report) = shard(&dir, 1, 1 << 20, 1 << 20);
        assert_eq!(
            (
                report.entries,
                report.corrupt,
                report.unfinished,
                report.foreign
            ),
            (2, 1, 1, 1),
            "{report:?}"
        );
        assert!(!torn.exists() && !tmp.exists());
        assert!(foreign.exists(), "not ours: left alone");
        assert!(get(&c, "torn").await.is_none());
        assert!(
            get(&c, "flipped").await.is_none(),
            "the checksum refuses it"
        );
        assert!(gone(&flipped).await, "and it is removed");
        assert_eq!(&get(&c, "fine").await.unwrap().body[..], &[b'z'; 5000][..]);
    });
}

#[test]
fn the_disk_budget_evicts_the_least_recently_used_files() {
    let dir = fresh_dir("budget");
    let size = format::encoded_len("k0", &entry(&[0; 1000], HOUR));
    run(async {
        // Memory holds nothing: every hit is a disk hit.
        let (c, _) = shard(&dir, 1, 0, size * 3);
        for k in ["k0", "k1", "k2"] {
            assert!(put(&c, k, entry(&[0; 1000], HOUR)).await);
        }
        assert!(get(&c, "k0").await.is_some(), "k0 is now the most recent");
        assert!(put(&c, "k3", entry(&[0; 1000], HOUR)).await);
        let st = c.disk_stats().unwrap();
        assert_eq!((st.entries, st.evictions), (3, 1));
        assert!(st.bytes <= size * 3);
        assert!(get(&c, "k1").await.is_none(), "k1 was least recently used");
        assert!(gone(&entry_file(&dir, 0, "k1")).await);
        for k in ["k0", "k2", "k3"] {
            assert!(get(&c, k).await.is_some(), "{k}");
        }
        // Larger than the whole budget: not kept on disk (nor in memory).
        assert!(!put(&c, "huge", entry(&vec![0; size as usize * 4], HOUR)).await);
        assert!(!entry_file(&dir, 0, "huge").exists());
    });
    // A smaller budget at start-up evicts the oldest files to fit.
    run(async {
        let (c, report) = shard(&dir, 1, 0, size * 2);
        assert_eq!((report.entries, report.evicted), (2, 1));
        assert_eq!(c.disk_stats().unwrap().entries, 2);
    });
}

#[test]
fn delete_removes_the_file_and_operations_apply_in_order() {
    let dir = fresh_dir("delete");
    run(async {
        // (No memory tier: every answer comes from the disk tier.)
        let (c, _) = shard(&dir, 1, 0, 1 << 20);
        assert!(put(&c, "k", entry(b"v", HOUR)).await);
        let path = entry_file(&dir, 0, "k");
        assert!(path.exists());
        assert!(delete(&c, "k").await);
        assert!(!path.exists(), "gone when delete resolves");
        assert!(!delete(&c, "k").await);
        assert!(get(&c, "k").await.is_none());

        // Issued back to back, without waiting: put, put, delete, put.
        let ops = [
            Op::Put("o".into(), entry(b"one", HOUR)),
            Op::Put("o".into(), entry(b"two", HOUR)),
            Op::Delete("o".into()),
            Op::Put("o".into(), entry(b"three", HOUR)),
        ];
        let pending: Vec<Served> = ops.into_iter().map(|op| c.begin(op)).collect();
        // While the writes are queued, the newest entry is served.
        assert_eq!(&get(&c, "o").await.unwrap().body[..], b"three");
        for p in pending {
            if let Served::Later(a) = p {
                a.await;
            }
        }
        let f = std::fs::read(entry_file(&dir, 0, "o")).unwrap();
        let d = format::decode(Bytes::from(f)).unwrap();
        assert_eq!(&d.body[..], b"three");
        let st = c.disk_stats().unwrap();
        assert_eq!(st.entries, 1);
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("shard-0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    });
}

#[test]
fn a_changed_shard_count_rehomes_every_entry_to_its_new_partition() {
    let dir = fresh_dir("rehome");
    let keys: Vec<String> = (0..40)
        .map(|i| format!("default\u{0}https://r/{i}"))
        .collect();
    run(async {
        let (c, _) = shard(&dir, 1, 1 << 20, 1 << 20);
        for k in &keys {
            assert!(put(&c, k, entry(k.as_bytes(), HOUR)).await);
        }
    });
    let mut d = CacheDir::new(&dir, 3 << 20);
    let report = d.open(3).unwrap();
    assert_eq!(report.entries, 40);
    assert!(report.rehomed > 10, "{report:?}");
    for k in &keys {
        let owner = owner_of(k, 3);
        assert!(entry_file(&dir, owner, k).exists(), "{k} in shard-{owner}");
    }
    // Each shard serves its own keys from its own directory.
    for shard in 0..3 {
        let d = d.clone();
        let keys = keys.clone();
        run(async move {
            let options = CacheOptions {
                disk: Some(d),
                shards: 3,
                mesh: Some(CacheMesh::new(3).unwrap()),
                ..CacheOptions::default()
            };
            let c = CacheShard::start(&options, shard);
            for k in keys.iter().filter(|k| owner_of(k, 3) == shard) {
                let op = Op::Match(k.clone(), vec![]);
                assert!(c.is_local(&op));
                let got = get(&c, k).await.expect("re-homed entry served");
                assert_eq!(&got.body[..], k.as_bytes());
            }
        });
    }
    drop(d);
    // Back to one partition: all of them come home, the extra directories go.
    let mut d = CacheDir::new(&dir, 1 << 20);
    let report = d.open(1).unwrap();
    assert_eq!(report.entries, 40);
    assert!(!dir.join("shard-2").exists());
}

#[test]
fn a_directory_serves_one_process_at_a_time() {
    let dir = fresh_dir("lock");
    let mut first = CacheDir::new(&dir, 1 << 20);
    let report = first.open(1).unwrap();
    assert_eq!(first.open(1).unwrap(), report, "opened again: no change");
    let mut second = CacheDir::new(&dir, 1 << 20);
    let err = second.open(1).unwrap_err();
    assert!(matches!(err, CacheDirError::InUse { .. }), "{err}");
    drop(first);
    second.open(1).expect("free once the first lets go");
    // A path that cannot be a directory is a clear error too.
    let file = fresh_dir("lock-file");
    std::fs::write(&file, b"x").unwrap();
    let err = CacheDir::new(&file, 1).open(1).unwrap_err();
    assert!(matches!(err, CacheDirError::Io { .. }), "{err}");
}
